package dtp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Ports hands out passive ports from a range, shared by all sessions of a
// server (safe for concurrent use). Ports are tried round-robin from a
// random starting point, so successive PASV replies do not reuse the port
// a previous transfer just left in TIME_WAIT; a port whose bind fails with
// EADDRINUSE (another process, or a lingering socket) is skipped.
type Ports struct {
	lo, hi int
	err    error // ErrBadRange, reported by Listen
	mu     sync.Mutex
	next   int
	inUse  map[int]bool
}

// NewPorts returns an allocator for [lo,hi]; 0,0 means ephemeral ports
// chosen by the kernel. A nil *Ports also means ephemeral ports. An
// invalid range is reported by Err and by every Listen.
func NewPorts(lo, hi int) *Ports {
	p := &Ports{lo: lo, hi: hi, inUse: map[int]bool{}}
	switch {
	case lo == 0 && hi == 0:
	case lo < 1 || hi < lo || hi > 65535:
		p.err = fmt.Errorf("%w %d-%d", ErrBadRange, lo, hi)
	default:
		p.next = lo + rand.IntN(hi-lo+1)
	}
	return p
}

// Err reports an invalid range (ErrBadRange), so a server can refuse to
// start instead of failing every PASV.
func (p *Ports) Err() error {
	if p == nil {
		return nil
	}
	return p.err
}

// InUse is the number of ports currently handed out (listeners not yet
// closed).
func (p *Ports) InUse() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inUse)
}

// Spare reports whether at most half of the range is handed out (always
// true for ephemeral ports): a listener may then be kept open across a
// session's transfers without starving other sessions of ports.
func (p *Ports) Spare() bool {
	if p.ephemeral() {
		return true
	}
	return p.InUse()*2 <= p.hi-p.lo+1
}

func (p *Ports) ephemeral() bool { return p == nil || (p.lo == 0 && p.hi == 0) }

// reserve returns the next port not handed out, or false after one full
// turn of the range.
func (p *Ports) reserve(tried *int) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := p.hi - p.lo + 1; *tried < n; {
		port := p.next
		*tried++
		if p.next++; p.next > p.hi {
			p.next = p.lo
		}
		if !p.inUse[port] {
			p.inUse[port] = true
			return port, true
		}
	}
	return 0, false
}

func (p *Ports) release(port int) {
	p.mu.Lock()
	delete(p.inUse, port)
	p.mu.Unlock()
}

// skippable are the bind errors after which the next port of the range is
// tried: the port is taken, or (a range reaching below 1024 without the
// privilege) not ours to bind. Other errors (the IP is not local, no file
// descriptors left) would fail for every port and are returned at once.
var skippable = []error{syscall.EADDRINUSE, syscall.EACCES}

func isSkippable(err error) bool {
	for _, e := range skippable {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Passive is a listener waiting for one data connection (PASV/EPSV).
type Passive struct {
	ln       *net.TCPListener
	ports    *Ports
	port     int
	cfg      Config
	once     sync.Once
	closeErr error
	rejected atomic.Int64
}

// Listen opens a passive listener on ip (the control connection's local
// address; an IPv4-mapped IPv6 address listens on its IPv4 form) with a
// port from ports. It does not block beyond the bind(2) calls.
func Listen(cfg Config, ports *Ports, ip net.IP) (*Passive, error) {
	cfg = cfg.WithDefaults()
	ip = unmap(ip)
	if err := ports.Err(); err != nil {
		return nil, err
	}
	if ports.ephemeral() {
		ln, err := listenTCP(&net.TCPAddr{IP: ip})
		if err != nil {
			return nil, fmt.Errorf("dtp: passive listen on %s: %w", ip, err)
		}
		return &Passive{ln: ln, port: ln.Addr().(*net.TCPAddr).Port, cfg: cfg}, nil
	}
	tried := 0
	for {
		port, ok := ports.reserve(&tried)
		if !ok {
			return nil, fmt.Errorf("%w in %d-%d: all %d ports busy", ErrNoPort, ports.lo, ports.hi, ports.hi-ports.lo+1)
		}
		ln, err := listenTCP(&net.TCPAddr{IP: ip, Port: port})
		if err == nil {
			return &Passive{ln: ln, ports: ports, port: port, cfg: cfg}, nil
		}
		ports.release(port)
		if !isSkippable(err) {
			return nil, fmt.Errorf("dtp: passive listen on %s: %w", net.JoinHostPort(ip.String(), fmt.Sprint(port)), err)
		}
	}
}

// listenTCP is net.ListenTCP whose accepted connections have no TCP
// keep-alive: data connections live for one transfer, and Go's default
// keep-alive costs four setsockopt calls per connection, a tenth of the
// system calls of a small download.
func listenTCP(addr *net.TCPAddr) (*net.TCPListener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}

// Port is the listening port (for the 227/229 reply).
func (p *Passive) Port() int { return p.port }

// Addr is the listening address.
func (p *Passive) Addr() *net.TCPAddr { return p.ln.Addr().(*net.TCPAddr) }

// Rejected counts the connections closed because they came from another
// host than the client (see Config.OnForeignPeer).
func (p *Passive) Rejected() int64 { return p.rejected.Load() }

// pastDeadline wakes a blocked Accept at once.
var pastDeadline = time.Unix(1, 0)

// Accept waits for the data connection from peerIP, the control
// connection's peer (any host when Config.AllowForeignPeers). Connections
// from other hosts are reset and counted, and the wait goes on (RFC 2577:
// a third party must not steal the data). It returns when one connection
// is accepted, Config.AcceptTimeout passes (ErrAcceptTimeout), or ctx
// ends (ctx.Err()). The listener is closed and its port released
// afterwards in every case: one connection per Passive.
func (p *Passive) Accept(ctx context.Context, peerIP net.IP) (*net.TCPConn, error) {
	defer p.Close()
	return p.AcceptKeep(ctx, peerIP)
}

// AcceptKeep is Accept that leaves the listener open, for the next
// transfer of the same session (one socket, bind and listen per session
// instead of per transfer). The caller closes it; before it waits for
// another connection it calls Drain, so that nothing that connected in
// between is taken for that transfer's connection.
func (p *Passive) AcceptKeep(ctx context.Context, peerIP net.IP) (*net.TCPConn, error) {
	if p.cfg.AcceptTimeout > 0 {
		_ = p.ln.SetDeadline(time.Now().Add(p.cfg.AcceptTimeout))
	}
	stop := context.AfterFunc(ctx, func() { _ = p.ln.SetDeadline(pastDeadline) })
	defer stop()
	for {
		c, err := p.ln.AcceptTCP()
		if ctx.Err() != nil {
			if c != nil {
				c.Close()
			}
			return nil, fmt.Errorf("dtp: waiting for the data connection: %w", ctx.Err())
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, fmt.Errorf("dtp: waiting for the data connection: %w", err)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, &acceptTimeout{err}
			}
			return nil, fmt.Errorf("dtp: waiting for the data connection: %w", err)
		}
		remote := c.RemoteAddr().(*net.TCPAddr)
		if p.cfg.AllowForeignPeers || remote.IP.Equal(peerIP) {
			if p.cfg.AcceptTimeout > 0 {
				_ = p.ln.SetDeadline(time.Time{}) // a kept listener waits for no one meanwhile
			}
			return c, nil
		}
		_ = c.SetLinger(0) // RST: nothing for a third party
		c.Close()
		p.rejected.Add(1)
		if p.cfg.OnForeignPeer != nil {
			p.cfg.OnForeignPeer(remote)
		}
	}
}

// acceptTimeout is ErrAcceptTimeout wrapping the listener's deadline error.
type acceptTimeout struct{ err error }

func (e *acceptTimeout) Error() string   { return ErrAcceptTimeout.Error() + ": " + e.err.Error() }
func (e *acceptTimeout) Unwrap() []error { return []error{ErrAcceptTimeout, e.err} }
func (e *acceptTimeout) Timeout() bool   { return true }
func (e *acceptTimeout) Temporary() bool { return false }

// keptBacklog bounds the connections a kept listener queues while no
// transfer waits on it (SetSmallBacklog): whoever connects then is closed
// by the next Drain or when the listener closes, and cannot pile up.
const keptBacklog = 8

// SetSmallBacklog shrinks the listener's accept queue to keptBacklog
// connections (listen(2) again on a listening socket only changes its
// backlog): for a listener kept open across transfers.
func (p *Passive) SetSmallBacklog() error {
	rc, err := p.ln.SyscallConn()
	if err != nil {
		return fmt.Errorf("dtp: backlog: %w", err)
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), keptBacklog) }); err != nil {
		return fmt.Errorf("dtp: backlog: %w", err)
	}
	if lerr != nil {
		return fmt.Errorf("dtp: backlog: %w", lerr)
	}
	return nil
}

// Drain closes, with a reset, every connection waiting in the listener's
// queue, without blocking, and reports how many there were: before a kept
// listener is announced for the next transfer (PASV/EPSV), whatever
// connected since the last one (a stranger, a client's stale connection)
// must not be taken for the new transfer's. Call it on the goroutine that
// owns the listener, never during an Accept.
func (p *Passive) Drain() (int, error) {
	rc, err := p.ln.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("dtp: drain: %w", err)
	}
	n := 0
	var aerr error
	// Control, not Read (which a listener's RawConn refuses): the socket
	// is non-blocking, so accept4 returns EAGAIN at once when the queue
	// is empty.
	err = rc.Control(func(fd uintptr) {
		for {
			nfd, err := acceptQueued(int(fd))
			if err == syscall.ECONNABORTED || err == syscall.EINTR {
				continue // that one is gone; others may wait
			}
			if err != nil {
				if err != syscall.EAGAIN {
					aerr = err
				}
				return
			}
			_ = syscall.SetsockoptLinger(nfd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
			_ = syscall.Close(nfd)
			n++
		}
	})
	if err == nil {
		err = aerr
	}
	if err != nil {
		return n, fmt.Errorf("dtp: drain: %w", err)
	}
	return n, nil
}

// Close stops listening and releases the port; safe to call twice and
// concurrently with Accept (which then returns an error).
func (p *Passive) Close() error {
	p.once.Do(func() {
		p.closeErr = p.ln.Close()
		if p.ports != nil {
			p.ports.release(p.port)
		}
	})
	return p.closeErr
}
