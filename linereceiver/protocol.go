package linereceiver

import (
	"time"

	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/timeout"
)

// Protocol is a ready base for line protocols (Twisted's LineOnlyReceiver
// with a TimeoutMixin): embed it, call Start in ConnectionMade, and write
// LineReceived.
//
//	type Echo struct{ linereceiver.Protocol }
//
//	func (e *Echo) ConnectionMade()          { e.Start(e, 5*time.Minute) }
//	func (e *Echo) LineReceived(line []byte) { _ = e.SendLine(line) }
//
// Its DataReceived restarts the idle timer on every read and frames the
// bytes; its ConnectionLost stops the timer. A protocol that needs more
// (FTP resets its timer per command, not per read) embeds the pieces
// itself. All methods are loop-only.
type Protocol struct {
	protocol.BaseProtocol
	LineReceiver
	timeout.Mixin
}

// Start delivers lines to h (the embedding protocol) and, when idle > 0,
// closes the connection after idle without input (SetTimeout changes it
// later). Call it in ConnectionMade.
func (p *Protocol) Start(h Handler, idle time.Duration) {
	p.LineReceiver.Init(p.Transport, h)
	p.Mixin.Init(p.Transport, nil)
	p.SetTimeout(idle)
}

// DataReceived restarts the idle timer and frames data into lines.
func (p *Protocol) DataReceived(data []byte) {
	p.ResetTimeout()
	p.LineReceiver.DataReceived(data)
}

// ConnectionLost stops the idle timer.
func (p *Protocol) ConnectionLost(error) { p.CancelTimeout() }
