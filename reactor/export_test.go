package reactor

import "github.com/gnetftp/gnetftp/protocol"

// InboundBuffered reports what gnet holds unread for an event-loop
// transport. Loop-only.
func InboundBuffered(t protocol.Transport) int { return t.(*transport).c.InboundBuffered() }
