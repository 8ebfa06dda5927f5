package dtp_test

import "golang.org/x/sys/unix"

func ioctlInq(fd uintptr) int {
	n, _ := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	return n
}
