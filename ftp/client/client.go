// Package client is the FTP client protocol (Twisted's FTPClient, shipped
// beside the server as Twisted does): a LineReceiver on any
// protocol.Transport that sends commands, reads their replies in order
// and moves files over passive or active data connections.
//
// It runs on the reactor like any protocol, so one process drives tens of
// thousands of control connections from a few event loops without a
// goroutine each (the load generator does); only a data transfer in
// progress has a goroutine, as on the server side.
//
// Every Client method is loop-only, like every protocol method: call it
// from the Client's own callbacks, from a Deferred's callbacks, or from
// another goroutine through deferred.Call:
//
//	c, err := client.Dial(ctx, r, "127.0.0.1:21", client.Config{})
//	_, err = deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[ftpwire.Reply] {
//		return c.Login("alice", "secret")
//	})
//	n, err := deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[int64] {
//		return c.Retrieve("report.csv", file)
//	})
//
// Every reply is awaited at most Config.ReplyTimeout; while a transfer's
// data moves, the wait for its final reply is suspended and the data
// connection's own Config.DataTimeout bounds a stall instead.
package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/linereceiver"
	"github.com/gnetftp/gnetftp/protocol"
)

// Config configures a Client. Durations follow the project's convention:
// 0 means the default, a negative value means no limit.
type Config struct {
	// ReplyTimeout bounds the wait for each reply (the greeting
	// included); when it passes, the connection is aborted and every
	// pending operation fails with ErrTimeout. Default 30 s.
	ReplyTimeout time.Duration
	// DataTimeout bounds opening a data connection (dial or accept) and
	// any stall of one: a transfer on which no byte moved for this long
	// fails. Default 30 s. A negative value also lets a file copied to or
	// from the data connection use sendfile/splice.
	DataTimeout time.Duration
	// Active opens data connections with EPRT (PORT when the server does
	// not know EPRT): the server connects to a listener of the client.
	// Default passive: EPSV, then PASV if the server refuses EPSV.
	Active bool
	// TLS, when set, makes Dial speak FTPS (RFC 4217): AUTH TLS after the
	// greeting (or TLS from the first byte with Implicit), then PBSZ 0 and
	// PROT P, so that data connections are TLS too (PROT C with
	// ClearData). Data connections resume the control connection's
	// session, which servers that require reuse insist on (vsftpd's
	// require_ssl_reuse, ProFTPD's default, this project's): Go's client
	// finds the session by ServerName in ClientSessionCache, so a Client
	// whose TLS lacks either uses a copy with the server's IP address as
	// ServerName and a cache of its own. One Config may serve many
	// Clients; a shared cache lets them resume each other's sessions.
	TLS *tls.Config
	// Implicit starts TLS before the greeting (ftps://, port 990).
	Implicit bool
	// ClearData keeps data connections in clear (PROT C) under TLS.
	ClearData bool
}

// Defaults of Config.
const (
	DefaultReplyTimeout = 30 * time.Second
	DefaultDataTimeout  = 30 * time.Second
)

func (c Config) withDefaults() Config {
	if c.ReplyTimeout == 0 {
		c.ReplyTimeout = DefaultReplyTimeout
	}
	if c.DataTimeout == 0 {
		c.DataTimeout = DefaultDataTimeout
	}
	return c
}

var (
	// ErrLost is the failure of operations pending when the control
	// connection ended.
	ErrLost = errors.New("client: connection lost")
	// ErrTimeout is the failure of operations pending when a reply did
	// not come within Config.ReplyTimeout (the connection is aborted).
	ErrTimeout = errors.New("client: no reply within the reply timeout")
)

// ReplyError is an operation's failure because the server answered
// something else than success: the command and the reply.
type ReplyError struct {
	Command string // the command's name and argument (never PASS's)
	Reply   ftpwire.Reply
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("client: %s: %s", e.Command, e.Reply)
}

// Client is one control connection. Its fields are set before it is
// connected; its methods are loop-only (see the package doc).
type Client struct {
	protocol.BaseProtocol
	linereceiver.LineReceiver

	// Config is read once, when the connection is made.
	Config Config
	// OnGreeting runs on the loop with the server's greeting (220, or a
	// refusal such as 421), or with Reply{} and the failure when the
	// connection was lost or timed out first.
	OnGreeting func(c *Client, r ftpwire.Reply, err error)
	// OnLost runs on the loop when the connection has ended, after every
	// pending operation failed.
	OnLost func(c *Client, err error)

	cfg     Config
	queue   []waiter
	replies ftpwire.Assembler
	greeted bool
	lost    bool
	failure error // why the connection ended early (ErrTimeout), else nil
	timer   protocol.DelayedCall
	dataRun int  // transfers whose data phase runs: the reply timer waits
	binary  bool // TYPE I was sent
	dataTLS bool // PROT P: data connections are TLS
	tlsOK   bool // the control connection's handshake is done
	tlsCS   tls.ConnectionState
	xfers   []*xfer
}

// waiter is a command waiting for its reply.
type waiter struct {
	cb       func(ftpwire.Reply)
	transfer bool // a 1xx starts a data phase
}

// Loop is the connection's loop (for deferred.Call). Safe from any
// goroutine once the Client is connected.
func (c *Client) Loop() protocol.Loop { return c.Transport.Loop() }

// ConnectionMade starts the line receiver and the wait for the greeting.
func (c *Client) ConnectionMade() {
	c.cfg = c.Config.withDefaults()
	c.cfg.TLS = resumable(c.cfg.TLS, c.Transport.RemoteAddr())
	c.LineReceiver.Init(c.Transport, c)
	c.armTimer()
	if c.cfg.TLS != nil && c.cfg.Implicit {
		c.implicitTLS()
	}
}

// implicitTLS starts the client handshake before the greeting; a failure
// closes the connection (the greeting callback then sees it).
func (c *Client) implicitTLS() {
	st, ok := c.Transport.(protocol.TLSStarter)
	if !ok {
		c.failure = ErrNoTLS
		c.Transport.Abort()
		return
	}
	if err := st.StartTLS(c.cfg.TLS, protocol.TLSOptions{Client: true, Timeout: c.cfg.ReplyTimeout}, func(cs tls.ConnectionState, err error) {
		c.tlsOK, c.tlsCS = err == nil, cs
		if err == nil {
			c.dataTLS = !c.cfg.ClearData // implicit FTPS protects data by default
		} else {
			c.failure = fmt.Errorf("client: implicit TLS: %w", err)
		}
	}); err != nil {
		c.failure = err
		c.Transport.Abort()
	}
}

// DataReceived feeds the line receiver.
func (c *Client) DataReceived(b []byte) { c.LineReceiver.DataReceived(b) }

// LineReceived assembles replies and hands each to the greeting callback
// or to the command it answers, in order.
func (c *Client) LineReceived(line []byte) {
	r, done, err := c.replies.Add(string(line))
	if err != nil {
		c.Transport.Abort()
		return
	}
	if !done {
		return
	}
	if !c.greeted {
		c.greeted = true
		c.armTimer()
		if c.OnGreeting != nil {
			c.OnGreeting(c, r, nil)
		}
		return
	}
	if len(c.queue) == 0 {
		return // unsolicited (a 421 before closing)
	}
	head := c.queue[0]
	if r.Preliminary() {
		// The command's callback sees it and stays for the final reply.
		if head.transfer {
			c.queue[0].transfer = false // once, whatever 1xx follow
			c.dataRun++
			c.armTimer()
		}
		head.cb(r)
		return
	}
	c.queue = c.queue[1:]
	if len(c.queue) == 0 {
		c.queue = nil
	}
	c.armTimer()
	head.cb(r)
}

// armTimer runs the reply timer when a reply is awaited and no data phase
// holds it, and stops it otherwise.
func (c *Client) armTimer() {
	waiting := !c.lost && (!c.greeted || len(c.queue) > 0) && c.dataRun == 0
	if !waiting || c.cfg.ReplyTimeout < 0 {
		if c.timer != nil {
			c.timer.Cancel()
			c.timer = nil
		}
		return
	}
	if c.timer != nil && c.timer.Reset(c.cfg.ReplyTimeout) {
		return
	}
	c.timer = c.Transport.Loop().CallLater(c.cfg.ReplyTimeout, c.timedOut)
}

func (c *Client) timedOut() {
	c.timer = nil
	c.failure = ErrTimeout
	c.Transport.Abort()
}

// dataDone ends a transfer's data phase: the wait for its final reply is
// timed again.
func (c *Client) dataDone() {
	if c.dataRun > 0 {
		c.dataRun--
	}
	c.armTimer()
}

// Do sends a command; cb gets its final reply (and any 1xx before it), or
// Reply{} (Code 0) when the connection is lost or times out first (Err
// says which). It is the primitive under every operation: no allocation
// beyond the queue entry, for load generators. Loop-only.
func (c *Client) Do(cmd string, cb func(ftpwire.Reply)) { c.send(cmd, false, cb) }

func (c *Client) send(cmd string, transfer bool, cb func(ftpwire.Reply)) {
	if c.lost {
		cb(ftpwire.Reply{})
		return
	}
	c.queue = append(c.queue, waiter{cb: cb, transfer: transfer})
	if len(c.queue) == 1 {
		c.armTimer()
	}
	_ = c.SendLine([]byte(cmd))
}

// Err is why pending commands got Reply{}: ErrTimeout or ErrLost.
func (c *Client) Err() error {
	if c.failure != nil {
		return c.failure
	}
	return ErrLost
}

// ConnectionLost fails what is pending.
func (c *Client) ConnectionLost(err error) {
	c.lost = true
	if c.timer != nil {
		c.timer.Cancel()
		c.timer = nil
	}
	if !c.greeted && c.OnGreeting != nil {
		c.greeted = true
		c.OnGreeting(c, ftpwire.Reply{}, c.Err())
	}
	q := c.queue
	c.queue = nil
	for _, w := range q {
		w.cb(ftpwire.Reply{})
	}
	for len(c.xfers) > 0 { // transfers whose command was not sent yet
		c.xfers[0].fail(c.Err())
	}
	if c.OnLost != nil {
		if c.failure != nil {
			err = c.failure
		}
		c.OnLost(c, err)
	}
}

// PeerIP is the control connection's peer: passive data connections go
// there whatever a 227 reply names (as curl does by default since 7.74),
// so a server cannot aim the client at a third host.
func (c *Client) PeerIP() net.IP {
	if ta, ok := c.Transport.RemoteAddr().(*net.TCPAddr); ok {
		return ta.IP
	}
	return net.IPv4(127, 0, 0, 1)
}

// LocalIP is the control connection's local address: data connections
// use it too, since servers accept them only from the client's address
// (RFC 2577).
func (c *Client) LocalIP() net.IP {
	if ta, ok := c.Transport.LocalAddr().(*net.TCPAddr); ok {
		return ta.IP
	}
	return nil
}
