package ftp

import (
	"fmt"
	"net"
	"runtime/debug"
	"time"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// Events is what an embedder is told about sessions, to react without
// parsing logs (pyftpdlib's on_login and on_file_received, ftpserverlib's
// driver hooks): metrics, hooks, audit trails. Set Config.Events; embed
// BaseEvents to implement only some methods.
//
// Every method is called on the session's event loop, in the order things
// happened, and must not block: hand slow work (running a program, a
// network call) to another goroutine. A panic in one is recovered and
// logged; the session goes on.
type Events interface {
	// Login reports every PASS's outcome (OK, or the failure in Err).
	Login(LoginEvent)
	// TransferDone reports the end of every data transfer (RETR, STOR,
	// STOU, APPE, LIST, NLST, MLSD), complete or not.
	TransferDone(TransferEvent)
	// FileChanged reports a change made by a command on the control
	// connection: MKD, RMD, DELE, RNTO (a rename), MFMT, SITE CHMOD,
	// SITE UTIME.
	FileChanged(FileEvent)
}

// SessionInfo says whose session an event comes from.
type SessionInfo struct {
	Peer      net.Addr
	User      string // as given to USER
	Anonymous bool
}

// LoginEvent is a login attempt's outcome.
type LoginEvent struct {
	SessionInfo
	OK  bool
	Err error // why it failed (the same 530 goes to the client whatever it is)
	// Reason is why it failed, one of the Login* constants ("" when OK).
	Reason string
}

// Why a login failed (LoginEvent.Reason, the "reason" of the log line).
// The client is not told which: it gets the same 530 (or 421) whatever.
const (
	LoginUnknownUser     = "unknown user"
	LoginBadPassword     = "bad password"
	LoginBanned          = "banned"            // the address was banned (421)
	LoginTooManySessions = "too many sessions" // the user's session limit (421)
	LoginBusy            = "busy"              // the password checks' queue was full (421)
	LoginUnavailable     = "unavailable"       // the user store could not be asked (auth.ErrUnavailable, 421)
	LoginError           = "error"             // the user's shell could not be opened
)

// TransferEvent is a transfer that ended.
type TransferEvent struct {
	SessionInfo
	Command string // RETR, STOR, STOU, APPE, LIST, NLST, MLSD
	Path    string // the virtual path, as the shell saw it (STOU: the name chosen)
	// LocalPath is Path on the server's filesystem (shell.LocalPath):
	// what an operator or a hook opens; Path when the shell has none.
	LocalPath string
	Bytes     int64
	Duration  time.Duration
	ASCII     bool // TYPE A: the data went in ASCII mode (xferlog's "a")
	// Complete is set when the transfer ended with 226: every byte moved
	// (an upload committed). Otherwise Err says why not.
	Complete bool
	Err      error
}

// FileEvent is a change to the tree made by a control command.
type FileEvent struct {
	SessionInfo
	Command string // MKD, RMD, DELE, RNTO, MFMT, SITE CHMOD, SITE UTIME
	Path    string // the virtual path changed (the old name for RNTO)
	To      string // RNTO: the new name
	// LocalPath and LocalTo are Path and To on the server's filesystem
	// (shell.LocalPath).
	LocalPath, LocalTo string
}

// SessionEvents is an optional extension of Events: an implementation
// that has these methods is also told when sessions open and close (a
// connection refused at connect, over a limit or banned, is no session:
// RefusalEvents reports it). Called on the session's loop.
type SessionEvents interface {
	SessionOpened(SessionInfo)
	SessionClosed(SessionInfo)
}

// CommandEvents is an optional extension of Events: CommandDone reports
// every command of the command table (not unknown ones) when its final
// reply (2xx to 5xx) goes out, with the time from its dispatch, which
// includes its filesystem work and, for a transfer, the transfer. Called
// on the session's loop, on every command: it must be cheap.
type CommandEvents interface {
	CommandDone(CommandEvent)
}

// CommandEvent is one command answered.
type CommandEvent struct {
	Command  string // as in the command table (aliases such as XPWD: the command they alias)
	Code     int    // the final reply's code
	Duration time.Duration
}

// RefusalEvents is an optional extension of Events: Refused reports what
// a limit refused (a connection, a passive listener, a login).
type RefusalEvents interface {
	Refused(RefusalEvent)
}

// RefusalEvent is something a limit refused.
type RefusalEvent struct {
	SessionInfo
	Reason string // one of the Refused* constants
}

// Why something was refused (RefusalEvent.Reason).
const (
	RefusedMaxConnections      = "max connections"        // Config.MaxConnections, 421 at connect
	RefusedMaxConnectionsPerIP = "max connections per ip" // Config.MaxConnectionsPerIP, 421 at connect
	RefusedBanned              = "banned"                 // Config.Bans, 421 at connect or PASS
	RefusedMaxPassivePerIP     = "max passive per ip"     // Config.MaxPassivePerIP, 425 at PASV/EPSV
	RefusedPasswordChecksBusy  = "password checks busy"   // Config.HashQueue full, 421 at PASS
	RefusedTLSRequired         = "tls required"           // Config.TLSRequired, 530 at USER or PASS without AUTH TLS
	RefusedMaxSessions         = "max sessions"           // a user's max-sessions, 421 after PASS
)

// BaseEvents ignores every event; embed it in an Events implementation.
// It has the optional methods too (SessionEvents, CommandEvents,
// RefusalEvents), which the server then calls: they do nothing.
type BaseEvents struct{}

// SessionOpened does nothing.
func (BaseEvents) SessionOpened(SessionInfo) {}

// SessionClosed does nothing.
func (BaseEvents) SessionClosed(SessionInfo) {}

// CommandDone does nothing.
func (BaseEvents) CommandDone(CommandEvent) {}

// Refused does nothing.
func (BaseEvents) Refused(RefusalEvent) {}

// Login does nothing.
func (BaseEvents) Login(LoginEvent) {}

// TransferDone does nothing.
func (BaseEvents) TransferDone(TransferEvent) {}

// FileChanged does nothing.
func (BaseEvents) FileChanged(FileEvent) {}

// info is the session as events describe it.
func (s *session) info() SessionInfo {
	return SessionInfo{Peer: s.Transport.RemoteAddr(), User: s.user, Anonymous: s.anonymous}
}

// notify calls fn with the configured Events, if any, recovering a panic.
func (s *session) notify(fn func(Events)) {
	ev := s.f.cfg.Events
	if ev == nil {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			s.f.cfg.Logger.Error("ftp events panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	fn(ev)
}

// changed reports a change made by cmd, to the events and the log.
func (s *session) changed(cmd, p, to string) {
	e := FileEvent{SessionInfo: s.info(), Command: cmd, Path: p, To: to, LocalPath: shell.LocalPath(s.sh, p)}
	if to != "" {
		e.LocalTo = shell.LocalPath(s.sh, to)
	}
	s.logChange(e)
	s.notify(func(ev Events) { ev.FileChanged(e) })
}
