package reactor

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gnetftp/gnetftp/clock"
	"github.com/gnetftp/gnetftp/protocol"
)

// ConnConfig configures ServeConn. The zero value is usable; durations:
// 0 means the default, a negative value means no limit.
type ConnConfig struct {
	// Clock drives CallLater; default RealClock.
	Clock clock.Clock
	// Logger receives recovered panics; default slog.Default().
	Logger *slog.Logger
	// WriteTimeout bounds one blocked write; default 30 s, negative: none.
	WriteTimeout time.Duration
	// ReadBuffer is the size of the read buffer; default 16 KiB.
	ReadBuffer int
	// TLSHandshakeTimeout bounds a StartTLS handshake whose
	// TLSOptions.Timeout is 0, on Clock; default 30 s, negative: none.
	TLSHandshakeTimeout time.Duration
}

func (c ConnConfig) withDefaults() ConnConfig {
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.ReadBuffer <= 0 {
		c.ReadBuffer = 16 << 10
	}
	if c.TLSHandshakeTimeout == 0 {
		c.TLSHandshakeTimeout = 30 * time.Second
	}
	return c
}

// ConnTransport is a protocol.Transport over any net.Conn, driven by two
// goroutines: a reader and the connection's own loop, which runs every
// protocol method, timer and CallFromThread function in turn. It has the
// same semantics as the event-loop transport, so a protocol cannot tell
// them apart; it serves tests, client use, and connections that leave the
// event loop (TLS). Unlike gnet, it has real backpressure: while paused it
// stops reading the socket.
type ConnTransport struct {
	cfg   ConnConfig
	conn  net.Conn
	proto protocol.Protocol

	mu     sync.Mutex
	queue  []func()
	wake   chan struct{}
	lost   atomic.Bool // ConnectionLost has been queued: no new work
	done   chan struct{}
	resume chan struct{}

	// loop-owned
	disconnecting bool
	aborted       bool
	paused        atomic.Bool
	tls           *tlsSession // nil: plaintext (conntls.go)
}

// ServeConn runs p over c until the connection ends; it returns at once.
// MakeConnection and ConnectionMade run on the connection's loop goroutine.
func ServeConn(c net.Conn, p protocol.Protocol, cfg ConnConfig) *ConnTransport {
	t := &ConnTransport{
		cfg:    cfg.withDefaults(),
		conn:   c,
		proto:  p,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		resume: make(chan struct{}, 1),
	}
	t.post(func() {
		p.MakeConnection(t)
		p.ConnectionMade()
	})
	go t.run()
	go t.read()
	return t
}

// Done is closed once ConnectionLost has returned.
func (t *ConnTransport) Done() <-chan struct{} { return t.done }

// CallFromThreadOrDrop is CallFromThread (DropNotifier): here every
// function accepted runs, before ConnectionLost, so dropped is never
// needed.
func (t *ConnTransport) CallFromThreadOrDrop(fn, _ func()) bool { return t.post(fn) }

func (t *ConnTransport) post(fn func()) bool {
	t.mu.Lock()
	if t.lost.Load() {
		t.mu.Unlock()
		return false
	}
	t.queue = append(t.queue, fn)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
	return true
}

func (t *ConnTransport) run() {
	defer close(t.done)
	for {
		<-t.wake
		for {
			t.mu.Lock()
			q := t.queue
			t.queue = nil
			t.mu.Unlock()
			if len(q) == 0 {
				break
			}
			for _, fn := range q {
				if fn == nil { // the ConnectionLost marker
					return
				}
				t.guard(fn)
			}
		}
	}
}

func (t *ConnTransport) guard(fn func()) {
	defer func() {
		if v := recover(); v != nil {
			t.cfg.Logger.Error("reactor: panic in protocol; closing its connection",
				"peer", t.conn.RemoteAddr(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			t.Abort()
		}
	}()
	fn()
}

// read feeds DataReceived. It waits for each delivery to finish before it
// reuses the buffer, and does not read while the protocol is paused.
func (t *ConnTransport) read() {
	buf := make([]byte, t.cfg.ReadBuffer)
	delivered := make(chan struct{}, 1)
	var err error
	for {
		for t.paused.Load() {
			<-t.resume
		}
		var n int
		n, err = t.conn.Read(buf)
		if n > 0 {
			data := buf[:n]
			if !t.post(func() {
				defer func() { delivered <- struct{}{} }()
				if t.tls != nil {
					t.tls.input(data) // TLS records, even if StartTLS came after this read
				} else if !t.disconnecting {
					t.proto.DataReceived(data)
				}
			}) {
				break
			}
			<-delivered
		}
		if err != nil {
			break
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	t.conn.Close()
	t.mu.Lock()
	if !t.lost.Load() {
		lostErr := err
		t.queue = append(t.queue, func() {
			if t.aborted {
				lostErr = nil
			}
			t.disconnecting = true
			if t.tls != nil {
				if err := t.tls.lost(lostErr); err != nil {
					lostErr = err
				}
			}
			t.proto.ConnectionLost(lostErr)
		}, nil)
		t.lost.Store(true)
	}
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Write writes p now (blocking the connection's loop goroutine, bounded by
// WriteTimeout). Loop-only.
func (t *ConnTransport) Write(p []byte) error {
	if t.disconnecting {
		return net.ErrClosed
	}
	if t.tls != nil {
		return t.tls.write(p)
	}
	t.writeDeadline()
	if _, err := t.conn.Write(p); err != nil {
		t.Abort()
		return fmt.Errorf("reactor: write: %w", err)
	}
	return nil
}

// WriteSequence writes the buffers in order with writev where possible.
func (t *ConnTransport) WriteSequence(bufs [][]byte) error {
	if t.disconnecting {
		return net.ErrClosed
	}
	if t.tls != nil {
		return t.tls.writev(bufs)
	}
	t.writeDeadline()
	nb := net.Buffers(append([][]byte(nil), bufs...))
	if _, err := nb.WriteTo(t.conn); err != nil {
		t.Abort()
		return fmt.Errorf("reactor: writev: %w", err)
	}
	return nil
}

// writeDeadline bounds the next write by WriteTimeout (none if negative).
func (t *ConnTransport) writeDeadline() {
	if t.cfg.WriteTimeout > 0 {
		_ = t.conn.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
	}
}

// LoseConnection closes the connection; writes are synchronous, so all
// output has already been handed to the kernel.
func (t *ConnTransport) LoseConnection() {
	if t.disconnecting {
		return
	}
	if t.tls != nil {
		t.tls.closeNotify()
	}
	t.disconnecting = true
	t.resumeReader()
	_ = t.conn.Close()
}

// Abort closes at once, discarding unsent data (RST for TCP).
func (t *ConnTransport) Abort() {
	if t.aborted {
		return
	}
	t.disconnecting = true
	t.aborted = true
	if tc, ok := t.conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	t.resumeReader()
	_ = t.conn.Close()
}

// Disconnecting reports whether the connection is closing.
func (t *ConnTransport) Disconnecting() bool { return t.disconnecting }

// Queued is always 0 (protocol.Backpressure): writes are synchronous, so
// nothing waits in the transport. Loop-only.
func (t *ConnTransport) Queued() int { return 0 }

// WhenDrained runs fn on the loop after the current function, since
// nothing is ever queued (protocol.Backpressure); never once the
// connection is closing. Loop-only.
func (t *ConnTransport) WhenDrained(fn func()) {
	if t.disconnecting {
		return
	}
	t.post(fn)
}

// PauseProducing stops reading from the socket after the current read.
func (t *ConnTransport) PauseProducing() { t.paused.Store(true) }

// ResumeProducing resumes reading.
func (t *ConnTransport) ResumeProducing() {
	if t.paused.Swap(false) {
		if t.tls != nil {
			// Records a paused delivery left in the session go first.
			t.post(func() { t.tls.input(nil) })
		}
		t.resumeReader()
	}
}

func (t *ConnTransport) resumeReader() {
	t.paused.Store(false)
	select {
	case t.resume <- struct{}{}:
	default:
	}
}

// LocalAddr is the connection's local address.
func (t *ConnTransport) LocalAddr() net.Addr { return t.conn.LocalAddr() }

// RemoteAddr is the peer's address.
func (t *ConnTransport) RemoteAddr() net.Addr { return t.conn.RemoteAddr() }

// Loop returns the transport itself: it is its own loop.
func (t *ConnTransport) Loop() protocol.Loop { return t }

// CallFromThread queues fn on the connection's loop goroutine.
func (t *ConnTransport) CallFromThread(fn func()) bool { return t.post(fn) }

// CallLater runs fn on the loop goroutine after d.
func (t *ConnTransport) CallLater(d time.Duration, fn func()) protocol.DelayedCall {
	return clock.NewDelayedCall(t.cfg.Clock, t.post, d, fn)
}

// Now returns the clock's time.
func (t *ConnTransport) Now() time.Time { return t.cfg.Clock.Now() }
