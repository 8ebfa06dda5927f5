//go:build !linux

package dtp

import "net"

// discardUnread is a no-op off Linux (no SIOCINQ).
func discardUnread(*net.TCPConn) {}
