package dtp_test

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ioctlInq is the number of unread bytes on a socket.
func ioctlInq(fd uintptr) int {
	n, _ := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	return n
}

// cpuTime is the process's user+system CPU time: on loopback with two
// cores the receiving side bounds MB/s, so the CPU a fast path saves
// shows here rather than in throughput.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
