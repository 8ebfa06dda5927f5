//go:build linux && amd64

package floor

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// What an epoll event is about (EpollEvent.Pad); EpollEvent.Fd is the
// session's control descriptor for the last three.
const (
	kindListen int32 = iota + 1
	kindWake
	kindControl
	kindPassive // the passive socket has a connection to accept
	kindData    // the data connection has room again
)

// What a session waits for while a transfer runs.
const (
	idle = iota
	retr
	list
)

// inputSize bounds a command line (and what a client may pipeline).
const inputSize = 512

// loop is one epoll loop with its listener, on one locked OS thread. Every
// field is the loop's own; the list threads touch only the listing they
// are handed, while the loop waits for them.
type loop struct {
	s        *Server
	r        *replies
	ep       int
	lfd      int
	efd      int
	port     int
	events   [128]unix.EpollEvent
	ev       unix.EpollEvent
	sa       unix.RawSockaddrAny
	salen    uint32
	bindAddr unix.RawSockaddrInet4 // the listener's IP; the port is set before each passive bind
	one      int32                 // setsockopt's 1
	// The loop's share of the passive range: portLo, portLo+portStep, ...
	// up to portHi (portCount of them); nextPort is the next to try.
	portLo, portHi, portStep, portCount, nextPort int
	scratch                                       [128]byte
	sessions                                      []*session // by control descriptor
	free                                          []*session

	// List threads (Config.ListThreads - 1 of them; the loop's own thread
	// does the first share).
	work    chan job
	done    chan struct{}
	workers int
	closed  bool // work is closed
}

type session struct {
	fd, pasv, data, dir int
	peer                [4]byte
	userOK, loggedIn    bool
	pasvWatched         bool
	busy                int // idle, retr, list
	in                  [inputSize]byte
	start, n            int
	off                 int64   // sendfile offset
	file                *served // what RETR sends
	ls                  *listing
}

func newLoop(s *Server, index int, ip [4]byte, port int, r *replies) (*loop, error) {
	l := &loop{s: s, r: r, ep: -1, lfd: -1, efd: -1, one: 1, work: make(chan job)}
	l.portLo, l.portStep = s.cfg.PassiveLo+index, s.cfg.Loops
	l.portHi, l.nextPort = s.cfg.PassiveHi, l.portLo
	l.portCount = (l.portHi-l.portLo)/l.portStep + 1
	l.bindAddr.Family = unix.AF_INET
	l.bindAddr.Addr = ip
	fail := func(what string, err error) (*loop, error) {
		l.closeAll()
		l.closeWake()
		return nil, fmt.Errorf("floor: %s: %w", what, err)
	}
	var err error
	if l.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fail("epoll_create1", err)
	}
	if l.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return fail("eventfd", err)
	}
	if l.lfd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0); err != nil {
		return fail("socket", err)
	}
	for _, o := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT} {
		if err := unix.SetsockoptInt(l.lfd, unix.SOL_SOCKET, o, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := unix.Bind(l.lfd, &unix.SockaddrInet4{Addr: ip, Port: port}); err != nil {
		return fail(fmt.Sprintf("bind %d.%d.%d.%d:%d", ip[0], ip[1], ip[2], ip[3], port), err)
	}
	if err := unix.Listen(l.lfd, 4096); err != nil {
		return fail("listen", err)
	}
	if e := sysGetsockname(l.lfd, &l.sa, &l.salen); e != 0 {
		return fail("getsockname", e)
	}
	l.port = port4(&l.sa)
	for _, fe := range []struct {
		fd   int
		kind int32
	}{{l.lfd, kindListen}, {l.efd, kindWake}} {
		l.ev = unix.EpollEvent{Events: unix.EPOLLIN, Pad: fe.kind}
		if e := sysEpollCtl(l.ep, unix.EPOLL_CTL_ADD, fe.fd, &l.ev); e != 0 {
			return fail("epoll_ctl", e)
		}
	}
	l.workers = s.cfg.ListThreads - 1
	l.done = make(chan struct{}, l.workers+1)
	return l, nil
}

// startWorkers starts the loop's list threads.
func (l *loop) startWorkers(wg *sync.WaitGroup) {
	work, done := l.work, l.done
	for i := 0; i < l.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				j.ls.format(j.part, j.lo, j.hi, j.now)
				done <- struct{}{}
			}
		}()
	}
}

// wake asks the loop to end. Any goroutine.
func (l *loop) wake() {
	one := [8]byte{1}
	_, _ = unix.Write(l.efd, one[:])
}

// run serves until wake.
func (l *loop) run() {
	for {
		n, err := unix.EpollWait(l.ep, l.events[:], -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			l.closeAll()
			return
		}
		for i := 0; i < n; i++ {
			e := &l.events[i]
			if e.Pad == kindWake {
				l.closeAll()
				return
			}
			if e.Pad == kindListen {
				l.accept()
				continue
			}
			s := l.session(int(e.Fd))
			if s == nil {
				continue // closed earlier in this batch
			}
			switch e.Pad {
			case kindControl:
				l.readable(s)
			case kindPassive:
				if s.busy != idle && s.pasv >= 0 {
					l.acceptData(s)
				}
			case kindData:
				l.writable(s)
			}
			if s.fd >= 0 && s.busy == idle {
				l.process(s)
			}
		}
	}
}

func (l *loop) session(fd int) *session {
	if fd < 0 || fd >= len(l.sessions) {
		return nil
	}
	return l.sessions[fd]
}

// accept takes one connection per readiness (level-triggered: another
// waiting one shows in the next epoll_wait, among the other events).
func (l *loop) accept() {
	fd, e := sysAccept4(l.lfd, &l.sa, &l.salen)
	if e != 0 {
		return // EAGAIN (another loop took it), or out of descriptors
	}
	for fd >= len(l.sessions) {
		l.sessions = append(l.sessions, nil) // grows to the largest descriptor once
	}
	var s *session
	if k := len(l.free); k > 0 {
		s, l.free = l.free[k-1], l.free[:k-1]
	} else {
		s = &session{}
	}
	ls := s.ls
	*s = session{fd: fd, pasv: -1, data: -1, dir: -1, peer: addr4(&l.sa), ls: ls}
	l.sessions[fd] = s
	l.ev = unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd), Pad: kindControl}
	if e := sysEpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &l.ev); e != 0 {
		l.drop(s)
		return
	}
	l.reply(s, l.r.greeting)
}

// readable reads once: level-triggered, anything left shows again.
func (l *loop) readable(s *session) {
	if s.start > 0 && s.busy == idle {
		s.n = copy(s.in[:], s.in[s.start:s.n])
		s.start = 0
	}
	if s.n == len(s.in) {
		l.drop(s) // a line longer than the buffer, or a flood
		return
	}
	n, e := sysRead(s.fd, s.in[s.n:])
	switch {
	case e == unix.EAGAIN:
	case e != 0 || n == 0:
		l.drop(s)
	default:
		s.n += n
	}
}

// process runs the complete lines in the buffer until one starts a
// transfer that has to wait.
func (l *loop) process(s *session) {
	for s.fd >= 0 && s.busy == idle {
		i := bytes.IndexByte(s.in[s.start:s.n], '\n')
		if i < 0 {
			return
		}
		line := s.in[s.start : s.start+i]
		s.start += i + 1
		if k := len(line); k > 0 && line[k-1] == '\r' {
			line = line[:k-1]
		}
		l.command(s, line)
	}
}

var dot = []byte{'.'} // read only

// handler answers one command; arg is what follows the verb and a space.
type handler func(l *loop, s *session, line, arg []byte)

// commands is the floor's whole command table; anything else is 500.
var commands = map[[4]byte]handler{
	{'U', 'S', 'E', 'R'}: (*loop).user,
	{'P', 'A', 'S', 'S'}: (*loop).pass,
	{'T', 'Y', 'P', 'E'}: (*loop).typ,
	{'E', 'P', 'S', 'V'}: (*loop).epsv,
	{'R', 'E', 'T', 'R'}: (*loop).retr,
	{'L', 'I', 'S', 'T'}: (*loop).list,
	{'Q', 'U', 'I', 'T'}: (*loop).quit,
}

func (l *loop) command(s *session, line []byte) {
	var verb [4]byte
	i := 0
	for ; i < len(line) && i < 5 && line[i] != ' '; i++ {
		if i == 4 {
			l.reply(s, l.r.unknown)
			return
		}
		verb[i] = line[i] &^ 0x20 // upper case (letters only reach the table)
	}
	var arg []byte
	if i < len(line) {
		arg = line[i+1:]
	}
	h, ok := commands[verb]
	if !ok {
		l.reply(s, l.r.unknown)
		return
	}
	h(l, s, line, arg)
}

func (l *loop) user(s *session, line, _ []byte) {
	s.userOK, s.loggedIn = bytes.Equal(line, l.r.userLine), false
	l.reply(s, l.r.user)
}

func (l *loop) pass(s *session, line, _ []byte) {
	if s.userOK && bytes.Equal(line, l.r.passLine) {
		s.loggedIn = true
		l.reply(s, l.r.loggedIn)
		return
	}
	l.reply(s, l.r.badPass)
}

func (l *loop) typ(s *session, _, _ []byte) { l.reply(s, l.r.typeOK) }

func (l *loop) quit(s *session, _, _ []byte) {
	l.reply(s, l.r.quit)
	l.drop(s)
}

// epsv opens the passive socket: socket, SO_REUSEADDR, bind to the next
// port of the loop's share of the passive range, listen, and the 229. As
// ftpd does by default, the floor picks the port itself below the kernel's
// ephemeral range: every data connection it closes first leaves a
// TIME_WAIT socket on its port, and a bind to port 0 then searches past
// them all (in the first run, at 3,000 transfers/s, that search made the
// floor's 4 KiB download cost 1.5x ftpd's). SO_REUSEADDR lets the bind
// take a port whose only other sockets are in TIME_WAIT.
func (l *loop) epsv(s *session, _, _ []byte) {
	if !s.loggedIn {
		l.reply(s, l.r.notLoggedIn)
		return
	}
	l.closePassive(s)
	fd, port := l.passive()
	if fd < 0 {
		l.reply(s, l.r.noPasv)
		return
	}
	s.pasv = fd
	b := append(l.scratch[:0], l.r.epsvHead...)
	b = strconv.AppendInt(b, int64(port), 10)
	b = append(b, l.r.epsvTail...)
	l.reply(s, b)
}

// passive returns a listening socket on the loop's next free passive port,
// or -1. A bind that fails (a port another process holds) moves to the
// next port; a listen that fails (another process with SO_REUSEADDR bound
// the same port and listened first: other servers on this machine use the
// same default range) takes a new socket, as ftpd does.
func (l *loop) passive() (fd, port int) {
	tries := 0
	for sockets := 0; sockets < 8; sockets++ {
		fd, e := sysSocket()
		if e != 0 {
			return -1, 0
		}
		if sysReuseAddr(fd, &l.one) != 0 {
			sysClose(fd)
			return -1, 0
		}
		for ; tries < l.portCount; tries++ {
			p := l.nextPort
			if l.nextPort += l.portStep; l.nextPort > l.portHi {
				l.nextPort = l.portLo
			}
			l.bindAddr.Port = uint16(p>>8) | uint16(p&0xff)<<8 // network byte order
			if sysBind(fd, &l.bindAddr) == 0 {
				port = p
				break
			}
		}
		if port == 0 {
			sysClose(fd)
			return -1, 0
		}
		if sysListen(fd, 1) == 0 {
			return fd, port
		}
		sysClose(fd)
		port = 0
	}
	return -1, 0
}

func (l *loop) retr(s *session, _, arg []byte) {
	switch {
	case !s.loggedIn:
		l.reply(s, l.r.notLoggedIn)
	case l.find(arg) == nil:
		l.reply(s, l.r.noFile)
	case s.pasv < 0:
		l.reply(s, l.r.noPasv)
	default:
		s.file = l.find(arg)
		s.busy = retr
		l.acceptData(s)
	}
}

// find is the served file named arg, or nil.
func (l *loop) find(arg []byte) *served {
	for i := range l.s.files {
		if bytes.Equal(arg, l.s.files[i].name) {
			return &l.s.files[i]
		}
	}
	return nil
}

func (l *loop) list(s *session, _, arg []byte) {
	if !s.loggedIn {
		l.reply(s, l.r.notLoggedIn)
		return
	}
	if s.pasv < 0 {
		l.reply(s, l.r.noPasv)
		return
	}
	for len(arg) > 0 && arg[0] == '/' {
		arg = arg[1:]
	}
	if len(arg) == 0 {
		arg = dot
	}
	if len(arg) >= len(l.scratch) || bytes.Contains(arg, []byte("..")) || bytes.IndexByte(arg, 0) >= 0 {
		l.reply(s, l.r.noDir)
		return
	}
	path := append(append(l.scratch[:0], arg...), 0)
	fd, e := sysOpenDir(l.s.root, path)
	if e != 0 {
		l.reply(s, l.r.noDir)
		return
	}
	s.dir = fd
	s.busy = list
	l.acceptData(s)
}

// acceptData takes the data connection from the passive socket, or waits
// for it in epoll; a connection from another address than the control
// connection's is closed.
func (l *loop) acceptData(s *session) {
	for {
		fd, e := sysAccept4(s.pasv, &l.sa, &l.salen)
		if e == unix.EAGAIN {
			if !s.pasvWatched {
				l.ev = unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(s.fd), Pad: kindPassive}
				if sysEpollCtl(l.ep, unix.EPOLL_CTL_ADD, s.pasv, &l.ev) != 0 {
					l.abort(s)
					return
				}
				s.pasvWatched = true
			}
			return
		}
		if e != 0 {
			l.abort(s)
			return
		}
		if addr4(&l.sa) != s.peer {
			sysClose(fd) // a stranger
			continue
		}
		l.closePassive(s)
		s.data = fd
		break
	}
	if s.busy == retr {
		s.off = 0
		l.sendFile(s)
		return
	}
	l.listing(s)
	l.writeList(s)
}

func (l *loop) writable(s *session) {
	switch s.busy {
	case retr:
		l.sendFile(s)
	case list:
		l.writeList(s)
	}
}

func (l *loop) sendFile(s *session) {
	f := s.file
	for s.off < f.size {
		n, e := sysSendfile(s.data, f.fd, &s.off, f.size-s.off)
		if e == unix.EAGAIN {
			l.watchData(s)
			return
		}
		if e != 0 || n == 0 {
			l.abort(s)
			return
		}
	}
	l.finish(s, f.reply)
}

// watchData asks epoll for room on the data connection.
func (l *loop) watchData(s *session) {
	l.ev = unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(s.fd), Pad: kindData}
	if e := sysEpollCtl(l.ep, unix.EPOLL_CTL_ADD, s.data, &l.ev); e != 0 && e != unix.EEXIST {
		l.abort(s)
	}
}

// finish closes the data connection and sends the 150 and the 226 in one
// write.
func (l *loop) finish(s *session, reply []byte) {
	sysClose(s.data)
	s.data, s.busy = -1, idle
	l.reply(s, reply)
}

// abort ends a transfer that failed: 426 after a data connection was
// accepted, 425 before.
func (l *loop) abort(s *session) {
	reply := l.r.noPasv
	if s.data >= 0 {
		sysClose(s.data)
		s.data = -1
		reply = l.r.aborted
	}
	l.closePassive(s)
	if s.dir >= 0 {
		sysClose(s.dir)
		s.dir = -1
	}
	s.busy = idle
	l.reply(s, reply)
}

func (l *loop) closePassive(s *session) {
	if s.pasv >= 0 {
		sysClose(s.pasv) // closing also takes it out of epoll
		s.pasv, s.pasvWatched = -1, false
	}
}

// reply writes one reply in one write; a control connection that cannot
// take a reply at once (a client that does not read) is dropped.
func (l *loop) reply(s *session, b []byte) {
	if s.fd < 0 {
		return
	}
	if n, e := sysWrite(s.fd, b); e != 0 || n != len(b) {
		l.drop(s)
	}
}

// drop closes a session and everything it holds, and keeps its memory.
func (l *loop) drop(s *session) {
	if s.fd < 0 {
		return
	}
	for _, fd := range [...]int{s.pasv, s.data, s.dir, s.fd} {
		if fd >= 0 {
			sysClose(fd)
		}
	}
	l.sessions[s.fd] = nil
	s.fd, s.pasv, s.data, s.dir, s.busy = -1, -1, -1, -1, idle
	l.free = append(l.free, s)
}

// closeAll drops every session, closes the listener and the epoll
// descriptor, and ends the list threads; the wake descriptor stays for
// closeWake (Close may still be writing to it). The loop's goroutine, or
// Start on failure.
func (l *loop) closeAll() {
	for _, s := range l.sessions {
		if s != nil {
			l.drop(s)
		}
	}
	for _, fd := range []int{l.lfd, l.ep} {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
	l.lfd, l.ep = -1, -1
	if !l.closed {
		close(l.work)
		l.closed = true
	}
}

// closeWake closes the wake descriptor once the loop has ended.
func (l *loop) closeWake() {
	if l.efd >= 0 {
		_ = unix.Close(l.efd)
		l.efd = -1
	}
}
