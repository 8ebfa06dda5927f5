package reactor

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/panjf2000/gnet/v2"

	"github.com/gnetftp/gnetftp/protocol"
)

// TLS for the event-loop transport: StartTLS (protocol.TLSStarter),
// implicit-TLS listeners (ListenTLS), and the tlsHost side of the
// transport. The mechanism is in tlssession.go. A plaintext connection
// pays one nil check per read and per write for all of it (t.tls == nil).

var (
	_ protocol.TLSStarter = (*transport)(nil)
	_ tlsHost             = (*transport)(nil)
)

// ListenTLS adds an implicit-TLS listener (FTPS on port 990, HTTPS): every
// connection it accepts starts with a TLS handshake (as the server, with
// cfg), and f builds the connection's protocol only once the handshake has
// succeeded, so MakeConnection and ConnectionMade see an encrypted
// connection whose TLSState is already known. A handshake that fails, or
// does not complete within Config.TLSHandshakeTimeout of the accept, closes
// the connection without a protocol ever being built; f hears of it if it
// implements protocol.TLSHandshakeObserver. addr is as for Listen. cfg is
// used as given for every connection (see protocol.TLSStarter on sharing
// one Config).
func (r *Reactor) ListenTLS(addr string, cfg *tls.Config, f protocol.Factory) error {
	if cfg == nil {
		return fmt.Errorf("reactor: listen %s: nil tls config", addr)
	}
	return r.Listen(addr, implicitTLS{cfg: cfg, inner: f})
}

// implicitTLS is the factory ListenTLS registers: OnOpen recognises it and
// runs the handshake before building the protocol with inner.
type implicitTLS struct {
	cfg   *tls.Config
	inner protocol.Factory
}

func (f implicitTLS) StartFactory()                              { f.inner.StartFactory() }
func (f implicitTLS) BuildProtocol(a net.Addr) protocol.Protocol { return f.inner.BuildProtocol(a) }
func (f implicitTLS) StopFactory()                               { f.inner.StopFactory() }

// listenerFactory is the factory a listener was given (ListenTLS's
// wrapper removed), for starting and stopping it once.
func listenerFactory(f protocol.Factory) protocol.Factory {
	if it, ok := f.(implicitTLS); ok {
		return it.inner
	}
	return f
}

// TLSHandshakes reports the TLS handshakes in progress, on goroutines and
// on loops (see Config.MaxTLSHandshakes). Safe from any goroutine.
func (r *Reactor) TLSHandshakes() int { return r.handshakes.inFlight() }

func (r *Reactor) initTLS() {
	r.handshakes = newHandshakePool(r.cfg.MaxTLSHandshakes, r.cfg.TLSHandshakeWorkers)
	r.tlsBufs.New = func() any {
		b := make([]byte, tlsBufferSize)
		return &b
	}
}

// acceptTLS starts an implicit-TLS connection's handshake (from OnOpen,
// the connection tracked, no protocol yet).
func (t *transport) acceptTLS(f implicitTLS) {
	t.tls = newTLSSession(t, f.cfg, false, t.r.handshakes, &t.r.tlsBufs, t.r.cfg.TLSHandshakeTimeout,
		t.LocalAddr(), t.remote, func(_ tls.ConnectionState, err error) {
			if err != nil {
				t.handshakeFailed(f.inner, err)
				return
			}
			t.openProtocol(f.inner)
		})
}

// openProtocol builds and connects the protocol of an implicit-TLS
// connection whose handshake has just succeeded.
func (t *transport) openProtocol(f protocol.Factory) {
	var p protocol.Protocol
	t.guard(func() { p = f.BuildProtocol(t.remote) })
	if p == nil {
		t.closeForTLS()
		return
	}
	t.proto = p
	t.guard(func() {
		p.MakeConnection(t)
		p.ConnectionMade()
	})
}

func (t *transport) handshakeFailed(f protocol.Factory, err error) {
	if o, ok := f.(protocol.TLSHandshakeObserver); ok {
		t.guard(func() { o.TLSHandshakeFailed(t.remote, err) })
		return
	}
	t.r.cfg.Logger.Debug("reactor: tls handshake failed", "peer", t.remote, "err", err)
}

// StartTLS implements protocol.TLSStarter. What gnet has buffered at the
// call (bytes read from the socket but not yet delivered, as while paused)
// arrived before the protocol's go-ahead reply and is discarded.
func (t *transport) StartTLS(cfg *tls.Config, opts protocol.TLSOptions, done func(tls.ConnectionState, error)) error {
	if err := checkStartTLS(cfg, done, t.tls != nil, t.disconnecting); err != nil {
		return err
	}
	if n := t.c.InboundBuffered(); n > 0 {
		_, _ = t.c.Discard(-1)
		t.r.cfg.Logger.Warn("reactor: discarded bytes received before StartTLS (plaintext injection?)",
			"peer", t.remote, "bytes", n)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = t.r.cfg.TLSHandshakeTimeout
	}
	t.tls = newTLSSession(t, cfg, opts.Client, t.r.handshakes, &t.r.tlsBufs, timeout, t.LocalAddr(), t.remote,
		func(cs tls.ConnectionState, err error) { t.guard(func() { done(cs, err) }) })
	return nil
}

// checkStartTLS holds the refusals both transports share.
func checkStartTLS(cfg *tls.Config, done func(tls.ConnectionState, error), started, disconnecting bool) error {
	switch {
	case cfg == nil || done == nil:
		return errors.New("reactor: StartTLS: nil config or callback")
	case started:
		return fmt.Errorf("reactor: StartTLS: %w", protocol.ErrTLSStarted)
	case disconnecting:
		return fmt.Errorf("reactor: StartTLS: %w", net.ErrClosed)
	}
	return nil
}

// TLSState implements protocol.TLSStarter.
func (t *transport) TLSState() (tls.ConnectionState, bool) {
	if t.tls == nil {
		return tls.ConnectionState{}, false
	}
	return t.tls.state()
}

// tlsTraffic is OnTraffic for a connection with TLS.
func (t *transport) tlsTraffic(c gnet.Conn) gnet.Action {
	s := t.tls
	if t.disconnecting || s.phase == tlsFailed {
		_, _ = c.Discard(-1)
		return gnet.None
	}
	if s.phase == tlsEstablished && (t.paused || t.blocked()) {
		if c.InboundBuffered() > t.r.cfg.MaxPausedBuffer {
			t.r.cfg.Logger.Warn("reactor: closing connection that flooded a paused transport",
				"peer", t.remote, "buffered", c.InboundBuffered())
			t.disconnecting = true
			return gnet.Close
		}
		return gnet.None
	}
	data, _ := c.Next(-1)
	s.input(data)
	if t.disconnecting {
		return t.closeAction()
	}
	t.checkOutbound()
	return gnet.None
}

// The tlsHost side (see tlssession.go).

func (t *transport) sendRaw(p []byte) {
	if !t.closed.Load() {
		_, _ = t.c.Write(p) // gnet closes the connection if it fails
	}
}

func (t *transport) deliver(p []byte) {
	if t.proto != nil {
		t.guard(func() { t.proto.DataReceived(p) })
	}
}

func (t *transport) producing() bool { return !t.paused && !t.blocked() }

func (t *transport) loopBudget() *loopBudget {
	if v, ok := t.r.budgets.Load(t.loop); ok {
		return v.(*loopBudget)
	}
	v, _ := t.r.budgets.LoadOrStore(t.loop, &loopBudget{share: t.r.cfg.TLSHandshakeLoopShare})
	return v.(*loopBudget)
}

func (t *transport) closeForTLS() {
	t.disconnecting = true
	if !t.closed.Load() {
		_ = t.c.Close() // queued; gnet flushes the outbound buffer first
	}
}
