package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/protocol"
)

// resumable returns cfg, or a copy of it that lets data connections
// resume the control connection's session: Go's client caches a session
// under ServerName, or under the peer's host:port when ServerName is
// empty, and a data connection's port is never the control
// connection's; without a ClientSessionCache nothing is cached at all.
func resumable(cfg *tls.Config, peer net.Addr) *tls.Config {
	if cfg == nil || (cfg.ServerName != "" && cfg.ClientSessionCache != nil) {
		return cfg
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(peer.String()); err == nil {
			cfg.ServerName = host
		}
	}
	if cfg.ClientSessionCache == nil {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	}
	return cfg
}

// ErrNoTLS is the failure of AuthTLS on a transport that cannot start TLS.
var ErrNoTLS = errors.New("client: the transport cannot start TLS")

// AuthTLS sends AUTH TLS and, on 234, makes the control connection TLS
// with cfg.TLS (RFC 4217 section 4): it resolves with the connection's
// state once the handshake is done. Loop-only.
func (c *Client) AuthTLS() *deferred.Deferred[tls.ConnectionState] {
	d := deferred.NewDeferred[tls.ConnectionState](c.Loop())
	st, ok := c.Transport.(protocol.TLSStarter)
	if !ok || c.cfg.TLS == nil {
		d.ResolveNow(tls.ConnectionState{}, ErrNoTLS)
		return d
	}
	c.Do("AUTH TLS", func(r ftpwire.Reply) {
		if r.Preliminary() {
			return
		}
		if err := c.check("AUTH TLS", r, ftpwire.StatusAuthOK); err != nil {
			d.ResolveNow(tls.ConnectionState{}, err)
			return
		}
		c.startTLS(st, d)
	})
	return d
}

// startTLS runs the client handshake and resolves d with its outcome.
func (c *Client) startTLS(st protocol.TLSStarter, d *deferred.Deferred[tls.ConnectionState]) {
	c.ClearLineBuffer() // nothing the server sent before TLS counts
	c.dataRun++         // no reply is awaited while the handshake runs: its own timeout bounds it
	c.armTimer()
	err := st.StartTLS(c.cfg.TLS, protocol.TLSOptions{Client: true, Timeout: c.cfg.ReplyTimeout}, func(cs tls.ConnectionState, err error) {
		c.dataDone()
		c.tlsOK, c.tlsCS = err == nil, cs
		d.ResolveNow(cs, err)
	})
	if err != nil {
		c.dataDone()
		d.ResolveNow(tls.ConnectionState{}, fmt.Errorf("client: starting TLS: %w", err))
	}
}

// TLSState is the control connection's TLS state once its handshake is
// done (ok false before, or without TLS): the version and cipher suite a
// benchmark reports. Loop-only.
func (c *Client) TLSState() (cs tls.ConnectionState, ok bool) { return c.tlsCS, c.tlsOK }

// Protect sends PBSZ 0 then PROT P (private) or PROT C (clear): whether
// data connections use TLS from now on (RFC 4217 sections 8, 9). It
// resolves with PROT's 200. Loop-only.
func (c *Client) Protect(private bool) *deferred.Deferred[ftpwire.Reply] {
	level := map[bool]string{true: "P", false: "C"}[private]
	d := deferred.NewDeferred[ftpwire.Reply](c.Loop())
	c.Do("PBSZ 0", func(r ftpwire.Reply) {
		if r.Preliminary() {
			return
		}
		if err := c.check("PBSZ 0", r, ftpwire.StatusCommandOK); err != nil {
			d.ResolveNow(r, err)
			return
		}
		c.Do("PROT "+level, func(r ftpwire.Reply) {
			if r.Preliminary() {
				return
			}
			err := c.check("PROT "+level, r, ftpwire.StatusCommandOK)
			if err == nil {
				c.dataTLS = private
			}
			d.ResolveNow(r, err)
		})
	})
	return d
}

// dataHandshake makes conn a TLS client connection with cfg.TLS, which
// resumes the control connection's session when its ClientSessionCache
// and ServerName let Go's client find it (servers that require reuse,
// vsftpd's and this project's among them, refuse the transfer
// otherwise). Bounded by DataTimeout. Runs on the transfer's goroutine.
func (c *Client) dataHandshake(ctx context.Context, conn net.Conn) (*tls.Conn, error) {
	tc := tls.Client(conn, c.cfg.TLS)
	if c.cfg.DataTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.DataTimeout)
		defer cancel()
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("client: data connection TLS: %w", err)
	}
	return tc, nil
}

// idleTLS is idleConn's deadline stepping for a TLS data connection: the
// deadline is set on the TCP connection under it.
type idleTLS struct {
	tc   *tls.Conn
	raw  net.Conn
	idle time.Duration
	left int
}

func withIdleTLS(tc *tls.Conn, raw net.Conn, idle time.Duration) io.ReadWriter {
	if idle <= 0 {
		return tc
	}
	return &idleTLS{tc: tc, raw: raw, idle: idle}
}

func (c *idleTLS) step() {
	if c.left <= 0 {
		_ = c.raw.SetDeadline(time.Now().Add(c.idle))
		c.left = idleStep
	}
}

func (c *idleTLS) Read(p []byte) (int, error) {
	c.step()
	n, err := c.tc.Read(p)
	c.left -= n
	return n, err
}

func (c *idleTLS) Write(p []byte) (int, error) {
	c.step()
	n, err := c.tc.Write(p)
	c.left -= n
	return n, err
}
