package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/protocol"
)

// Connector opens client connections for a protocol; *reactor.Reactor is
// one (its event loops then run the Client), and so is anything that
// dials and serves a protocol.Transport.
type Connector interface {
	ConnectFrom(ctx context.Context, local *net.TCPAddr, addr string, f protocol.Factory, timeout time.Duration) error
}

// Dial connects to addr through conn and waits for the greeting; it
// returns the Client once the server said 220. A refusal (421) or no
// greeting within Config.ReplyTimeout is an error. For an ordinary
// goroutine; on a loop, build Clients with a Factory and use OnGreeting.
func Dial(ctx context.Context, conn Connector, addr string, cfg Config) (*Client, error) {
	return DialFrom(ctx, conn, nil, addr, cfg)
}

// DialFrom is Dial from a chosen local address (nil: any).
func DialFrom(ctx context.Context, conn Connector, local *net.TCPAddr, addr string, cfg Config) (*Client, error) {
	type result struct {
		c   *Client
		err error
	}
	done := make(chan result, 1)
	cfg = cfg.withDefaults()
	f := protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		return &Client{Config: cfg, OnGreeting: func(c *Client, r ftpwire.Reply, err error) {
			if err == nil && r.Code != ftpwire.StatusServiceReady {
				err = &ReplyError{Command: "(greeting)", Reply: r}
				c.Transport.LoseConnection()
			}
			if err != nil || cfg.TLS == nil {
				done <- result{c, err}
				return
			}
			secure(c, func(err error) {
				if err != nil {
					c.Transport.LoseConnection()
				}
				done <- result{c, err}
			})
		}}
	})
	timeout := cfg.ReplyTimeout
	if timeout < 0 {
		timeout = 0
	}
	if err := conn.ConnectFrom(ctx, local, addr, f, timeout); err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", addr, err)
	}
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("client: dial %s: %w", addr, r.err)
		}
		return r.c, nil
	case <-ctx.Done():
		go func() { // a greeting (or the reply timeout) still ends it
			if r := <-done; r.err == nil {
				r.c.Loop().CallFromThread(r.c.Transport.LoseConnection)
			}
		}()
		return nil, fmt.Errorf("client: dial %s: %w", addr, ctx.Err())
	}
}

// secure is the FTPS part of Dial: AUTH TLS (unless TLS is implicit),
// then PBSZ 0 and PROT P (PROT C with ClearData).
func secure(c *Client, done func(error)) {
	protect := func() {
		c.Protect(!c.cfg.ClearData).AddBoth(func(_ ftpwire.Reply, err error) { done(err) })
	}
	if c.cfg.Implicit {
		protect()
		return
	}
	c.AuthTLS().AddBoth(func(_ tls.ConnectionState, err error) {
		if err != nil {
			done(err)
			return
		}
		protect()
	})
}
