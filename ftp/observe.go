// Observability on the session's side: the optional events (sessions,
// commands, refusals), the reason of each failed login, the log lines an
// operator needs (logins, file operations, refusals by limits), and the
// command trace of --log-level debug.

package ftp

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/shell"
)

// observers are the optional Events extensions Config.Events has,
// looked up once by NewFactory (nil: not implemented).
type observers struct {
	sessions SessionEvents
	commands CommandEvents
	refusals RefusalEvents
}

func observersOf(ev Events) observers {
	var o observers
	o.sessions, _ = ev.(SessionEvents)
	o.commands, _ = ev.(CommandEvents)
	o.refusals, _ = ev.(RefusalEvents)
	return o
}

// cmdTiming is the command whose final reply is awaited, for
// CommandEvents (loop-only, like the session).
type cmdTiming struct {
	name    string // "" when none
	start   time.Time
	current string // the command last dispatched (timed or not)
}

// traceCommand logs every command line at debug level (never PASS's
// argument), known or not, allowed or not.
func (s *session) traceCommand(name, arg string) {
	if !s.debugs() {
		return
	}
	if name == "PASS" && arg != "" {
		arg = "(hidden)"
	}
	s.f.cfg.Logger.Debug("ftp command", "peer", s.Transport.RemoteAddr().String(), "user", logText(s.user),
		"command", printable(name), "arg", logText(arg))
}

// commandStarted is called by dispatch for a command of the table about
// to run: it starts timing it for CommandEvents. A command dispatched
// while another awaits its reply (NOOP, STAT, ABOR during a transfer) is
// not timed.
func (s *session) commandStarted(c *command) {
	s.timing.current = c.name
	if s.f.obs.commands != nil && s.timing.name == "" {
		s.timing.name, s.timing.start = c.name, s.Transport.Loop().Now()
	}
}

// replied is called by reply for every reply: a final one (2xx-5xx)
// ends the command being timed, and is traced at debug level.
func (s *session) replied(code int, text string) {
	if s.debugs() {
		s.f.cfg.Logger.Debug("ftp reply", "peer", s.Transport.RemoteAddr().String(), "code", code, "text", logText(text))
	}
	if code < 200 || s.timing.name == "" {
		return
	}
	name := s.timing.name
	took := s.Transport.Loop().Now().Sub(s.timing.start)
	s.timing.name = ""
	s.notify(func(Events) { s.f.obs.commands.CommandDone(CommandEvent{Command: name, Code: code, Duration: took}) })
}

// debugs reports whether the debug trace is on.
func (s *session) debugs() bool {
	return s.f.cfg.Logger.Enabled(context.Background(), slog.LevelDebug)
}

// sessionOpened and sessionClosed tell SessionEvents.
func (s *session) sessionOpened() {
	if se := s.f.obs.sessions; se != nil {
		s.notify(func(Events) { se.SessionOpened(s.info()) })
	}
}

func (s *session) sessionClosed() {
	if se := s.f.obs.sessions; se != nil {
		s.notify(func(Events) { se.SessionClosed(s.info()) })
	}
}

// refused tells RefusalEvents and logs the refusal, at most once per
// refusalLogEvery for each reason across the server: a client
// reconnecting in a loop over a limit must not flood the log.
func (s *session) refused(reason string) {
	s.f.refusalLog.log(s.f.cfg.Logger, reason, s.Transport.RemoteAddr().String(), s.user)
	if re := s.f.obs.refusals; re != nil {
		s.notify(func(Events) { re.Refused(RefusalEvent{SessionInfo: s.info(), Reason: reason}) })
	}
}

// refusalLogEvery spaces the log lines of one kind of refusal.
const refusalLogEvery = 10 * time.Second

// refusalLog is the factory's rate limit of refusal log lines; any
// goroutine.
type refusalLog struct {
	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int64 // refusals not logged since the last line
}

func (r *refusalLog) log(logger *slog.Logger, reason, peer, user string) {
	now := time.Now()
	r.mu.Lock()
	if r.last == nil {
		r.last, r.held = map[string]time.Time{}, map[string]int64{}
	}
	if last, ok := r.last[reason]; ok && now.Sub(last) < refusalLogEvery {
		r.held[reason]++
		r.mu.Unlock()
		return
	}
	held := r.held[reason]
	r.last[reason], r.held[reason] = now, 0
	r.mu.Unlock()
	args := []any{"reason", reason, "peer", peer}
	if user != "" {
		args = append(args, "user", logText(user))
	}
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	logger.Info("ftp refused", args...)
}

// loginReason classifies a failed login's error (LoginEvent.Reason).
func loginReason(err error) string {
	switch {
	case errors.Is(err, auth.ErrUnknownUser):
		return LoginUnknownUser
	case errors.Is(err, errBanned):
		return LoginBanned
	case errors.Is(err, auth.ErrBusy), errors.Is(err, auth.ErrClosed):
		return LoginBusy
	case errors.Is(err, errBadLogin), errors.Is(err, auth.ErrBadCredentials):
		// auth.ErrBadPassword, or an Authenticator that does not say.
		return LoginBadPassword
	}
	return LoginError
}

// errTooManySessions is the Err of a login over the user's max-sessions.
var errTooManySessions = errors.New("ftp: too many sessions for this user")

// loginDenied reports a login refused without the failed-login delay
// (the connection closes with a 421): banned, busy, too many sessions.
func (s *session) loginDenied(reason string, err error) {
	if s.logs() {
		s.f.cfg.Logger.Info("ftp login failed", "peer", s.Transport.RemoteAddr().String(), "user", logText(s.user),
			"reason", reason)
	}
	s.notify(func(ev Events) { ev.Login(LoginEvent{SessionInfo: s.info(), Err: err, Reason: reason}) })
}

// logLogin logs a successful login, with the home on the server's
// filesystem.
func (s *session) logLogin() {
	if s.logs() {
		s.f.cfg.Logger.Info("ftp login", "peer", s.Transport.RemoteAddr().String(), "user", logText(s.user),
			"anonymous", s.anonymous, "home", shell.LocalPath(s.sh, "/"))
	}
}

// logChange logs a change made by a control command.
func (s *session) logChange(e FileEvent) {
	if !s.logs() {
		return
	}
	args := []any{"peer", s.Transport.RemoteAddr().String(), "user", logText(s.user), "command", e.Command,
		"path", logText(e.LocalPath), "ftp_path", logText(e.Path)}
	if e.To != "" {
		args = append(args, "to", logText(e.LocalTo), "ftp_to", logText(e.To))
	}
	s.f.cfg.Logger.Info("ftp file changed", args...)
}

// changeCommands are the commands whose failures simple logs.
var changeCommands = map[string]bool{"MKD": true, "RMD": true, "DELE": true, "RNTO": true, "SITE": true, "MFMT": true}

// changeFailed logs, for a command that changes the tree, that it failed
// on p.
func (s *session) changeFailed(p string, err error) {
	if changeCommands[s.timing.current] {
		s.logChangeFailed(s.timing.current, p, err)
	}
}

// logChangeFailed logs a change a control command could not make.
func (s *session) logChangeFailed(cmd, p string, err error) {
	if !s.logs() {
		return
	}
	lp := p
	if s.sh != nil {
		lp = shell.LocalPath(s.sh, p)
	}
	s.f.cfg.Logger.Info("ftp file change failed", "peer", s.Transport.RemoteAddr().String(), "user", logText(s.user),
		"command", cmd, "path", logText(lp), "ftp_path", logText(p), "err", logText(errString(err)))
}

// durationMS is d in milliseconds, to the microsecond: the log's
// durations are numbers (duration_ms) in JSON as in text.
func durationMS(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
