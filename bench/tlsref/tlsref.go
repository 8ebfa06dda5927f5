// Package tlsref is the yardstick of the FTPS benchmarks: an FTP server
// built the way every Go FTP server is (ftpserverlib, SFTPGo, goftp): one
// goroutine per control connection, blocking reads from a bufio.Reader
// (4 KiB, as ftpserverlib's) over a crypto/tls server connection, replies
// written straight to it. It speaks the dialogue the benchmarks need and
// nothing more: greeting, AUTH TLS/SSL, USER, PASS, PBSZ, PROT, TYPE,
// EPSV, PASV, RETR, STOR, NOOP, QUIT; anything else is 502.
//
// Its idle TLS session (logged in, PROT P, waiting for a command) is what
// the target divides gnetftp's by, measured in the same run:
// ftpbench tls-reference-server runs it as a process of its own.
package tlsref

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a Server. Durations: 0 means the default, a negative
// value means no limit.
type Config struct {
	// TLS is the one server configuration of the process (a new one per
	// connection would change the ticket keys and defeat resumption).
	// Required.
	TLS *tls.Config
	// User and Pass are the only login accepted.
	User, Pass string
	// Root is the directory RETR reads from and STOR writes to; empty
	// refuses both (550).
	Root string
	// RequireReuse refuses a PROT P data connection whose TLS session did
	// not resume (522, as vsftpd's require_ssl_reuse does).
	RequireReuse bool
	// DataTimeout bounds the accept and the handshake of a data
	// connection. Default 30 s.
	DataTimeout time.Duration
	// Logger gets accept failures. Default: discard.
	Logger *slog.Logger
}

// DefaultDataTimeout is Config.DataTimeout's default.
const DefaultDataTimeout = 30 * time.Second

// Server serves Config on a listener until Close.
type Server struct {
	cfg   Config
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool
}

// Serve starts accepting on ln, on a goroutine of its own; every
// connection gets a goroutine. Close stops it.
func Serve(ln net.Listener, cfg Config) (*Server, error) {
	if cfg.TLS == nil {
		return nil, errors.New("tlsref: Config.TLS is required")
	}
	if cfg.DataTimeout == 0 {
		cfg.DataTimeout = DefaultDataTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the listening address. Any goroutine.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting, closes every connection and waits for their
// goroutines. Any goroutine.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	s.done = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				s.cfg.Logger.Error("tlsref: accept", "err", err)
			}
			return
		}
		if !s.track(c, true) {
			_ = c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.track(c, false)
			defer c.Close()
			(&session{s: s, raw: c, conn: c, r: bufio.NewReader(c)}).serve()
		}()
	}
}

func (s *Server) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, c)
		return true
	}
	if s.done {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// session is one control connection, on its own goroutine.
type session struct {
	s        *Server
	raw      net.Conn // TCP
	conn     net.Conn // raw, or the TLS connection over it after AUTH
	r        *bufio.Reader
	tls      bool
	user     string
	loggedIn bool
	pbsz     bool
	private  bool
	pasv     net.Listener
	quit     bool
}

// command handles one verb; login says whether it needs a logged-in user.
type command struct {
	login bool
	fn    func(ss *session, arg string)
}

var commands = map[string]command{
	"AUTH": {false, (*session).auth},
	"USER": {false, (*session).userCmd},
	"PASS": {false, (*session).pass},
	"PBSZ": {false, (*session).pbszCmd},
	"PROT": {false, (*session).prot},
	"NOOP": {false, func(ss *session, _ string) { ss.reply(200, "NOOP ok.") }},
	"QUIT": {false, func(ss *session, _ string) { ss.reply(221, "Goodbye."); ss.quit = true }},
	"TYPE": {true, func(ss *session, _ string) { ss.reply(200, "Type set.") }},
	"EPSV": {true, (*session).epsv},
	"PASV": {true, (*session).pasvCmd},
	"RETR": {true, (*session).retr},
	"STOR": {true, (*session).stor},
}

func (ss *session) serve() {
	defer ss.closePasv()
	ss.reply(220, "tlsref ready.")
	for !ss.quit {
		line, err := ss.r.ReadString('\n')
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		cmd, ok := commands[strings.ToUpper(verb)]
		switch {
		case !ok:
			ss.reply(502, "Command not implemented.")
		case cmd.login && !ss.loggedIn:
			ss.reply(530, "Please log in with USER and PASS.")
		default:
			cmd.fn(ss, arg)
		}
	}
}

func (ss *session) reply(code int, text string) {
	_, _ = fmt.Fprintf(ss.conn, "%d %s\r\n", code, text)
}

func (ss *session) auth(arg string) {
	switch {
	case ss.tls:
		ss.reply(503, "Already using TLS.")
		return
	case !strings.EqualFold(arg, "TLS") && !strings.EqualFold(arg, "SSL"):
		ss.reply(504, "Unknown AUTH type.")
		return
	}
	ss.reply(234, "Proceed with negotiation.")
	tc := tls.Server(ss.raw, ss.s.cfg.TLS)
	if err := tc.Handshake(); err != nil {
		ss.quit = true
		return
	}
	ss.conn, ss.tls = tc, true
	ss.r.Reset(tc)
}

func (ss *session) userCmd(arg string) {
	ss.user, ss.loggedIn = arg, false
	ss.reply(331, "Password please.")
}

func (ss *session) pass(arg string) {
	if ss.user == ss.s.cfg.User && arg == ss.s.cfg.Pass {
		ss.loggedIn = true
		ss.reply(230, "Logged in.")
		return
	}
	ss.reply(530, "Login incorrect.")
}

func (ss *session) pbszCmd(string) {
	if !ss.tls {
		ss.reply(503, "PBSZ needs TLS first.")
		return
	}
	ss.pbsz = true
	ss.reply(200, "PBSZ=0")
}

func (ss *session) prot(arg string) {
	levels := map[string]bool{"P": true, "C": false}
	private, ok := levels[strings.ToUpper(arg)]
	switch {
	case !ss.pbsz:
		ss.reply(503, "PBSZ first.")
	case !ok:
		ss.reply(504, "PROT P or C only.")
	default:
		ss.private = private
		ss.reply(200, "Protection set.")
	}
}

func (ss *session) listen() (*net.TCPAddr, bool) {
	ss.closePasv()
	host, _, _ := net.SplitHostPort(ss.raw.LocalAddr().String())
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		ss.reply(425, "Cannot open a passive port.")
		return nil, false
	}
	ss.pasv = ln
	return ln.Addr().(*net.TCPAddr), true
}

func (ss *session) epsv(string) {
	if a, ok := ss.listen(); ok {
		ss.reply(229, fmt.Sprintf("Entering Extended Passive Mode (|||%d|)", a.Port))
	}
}

func (ss *session) pasvCmd(string) {
	a, ok := ss.listen()
	if !ok {
		return
	}
	ip := a.IP.To4()
	if ip == nil {
		ss.closePasv()
		ss.reply(425, "PASV is IPv4 only; use EPSV.")
		return
	}
	ss.reply(227, fmt.Sprintf("Entering Passive Mode (%d,%d,%d,%d,%d,%d)", ip[0], ip[1], ip[2], ip[3], a.Port>>8, a.Port&0xff))
}

func (ss *session) closePasv() {
	if ss.pasv != nil {
		_ = ss.pasv.Close()
		ss.pasv = nil
	}
}

// data accepts the data connection after the 150 (ftplib starts its TLS
// only once it has read it) and makes it TLS under PROT P.
func (ss *session) data() (net.Conn, error) {
	ln := ss.pasv
	ss.pasv = nil
	if ln == nil {
		ss.reply(425, "Use EPSV or PASV first.")
		return nil, errors.New("no passive listener")
	}
	defer ln.Close()
	ss.reply(150, "Opening data connection.")
	deadline := time.Time{}
	if ss.s.cfg.DataTimeout > 0 {
		deadline = time.Now().Add(ss.s.cfg.DataTimeout)
	}
	_ = ln.(*net.TCPListener).SetDeadline(deadline)
	c, err := ln.Accept()
	if err != nil {
		ss.reply(425, "No data connection.")
		return nil, err
	}
	if !ss.private {
		return c, nil
	}
	ctx := context.Background()
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	tc := tls.Server(c, ss.s.cfg.TLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		ss.reply(522, "Data connection TLS handshake failed.")
		return nil, err
	}
	if ss.s.cfg.RequireReuse && !tc.ConnectionState().DidResume {
		_ = tc.Close()
		ss.reply(522, "TLS session of the data connection not resumed.")
		return nil, errors.New("not resumed")
	}
	return tc, nil
}

// path is arg inside Root (no "..", no absolute escape), or "".
func (ss *session) path(arg string) string {
	if ss.s.cfg.Root == "" || arg == "" {
		return ""
	}
	clean := filepath.Clean("/" + arg)
	return filepath.Join(ss.s.cfg.Root, clean)
}

func (ss *session) retr(arg string) {
	p := ss.path(arg)
	f, err := os.Open(p)
	if p == "" || err != nil {
		ss.reply(550, "No such file.")
		return
	}
	defer f.Close()
	c, err := ss.data()
	if err != nil {
		return
	}
	_, err = io.Copy(c, f)
	ss.finish(c, err)
}

func (ss *session) stor(arg string) {
	p := ss.path(arg)
	if p == "" {
		ss.reply(550, "Cannot store here.")
		return
	}
	f, err := os.Create(p)
	if err != nil {
		ss.reply(550, "Cannot create the file.")
		return
	}
	defer f.Close()
	c, err := ss.data()
	if err != nil {
		return
	}
	_, err = io.Copy(f, c)
	ss.finish(c, err)
}

// finish closes the data connection (a TLS close_notify first; after an
// upload the client may have closed already, so that failing is no
// error) and sends the transfer's final reply.
func (ss *session) finish(c net.Conn, err error) {
	_ = c.Close()
	if err != nil {
		ss.reply(426, "Transfer aborted: "+strconv.Quote(err.Error()))
		return
	}
	ss.reply(226, "Transfer complete.")
}
