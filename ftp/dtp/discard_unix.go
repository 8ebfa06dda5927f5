//go:build linux

package dtp

import (
	"net"

	"golang.org/x/sys/unix"
)

// maxDiscard bounds the bytes discardUnread reads (a client that keeps
// sending on a RETR data connection gets its RST after that).
const maxDiscard = 1 << 20

// discardUnread reads, without blocking, whatever the client sent on a
// connection the server only writes to. close(2) with unread data sends
// an RST and throws away the data not yet transmitted, so the client
// would lose the end of the file. The common case (nothing received) costs
// one ioctl and no allocation.
func discardUnread(conn *net.TCPConn) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { discardFD(int(fd)) })
}

// discardFD is discardUnread for a connection's descriptor (non-blocking
// or not: every read is MSG_DONTWAIT).
func discardFD(fd int) {
	unread, _ := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if unread <= 0 {
		return
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for total := 0; total < maxDiscard; {
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if n <= 0 || err != nil {
			return
		}
		total += n
	}
}
