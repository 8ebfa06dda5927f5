package reactor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/gnetftp/gnetftp/clock"
	"github.com/gnetftp/gnetftp/protocol"
)

// handler is the single gnet.EventHandler of a reactor (server and client
// engines). gnet has no recover(): every call into protocol code goes
// through transport.guard so a panicking connection is closed and logged
// while the process and every other connection carry on.
type handler struct {
	gnet.BuiltinEventEngine
	r *Reactor
	// started receives the engine once every loop has its listeners
	// (OnStarted, gnet patch 3): Start waits for it.
	started chan gnet.Engine
}

// OnStarted is called by gnet (third_party/gnet patch 3) once every event
// loop has been created with its listeners, on the engine's goroutine.
func (h *handler) OnStarted(eng gnet.Engine) {
	if h.started != nil {
		h.started <- eng
		h.started = nil
	}
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	r := h.r
	var f protocol.Factory
	if pend, ok := c.Context().(*pendingClient); ok {
		f = pend.factory
	} else if len(r.listeners) == 1 {
		f = r.listeners[0].factory
	} else if ls := r.byKey[c.LocalAddr().String()]; ls != nil {
		f = ls.factory
	}
	if f == nil {
		r.cfg.Logger.Error("reactor: connection on unknown listener", "local", c.LocalAddr())
		return nil, gnet.Close
	}
	// Urgent (out-of-band) data stays in the stream (RFC 6093 advises
	// it): FTP clients such as Python's ftplib send ABOR with MSG_OOB, and
	// without SO_OOBINLINE its last byte would never arrive, leaving the
	// command unterminated.
	_ = unix.SetsockoptInt(c.Fd(), unix.SOL_SOCKET, unix.SO_OOBINLINE, 1)
	t := &transport{r: r, c: c, loop: c.EventLoop(), remote: c.RemoteAddr()}
	if h == r.handler {
		r.loops.note(t.loop)
	}
	c.SetContext(t)
	if !r.track(t) {
		t.closed.Store(true)
		return nil, gnet.Close
	}
	if it, ok := f.(implicitTLS); ok {
		t.acceptTLS(it) // the protocol is built once the handshake succeeds
		return nil, gnet.None
	}
	var p protocol.Protocol
	t.guard(func() { p = f.BuildProtocol(t.remote) })
	if p == nil {
		t.closed.Store(true)
		r.untrack(t)
		c.SetContext(nil)
		return nil, gnet.Close
	}
	t.proto = p
	t.guard(func() {
		p.MakeConnection(t)
		p.ConnectionMade()
	})
	if t.disconnecting {
		return nil, t.closeAction()
	}
	t.checkOutbound()
	return nil, gnet.None
}

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	t, _ := c.Context().(*transport)
	if t == nil {
		return gnet.Close
	}
	if t.tls != nil {
		return t.tlsTraffic(c)
	}
	if t.proto == nil {
		return gnet.Close
	}
	if t.disconnecting {
		_, _ = c.Discard(-1)
		return gnet.None
	}
	if t.paused || t.blocked() {
		if c.InboundBuffered() > t.r.cfg.MaxPausedBuffer {
			t.r.cfg.Logger.Warn("reactor: closing connection that flooded a paused transport",
				"peer", t.remote, "buffered", c.InboundBuffered())
			t.disconnecting = true
			return gnet.Close
		}
		return gnet.None
	}
	data, _ := c.Next(-1)
	if len(data) == 0 {
		return gnet.None
	}
	t.guard(func() { t.proto.DataReceived(data) })
	if t.disconnecting {
		return t.closeAction()
	}
	t.checkOutbound()
	return gnet.None
}

func (h *handler) OnClose(c gnet.Conn, err error) gnet.Action {
	t, _ := c.Context().(*transport)
	if t == nil {
		return gnet.None
	}
	t.closed.Store(true)
	t.disconnecting = true
	if t.drainCall != nil {
		t.drainCall.Cancel()
	}
	if t.bp != nil && t.bp.call != nil {
		t.bp.call.Cancel()
	}
	var tlsErr error
	if t.tls != nil {
		tlsErr = t.tls.lost(err) // tells StartTLS's done first if the handshake was running
	}
	if t.proto != nil {
		if t.aborted || err == nil || isCleanClose(err) {
			err = nil
		}
		if tlsErr != nil {
			err = tlsErr
		}
		p := t.proto
		t.guard(func() { p.ConnectionLost(err) })
	}
	t.r.untrack(t)
	return gnet.None
}

// isCleanClose reports whether gnet's close error is the peer's orderly
// shutdown rather than a failure.
func isCleanClose(err error) bool { return errors.Is(err, io.EOF) }

// transport is the protocol.Transport of a gnet connection. Every field
// except closed is owned by the connection's event loop.
type transport struct {
	r      *Reactor
	c      gnet.Conn
	loop   gnet.EventLoop
	proto  protocol.Protocol
	remote net.Addr
	local  net.Addr
	tls    *tlsSession // nil: plaintext (tls.go)

	closed        atomic.Bool // set on the loop in OnClose; read from any goroutine
	disconnecting bool
	aborted       bool
	paused        bool
	drainCall     protocol.DelayedCall
	drainStarted  time.Time
	bp            *backlog // set while the peer is slow to read (backlog.go)
}

// guard runs protocol code, turning a panic into a log line and an abort.
func (t *transport) guard(fn func()) {
	defer func() {
		if v := recover(); v != nil {
			t.r.cfg.Logger.Error("reactor: panic in protocol; closing its connection",
				"peer", t.remote, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			t.abortNow()
		}
	}()
	fn()
}

// closeAction is what a gnet callback returns once the protocol asked to
// disconnect: close at once if nothing is left to send.
func (t *transport) closeAction() gnet.Action {
	if t.aborted || t.c.OutboundBuffered() == 0 {
		return gnet.Close
	}
	return gnet.None // the drain timer closes it
}

func (t *transport) Write(p []byte) error {
	if t.disconnecting {
		return net.ErrClosed
	}
	if t.tls != nil {
		return t.tls.write(p)
	}
	_, err := t.c.Write(p)
	if err != nil {
		return fmt.Errorf("reactor: write: %w", err)
	}
	return nil
}

func (t *transport) WriteSequence(bufs [][]byte) error {
	if t.disconnecting {
		return net.ErrClosed
	}
	if t.tls != nil {
		return t.tls.writev(bufs)
	}
	_, err := t.c.Writev(bufs)
	if err != nil {
		return fmt.Errorf("reactor: writev: %w", err)
	}
	return nil
}

// LoseConnection closes once the outbound buffer is empty. gnet has no
// "drained" event, so when output is pending a timer polls for it (bounded
// by Config.DrainTimeout, after which the connection is aborted).
func (t *transport) LoseConnection() {
	if t.disconnecting {
		return
	}
	if t.tls != nil {
		t.tls.closeNotify()
	}
	t.disconnecting = true
	if t.closed.Load() {
		return
	}
	if t.c.OutboundBuffered() == 0 {
		_ = t.c.Close() // queued: runs after the current callback
		return
	}
	t.drainStarted = t.r.cfg.Clock.Now()
	t.drainCall = t.CallLater(5*time.Millisecond, t.checkDrained)
}

func (t *transport) checkDrained() {
	if t.closed.Load() {
		return
	}
	if t.c.OutboundBuffered() == 0 {
		_ = t.c.Close()
		return
	}
	if d := t.r.cfg.DrainTimeout; d > 0 && t.r.cfg.Clock.Now().Sub(t.drainStarted) >= d {
		t.abortNow()
		return
	}
	t.drainCall = t.CallLater(20*time.Millisecond, t.checkDrained)
}

func (t *transport) Abort() { t.abortNow() }

func (t *transport) abortNow() {
	if t.aborted {
		return
	}
	t.disconnecting = true
	t.aborted = true
	if t.closed.Load() {
		return
	}
	_ = t.c.SetLinger(0) // discard unsent data: RST instead of FIN
	_ = t.c.Close()
}

func (t *transport) Disconnecting() bool { return t.disconnecting }

func (t *transport) PauseProducing() { t.paused = true }

// ResumeProducing wakes the connection so gnet calls OnTraffic again,
// which delivers what was buffered while paused (unless the outbound bound
// holds delivery: its poll wakes the connection once the backlog drains).
func (t *transport) ResumeProducing() {
	if !t.paused {
		return
	}
	t.paused = false
	if !t.closed.Load() && !t.blocked() && (t.c.InboundBuffered() > 0 || t.tls != nil) { // TLS may hold records already read
		_ = t.c.Wake(nil)
	}
}

func (t *transport) LocalAddr() net.Addr {
	if t.local == nil {
		if sa, err := unix.Getsockname(t.c.Fd()); err == nil {
			if a := sockaddrToTCP(sa); a != nil {
				t.local = a
			}
		}
		if t.local == nil {
			return t.c.LocalAddr()
		}
	}
	return t.local
}

func (t *transport) RemoteAddr() net.Addr { return t.remote }

func (t *transport) Loop() protocol.Loop { return t }

// CallFromThread hops onto the connection's event loop with Execute. The
// closed flag is checked before queueing and again on the loop, so fn
// never runs after ConnectionLost.
func (t *transport) CallFromThread(fn func()) bool { return t.CallFromThreadOrDrop(fn, nil) }

// CallFromThreadOrDrop is CallFromThread that calls dropped (when not nil)
// instead of fn when the connection was lost between queueing and fn's
// turn (DropNotifier): Defer then releases a result (an open file) at
// once instead of leaving it to the garbage collector. The one exception
// is an engine stopping with functions still queued, which gnet discards.
func (t *transport) CallFromThreadOrDrop(fn, dropped func()) bool {
	if t.closed.Load() {
		return false
	}
	err := t.loop.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		if t.closed.Load() {
			if dropped != nil {
				dropped()
			}
			return nil
		}
		t.guard(fn)
		t.afterLoopCall()
		return nil
	}))
	return err == nil
}

// afterLoopCall closes the connection if code run outside a gnet callback
// (a timer, a Deferred) asked to disconnect and nothing is pending.
func (t *transport) afterLoopCall() {
	if t.disconnecting && !t.closed.Load() && t.drainCall == nil {
		if t.aborted || t.c.OutboundBuffered() == 0 {
			_ = t.c.Close()
		}
		return
	}
	if !t.closed.Load() {
		t.checkOutbound()
	}
}

func (t *transport) CallLater(d time.Duration, fn func()) protocol.DelayedCall {
	return clock.NewDelayedCall(t.r.cfg.Clock, t.CallFromThread, d, fn)
}

func (t *transport) Now() time.Time { return t.r.cfg.Clock.Now() }

func (t *transport) shutdownRequested() {
	if n, ok := t.proto.(protocol.ShutdownNotifiee); ok {
		n.ShutdownRequested()
		return
	}
	t.LoseConnection()
}
