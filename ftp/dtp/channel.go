package dtp

import (
	"context"
	"net"
)

// Channel is the data connection a session prepared with PASV/EPSV or
// PORT/EPRT for its next transfer: the passive and the active kind behind
// one interface, so the PI holds one value, not two nullable fields.
type Channel interface {
	// Open waits for (passive) or makes (active) the data connection of
	// one transfer. It blocks: call it on the transfer's goroutine. A
	// Channel opens once.
	Open(ctx context.Context) (*net.TCPConn, error)
	// Close releases what the channel holds without a transfer (a
	// passive listener and its port). Safe after Open, twice, and from
	// any goroutine.
	Close() error
}

// Channel is p as a Channel that accepts the connection of peer, the
// control connection's client (see Accept).
func (p *Passive) Channel(peer net.IP) Channel { return passiveChannel{p, peer} }

type passiveChannel struct {
	p    *Passive
	peer net.IP
}

func (c passiveChannel) Open(ctx context.Context) (*net.TCPConn, error) {
	return c.p.Accept(ctx, c.peer)
}

func (c passiveChannel) Close() error { return c.p.Close() }

// ActiveChannel is a Channel that dials target for the client peer, with
// Dial's checks (RFC 2577) and timeout. Close has nothing to release.
func ActiveChannel(cfg Config, peer net.IP, target *net.TCPAddr) Channel {
	return activeChannel{cfg: cfg, peer: peer, target: target}
}

type activeChannel struct {
	cfg    Config
	peer   net.IP
	target *net.TCPAddr
}

func (c activeChannel) Open(ctx context.Context) (*net.TCPConn, error) {
	return Dial(ctx, c.cfg, c.peer, c.target)
}

func (activeChannel) Close() error { return nil }
