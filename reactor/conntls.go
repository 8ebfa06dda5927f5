package reactor

import (
	"crypto/tls"
	"sync"

	"github.com/gnetftp/gnetftp/protocol"
)

// TLS for ConnTransport: the same tlsSession as on the event loop, with
// the connection's loop goroutine in the loop's place. The reader goroutine
// hands every read to the loop goroutine and waits for it, and the loop
// goroutine decides there whether the bytes are plaintext for the protocol
// or TLS records, so the switch happens exactly where StartTLS was called,
// with the same semantics as the event-loop transport. Nothing is buffered
// in this transport between reads, so StartTLS has nothing to discard.

var (
	_ protocol.TLSStarter = (*ConnTransport)(nil)
	_ tlsHost             = (*ConnTransport)(nil)
)

// StartTLS implements protocol.TLSStarter. Handshakes here are not bounded
// by a pool: a ConnTransport already has goroutines of its own, and its
// loop goroutine runs the handshake as a coroutine.
func (t *ConnTransport) StartTLS(cfg *tls.Config, opts protocol.TLSOptions, done func(tls.ConnectionState, error)) error {
	if err := checkStartTLS(cfg, done, t.tls != nil, t.disconnecting); err != nil {
		return err
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = t.cfg.TLSHandshakeTimeout
	}
	bufs := &sync.Pool{New: func() any {
		b := make([]byte, tlsBufferSize)
		return &b
	}}
	t.tls = newTLSSession(t, cfg, opts.Client, &handshakePool{}, bufs, timeout, t.conn.LocalAddr(), t.conn.RemoteAddr(),
		func(cs tls.ConnectionState, err error) { t.guard(func() { done(cs, err) }) })
	return nil
}

// TLSState implements protocol.TLSStarter.
func (t *ConnTransport) TLSState() (tls.ConnectionState, bool) {
	if t.tls == nil {
		return tls.ConnectionState{}, false
	}
	return t.tls.state()
}

// The tlsHost side (see tlssession.go).

func (t *ConnTransport) sendRaw(p []byte) {
	if t.aborted {
		return
	}
	t.writeDeadline()
	if _, err := t.conn.Write(p); err != nil {
		t.Abort()
	}
}

func (t *ConnTransport) deliver(p []byte) {
	if !t.disconnecting {
		t.guard(func() { t.proto.DataReceived(p) })
	}
}

func (t *ConnTransport) producing() bool { return !t.paused.Load() }

// loopBudget: nil, the connection's loop goroutine is its own.
func (t *ConnTransport) loopBudget() *loopBudget { return nil }

func (t *ConnTransport) closeForTLS() {
	t.disconnecting = true
	t.resumeReader()
	_ = t.conn.Close()
}
