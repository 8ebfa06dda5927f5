//go:build unix

package dtp

import "golang.org/x/sys/unix"

// Ready reports, without blocking, whether a connection waits in the
// listener's queue, so that an Accept now would return at once (one
// poll(2) with a zero timeout). A false answer may be out of date by the
// time it returns: it is a hint for how to reply, never a promise.
func (p *Passive) Ready() bool {
	rc, err := p.ln.SyscallConn()
	if err != nil {
		return false
	}
	ready := false
	_ = rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		ready = err == nil && n > 0 && fds[0].Revents&unix.POLLIN != 0
	})
	return ready
}
