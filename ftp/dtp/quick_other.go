//go:build !linux

package dtp

import (
	"net"
	"os"
)

// QuickSend does nothing off Linux (Taken is false): every transfer goes
// the usual way (Accept, Send).
func (p *Passive) QuickSend(peerIP net.IP, file *os.File, offset, n int64) Quick { return Quick{} }
