package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
)

// Retrieve downloads path into w (RETR) and resolves with the bytes
// written. w is written on the transfer's goroutine, not on the loop.
// Loop-only.
func (c *Client) Retrieve(path string, w io.Writer) *deferred.Deferred[int64] {
	return c.Download("RETR "+path, w)
}

// Store uploads r to path (STOR) and resolves with the bytes sent once
// the server confirmed (226). r is read on the transfer's goroutine.
// Loop-only.
func (c *Client) Store(path string, r io.Reader) *deferred.Deferred[int64] {
	return c.Upload("STOR "+path, r)
}

// List writes the LIST of path (empty: the working directory) into w.
// Loop-only.
func (c *Client) List(path string, w io.Writer) *deferred.Deferred[int64] {
	cmd := "LIST"
	if path != "" {
		cmd += " " + path
	}
	return c.Download(cmd, w)
}

// Download runs any command that sends data to the client (RETR, LIST,
// NLST, MLSD) over a new data connection and copies that data into w on
// the transfer's goroutine. It resolves with the bytes copied once both
// the data ended and the server's final reply (226 or 250) came; a reply
// of 400 or more, a data connection that cannot be opened or that
// stalls for Config.DataTimeout fail it. Loop-only.
//
// If the control connection is lost mid-transfer the Deferred fails at
// once with ErrLost and the data connection is closed; a Write to w
// already under way may still return afterwards on the goroutine.
func (c *Client) Download(cmd string, w io.Writer) *deferred.Deferred[int64] {
	return c.transfer(cmd, nil, w)
}

// Upload runs a command that sends data to the server (STOR, APPE, STOU):
// after the server's 1xx it copies r to a new data connection, closes it,
// and resolves with the bytes sent when the final reply is 226 or 250.
// Nothing is sent if the command is refused. Loop-only; see Download for
// a lost connection.
func (c *Client) Upload(cmd string, r io.Reader) *deferred.Deferred[int64] {
	return c.transfer(cmd, r, nil)
}

// xfer is one transfer: its data goroutine and what the loop knows.
type xfer struct {
	c      *Client
	cmd    string
	d      *deferred.Deferred[int64]
	ch     channel
	ctx    context.Context
	cancel context.CancelFunc
	ready  chan bool // uploads and TLS: true once the server's 1xx came

	// loop-owned
	sent     bool // the command went out
	final    ftpwire.Reply
	replied  bool
	dataOver bool
	n        int64
	dataErr  error
	prelim   bool
	done     bool
}

func (c *Client) transfer(cmd string, src io.Reader, dst io.Writer) *deferred.Deferred[int64] {
	d := deferred.NewDeferred[int64](c.Loop())
	if !c.binary {
		c.binary = true
		c.Do("TYPE I", func(ftpwire.Reply) {}) // a refusal shows in the transfer itself
	}
	c.openChannel(func(ch channel, err error) {
		if err != nil {
			d.ResolveNow(0, err)
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		x := &xfer{c: c, cmd: cmd, d: d, ch: ch, ctx: ctx, cancel: cancel}
		if src != nil || c.dataTLS {
			x.ready = make(chan bool, 1)
		}
		c.xfers = append(c.xfers, x)
		if _, isActive := ch.(active); isActive {
			x.start() // the server connects once it has the command
		}
		go x.run(src, dst)
	})
	return d
}

// start sends the command: at once for an active channel, once the data
// connection is established for a passive one (as curl and ftplib do:
// the server's accept then finds the connection waiting).
func (x *xfer) start() {
	if x.done || x.sent {
		return
	}
	x.sent = true
	x.c.send(x.cmd, true, x.reply)
}

// reply takes the command's replies on the loop.
func (x *xfer) reply(r ftpwire.Reply) {
	if r.Preliminary() {
		if !x.prelim { // a second 1xx (125 then 150) changes nothing
			x.prelim = true
			if x.ready != nil {
				x.ready <- true
			}
		}
		return
	}
	x.final, x.replied = r, true
	if r.Code == 0 || r.Code >= 400 {
		x.cancel() // the data connection will not come, or is useless
		if x.ready != nil && !x.prelim {
			x.ready <- false
		}
	}
	if r.Code == 0 {
		x.fail(x.c.Err())
		return
	}
	x.settle()
}

// fail resolves at once: the control connection is gone, so no loop turn
// will bring the data goroutine's result.
func (x *xfer) fail(err error) {
	if x.done {
		return
	}
	x.cancel()
	if x.prelim && !x.dataOver {
		x.c.dataDone()
	}
	x.finish(0, err)
}

func (x *xfer) finish(n int64, err error) {
	x.done = true
	for i, o := range x.c.xfers {
		if o == x {
			x.c.xfers = append(x.c.xfers[:i], x.c.xfers[i+1:]...)
			break
		}
	}
	x.d.ResolveNow(n, err)
}

// settle resolves once both the final reply and the end of data are in,
// or once the data connection failed before the command was sent.
func (x *xfer) settle() {
	if x.done || !x.dataOver || (x.sent && !x.replied) {
		return
	}
	x.cancel()
	if !x.sent {
		x.finish(0, fmt.Errorf("client: %s: %w", x.cmd, x.dataErr))
		return
	}
	err := x.c.check(x.cmd, x.final, ftpwire.StatusTransferComplete, ftpwire.StatusFileActionOK)
	if err == nil && x.dataErr != nil {
		err = fmt.Errorf("client: %s: data connection: %w", x.cmd, x.dataErr)
	}
	x.finish(x.n, err)
}

// run is the data goroutine: open the data connection, move the data,
// close it, report to the loop.
func (x *xfer) run(src io.Reader, dst io.Writer) {
	n, err := x.move(src, dst)
	x.c.Loop().CallFromThread(func() {
		if x.done {
			return
		}
		if x.prelim {
			x.c.dataDone()
		}
		x.n, x.dataErr, x.dataOver = n, err, true
		if x.replied && x.final.Code >= 400 {
			x.dataErr = nil // the reply says what went wrong
		}
		x.settle()
	})
}

func (x *xfer) move(src io.Reader, dst io.Writer) (int64, error) {
	conn, err := x.ch.open(x.ctx, x.c.cfg.DataTimeout)
	if err != nil {
		return 0, err
	}
	stop := context.AfterFunc(x.ctx, func() {
		_ = conn.SetLinger(0)
		_ = conn.Close()
	})
	defer stop()
	defer conn.Close()
	if _, isPassive := x.ch.(passive); isPassive && !x.c.Loop().CallFromThread(x.start) {
		return 0, ErrLost
	}
	if x.ready != nil {
		// An upload starts after the 1xx, and so does a TLS handshake
		// (as ftplib, curl and lftp do): pyftpdlib stalls for good on a
		// ClientHello that arrives before it has set up the transfer,
		// and servers send 150 before their side of the handshake.
		select {
		case ok := <-x.ready:
			if !ok {
				return 0, nil // refused: the reply says why
			}
		case <-x.ctx.Done():
			return 0, x.ctx.Err()
		}
	}
	idle := x.c.cfg.DataTimeout
	var data io.ReadWriter = withIdle(conn, idle)
	closeData := conn.Close
	if x.c.dataTLS {
		tc, err := x.c.dataHandshake(x.ctx, conn)
		if err != nil {
			return 0, err
		}
		data, closeData = withIdleTLS(tc, conn, idle), func() error { return closeUpload(tc, conn, idle) }
	}
	if src == nil {
		return io.Copy(dst, data)
	}
	n, err := io.Copy(data, src)
	if err == nil {
		err = closeData()
	}
	return n, err
}

// closeUpload ends a TLS upload: close_notify and the TCP FIN, then it
// reads what the server still sends until the server closes (bounded by
// idle). An uploader reads nothing else, and a TLS 1.3 server sends
// session tickets after the handshake: closing with them unread makes
// the kernel reset the connection, and vsftpd then fails the upload
// ("426 Failure reading network stream").
func closeUpload(tc *tls.Conn, conn *net.TCPConn, idle time.Duration) error {
	if err := tc.CloseWrite(); err != nil {
		return fmt.Errorf("client: data connection TLS close: %w", err)
	}
	_ = conn.CloseWrite()
	if idle > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(idle))
	}
	_, _ = io.Copy(io.Discard, tc) // tickets, then the server's close_notify or its close
	return conn.Close()
}

// idleStep is how much data one deadline covers on a data connection
// (as the server's dtp does): a stall times out, a long transfer not.
const idleStep = 256 << 10

// idleConn moves the data connection's deadline forward every idleStep
// bytes, so that only a stall of Config.DataTimeout fails a transfer.
type idleConn struct {
	conn *net.TCPConn
	idle time.Duration
	left int
}

// withIdle wraps conn when idle > 0; otherwise the bare connection lets
// io.Copy use sendfile/splice with a file.
func withIdle(conn *net.TCPConn, idle time.Duration) io.ReadWriter {
	if idle <= 0 {
		return conn
	}
	return &idleConn{conn: conn, idle: idle}
}

func (c *idleConn) step() {
	if c.left <= 0 {
		_ = c.conn.SetDeadline(time.Now().Add(c.idle))
		c.left = idleStep
	}
}

func (c *idleConn) Read(p []byte) (int, error) {
	c.step()
	n, err := c.conn.Read(p)
	c.left -= n
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		c.step()
		chunk := p[:min(len(p), c.left)]
		n, err := c.conn.Write(chunk)
		written += n
		c.left -= n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// channel is a data connection being prepared: a passive address to dial
// or an active listener to accept from.
type channel interface {
	open(ctx context.Context, timeout time.Duration) (*net.TCPConn, error)
}

// passive dials the server's passive port from the control connection's
// local address.
type passive struct {
	addr  *net.TCPAddr
	local net.IP
}

func (p passive) open(ctx context.Context, timeout time.Duration) (*net.TCPConn, error) {
	d := net.Dialer{KeepAlive: -1}
	if timeout > 0 {
		d.Timeout = timeout
	}
	if p.local != nil {
		d.LocalAddr = &net.TCPAddr{IP: p.local}
	}
	c, err := d.DialContext(ctx, "tcp", p.addr.String())
	if err != nil {
		return nil, fmt.Errorf("client: data connection to %s: %w", p.addr, err)
	}
	return c.(*net.TCPConn), nil
}

// active accepts the server's data connection, from the control
// connection's peer only (RFC 2577): others are reset and the wait goes
// on.
type active struct {
	ln   *net.TCPListener
	peer net.IP
}

func (a active) open(ctx context.Context, timeout time.Duration) (*net.TCPConn, error) {
	defer a.ln.Close()
	if timeout > 0 {
		_ = a.ln.SetDeadline(time.Now().Add(timeout))
	}
	stop := context.AfterFunc(ctx, func() { _ = a.ln.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		c, err := a.ln.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("client: waiting for the server's data connection: %w", err)
		}
		if c.RemoteAddr().(*net.TCPAddr).IP.Equal(a.peer) {
			return c, nil
		}
		_ = c.SetLinger(0)
		c.Close()
	}
}

// openChannel prepares a data connection with EPSV/PASV or EPRT/PORT and
// hands it to ready on the loop.
func (c *Client) openChannel(ready func(channel, error)) {
	if c.cfg.Active {
		c.openActive(ready)
		return
	}
	peer, local := c.PeerIP(), c.LocalIP()
	c.Do("EPSV", func(r ftpwire.Reply) {
		switch {
		case r.Preliminary():
		case r.Code == ftpwire.StatusExtendedPassive:
			port, err := ftpwire.ParseEPSVReply(r.Text())
			if err != nil {
				ready(nil, &ReplyError{Command: "EPSV", Reply: r})
				return
			}
			ready(passive{addr: &net.TCPAddr{IP: peer, Port: port}, local: local}, nil)
		case r.Code == 0:
			ready(nil, c.Err())
		case peer.To4() == nil:
			ready(nil, &ReplyError{Command: "EPSV", Reply: r})
		default:
			c.Do("PASV", func(r ftpwire.Reply) {
				if r.Preliminary() {
					return
				}
				if err := c.check("PASV", r, ftpwire.StatusPassive); err != nil {
					ready(nil, err)
					return
				}
				a, err := ftpwire.ParsePASVReply(r.Text())
				if err != nil {
					ready(nil, &ReplyError{Command: "PASV", Reply: r})
					return
				}
				ready(passive{addr: &net.TCPAddr{IP: peer, Port: a.Port}, local: local}, nil)
			})
		}
	})
}

// openActive listens on the control connection's local address (socket,
// bind and listen do not block: done on the loop, as the server does for
// PASV) and announces it with EPRT, or PORT when EPRT is not known.
func (c *Client) openActive(ready func(channel, error)) {
	local := c.LocalIP()
	if local == nil {
		ready(nil, errors.New("client: active mode needs a TCP control connection"))
		return
	}
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(local.String(), "0"))
	if err != nil {
		ready(nil, fmt.Errorf("client: active listener: %w", err))
		return
	}
	tl := ln.(*net.TCPListener)
	port := tl.Addr().(*net.TCPAddr).Port
	ch := active{ln: tl, peer: c.PeerIP()}
	fail := func(err error) { tl.Close(); ready(nil, err) }
	c.Do("EPRT "+ftpwire.FormatEPRT(local, port), func(r ftpwire.Reply) {
		switch {
		case r.Preliminary():
		case r.Code == ftpwire.StatusCommandOK:
			ready(ch, nil)
		case r.Code == 0:
			fail(c.Err())
		case local.To4() == nil || (r.Code != ftpwire.StatusSyntaxError && r.Code != ftpwire.StatusNotImplemented):
			fail(&ReplyError{Command: "EPRT", Reply: r})
		default:
			c.Do("PORT "+ftpwire.FormatPORT(local, port), func(r ftpwire.Reply) {
				if r.Preliminary() {
					return
				}
				if err := c.check("PORT", r, ftpwire.StatusCommandOK); err != nil {
					fail(err)
					return
				}
				ready(ch, nil)
			})
		}
	})
}

// Rest sends REST offset, so the next Retrieve starts there. Loop-only.
func (c *Client) Rest(offset int64) *deferred.Deferred[ftpwire.Reply] {
	cmd := "REST " + strconv.FormatInt(offset, 10)
	return c.expect(cmd, cmd, ftpwire.StatusPending)
}
