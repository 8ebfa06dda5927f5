//go:build linux

package dtp

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// QuickSend sends n bytes of file, from offset, over the data connection
// that already waits in the listener's queue, without Go's netpoller and
// without blocking: one accept4, sendfile until the socket's buffer is
// full or the n bytes are out, then shutdown, the check for unread data
// (as Send: a close with unread data would be an RST) and close. A small
// download (what a new connection's send buffer takes) costs no
// goroutine, no netpoller registration (two epoll_ctl), no getsockname
// and no socket option. It may run on any goroutine that
// does not accept on p at the same time; it returns at once.
//
// Connections from another host than peerIP (unless
// Config.AllowForeignPeers) are reset and counted as Accept does. When no
// acceptable connection waits (or the accept fails), nothing happened:
// Taken is false and the transfer goes the usual way (Accept, Send).
// When the socket's buffer filled before the n bytes were out, Rest is
// the connection, now Go's, for the caller to send the rest with Send:
// file's position is then offset+Sent.
func (p *Passive) QuickSend(peerIP net.IP, file *os.File, offset, n int64) Quick {
	fd := p.takeQueued(peerIP)
	if fd < 0 {
		return Quick{}
	}
	q := Quick{Taken: true}
	frc, err := file.SyscallConn()
	if err != nil {
		abortFD(fd)
		q.Err = fmt.Errorf("%w: %w", ErrLocalIO, err)
		return q
	}
	var serr error
	full := false
	if err := frc.Control(func(ffd uintptr) {
		off := offset
		for q.Sent < n {
			m, err := syscall.Sendfile(fd, int(ffd), &off, int(min(n-q.Sent, 1<<30)))
			if m > 0 {
				q.Sent += int64(m)
			}
			switch {
			case err == syscall.EINTR:
			case err == syscall.EAGAIN:
				full = true
				return
			case err != nil:
				serr = err
				return
			case m == 0:
				return // the file is shorter than it was: sent as it is now
			}
		}
	}); err != nil {
		serr = err
	}
	switch {
	case serr != nil:
		abortFD(fd)
		if isNetErr(serr) {
			q.Err = fmt.Errorf("%w: %w", ErrPeerClosed, serr)
		} else {
			q.Err = fmt.Errorf("%w: %w", ErrLocalIO, serr)
		}
	case full:
		q.Rest, q.Err = handOver(fd, file, offset+q.Sent)
	default:
		_ = syscall.Shutdown(fd, syscall.SHUT_WR)
		discardFD(fd)
		if err := syscall.Close(fd); err != nil {
			q.Err = fmt.Errorf("%w: %w", ErrPeerClosed, err)
		}
	}
	return q
}

// takeQueued accepts the first connection from peerIP waiting in the
// listener's queue, without blocking: its descriptor (non-blocking,
// close-on-exec), or -1 when none waits or the accept failed.
func (p *Passive) takeQueued(peerIP net.IP) int {
	rc, err := p.ln.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	_ = rc.Control(func(lfd uintptr) {
		for {
			nfd, sa, err := syscall.Accept4(int(lfd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
			if err == syscall.ECONNABORTED || err == syscall.EINTR {
				continue
			}
			if err != nil {
				return // EAGAIN: nobody waits; else Accept meets it again
			}
			remote := sockaddrTCP(sa)
			if p.cfg.AllowForeignPeers || (remote != nil && remote.IP.Equal(peerIP)) {
				fd = nfd
				return
			}
			abortFD(nfd) // RST: nothing for a third party
			p.rejected.Add(1)
			if p.cfg.OnForeignPeer != nil && remote != nil {
				p.cfg.OnForeignPeer(remote)
			}
		}
	})
	return fd
}

// sockaddrTCP is sa as a *net.TCPAddr, nil for another family.
func sockaddrTCP(sa syscall.Sockaddr) *net.TCPAddr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	}
	return nil
}

// abortFD closes a raw connection with an RST (SO_LINGER 0).
func abortFD(fd int) {
	_ = syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
	_ = syscall.Close(fd)
}

// handOver makes the raw connection fd a *net.TCPConn (Go's netpoller
// from now on) and puts file's position at pos, for Send to finish a
// transfer QuickSend could not. On failure the connection is reset.
func handOver(fd int, file *os.File, pos int64) (*net.TCPConn, error) {
	if _, err := file.Seek(pos, io.SeekStart); err != nil {
		abortFD(fd)
		return nil, fmt.Errorf("%w: %w", ErrLocalIO, err)
	}
	f := os.NewFile(uintptr(fd), "data connection")
	c, err := net.FileConn(f) // a duplicate descriptor
	if err != nil {
		_ = syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
		_ = f.Close() // an RST: a short file must not end like a whole one
		return nil, fmt.Errorf("%w: handing the connection over: %w", ErrPeerClosed, err)
	}
	_ = f.Close()
	tc, ok := c.(*net.TCPConn)
	if !ok {
		_ = c.Close()
		return nil, fmt.Errorf("%w: handing the connection over: not TCP", ErrPeerClosed)
	}
	return tc, nil
}
