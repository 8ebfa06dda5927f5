package ftp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/listing"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/linereceiver"
	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/timeout"
)

// Session states, as in Twisted.
type state int

const (
	stateUnauth   state = iota // waiting for USER
	stateInAuth                // USER given, waiting for PASS
	stateAuthed                // logged in
	stateRenaming              // RNFR given, waiting for RNTO
)

// session is one control connection: the protocol interpreter. Its methods
// run on the connection's loop; filesystem calls and bcrypt go to the pool
// and come back as Deferreds; transfers run on their own goroutine and
// report back with CallFromThread.
type session struct {
	protocol.BaseProtocol
	linereceiver.LineReceiver
	timeout.Mixin

	f      *Factory
	ip     string // peer IP, for per-IP accounting
	peerIP net.IP
	refuse bool
	start  time.Time

	state      state
	user       string
	anonymous  bool
	failures   int
	sh         shell.Shell
	cwd        string
	renameFrom string
	ascii      bool
	rest       int64
	epsvAll    bool
	facts      listing.Facts // MLST/MLSD facts, chosen by OPTS MLST

	data         dtp.Channel          // from PASV/EPSV/PORT/EPRT, for the next transfer
	dataTimer    protocol.DelayedCall // closes a passive data channel no command took
	passiveSince time.Time            // when the last passive channel was set up
	xfer         *transfer
	queued       [][]byte // commands received during a transfer, run after it

	statList *listStream // a STAT listing being sent, nil if none
	statBusy bool        // its next chunk is being made on the pool
	lost     bool
	out      []byte
}

// maxQueued bounds the commands kept while a transfer runs.
const maxQueued = 64

// transfer is a data transfer in progress.
type transfer struct {
	cancel  context.CancelFunc
	aborted bool
}

// ConnectionMade greets the client (or refuses it over the limits).
func (s *session) ConnectionMade() {
	s.start = s.Transport.Loop().Now()
	if ta, ok := s.Transport.RemoteAddr().(*net.TCPAddr); ok {
		s.peerIP = ta.IP
	}
	if s.refuse {
		s.reply(ftpwire.StatusServiceNotAvailable, "Too many users right now, try again in a few minutes.")
		s.Transport.LoseConnection()
		return
	}
	// Bare LF ends a line too (as in vsftpd; Twisted needs CRLF): the CR
	// is stripped in LineReceived.
	s.Delimiter = []byte{'\n'}
	s.LineReceiver.Init(s.Transport, s)
	s.Mixin.Init(s.Transport, s.timedOut)
	if s.f.cfg.IdleTimeout > 0 {
		s.SetTimeout(s.f.cfg.IdleTimeout)
	}
	s.cwd = "/"
	s.facts = listing.AllFacts
	if s.logs() {
		s.f.cfg.Logger.Info("ftp session start", "peer", s.Transport.RemoteAddr().String())
	}
	s.reply(ftpwire.StatusServiceReady, s.f.cfg.Welcome)
}

// logs reports whether Info records are kept: the per-session and
// per-transfer log lines format addresses and durations, work wasted on
// every small transfer when the level is higher.
func (s *session) logs() bool {
	return s.f.cfg.Logger.Enabled(context.Background(), slog.LevelInfo)
}

// DataReceived feeds the line receiver.
func (s *session) DataReceived(data []byte) {
	if s.refuse {
		return
	}
	s.ResetTimeout()
	s.LineReceiver.DataReceived(data)
}

// ConnectionLost cleans up: timer, transfer, passive listener.
func (s *session) ConnectionLost(err error) {
	s.lost = true
	s.f.release(s.ip)
	if s.refuse {
		return
	}
	s.CancelTimeout()
	if s.xfer != nil {
		s.xfer.cancel()
	}
	s.closeData()
	s.closeStatList()
	if s.logs() {
		s.f.cfg.Logger.Info("ftp session end", "peer", s.Transport.RemoteAddr().String(), "user", s.user,
			"duration", s.Transport.Loop().Now().Sub(s.start).Round(time.Millisecond).String())
	}
}

// ShutdownRequested says goodbye when the server stops.
func (s *session) ShutdownRequested() {
	if s.xfer != nil {
		s.xfer.cancel()
	}
	s.reply(ftpwire.StatusServiceNotAvailable, "Service not available, closing control connection.")
	s.Transport.LoseConnection()
}

func (s *session) timedOut() {
	s.reply(ftpwire.StatusServiceNotAvailable, "Timeout: closing control connection.")
	s.Transport.LoseConnection()
}

// LineLengthExceeded answers an over-long line and closes.
func (s *session) LineLengthExceeded([]byte) {
	s.reply(ftpwire.StatusSyntaxError, "Command line too long.")
	s.Transport.LoseConnection()
}

// PausedBufferExceeded closes a client that pipelines without end.
func (s *session) PausedBufferExceeded() {
	s.reply(ftpwire.StatusServiceNotAvailable, "Too much pipelined input, closing control connection.")
	s.Transport.LoseConnection()
}

// reply sends one reply (multi-line if text has newlines).
func (s *session) reply(code int, text string) {
	s.out = ftpwire.AppendReply(s.out[:0], code, text)
	_ = s.Transport.Write(s.out)
	if cap(s.out) > 4096 {
		s.out = nil // do not keep a big buffer on an idle session
	}
}

func (s *session) replyf(code int, format string, args ...any) {
	s.reply(code, fmt.Sprintf(format, args...))
}

func (s *session) replyErr(err error, path string) {
	code, text := toReply(err, path)
	if code == ftpwire.StatusLocalError {
		s.f.cfg.Logger.Warn("ftp command failed", "peer", s.Transport.RemoteAddr().String(), "user", s.user, "path", path, "err", err)
	}
	s.reply(code, text)
}

// LineReceived parses and dispatches one command.
func (s *session) LineReceived(line []byte) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	line = stripTelnet(line)
	if s.xfer != nil {
		name, _ := splitCommand(line)
		if c := s.f.commands[name]; c == nil || !c.duringTransfer || (len(s.queued) > 0 && !c.urgent) {
			// Run it after the transfer, in order; keep reading so that
			// ABOR, STAT, NOOP and QUIT still get through. NOOP waits too
			// when commands are queued before it, so that replies keep
			// the order of the commands; ABOR, STAT and QUIT do not wait
			// (RFC 959 section 4.1.3). A client that queues too much is
			// paused (bounded memory).
			s.queued = append(s.queued, append([]byte(nil), line...))
			if len(s.queued) >= maxQueued {
				s.LineReceiver.PauseLines()
			}
			return
		}
	}
	s.dispatch(line)
}

// stripTelnet drops the Telnet "interrupt process" and "synch" bytes (IAC
// IP, IAC DM; RFC 959 section 4.1.3) that clients such as lftp send before
// ABOR, STAT and QUIT. Part of that sequence goes as urgent (out-of-band)
// data and may be missing from the stream, so every leading byte from
// 0xF0 to 0xFF is dropped: a command name is ASCII. Twisted answers 500
// to such a line; vsftpd matches "\xff\xf4\xff\xf2ABOR" exactly.
func stripTelnet(line []byte) []byte {
	for len(line) > 0 && line[0] >= 0xf0 {
		line = line[1:]
	}
	return line
}

// splitCommand splits a line into the upper-case command name and its
// argument. A CR NUL in the argument is a CR of a path name (RFC 2640
// section 3.1: the receiver strips the NUL).
func splitCommand(line []byte) (string, string) {
	name, arg, _ := strings.Cut(string(line), " ")
	if strings.Contains(arg, "\r\x00") {
		arg = strings.ReplaceAll(arg, "\r\x00", "\r")
	}
	return strings.ToUpper(strings.TrimSpace(name)), arg
}

func (s *session) dispatch(line []byte) {
	name, arg := splitCommand(line)
	if name == "" {
		s.reply(ftpwire.StatusSyntaxError, "Syntax error: empty command.")
		return
	}
	c := s.f.commands[name]
	if c == nil {
		s.replyf(ftpwire.StatusSyntaxError, "Syntax error: command '%s' unrecognized.", printable(name))
		return
	}
	switch {
	case c.public:
	case s.state == stateUnauth && name != "USER":
		if name == "PASS" {
			s.reply(ftpwire.StatusBadSequence, "Incorrect sequence of commands: USER required before PASS")
		} else {
			s.reply(ftpwire.StatusNotLoggedIn, "Please login with USER and PASS.")
		}
		return
	case s.state == stateInAuth && name != "PASS" && name != "USER":
		s.reply(ftpwire.StatusBadSequence, "Incorrect sequence of commands: PASS required after USER")
		return
	case s.state == stateRenaming && name != "RNTO":
		s.state = stateAuthed
		s.renameFrom = ""
		s.reply(ftpwire.StatusBadSequence, "Incorrect sequence of commands: RNTO required after RNFR")
		return
	case s.state == stateAuthed && name == "RNTO":
		s.reply(ftpwire.StatusBadSequence, "Incorrect sequence of commands: RNFR required before RNTO")
		return
	}
	if c.run == nil {
		s.replyf(ftpwire.StatusNotImplemented, "Command '%s' not implemented", name)
		return
	}
	switch c.arg {
	case argRequired:
		if strings.TrimSpace(arg) == "" {
			s.replyf(ftpwire.StatusArgSyntaxError, "Syntax error: %s requires an argument.", name)
			return
		}
	case argNone:
		if strings.TrimSpace(arg) != "" {
			s.replyf(ftpwire.StatusArgSyntaxError, "Syntax error: %s takes no argument.", name)
			return
		}
	}
	s.guard(func() { c.run(s, arg) })
}

// guard recovers a handler's panic: the session answers 451 and goes on.
func (s *session) guard(fn func()) {
	defer func() {
		if v := recover(); v != nil {
			s.f.cfg.Logger.Error("ftp handler panic", "peer", s.Transport.RemoteAddr().String(),
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			s.reply(ftpwire.StatusLocalError, "Requested action aborted. Local error in processing.")
			s.resume()
		}
	}()
	fn()
}

func printable(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// blocking runs fn on the pool with line delivery held (one command at a
// time, as in Twisted: linereceiver.Blocking); then runs on the loop with
// the result, guarded, and the session resumes.
func blocking[T any](s *session, fn func() (T, error), then func(T, error)) {
	blockingOwned(s, fn, then, nil)
}

// blockingOwned is blocking for results that hold a resource (a file, a
// listener): if the connection is gone when the result arrives, release
// runs instead of then.
func blockingOwned[T any](s *session, fn func() (T, error), then func(T, error), release func(T)) {
	linereceiver.BlockingOwned(&s.LineReceiver, s.f.cfg.Pool, fn, release, func(v T, err error) {
		s.guard(func() { then(v, err) })
		s.resume()
	})
}

// resume runs the commands queued during a transfer once it has ended, in
// order, unless a command is still pending; then lets lines flow again if
// the queue had paused them.
func (s *session) resume() {
	if s.LineReceiver.Held() || s.lost || s.Transport.Disconnecting() {
		return
	}
	for s.xfer == nil && len(s.queued) > 0 && !s.LineReceiver.Held() {
		line := s.queued[0]
		s.queued = s.queued[1:]
		s.dispatch(line)
	}
	if len(s.queued) == 0 {
		s.queued = nil
	}
	if len(s.queued) < maxQueued {
		s.LineReceiver.ResumeLines()
	}
}

// path resolves a client's argument against the working directory.
func (s *session) path(arg string) (string, error) {
	return shell.Resolve(s.cwd, arg)
}
