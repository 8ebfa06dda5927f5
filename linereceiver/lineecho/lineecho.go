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
)

// Echo is one connection's protocol.
type Echo struct {
	linereceiver.Protocol
	idle time.Duration
}

// ConnectionMade starts line delivery and the idle timer.
func (e *Echo) ConnectionMade() { e.Start(e, e.idle) }

// LineReceived echoes the line, or says goodbye on QUIT.
func (e *Echo) LineReceived(line []byte) {
	if bytes.EqualFold(line, []byte("QUIT")) {
		_ = e.SendLine([]byte("BYE"))
		e.Transport.LoseConnection()
		return
	}
	_ = e.SendLine(line)
}

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
