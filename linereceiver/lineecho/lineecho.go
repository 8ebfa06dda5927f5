// Package lineecho is the smallest complete line protocol built on this
// project's layers: it echoes every line, closes on "QUIT" and after an
// idle timeout. It is the example in the README, the server of the
// reactor benchmarks, and a template for your own protocols.
package lineecho

import (
	"bytes"
	"net"
	"time"

	"github.com/gnetftp/gnetftp/linereceiver"
	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/timeout"
)

// Echo is one connection's protocol.
type Echo struct {
	protocol.BaseProtocol
	linereceiver.LineReceiver
	timeout.Mixin
	idle time.Duration
}

// ConnectionMade wires the line receiver and the idle timer.
func (e *Echo) ConnectionMade() {
	e.LineReceiver.Init(e.Transport, e)
	e.Mixin.Init(e.Transport, nil) // nil: close on expiry
	e.SetTimeout(e.idle)
}

// DataReceived feeds the line receiver.
func (e *Echo) DataReceived(data []byte) {
	e.ResetTimeout()
	e.LineReceiver.DataReceived(data)
}

// LineReceived echoes the line, or says goodbye on QUIT.
func (e *Echo) LineReceived(line []byte) {
	if bytes.EqualFold(line, []byte("QUIT")) {
		_ = e.SendLine([]byte("BYE"))
		e.Transport.LoseConnection()
		return
	}
	_ = e.SendLine(line)
}

// ConnectionLost stops the idle timer.
func (e *Echo) ConnectionLost(error) { e.CancelTimeout() }

// Factory builds Echo protocols.
type Factory struct {
	protocol.BaseFactory
	// Idle is the idle timeout: 0 means DefaultIdle, negative none.
	Idle time.Duration
}

// DefaultIdle is Factory.Idle's default.
const DefaultIdle = 5 * time.Minute

// BuildProtocol returns a new Echo.
func (f *Factory) BuildProtocol(net.Addr) protocol.Protocol {
	idle := f.Idle
	if idle == 0 {
		idle = DefaultIdle
	}
	return &Echo{idle: idle}
}
