// Login: USER and PASS (RFC 959 4.1.1), the event-loop fast path for
// cached passwords, and the equal delay of every failed login.

package ftp

import (
	"errors"
	"strings"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/shell"
)

func (s *session) cmdUSER(arg string) {
	if s.state == stateAuthed || s.state == stateRenaming {
		s.reply(ftpwire.StatusBadSequence, "Incorrect sequence of commands: already logged in")
		return
	}
	s.user = arg
	s.state = stateInAuth
	s.anonymous = s.f.cfg.AllowAnonymous && (strings.EqualFold(arg, "anonymous") || strings.EqualFold(arg, "ftp"))
	if s.anonymous {
		s.reply(ftpwire.StatusNeedPassword, "Guest login ok, type your email address as password.")
		return
	}
	s.replyf(ftpwire.StatusNeedPassword, "Password required for %s.", printable(arg))
}

func (s *session) cmdPASS(arg string) {
	if s.state != stateInAuth {
		s.reply(ftpwire.StatusBadSequence, "Incorrect sequence of commands: USER required before PASS")
		return
	}
	user := s.user
	users := s.f.cfg.Users
	anonymous := s.anonymous
	if sh, ok := s.quickLogin(user, arg); ok {
		s.loggedIn(sh)
		return
	}
	realm := s.f.cfg.Realm
	blocking(s, func() (shell.Shell, error) {
		if anonymous {
			return realm.Shell(shell.Login{User: user, Anonymous: true})
		}
		if users == nil {
			return nil, errBadLogin
		}
		home, err := users.Authenticate(user, arg)
		if err != nil {
			return nil, errBadLogin
		}
		return realm.Shell(shell.Login{User: user, Home: home})
	}, func(sh shell.Shell, err error) {
		if err != nil {
			s.loginFailed(err)
			return
		}
		s.loggedIn(sh)
	})
}

// quickLogin logs in on the loop when nothing has to block: an anonymous
// user, or a password the authenticator verified recently, with a shell
// that is open already. Otherwise PASS goes to the pool.
func (s *session) quickLogin(user, password string) (shell.Shell, bool) {
	home := ""
	if !s.anonymous {
		ca, ok := s.f.cfg.Users.(auth.CachedAuthenticator)
		if !ok {
			return nil, false
		}
		if home, ok = ca.AuthenticateCached(user, password); !ok {
			return nil, false
		}
	}
	rr, ok := s.f.cfg.Realm.(shell.ReadyRealm)
	if !ok {
		return nil, false
	}
	return rr.ReadyShell(shell.Login{User: user, Home: home, Anonymous: s.anonymous})
}

func (s *session) loggedIn(sh shell.Shell) {
	s.sh = sh
	s.state = stateAuthed
	s.notify(func(ev Events) { ev.Login(LoginEvent{SessionInfo: s.info(), OK: true}) })
	if s.anonymous {
		s.reply(ftpwire.StatusLoggedIn, "Anonymous login ok, access restrictions apply.")
		return
	}
	s.reply(ftpwire.StatusLoggedIn, "User logged in, proceed")
}

var errBadLogin = errors.New("ftp: login failed")

// loginFailed answers 530 after the same delay whatever went wrong, and
// keeps the session paused meanwhile so a client cannot race it.
func (s *session) loginFailed(err error) {
	if !errors.Is(err, errBadLogin) {
		s.f.cfg.Logger.Warn("ftp login error", "peer", s.Transport.RemoteAddr().String(), "user", s.user, "err", err)
	}
	s.f.cfg.Logger.Info("ftp login failed", "peer", s.Transport.RemoteAddr().String(), "user", s.user)
	s.notify(func(ev Events) { ev.Login(LoginEvent{SessionInfo: s.info(), Err: err}) })
	s.state = stateUnauth
	s.failures++
	release := s.LineReceiver.Hold()
	s.Transport.Loop().CallLater(max(s.f.cfg.FailedLoginDelay, 0), func() {
		s.reply(ftpwire.StatusNotLoggedIn, "Sorry, Authentication failed.")
		if s.failures >= s.f.cfg.MaxLoginFailures {
			s.reply(ftpwire.StatusServiceNotAvailable, "Too many failed logins, closing control connection.")
			s.Transport.LoseConnection()
			return
		}
		release()
		s.resume()
	})
}
