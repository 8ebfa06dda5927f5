// Package prototest provides a fake Transport and Loop for unit-testing
// protocols without sockets, like Twisted's StringTransport and task.Clock.
//
// The test goroutine plays the part of the event loop: it calls the
// protocol's methods, advances the manual clock (timers fire inside
// Advance), and runs functions that other goroutines delivered with
// CallFromThread by calling RunPending or WaitPending.
package prototest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/gnetftp/gnetftp/clock"
	"github.com/gnetftp/gnetftp/protocol"
)

var (
	_ protocol.DropNotifier = (*Loop)(nil)
	_ protocol.Backpressure = (*Transport)(nil)
	_ protocol.PeerChecker  = (*Transport)(nil)
	_ protocol.TLSStarter   = (*Transport)(nil)
)

// Loop is a fake protocol.Loop driven by the test goroutine.
type Loop struct {
	// Clock is the manual clock behind CallLater and Now.
	Clock *clock.ManualClock

	mu      sync.Mutex
	queue   []queued
	ready   chan struct{}
	stopped bool
}

// NewLoop returns a loop on a fresh manual clock.
func NewLoop() *Loop {
	return &Loop{Clock: clock.NewManualClock(), ready: make(chan struct{}, 1)}
}

// queued is a function delivered to the loop, and what to call instead if
// Stop drops it.
type queued struct{ fn, dropped func() }

// CallFromThread queues fn; it runs when the test calls RunPending or
// WaitPending. It reports false once Stop was called.
func (l *Loop) CallFromThread(fn func()) bool { return l.CallFromThreadOrDrop(fn, nil) }

// CallFromThreadOrDrop is CallFromThread that calls dropped (when not nil)
// if Stop discards fn before it ran (protocol.DropNotifier), as a real
// transport does when its connection is lost.
func (l *Loop) CallFromThreadOrDrop(fn, dropped func()) bool {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return false
	}
	l.queue = append(l.queue, queued{fn, dropped})
	l.mu.Unlock()
	select {
	case l.ready <- struct{}{}:
	default:
	}
	return true
}

// CallLater schedules fn on the manual clock; it runs inside Advance
// (through the queue, so call RunPending after Advance, or use Advance on
// this Loop which does both).
func (l *Loop) CallLater(d time.Duration, fn func()) protocol.DelayedCall {
	return clock.NewDelayedCall(l.Clock, l.CallFromThread, d, fn)
}

// Now returns the manual clock's time.
func (l *Loop) Now() time.Time { return l.Clock.Now() }

// Advance moves the manual clock and runs everything that fell due.
func (l *Loop) Advance(d time.Duration) {
	l.Clock.Advance(d)
	l.RunPending()
}

// RunPending runs every queued function, including ones queued by the
// functions it runs. It reports how many ran.
func (l *Loop) RunPending() int {
	n := 0
	for {
		l.mu.Lock()
		q := l.queue
		l.queue = nil
		l.mu.Unlock()
		if len(q) == 0 {
			return n
		}
		for _, c := range q {
			c.fn()
			n++
		}
	}
}

// WaitPending waits up to timeout for at least one queued function, then
// runs the queue. It reports how many ran (0 on timeout). The timeout is a
// safety net against hangs, not a wait for an expected delay.
func (l *Loop) WaitPending(timeout time.Duration) int {
	if n := l.RunPending(); n > 0 {
		return n
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case <-l.ready:
			if n := l.RunPending(); n > 0 {
				return n
			}
		case <-t.C:
			return l.RunPending()
		}
	}
}

// Stop makes further CallFromThread calls report false and drops the queue,
// as a lost connection does (calling the dropped functions of what was
// queued with CallFromThreadOrDrop).
func (l *Loop) Stop() {
	l.mu.Lock()
	l.stopped = true
	q := l.queue
	l.queue = nil
	l.mu.Unlock()
	for _, c := range q {
		if c.dropped != nil {
			c.dropped()
		}
	}
}

// Transport is a fake protocol.Transport that records what is written.
// Use it on the test goroutine only, like a real transport on its loop.
type Transport struct {
	// Out holds everything written.
	Out bytes.Buffer
	// Local and Remote are the addresses reported; defaults are loopback.
	Local, Remote net.Addr
	// FakeLoop is the loop returned by Loop().
	FakeLoop *Loop

	// Lost is true after LoseConnection; Aborted after Abort.
	Lost, Aborted bool
	// Paused reports the producer state set by Pause/ResumeProducing.
	Paused bool
	// Backlog is what Queued reports (protocol.Backpressure): a test sets
	// it to play a peer that does not read, then calls Drain.
	Backlog int
	// PeerGone is what PeerClosed reports (protocol.PeerChecker).
	PeerGone bool

	drained func()
	// Resumes counts ResumeProducing calls.
	Resumes int

	// TLS is the last StartTLS call (protocol.TLSStarter), nil before
	// any; the test ends its handshake with CompleteTLS or FailTLS.
	TLS *TLSCall
	// TLSActive is the state TLSState reports once a handshake completed
	// (CompleteTLS). A test of a protocol on an implicit-TLS listener sets
	// it before Connect.
	TLSActive *tls.ConnectionState
}

// TLSCall records a StartTLS call.
type TLSCall struct {
	Config  *tls.Config
	Options protocol.TLSOptions
	// OutBefore is len(Out) at the call (Take resets Out: it counts from
	// the last Take): the bytes before it went out in
	// clear (a 234 reply must be among them), those after it are what the
	// protocol wrote after starting TLS.
	OutBefore int
	done      func(tls.ConnectionState, error)
}

// Pending reports whether the handshake still waits for CompleteTLS or
// FailTLS.
func (c *TLSCall) Pending() bool { return c != nil && c.done != nil }

// StartTLS records the call (protocol.TLSStarter) with the refusals of a
// real transport: nil config or callback, TLS already started, closing.
func (t *Transport) StartTLS(cfg *tls.Config, opts protocol.TLSOptions, done func(tls.ConnectionState, error)) error {
	switch {
	case cfg == nil || done == nil:
		return errors.New("prototest: StartTLS: nil config or callback")
	case t.TLS != nil || t.TLSActive != nil:
		return fmt.Errorf("prototest: StartTLS: %w", protocol.ErrTLSStarted)
	case t.Disconnecting():
		return fmt.Errorf("prototest: StartTLS: %w", net.ErrClosed)
	}
	t.TLS = &TLSCall{Config: cfg, Options: opts, OutBefore: t.Out.Len(), done: done}
	return nil
}

// TLSState returns *TLSActive (protocol.TLSStarter).
func (t *Transport) TLSState() (tls.ConnectionState, bool) {
	if t.TLSActive == nil {
		return tls.ConnectionState{}, false
	}
	return *t.TLSActive, true
}

// CompleteTLS ends the pending handshake successfully: TLSState reports
// state (HandshakeComplete set; Version TLS 1.3 when zero) and done runs,
// on the test goroutine, as a real transport runs it on the loop. It
// panics if no handshake is pending.
func (t *Transport) CompleteTLS(state tls.ConnectionState) {
	done := t.takeTLS()
	state.HandshakeComplete = true
	if state.Version == 0 {
		state.Version = tls.VersionTLS13
	}
	t.TLSActive = &state
	done(state, nil)
}

// FailTLS ends the pending handshake with err: done runs with it, then the
// transport is marked aborted, as a real transport closes the connection
// (the test delivers ConnectionLost itself if it wants to). It panics if
// no handshake is pending.
func (t *Transport) FailTLS(err error) {
	done := t.takeTLS()
	done(tls.ConnectionState{}, err)
	t.Aborted = true
}

func (t *Transport) takeTLS() func(tls.ConnectionState, error) {
	if !t.TLS.Pending() {
		panic("prototest: no TLS handshake pending")
	}
	done := t.TLS.done
	t.TLS.done = nil
	return done
}

// NewTransport returns a transport on a new fake loop, with loopback
// addresses 127.0.0.1:21 (local) and 127.0.0.1:54321 (remote).
func NewTransport() *Transport {
	return &Transport{
		Local:    &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 21},
		Remote:   &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 54321},
		FakeLoop: NewLoop(),
	}
}

// Write appends p to Out unless the connection is closing.
func (t *Transport) Write(p []byte) error {
	if t.Lost || t.Aborted {
		return net.ErrClosed
	}
	t.Out.Write(p)
	return nil
}

// WriteSequence appends each buffer in order.
func (t *Transport) WriteSequence(bufs [][]byte) error {
	for _, b := range bufs {
		if err := t.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// LoseConnection marks the transport lost.
func (t *Transport) LoseConnection() { t.Lost = true }

// Abort marks the transport aborted.
func (t *Transport) Abort() { t.Aborted = true }

// Disconnecting reports whether LoseConnection or Abort was called.
func (t *Transport) Disconnecting() bool { return t.Lost || t.Aborted }

// PauseProducing sets Paused.
func (t *Transport) PauseProducing() { t.Paused = true }

// ResumeProducing clears Paused and counts the call.
func (t *Transport) ResumeProducing() { t.Paused = false; t.Resumes++ }

// Queued returns Backlog (protocol.Backpressure).
func (t *Transport) Queued() int { return t.Backlog }

// WhenDrained runs fn through the loop's queue at once when Backlog is 0,
// else keeps it for Drain.
func (t *Transport) WhenDrained(fn func()) {
	if t.Backlog == 0 {
		t.FakeLoop.CallFromThread(fn)
		return
	}
	t.drained = fn
}

// Drain sets Backlog to 0 and runs the function WhenDrained kept, as a
// peer that finally reads.
func (t *Transport) Drain() {
	t.Backlog = 0
	if fn := t.drained; fn != nil {
		t.drained = nil
		fn()
	}
}

// PeerClosed returns PeerGone (protocol.PeerChecker).
func (t *Transport) PeerClosed() bool { return t.PeerGone }

// LocalAddr returns Local.
func (t *Transport) LocalAddr() net.Addr { return t.Local }

// RemoteAddr returns Remote.
func (t *Transport) RemoteAddr() net.Addr { return t.Remote }

// Loop returns FakeLoop.
func (t *Transport) Loop() protocol.Loop { return t.FakeLoop }

// Take returns what was written since the last Take and clears it.
func (t *Transport) Take() string {
	s := t.Out.String()
	t.Out.Reset()
	return s
}

// Connect calls MakeConnection and ConnectionMade, as a reactor does.
func Connect(p protocol.Protocol, t *Transport) {
	p.MakeConnection(t)
	p.ConnectionMade()
}
