package reactor

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/gnetftp/gnetftp/protocol"
)

var _ protocol.PeerChecker = (*transport)(nil)

// PeerClosed reports whether the peer has closed its side or reset the
// connection, without reading anything (protocol.PeerChecker): a
// recv(MSG_PEEK|MSG_DONTWAIT) that returns 0 is a pending FIN, an error
// other than EAGAIN a reset. When data is pending the peek cannot see a
// FIN behind it, and TCP_INFO's state tells (CLOSE_WAIT: the peer's FIN
// has arrived). An FTP server asks it before committing an upload whose
// data ended: a client process that dies has both of its connections
// closed by the kernel at once. Loop-only.
func (t *transport) PeerClosed() bool {
	return t.closed.Load() || peerClosedFD(t.c.Fd())
}

// peerClosedFD is PeerClosed of the connected socket fd.
func peerClosedFD(fd int) bool {
	var b [1]byte
	for {
		n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return false
		case err != nil:
			return true // ECONNRESET, ETIMEDOUT...
		case n == 0:
			return true // FIN
		}
		return peerFinished(fd)
	}
}
