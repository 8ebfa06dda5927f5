// Package timeout is Twisted's TimeoutMixin: an idle timer for any
// protocol, reset cheaply on activity and cancelled when the connection is
// lost.
//
//	type P struct {
//		protocol.BaseProtocol
//		timeout.Mixin
//	}
//	func (p *P) ConnectionMade() {
//		p.Mixin.Init(p.Transport, nil) // nil: close the connection on expiry
//		p.SetTimeout(5 * time.Minute)
//	}
//	func (p *P) DataReceived(b []byte)    { p.ResetTimeout(); ... }
//	func (p *P) ConnectionLost(err error) { p.CancelTimeout() }
package timeout

import (
	"time"

	"github.com/gnetftp/gnetftp/protocol"
)

// Mixin is an idle timer. Embed it and call Init before SetTimeout. All
// methods are loop-only.
type Mixin struct {
	transport protocol.Transport
	onTimeout func()
	period    time.Duration
	call      protocol.DelayedCall
}

// Init sets the connection whose loop runs the timer and the action taken
// when it expires (Twisted's timeoutConnection). nil is Twisted's default:
// close the connection (LoseConnection: what was written still goes out,
// bounded by the transport's drain timeout).
func (m *Mixin) Init(t protocol.Transport, onTimeout func()) {
	m.transport = t
	m.onTimeout = onTimeout
	if onTimeout == nil {
		m.onTimeout = t.LoseConnection
	}
}

// SetTimeout changes the period and restarts the timer; 0 disables it. It
// returns the previous period.
func (m *Mixin) SetTimeout(d time.Duration) time.Duration {
	prev := m.period
	m.period = d
	if d <= 0 {
		m.CancelTimeout()
		m.period = 0
		return prev
	}
	if m.call != nil && m.call.Reset(d) {
		return prev
	}
	m.call = m.transport.Loop().CallLater(d, m.expired)
	return prev
}

// ResetTimeout restarts an armed timer with the current period; call it on
// activity. It does not allocate. As in Twisted, it does not re-arm a
// timer that has expired or was cancelled (SetTimeout does).
func (m *Mixin) ResetTimeout() {
	if m.call != nil {
		m.call.Reset(m.period)
	}
}

// CancelTimeout stops the timer; call it from ConnectionLost.
func (m *Mixin) CancelTimeout() {
	if m.call != nil {
		m.call.Cancel()
		m.call = nil
	}
}

// Timeout returns the current period (0: disabled).
func (m *Mixin) Timeout() time.Duration { return m.period }

func (m *Mixin) expired() {
	m.call = nil
	m.onTimeout()
}
