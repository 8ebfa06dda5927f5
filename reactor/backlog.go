package reactor

import (
	"time"

	"github.com/gnetftp/gnetftp/protocol"
)

// The outbound bound. gnet queues without limit what the kernel does not
// take (its outbound buffer spills into an unbounded list), so a client
// that pipelines commands answered at once and never reads would grow a
// connection's memory for ever. The transport checks the backlog after
// protocol code ran (one OutboundBuffered read, no system call): past
// Config.MaxOutbound it stops delivering received data, which then waits
// in gnet's inbound buffer (bounded by MaxPausedBuffer, which closes a
// flooder), and polls until the backlog has drained to the low-water mark
// (gnet has no "drained" event). A peer that takes nothing for
// Config.StallTimeout is aborted.

// Poll intervals while a backlog drains: short first (a client that reads
// drains within a round trip), doubling up to the cap while nothing moves,
// so that thousands of stuck connections cost little.
const (
	backlogFirstPoll = 5 * time.Millisecond
	backlogMaxPoll   = 500 * time.Millisecond
)

// backlog is the state of a connection whose peer is slow to read. It is
// allocated on first need, so idle and ordinary connections do not carry
// it. Loop-owned.
type backlog struct {
	blocked bool                 // over MaxOutbound: received data is not delivered
	call    protocol.DelayedCall // the next poll, nil when none
	delay   time.Duration        // the next poll's delay
	last    int                  // the backlog at the previous poll
	since   time.Time            // when the peer last took something
	drained func()               // WhenDrained's function, nil when none
}

// blocked reports whether delivery is stopped by the outbound bound.
func (t *transport) blocked() bool { return t.bp != nil && t.bp.blocked }

// checkOutbound stops delivery when the backlog is over the bound. It
// runs after protocol code (OnOpen, OnTraffic, loop calls): a field read
// and a compare when under the bound.
func (t *transport) checkOutbound() {
	if max := t.r.cfg.MaxOutbound; max > 0 && !t.disconnecting && t.c.OutboundBuffered() > max {
		if t.bp == nil {
			t.bp = &backlog{}
		}
		if !t.bp.blocked {
			t.bp.blocked = true
			t.startPoll()
		}
	}
}

// startPoll begins polling the backlog unless a poll is already pending.
func (t *transport) startPoll() {
	b := t.bp
	if b.call != nil {
		return
	}
	b.last = t.c.OutboundBuffered()
	b.since = t.r.cfg.Clock.Now()
	b.delay = backlogFirstPoll
	b.call = t.CallLater(b.delay, t.pollBacklog)
}

// pollBacklog runs on the loop while delivery is blocked or a WhenDrained
// function waits: below the low-water mark it resumes; otherwise it aborts
// a peer that took nothing for StallTimeout, or polls again.
func (t *transport) pollBacklog() {
	b := t.bp
	b.call = nil
	if t.closed.Load() || t.disconnecting {
		return // LoseConnection's drain (or the close) takes over
	}
	q := t.c.OutboundBuffered()
	if q <= t.r.cfg.lowWater {
		t.backlogDrained()
		return
	}
	now := t.r.cfg.Clock.Now()
	if q < b.last {
		b.since, b.delay = now, backlogFirstPoll
	} else if b.delay < backlogMaxPoll {
		b.delay = min(2*b.delay, backlogMaxPoll)
	}
	b.last = q
	if st := t.r.cfg.StallTimeout; st > 0 && now.Sub(b.since) >= st {
		t.r.cfg.Logger.Warn("reactor: aborting connection whose peer does not read",
			"peer", t.remote, "queued", q, "stalled", st.String())
		t.abortNow()
		return
	}
	b.call = t.CallLater(b.delay, t.pollBacklog)
}

// backlogDrained resumes delivery and runs WhenDrained's function, then
// delivers what arrived meanwhile unless that function filled the backlog
// again or the protocol paused.
func (t *transport) backlogDrained() {
	b := t.bp
	wasBlocked := b.blocked
	b.blocked = false
	if fn := b.drained; fn != nil {
		b.drained = nil
		t.guard(fn)
		t.checkOutbound()
	}
	if !b.blocked && b.drained == nil && b.call == nil {
		t.bp = nil // nothing pending: do not keep the state
	}
	if wasBlocked && !t.blocked() && !t.paused && !t.disconnecting && !t.closed.Load() && (t.c.InboundBuffered() > 0 || t.tls != nil) {
		_ = t.c.Wake(nil)
	}
}

// Queued reports the bytes written and not yet taken by the kernel
// (protocol.Backpressure). Loop-only.
func (t *transport) Queued() int {
	if t.closed.Load() {
		return 0
	}
	return t.c.OutboundBuffered()
}

// WhenDrained calls fn on the loop once the backlog has fallen to the
// low-water mark (a quarter of MaxOutbound): after the current callback if
// it already has, never if the connection is lost or closing first
// (protocol.Backpressure). A second call replaces a pending fn. Loop-only.
func (t *transport) WhenDrained(fn func()) {
	if t.disconnecting || t.closed.Load() {
		return
	}
	if t.c.OutboundBuffered() <= t.r.cfg.lowWater {
		if t.bp != nil {
			t.bp.drained = nil
		}
		t.CallFromThread(fn)
		return
	}
	if t.bp == nil {
		t.bp = &backlog{}
	}
	t.bp.drained = fn
	t.startPoll()
}

// Both transports bound their backlog.
var (
	_ protocol.Backpressure = (*transport)(nil)
	_ protocol.Backpressure = (*ConnTransport)(nil)
)
