// Login: USER and PASS (RFC 959 4.1.1), the event-loop fast path for
// cached passwords, and the equal delay of every failed login.

package ftp

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/shell"
)

func (s *session) cmdUSER(arg string) {
	if s.state == stateAuthed || s.state == stateRenaming {
		s.reply(ftpwire.StatusBadSequence, "Incorrect sequence of commands: already logged in")
		return
	}
	if s.loginRefused(arg) {
		return
	}
	s.user = arg
	s.state = stateInAuth
	s.anonymous = s.host.anonymous && isAnonymousName(arg)
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
	if s.loginRefused(s.user) {
		return
	}
	addr := addrOf(s.Transport.RemoteAddr())
	if s.f.banned(addr) {
		// Banned since this connection was made: no password check.
		s.refused(RefusedBanned)
		s.loginDenied(LoginBanned, errBanned)
		s.reply(ftpwire.StatusServiceNotAvailable, bannedText)
		s.Transport.LoseConnection()
		return
	}
	user := s.user
	if sh, ok := s.quickLogin(user, arg); ok {
		s.loggedIn(sh)
		return
	}
	if s.anonymous {
		s.openShell(shell.Login{User: user, Anonymous: true})
		return
	}
	users := s.host.users
	if users == nil {
		s.loginFailed(fmt.Errorf("%w: %w", errBadLogin, auth.ErrUnknownUser))
		return
	}
	// The password check runs on the hash pool, in this address's turn;
	// if the connection is gone before its turn comes, or the address
	// was banned meanwhile (by its other connections' failures), it is
	// skipped.
	gone := new(atomic.Bool)
	s.hashGone = gone
	f := s.f
	blockingOn(s, f.hashes.For(addr), func() (string, error) {
		if gone.Load() {
			return "", errGone
		}
		if f.banned(addr) {
			return "", errBanned
		}
		return users.Authenticate(user, arg)
	}, func(home string, err error) {
		s.hashGone = nil
		switch {
		case errors.Is(err, errBanned):
			s.refused(RefusedBanned)
			s.loginDenied(LoginBanned, err)
			s.reply(ftpwire.StatusServiceNotAvailable, bannedText)
			s.Transport.LoseConnection()
		case errors.Is(err, auth.ErrBusy), errors.Is(err, auth.ErrClosed):
			s.f.stats.hashBusy.Add(1)
			s.warn("ftp password checks busy", "user", logText(user))
			s.refused(RefusedPasswordChecksBusy)
			s.loginDenied(LoginBusy, err)
			s.reply(ftpwire.StatusServiceNotAvailable, "Server busy, try again later.")
			s.Transport.LoseConnection()
		case errors.Is(err, auth.ErrUnavailable):
			s.warn("ftp user store unavailable", "user", logText(user), "err", logText(errString(err)))
			s.loginDenied(LoginUnavailable, err)
			s.reply(ftpwire.StatusServiceNotAvailable, "Service not available: the user database cannot be reached, try again later.")
			s.Transport.LoseConnection()
		case err != nil:
			s.loginFailed(fmt.Errorf("%w: %w", errBadLogin, err))
		default:
			s.openShell(shell.Login{User: user, Home: home})
		}
	})
}

// isAnonymousName reports whether USER name asks for an anonymous login.
func isAnonymousName(name string) bool {
	return strings.EqualFold(name, "anonymous") || strings.EqualFold(name, "ftp")
}

// errGone is the result of a password check skipped because its
// connection closed while it waited.
var errGone = errors.New("ftp: connection closed before its password check")

// errBanned is the result of a password check skipped because its
// address was banned while it waited.
var errBanned = errors.New("ftp: address banned before its password check")

// openShell finishes a login whose password is good: on the loop when
// the realm has the shell ready, else on the worker pool (creating a
// home touches the disk).
func (s *session) openShell(login shell.Login) {
	if rr, ok := s.host.realm.(shell.ReadyRealm); ok {
		if sh, ok := rr.ReadyShell(login); ok {
			s.loggedIn(sh)
			return
		}
	}
	realm := s.host.realm
	blocking(s, func() (shell.Shell, error) { return realm.Shell(login) }, func(sh shell.Shell, err error) {
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
		ca, ok := s.host.users.(auth.CachedAuthenticator)
		if !ok {
			return nil, false
		}
		if home, ok = ca.AuthenticateCached(user, password); !ok {
			return nil, false
		}
	}
	rr, ok := s.host.realm.(shell.ReadyRealm)
	if !ok {
		return nil, false
	}
	return rr.ReadyShell(shell.Login{User: user, Home: home, Anonymous: s.anonymous})
}

func (s *session) loggedIn(sh shell.Shell) {
	if !s.anonymous && !s.lost && s.fleetCounted == nil {
		if sa := sharedAccounts(s.host); sa != nil {
			if l := userLimits(s.host, s.user); l.MaxSessions > 0 {
				// max-sessions is counted across the fleet: a round trip
				// on the pool first.
				s.fleetSession(sa, l.MaxSessions, func() { s.loggedIn(sh) })
				return
			}
		}
	}
	sh, ok := s.applyLimits(sh)
	if !ok {
		return
	}
	s.sh = sh
	s.state = stateAuthed
	s.touch() // from the login deadline to the idle timeout
	s.logLogin()
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
//
// A bad user or password counts toward a ban of the client's address
// (Config.Bans); a connection whose failure started the ban is closed
// after its 530.
func (s *session) loginFailed(err error) {
	banned := false
	if errors.Is(err, errBadLogin) {
		banned = s.f.loginFailed(addrOf(s.Transport.RemoteAddr()))
	} else {
		s.warn("ftp login error", "user", logText(s.user), "err", logText(errString(err)))
	}
	reason := loginReason(err)
	if s.logs() {
		s.f.cfg.Logger.Info("ftp login failed", "peer", s.Transport.RemoteAddr().String(), "user", logText(s.user),
			"reason", reason)
	}
	s.notify(func(ev Events) { ev.Login(LoginEvent{SessionInfo: s.info(), Err: err, Reason: reason}) })
	s.state = stateUnauth
	s.failures++
	release := s.LineReceiver.Hold()
	s.Transport.Loop().CallLater(max(s.f.cfg.FailedLoginDelay, 0), func() {
		s.reply(ftpwire.StatusNotLoggedIn, "Sorry, Authentication failed.")
		if banned {
			s.reply(ftpwire.StatusServiceNotAvailable, bannedText)
			s.Transport.LoseConnection()
			return
		}
		if s.failures >= s.f.cfg.MaxLoginFailures {
			s.reply(ftpwire.StatusServiceNotAvailable, "Too many failed logins, closing control connection.")
			s.Transport.LoseConnection()
			return
		}
		release()
		s.resume()
	})
}
