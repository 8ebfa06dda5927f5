package reactor

import "github.com/gnetftp/gnetftp/protocol"

// InboundBuffered reports what gnet holds unread for an event-loop
// transport. Loop-only.
func InboundBuffered(t protocol.Transport) int { return t.(*transport).c.InboundBuffered() }

// LoopsServing is the number of distinct event loops that have served a
// server connection so far.
func LoopsServing(r *Reactor) int { return len(r.loops.list()) }
