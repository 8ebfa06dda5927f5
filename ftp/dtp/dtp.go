// Package dtp is the FTP data transfer process: passive listeners from a
// port range, active connections with bounce protection (RFC 2577), the
// PORT/EPRT/PASV/EPSV argument formats, and the transfers themselves.
//
// Data connections use Go's net package, not the event loop: gnet has no
// sendfile, no splice and no write backpressure, while io.Copy from an
// *os.File to a *net.TCPConn is sendfile(2) and the reverse is splice(2).
package dtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Errors of the data channel; the PI maps them to replies.
var (
	// ErrSyntax: a malformed PORT/EPRT/EPSV argument (501).
	ErrSyntax = errors.New("dtp: syntax error in argument")
	// ErrUnsupportedNetwork: an EPRT/EPSV protocol other than 1 or 2 (522).
	ErrUnsupportedNetwork = errors.New("dtp: network protocol not supported")
	// ErrForeignAddress: PORT/EPRT to another host than the client (RFC 2577).
	ErrForeignAddress = errors.New("dtp: data connection to a third host refused")
	// ErrPrivilegedPort: PORT/EPRT to a port below 1024 (RFC 2577).
	ErrPrivilegedPort = errors.New("dtp: data connection to a privileged port refused")
	// ErrNoPort: every port of the passive range is busy.
	ErrNoPort = errors.New("dtp: no passive port available")
	// ErrPeerClosed: the client closed or reset the data connection
	// mid-transfer (426).
	ErrPeerClosed = errors.New("dtp: data connection closed by the client")
)

// Config holds the data channel settings. The zero value is usable.
type Config struct {
	// PortLow and PortHigh bound the passive ports; 0,0 lets the kernel
	// choose.
	PortLow, PortHigh int
	// AcceptTimeout bounds the wait for a passive connection; default 30 s.
	AcceptTimeout time.Duration
	// DialTimeout bounds an active connection; default 10 s.
	DialTimeout time.Duration
	// AllowForeignPeers allows data connections to and from other hosts
	// than the control connection's peer (FXP). Off: RFC 2577.
	AllowForeignPeers bool
	// AllowPrivilegedPorts allows PORT/EPRT to ports below 1024.
	AllowPrivilegedPorts bool
}

// WithDefaults returns c with defaults applied.
func (c Config) WithDefaults() Config {
	if c.AcceptTimeout <= 0 {
		c.AcceptTimeout = 30 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	return c
}

// DefaultPassiveRange is the passive range used when none is configured:
// the ports below the kernel's ephemeral range (1024 up to the start of
// net.ipv4.ip_local_port_range). Binding port 0 for every PASV puts every
// data connection's TIME_WAIT (the server closes first at the end of a
// download) into the ephemeral range, and with thousands of small
// transfers a second every later bind and every connect() on the host
// gets slower (measured: small transfers/s fell 1,900 -> 300 over three
// 5 s runs). It returns 0, 0 (ephemeral ports) if that range is too small.
func DefaultPassiveRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 0, 0
	}
	start, err := strconv.Atoi(f[0])
	if err != nil || start-1 < 2048 {
		return 0, 0
	}
	return 1024, start - 1
}

// Ports hands out passive ports from a range, shared by all sessions.
type Ports struct {
	lo, hi int
	mu     sync.Mutex
	next   int
	inUse  map[int]bool
}

// NewPorts returns an allocator for [lo,hi]; 0,0 means ephemeral ports.
func NewPorts(lo, hi int) *Ports {
	p := &Ports{lo: lo, hi: hi, inUse: map[int]bool{}}
	if hi >= lo && lo > 0 {
		p.next = lo + rand.IntN(hi-lo+1)
	}
	return p
}

// Passive is a listener waiting for one data connection.
type Passive struct {
	ln    *net.TCPListener
	ports *Ports
	port  int
	cfg   Config
	once  sync.Once
}

// Listen opens a passive listener on ip, from ports' range.
func Listen(cfg Config, ports *Ports, ip net.IP) (*Passive, error) {
	cfg = cfg.WithDefaults()
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	if ports == nil || ports.lo <= 0 {
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip})
		if err != nil {
			return nil, fmt.Errorf("dtp: passive listen: %w", err)
		}
		return &Passive{ln: ln, port: ln.Addr().(*net.TCPAddr).Port, cfg: cfg}, nil
	}
	n := ports.hi - ports.lo + 1
	for i := 0; i < n; i++ {
		ports.mu.Lock()
		port := ports.next
		ports.next++
		if ports.next > ports.hi {
			ports.next = ports.lo
		}
		busy := ports.inUse[port]
		if !busy {
			ports.inUse[port] = true
		}
		ports.mu.Unlock()
		if busy {
			continue
		}
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
		if err != nil {
			ports.release(port)
			continue
		}
		return &Passive{ln: ln, ports: ports, port: port, cfg: cfg}, nil
	}
	return nil, fmt.Errorf("%w in %d-%d", ErrNoPort, ports.lo, ports.hi)
}

func (p *Ports) release(port int) {
	p.mu.Lock()
	delete(p.inUse, port)
	p.mu.Unlock()
}

// Port is the listening port.
func (p *Passive) Port() int { return p.port }

// Accept waits for the data connection from peerIP (unless foreign peers
// are allowed), closing strangers and waiting on. It returns when one
// connection is accepted, the accept timeout passes, or ctx ends; the
// listener is closed afterwards in every case.
func (p *Passive) Accept(ctx context.Context, peerIP net.IP) (*net.TCPConn, error) {
	defer p.Close()
	_ = p.ln.SetDeadline(time.Now().Add(p.cfg.AcceptTimeout))
	stop := context.AfterFunc(ctx, func() { _ = p.ln.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		c, err := p.ln.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("dtp: waiting for the data connection: %w", err)
		}
		if p.cfg.AllowForeignPeers || c.RemoteAddr().(*net.TCPAddr).IP.Equal(peerIP) {
			return c, nil
		}
		_ = c.SetLinger(0)
		c.Close() // a third party: RFC 2577
	}
}

// Close stops listening and releases the port; safe to call twice.
func (p *Passive) Close() error {
	var err error
	p.once.Do(func() {
		err = p.ln.Close()
		if p.ports != nil {
			p.ports.release(p.port)
		}
	})
	return err
}

// Dial opens an active data connection to target, refusing third hosts
// and privileged ports unless allowed.
func Dial(ctx context.Context, cfg Config, ctrlPeer net.IP, target *net.TCPAddr) (*net.TCPConn, error) {
	cfg = cfg.WithDefaults()
	if err := CheckActive(cfg, ctrlPeer, target); err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: cfg.DialTimeout}
	c, err := d.DialContext(ctx, "tcp", target.String())
	if err != nil {
		return nil, fmt.Errorf("dtp: active connection to %s: %w", target, err)
	}
	return c.(*net.TCPConn), nil
}

// CheckActive applies the PORT/EPRT rules without dialling.
func CheckActive(cfg Config, ctrlPeer net.IP, target *net.TCPAddr) error {
	if !cfg.AllowForeignPeers && !target.IP.Equal(ctrlPeer) {
		return ErrForeignAddress
	}
	if !cfg.AllowPrivilegedPorts && target.Port < 1024 {
		return ErrPrivilegedPort
	}
	return nil
}

// ParsePORT parses "h1,h2,h3,h4,p1,p2".
func ParsePORT(arg string) (*net.TCPAddr, error) {
	f := strings.Split(strings.TrimSpace(arg), ",")
	if len(f) != 6 {
		return nil, ErrSyntax
	}
	var b [6]byte
	for i, s := range f {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 0 || v > 255 {
			return nil, ErrSyntax
		}
		b[i] = byte(v)
	}
	port := int(b[4])<<8 | int(b[5])
	if port == 0 {
		return nil, ErrSyntax
	}
	return &net.TCPAddr{IP: net.IPv4(b[0], b[1], b[2], b[3]).To4(), Port: port}, nil
}

// ParseEPRT parses "|proto|addr|port|" (RFC 2428; any delimiter).
func ParseEPRT(arg string) (*net.TCPAddr, error) {
	if len(arg) < 7 {
		return nil, ErrSyntax
	}
	d := arg[:1]
	f := strings.Split(arg, d)
	if len(f) != 5 || f[0] != "" || f[4] != "" {
		return nil, ErrSyntax
	}
	proto, err := strconv.Atoi(f[1])
	if err != nil {
		return nil, ErrSyntax
	}
	if proto != 1 && proto != 2 {
		return nil, ErrUnsupportedNetwork
	}
	ip := net.ParseIP(f[2])
	port, err := strconv.Atoi(f[3])
	if ip == nil || err != nil || port < 1 || port > 65535 {
		return nil, ErrSyntax
	}
	if (proto == 1) != (ip.To4() != nil) {
		return nil, ErrSyntax
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return &net.TCPAddr{IP: ip, Port: port}, nil
}

// FormatPASV formats a 227 address: "h1,h2,h3,h4,p1,p2".
func FormatPASV(ip net.IP, port int) string {
	v4 := ip.To4()
	if v4 == nil {
		v4 = net.IPv4zero.To4()
	}
	return fmt.Sprintf("%d,%d,%d,%d,%d,%d", v4[0], v4[1], v4[2], v4[3], port>>8, port&0xff)
}

// Send copies src to the data connection and closes it. Binary transfers
// from an *os.File use sendfile(2); ASCII converts LF to CRLF. Cancelling
// ctx (ABOR) closes the connection.
func Send(ctx context.Context, conn *net.TCPConn, src io.Reader, ascii bool) (int64, error) {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetLinger(0); conn.Close() })
	defer stop()
	var n int64
	var err error
	if ascii {
		w := &crlfWriter{w: conn}
		n, err = io.Copy(w, readerOnly{src})
		if err == nil {
			err = w.flush()
		}
	} else {
		n, err = io.Copy(conn, src)
	}
	if err != nil {
		conn.Close()
		return n, classify(ctx, err)
	}
	// Close the write side first so the client sees EOF after every byte,
	// then the whole connection. (Waiting for the client's FIN and then
	// resetting does not avoid TIME_WAIT: the socket enters it as soon as
	// the client's FIN answers ours. Passive ports outside the ephemeral
	// range are what keeps TIME_WAIT harmless; see DefaultPassiveRange.)
	_ = conn.CloseWrite()
	return n, classify(ctx, conn.Close())
}

// Receive copies the data connection into dst until the client closes it.
// Binary transfers into an *os.File-backed writer use splice(2); ASCII
// converts CRLF to LF.
func Receive(ctx context.Context, conn *net.TCPConn, dst io.Writer, ascii bool) (int64, error) {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetLinger(0); conn.Close() })
	defer stop()
	defer conn.Close()
	var n int64
	var err error
	if ascii {
		w := &lfWriter{w: dst}
		_, err = io.Copy(w, conn)
		if err == nil {
			err = w.flush()
		}
		n = w.n
	} else {
		n, err = io.Copy(dst, conn)
	}
	if err != nil {
		return n, classify(ctx, err)
	}
	return n, nil
}

func classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrPeerClosed, err)
	}
	return err
}

// readerOnly hides WriterTo/ReaderFrom so io.Copy goes through the
// converting writer.
type readerOnly struct{ r io.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }

// crlfWriter turns every LF into CRLF (files on disk use LF; RFC 959's
// NVT-ASCII uses CRLF). An existing CRLF stays CRLF, as in vsftpd.
type crlfWriter struct {
	w       io.Writer
	buf     []byte
	afterCR bool
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	if c.buf == nil {
		c.buf = make([]byte, 0, 64<<10)
	}
	for _, b := range p {
		if b == '\n' && !c.afterCR {
			c.buf = append(c.buf, '\r')
		}
		c.buf = append(c.buf, b)
		c.afterCR = b == '\r'
		if len(c.buf) >= cap(c.buf)-1 {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return len(p), nil
}

func (c *crlfWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.w.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// lfWriter turns CRLF into LF; a lone CR is kept. A CR at the end of one
// write is held until the next byte decides.
type lfWriter struct {
	w         io.Writer
	buf       []byte
	pendingCR bool
	n         int64
}

func (l *lfWriter) Write(p []byte) (int, error) {
	if l.buf == nil {
		l.buf = make([]byte, 0, 64<<10)
	}
	for _, b := range p {
		if l.pendingCR {
			l.pendingCR = false
			if b != '\n' {
				l.buf = append(l.buf, '\r')
			}
		}
		if b == '\r' {
			l.pendingCR = true
			continue
		}
		l.buf = append(l.buf, b)
		if len(l.buf) >= cap(l.buf)-1 {
			if err := l.drain(); err != nil {
				return 0, err
			}
		}
	}
	return len(p), nil
}

func (l *lfWriter) drain() error {
	if len(l.buf) == 0 {
		return nil
	}
	n, err := l.w.Write(l.buf)
	l.n += int64(n)
	l.buf = l.buf[:0]
	return err
}

func (l *lfWriter) flush() error {
	if l.pendingCR {
		l.buf = append(l.buf, '\r')
		l.pendingCR = false
	}
	return l.drain()
}

// NewCRLFWriter and NewLFWriter expose the converters (tests, STAT).
func NewCRLFWriter(w io.Writer) interface {
	io.Writer
	Flush() error
} {
	return flusher{&crlfWriter{w: w}}
}

type flusher struct{ c *crlfWriter }

func (f flusher) Write(p []byte) (int, error) { return f.c.Write(p) }
func (f flusher) Flush() error                { return f.c.flush() }
