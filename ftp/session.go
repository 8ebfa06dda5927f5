package ftp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/gnetftp/gnetftp/deferred"
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
	refuse refusal
	// limitReason is the limit refuseLimit is for (a Refused* constant).
	limitReason string
	start       time.Time
	// loginSince is when the login deadline (LoginTimeout) started: the
	// connection, or the last REIN.
	loginSince time.Time
	// host is the (virtual) host whose users and files the session logs
	// in to: the default one, or one HOST chose.
	host *host

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
	tls        tlsState      // FTPS: AUTH TLS, PBSZ, PROT

	data         dtp.Channel          // from PASV/EPSV/PORT/EPRT, for the next transfer
	dataTimer    protocol.DelayedCall // closes a passive data channel no command took
	passiveSince time.Time            // when the last passive channel was set up, or kept
	kept         *dtp.Passive         // the last transfer's passive listener, kept for the next PASV/EPSV (keepPassive)
	xfer         *transfer
	queued       [][]byte // commands received during a transfer, run after it
	// abortOwed: a queued ABOR stopped the transfer that has ended; it
	// answers 226 when its turn comes.
	abortOwed bool

	statList *listStream // a STAT listing being sent, nil if none
	statBusy bool        // its next chunk is being made on the pool
	lost     bool
	out      []byte
	hashGone *atomic.Bool // set at ConnectionLost: the queued password check is skipped
	warns    *warnBucket  // rate limit of this session's warnings, made on the first
	timing   cmdTiming    // the command awaiting its final reply (CommandEvents)
	// userCounted is the user (userKey) whose session count
	// (max-sessions) this session holds, "" if none.
	userCounted string
	// fleetCounted is the fleet's store that counts fleetUser's session
	// (max-sessions across nodes), given back by dropLimits.
	fleetCounted SharedAccounts
	fleetUser    string
	down, up     *rate.Limiter // this session's bandwidth, nil: none
}

// maxQueued bounds the commands kept while a transfer runs.
const maxQueued = 64

// refusal is why a connection is refused at connect (0: it is not).
type refusal uint8

const (
	refuseNone refusal = iota
	refuseLimit
	refuseBanned
)

// transfer is a data transfer in progress.
type transfer struct {
	cancel context.CancelFunc
	// aborted: ABOR stopped it (426, then ABOR's 226); stopped: ABOR or
	// QUIT did (commands after them wait for its reply).
	aborted, stopped bool
	// abortQueued: the ABOR that stopped it waits behind other commands
	// and answers its 226 in its turn.
	abortQueued bool
	// opening is its 150's text while held back (quickDone): the
	// session's next reply sends it first, in the same write.
	opening string
}

// ConnectionMade greets the client (or refuses it over the limits).
func (s *session) ConnectionMade() {
	s.start = s.Transport.Loop().Now()
	s.loginSince = s.start
	s.host = s.f.defaultHost
	if ta, ok := s.Transport.RemoteAddr().(*net.TCPAddr); ok {
		s.peerIP = ta.IP
	}
	switch s.refuse {
	case refuseLimit:
		s.refused(s.limitReason)
		s.reply(ftpwire.StatusServiceNotAvailable, "Too many users right now, try again in a few minutes.")
		s.Transport.LoseConnection()
		return
	case refuseBanned:
		s.refused(RefusedBanned)
		s.reply(ftpwire.StatusServiceNotAvailable, bannedText)
		s.Transport.LoseConnection()
		return
	}
	// Bare LF ends a line too (as in vsftpd; Twisted needs CRLF): the CR
	// is stripped in LineReceived.
	s.Delimiter = []byte{'\n'}
	s.LineReceiver.Init(s.Transport, s)
	s.Mixin.Init(s.Transport, s.timedOut)
	s.touch()
	s.cwd = "/"
	s.facts = listing.AllFacts
	s.implicitTLS()
	if s.logs() {
		s.f.cfg.Logger.Info("ftp session start", "peer", s.Transport.RemoteAddr().String())
	}
	s.sessionOpened()
	s.reply(ftpwire.StatusServiceReady, s.f.cfg.Welcome)
}

// logs reports whether Info records are kept: the per-session and
// per-transfer log lines format addresses and durations, work wasted on
// every small transfer when the level is higher.
func (s *session) logs() bool {
	return s.f.cfg.Logger.Enabled(context.Background(), slog.LevelInfo)
}

// DataReceived feeds the line receiver. Bytes do not reset the idle
// timer, complete commands do (LineReceived): a client trickling a byte
// a minute is idle.
func (s *session) DataReceived(data []byte) {
	if s.refuse != refuseNone {
		return
	}
	s.LineReceiver.DataReceived(data)
}

// touch restarts the idle timer on a command. Before login it never runs
// past the login deadline (LoginTimeout after the connection), whatever
// the client sends.
func (s *session) touch() {
	idle, login := s.f.cfg.IdleTimeout, s.f.cfg.LoginTimeout
	if s.state == stateAuthed || s.state == stateRenaming || login <= 0 {
		switch {
		case s.xfer != nil: // off during a transfer
		case idle <= 0:
			s.SetTimeout(0)
		case s.Timeout() == idle:
			s.ResetTimeout()
		default:
			s.SetTimeout(idle)
		}
		return
	}
	left := max(s.loginSince.Add(login).Sub(s.Transport.Loop().Now()), time.Nanosecond)
	if idle > 0 && idle < left {
		left = idle
	}
	s.SetTimeout(left)
}

// ConnectionLost cleans up: timer, transfer, passive listener.
func (s *session) ConnectionLost(err error) {
	s.lost = true
	s.f.release(s.ip)
	s.dropLimits()
	if s.refuse != refuseNone {
		return
	}
	if s.hashGone != nil {
		s.hashGone.Store(true)
	}
	s.CancelTimeout()
	if s.xfer != nil {
		s.xfer.cancel()
	}
	s.closeData()
	s.closeStatList()
	if s.logs() {
		s.f.cfg.Logger.Info("ftp session end", "peer", s.Transport.RemoteAddr().String(), "user", logText(s.user),
			"duration_ms", durationMS(s.Transport.Loop().Now().Sub(s.start)))
	}
	s.sessionClosed()
	if s.warns != nil && s.warns.dropped > 0 {
		s.f.cfg.Logger.Warn("ftp session warnings suppressed", "peer", s.Transport.RemoteAddr().String(), "suppressed", s.warns.dropped)
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
	if s.state != stateAuthed && s.state != stateRenaming && s.f.cfg.LoginTimeout > 0 &&
		!s.Transport.Loop().Now().Before(s.loginSince.Add(s.f.cfg.LoginTimeout)) {
		s.reply(ftpwire.StatusServiceNotAvailable, "Login timeout: closing control connection.")
	} else {
		s.reply(ftpwire.StatusServiceNotAvailable, "Timeout: closing control connection.")
	}
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
	s.out = s.out[:0]
	if x := s.xfer; x != nil && x.opening != "" {
		// A held 150 (quickDone) keeps its place before any other reply.
		s.out = ftpwire.AppendReply(s.out, ftpwire.StatusFileStatusOK, x.opening)
		s.replied(ftpwire.StatusFileStatusOK, x.opening)
		x.opening = ""
	}
	s.out = ftpwire.AppendReply(s.out, code, text)
	_ = s.Transport.Write(s.out)
	if cap(s.out) > 4096 {
		s.out = nil // do not keep a big buffer on an idle session
	}
	s.replied(code, text)
}

func (s *session) replyf(code int, format string, args ...any) {
	s.reply(code, fmt.Sprintf(format, args...))
}

func (s *session) replyErr(err error, path string) {
	code, text := toReply(err, path)
	if code == ftpwire.StatusLocalError {
		s.warn("ftp command failed", "user", logText(s.user), "path", logText(path), "err", logText(errString(err)))
	}
	s.logLimitRefusal(err, path)
	s.reply(code, text)
}

// LineReceived parses and dispatches one command.
func (s *session) LineReceived(line []byte) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	line = stripTelnet(line)
	s.touch()
	if s.xfer != nil || len(s.queued) > 0 {
		if s.queue(line) {
			return
		}
	}
	s.dispatch(line)
}

// queue decides what a command received during a transfer does, so that
// every command gets exactly one reply, in the order of the commands
// (RFC 959 section 4.2): NOOP, STAT and ABOR are answered at once when
// nothing received before them is still unanswered (but the transfer
// itself); every other command, and those three behind one, waits for
// the transfer's end and runs in turn. ABOR and QUIT stop the transfer
// at once wherever they stand (RFC 959 section 4.1.3); their replies
// keep their places. It reports whether the line was queued. A client
// that queues too much is paused (bounded memory).
func (s *session) queue(line []byte) bool {
	name, _ := splitCommand(line)
	c := s.f.commands[name]
	x := s.xfer
	if x != nil && c != nil && c.urgent && !x.stopped {
		if c.duringTransfer && len(s.queued) == 0 {
			return false // ABOR with nothing before it: it runs now
		}
		s.stopTransfer(name == "ABOR")
		x.abortQueued = name == "ABOR"
	} else if x != nil && c != nil && c.duringTransfer && len(s.queued) == 0 && !x.stopped {
		return false
	}
	s.queued = append(s.queued, append([]byte(nil), line...))
	if len(s.queued) >= maxQueued {
		s.LineReceiver.PauseLines()
	}
	return true
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
	s.traceCommand(name, arg)
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
	s.commandStarted(c)
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

// blockingOn is blocking on another pool than the worker pool (the
// password checks' pool).
func blockingOn[T any](s *session, pool deferred.Submitter, fn func() (T, error), then func(T, error)) {
	linereceiver.Blocking(&s.LineReceiver, pool, fn, func(v T, err error) {
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
