package ftp

import (
	"fmt"
	"net"
	"runtime/debug"
	"time"
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
}

// TransferEvent is a transfer that ended.
type TransferEvent struct {
	SessionInfo
	Command  string // RETR, STOR, STOU, APPE, LIST, NLST, MLSD
	Path     string // the virtual path, as the shell saw it (STOU: the name chosen)
	Bytes    int64
	Duration time.Duration
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
}

// BaseEvents ignores every event; embed it in an Events implementation.
type BaseEvents struct{}

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

// changed reports a change made by cmd.
func (s *session) changed(cmd, p, to string) {
	s.notify(func(ev Events) { ev.FileChanged(FileEvent{SessionInfo: s.info(), Command: cmd, Path: p, To: to}) })
}
