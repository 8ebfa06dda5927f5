// Package protocol holds the interfaces a protocol author programs against:
// Protocol, Factory, Transport and Loop, in the shape of Twisted's
// twisted.internet.interfaces, plus no-op bases to embed.
//
// The one invariant the whole project rests on: a Protocol's methods, the
// functions it schedules with Loop.CallLater, and the functions delivered with
// Loop.CallFromThread never run concurrently with each other. For connections
// served by the gnet reactor they all run on the connection's event loop; for
// connections served by reactor.ServeConn they run on the connection's own
// goroutine. Protocol code therefore needs no locks for its own state.
//
// Nothing in this package imports gnet: protocols written against it run on
// the event loop, on a plain net.Conn, or against protocol/prototest's fake
// transport in unit tests.
package protocol

import (
	"net"
	"time"
)

// Protocol is the per-connection handler (Twisted's IProtocol).
//
// All methods are called on the connection's loop, never concurrently.
type Protocol interface {
	// MakeConnection attaches the transport. Reactors call it exactly
	// once, then ConnectionMade, before any DataReceived. (Twisted's
	// makeConnection also calls connectionMade; Go's embedding has no
	// virtual dispatch, so the reactor makes both calls.)
	MakeConnection(t Transport)
	// ConnectionMade is called once the transport is attached.
	ConnectionMade()
	// DataReceived delivers bytes read from the peer. The slice is only
	// valid until DataReceived returns: copy what must be kept.
	DataReceived(data []byte)
	// ConnectionLost is called once when the connection is gone; err is nil
	// for a clean close initiated by either side, otherwise the cause.
	ConnectionLost(err error)
}

// Factory builds one Protocol per connection (Twisted's IProtocolFactory).
//
// BuildProtocol may be called concurrently from several event loops, so a
// Factory's shared state must be safe for concurrent use. Returning nil
// refuses the connection: it is closed at once.
type Factory interface {
	// StartFactory is called once before the first connection is served.
	StartFactory()
	// BuildProtocol returns the protocol for a new connection from addr.
	BuildProtocol(addr net.Addr) Protocol
	// StopFactory is called once after the last connection was lost and the
	// listener stopped.
	StopFactory()
}

// Transport is a protocol's view of its connection (Twisted's ITransport
// plus IProducer). Unless a method says otherwise it must be called on the
// connection's loop (inside a Protocol method, a CallLater callback, or a
// function delivered by Loop.CallFromThread).
type Transport interface {
	// Write queues p for sending. The transport copies p or sends it before
	// returning, so the caller may reuse p. Writes after LoseConnection or
	// Abort are dropped and return net.ErrClosed.
	Write(p []byte) error
	// WriteSequence writes several buffers in order as one write (writev).
	WriteSequence(bufs [][]byte) error
	// LoseConnection closes the connection after everything written so far
	// has been handed to the kernel. Further data received is discarded.
	LoseConnection()
	// Abort closes the connection now, discarding unsent data.
	Abort()
	// Disconnecting reports whether LoseConnection or Abort was called or
	// the connection is gone; protocols stop processing input once it is.
	Disconnecting() bool
	// PauseProducing stops delivery of received data to the protocol.
	// Event-loop transports cannot stop the kernel from reading: bytes that
	// arrive while paused are buffered by the transport (bounded by the
	// transport's MaxPausedBuffer; exceeding it closes the connection).
	PauseProducing()
	// ResumeProducing resumes delivery and delivers buffered data, on the
	// loop, after the current callback returns.
	ResumeProducing()
	// LocalAddr is the connection's real local address (read with
	// getsockname, not the listener's configured address).
	LocalAddr() net.Addr
	// RemoteAddr is the peer's address.
	RemoteAddr() net.Addr
	// Loop is the connection's executor: its clock, timers and the way in
	// from other goroutines. Safe to call from any goroutine.
	Loop() Loop
}

// Loop runs functions on a connection's loop: the serialisation point for
// the protocol, its timers and its Deferreds.
type Loop interface {
	// CallFromThread runs fn on the loop, after the current callback
	// returns. Safe to call from any goroutine. If the connection has
	// already been lost, fn is not run and CallFromThread reports false
	// (it may also report true and then drop fn if the connection is lost
	// before fn's turn comes: fn never runs after ConnectionLost).
	CallFromThread(fn func()) bool
	// CallLater runs fn on the loop after d. The call is cancelled
	// automatically when the connection is lost. Loop-only.
	CallLater(d time.Duration, fn func()) DelayedCall
	// Now is the loop's clock (a manual clock in tests). Safe anywhere.
	Now() time.Time
}

// DropNotifier is an optional interface of Loop implementations that can
// say when they discard a function they accepted. deferred.Defer uses it
// to release a result (an open file) whose delivery was accepted but never
// ran because the connection was lost before its turn. The reactor's
// transports and prototest's Loop implement it.
type DropNotifier interface {
	// CallFromThreadOrDrop is CallFromThread with a promise: when it
	// reports true, exactly one of fn (on the loop) or dropped (on any
	// goroutine, it must not block) is eventually called. When it reports
	// false, neither is.
	CallFromThreadOrDrop(fn, dropped func()) bool
}

// Backpressure is an optional interface of transports that bound what is
// queued for a peer that does not read: an event-loop transport cannot
// block a writer, so a protocol that sends a lot on its own (a long
// listing over the control connection) writes a piece, and the next piece
// once WhenDrained says the queue has gone down. Loop-only.
type Backpressure interface {
	// Queued reports the bytes written and not yet handed to the kernel.
	Queued() int
	// WhenDrained calls fn on the loop once Queued has fallen to the
	// transport's low-water mark: after the current callback if it has
	// already, never if the connection is lost first. One pending fn per
	// transport; a second call replaces the first.
	WhenDrained(fn func())
}

// PeerChecker is an optional interface of transports that can tell,
// without reading anything, that the peer has closed its side or reset
// the connection (a FIN or RST is pending): an FTP server then knows a
// client died before it commits the upload whose data ended with it.
// Loop-only.
type PeerChecker interface {
	PeerClosed() bool
}

// DelayedCall is a scheduled call (Twisted's IDelayedCall). Its methods are
// loop-only, like the CallLater that made it.
type DelayedCall interface {
	// Cancel stops the call; it reports whether the call was still pending.
	Cancel() bool
	// Reset reschedules a pending call to run d from now; it reports
	// whether the call was still pending (a fired or cancelled call is not
	// revived).
	Reset(d time.Duration) bool
	// Active reports whether the call is still pending.
	Active() bool
}

// BaseProtocol is a Protocol with no-op methods that keeps its transport.
// Embed it and override what you need (Twisted's protocol.Protocol).
type BaseProtocol struct {
	// Transport is set by MakeConnection.
	Transport Transport
}

// MakeConnection stores t.
func (p *BaseProtocol) MakeConnection(t Transport) { p.Transport = t }

// ConnectionMade does nothing.
func (p *BaseProtocol) ConnectionMade() {}

// DataReceived discards the data.
func (p *BaseProtocol) DataReceived([]byte) {}

// ConnectionLost does nothing.
func (p *BaseProtocol) ConnectionLost(error) {}

// FactoryFunc adapts a function to a Factory with no-op Start/Stop.
type FactoryFunc func(addr net.Addr) Protocol

// StartFactory does nothing.
func (FactoryFunc) StartFactory() {}

// BuildProtocol calls f.
func (f FactoryFunc) BuildProtocol(addr net.Addr) Protocol { return f(addr) }

// StopFactory does nothing.
func (FactoryFunc) StopFactory() {}

// ShutdownNotifiee is implemented by protocols that want to know that the
// reactor is shutting down gracefully (to send a goodbye, for example FTP's
// 421). It is called on the loop; the reactor force-closes connections that
// are still open when the Shutdown context ends.
type ShutdownNotifiee interface {
	ShutdownRequested()
}

// BaseFactory is a Factory with no-op Start/Stop to embed.
type BaseFactory struct{}

// StartFactory does nothing.
func (BaseFactory) StartFactory() {}

// StopFactory does nothing.
func (BaseFactory) StopFactory() {}
