// Per-user limits (auth.Limits from a LimitedAuthenticator): sessions
// at once, permissions and quota (shell.Limit), and each session's
// bandwidth (token buckets around the transfer's source or destination).

package ftp

import (
	"context"
	"errors"
	"io"

	"golang.org/x/time/rate"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/shell"
)

// SharedAccounts is implemented by a user store that a fleet of nodes
// shares (pgstore.FleetUsers): a user's quota usage and sessions at once
// are then counted across the fleet rather than on this node, so that
// neither quota nor max-sessions can be passed by spreading sessions
// over nodes.
type SharedAccounts interface {
	// QuotaLedger is user's quota ledger (shell.NewSharedQuota).
	QuotaLedger(user string) shell.Ledger
	// TakeSession counts a session of user unless the fleet has max (>
	// 0) open; an error means the store cannot be asked. It blocks: the
	// server calls it on its worker pool.
	TakeSession(user string, max int) (bool, error)
	// ReleaseSession gives back a session TakeSession counted. It must not
	// block: the server calls it on the event loop.
	ReleaseSession(user string)
}

// sharedAccounts is h's SharedAccounts, if its users have one.
func sharedAccounts(h *host) SharedAccounts {
	sa, _ := h.users.(SharedAccounts)
	return sa
}

// userState is what a user's sessions share on this server.
type userState struct {
	sessions int
	quota    *shell.Quota // nil until a session of the user has a quota
}

// userKey names a user of a host in Factory.users: a virtual host's
// alice is not the default host's.
func userKey(h *host, user string) string { return h.name + "\x00" + user }

// userLimits returns the limits h's Authenticator gives user (none for
// an Authenticator that knows of none).
func userLimits(h *host, user string) auth.Limits {
	if la, ok := h.users.(auth.LimitedAuthenticator); ok {
		if l, ok := la.UserLimits(user); ok {
			return l
		}
	}
	return auth.Limits{}
}

// takeUserSession counts a session of user (a userKey), unless max
// (> 0) are open. Safe from any goroutine.
func (f *Factory) takeUserSession(user string, max int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.users[user]
	if st == nil {
		st = &userState{}
		f.users[user] = st
	}
	if max > 0 && st.sessions >= max {
		return false
	}
	st.sessions++
	return true
}

// releaseUserSession uncounts a session takeUserSession counted. The
// state stays while it holds a quota (its usage is the walk's result).
func (f *Factory) releaseUserSession(user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.users[user]
	if st == nil {
		return
	}
	if st.sessions--; st.sessions <= 0 && st.quota == nil {
		delete(f.users, user)
	}
}

// quotaFor is user's (a userKey's) shared Quota with l's limits (updated if a reload
// changed them), or nil when l has none. With a ledger (newLedger not
// nil) the usage is kept there, across the fleet.
func (f *Factory) quotaFor(user string, l auth.Limits, newLedger func() shell.Ledger) *shell.Quota {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.users[user]
	if st == nil {
		st = &userState{}
		f.users[user] = st
	}
	if l.Quota <= 0 && l.QuotaFiles <= 0 {
		if st.quota != nil {
			st.quota.SetLimits(0, 0) // lifted by a reload: usage still counted
		}
		return st.quota
	}
	switch {
	case st.quota == nil && newLedger != nil:
		st.quota = shell.NewSharedQuota(l.Quota, l.QuotaFiles, newLedger())
	case st.quota == nil:
		st.quota = shell.NewQuota(l.Quota, l.QuotaFiles)
	default:
		st.quota.SetLimits(l.Quota, l.QuotaFiles)
	}
	return st.quota
}

// UserSessions reports the sessions of the default host's user counted
// for max-sessions (tests).
func (f *Factory) UserSessions(user string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st := f.users[userKey(f.defaultHost, user)]; st != nil {
		return st.sessions
	}
	return 0
}

// dropLimits gives back what applyLimits took (REIN, the session's
// end). On the loop.
func (s *session) dropLimits() {
	if s.userCounted != "" {
		s.f.releaseUserSession(s.userCounted)
		s.userCounted = ""
	}
	if s.fleetCounted != nil {
		s.fleetCounted.ReleaseSession(s.fleetUser)
		s.fleetCounted, s.fleetUser = nil, ""
	}
	s.down, s.up = nil, nil
}

// fleetSession takes a session of a user with max-sessions from the
// fleet's count, on the worker pool, then finishes the login (then); it
// answers 421 itself when the fleet has the user's max open already or
// the store cannot be asked. On the loop.
func (s *session) fleetSession(sa SharedAccounts, max int, then func()) {
	user := s.user
	blockingOwned(s, func() (bool, error) { return sa.TakeSession(user, max) }, func(ok bool, err error) {
		switch {
		case err != nil:
			s.warn("ftp fleet session count unavailable", "user", logText(user), "err", logText(errString(err)))
			s.loginDenied(LoginUnavailable, err)
			s.reply(ftpwire.StatusServiceNotAvailable, "Service not available: the user database cannot be reached, try again later.")
			s.Transport.LoseConnection()
		case !ok:
			s.refused(RefusedMaxSessions)
			s.loginDenied(LoginTooManySessions, errTooManySessions)
			s.reply(ftpwire.StatusServiceNotAvailable, "Too many sessions for this user, try again later.")
			s.Transport.LoseConnection()
		case s.lost:
			sa.ReleaseSession(user)
		default:
			s.fleetCounted, s.fleetUser = sa, user
			then()
		}
	}, func(ok bool) {
		if ok {
			sa.ReleaseSession(user) // the connection went meanwhile
		}
	})
}

// applyLimits gives a named user who has just logged in its limits: it
// reports false (and has answered 421 and is closing) when the user has
// its max-sessions open already. Anonymous users get the server's rates
// only. On the loop.
func (s *session) applyLimits(sh shell.Shell) (shell.Shell, bool) {
	if s.lost {
		// The login finished on the pool after the connection closed:
		// count nothing that ConnectionLost, which has run, would not
		// give back.
		return nil, false
	}
	cur := s.f.limits.Load()
	down, up := cur.RateDown, cur.RateUp
	if !s.anonymous {
		l := userLimits(s.host, s.user)
		key := userKey(s.host, s.user)
		sa := sharedAccounts(s.host)
		localMax := l.MaxSessions
		if sa != nil {
			localMax = 0 // counted across the fleet (fleetSession)
		}
		if !s.f.takeUserSession(key, localMax) {
			s.refused(RefusedMaxSessions)
			s.loginDenied(LoginTooManySessions, errTooManySessions)
			s.reply(ftpwire.StatusServiceNotAvailable, "Too many sessions for this user, try again later.")
			s.Transport.LoseConnection()
			return nil, false
		}
		s.userCounted = key
		var newLedger func() shell.Ledger
		if sa != nil {
			user := s.user
			newLedger = func() shell.Ledger { return sa.QuotaLedger(user) }
		}
		sh = shell.Limit(sh, l.Perm, s.f.quotaFor(key, l, newLedger))
		if l.RateDown > 0 {
			down = l.RateDown
		}
		if l.RateUp > 0 {
			up = l.RateUp
		}
	}
	s.down, s.up = newPacer(down), newPacer(up)
	return sh, true
}

// The bucket of a paced transfer holds paceDepth's worth of bytes, at
// least minPace and at most maxPace: deep enough that the waits between
// the copy loop's 32 KiB chunks are few and long enough for the timers
// to keep the rate (a 32 KiB bucket reached 65% of 64 MiB/s, with 2,000
// sleeps a second), shallow enough that a transfer starts at its rate
// rather than with a burst (a 6 MiB download at 2 MiB/s takes 2.9 s, not
// 2). A step of a transfer never takes more than the bucket.
const (
	paceDepth = 10 // a tenth of a second
	minPace   = 1 << 10
	maxPace   = 4 << 20
)

// newPacer is a token bucket of bytesPerSecond, nil for none.
func newPacer(bytesPerSecond int64) *rate.Limiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	burst := int(min(max(bytesPerSecond/paceDepth, minPace), maxPace))
	return rate.NewLimiter(rate.Limit(bytesPerSecond), burst)
}

// pacedReader is a transfer's source under a rate: each read waits for
// its bytes' tokens. It hides the file beneath (and so sendfile): a
// limited download is copied through user space, an unlimited one is
// not wrapped at all.
type pacedReader struct {
	ctx context.Context
	r   io.Reader
	lim *rate.Limiter
}

func (p *pacedReader) Read(b []byte) (int, error) {
	b = b[:min(len(b), p.lim.Burst())]
	n, err := p.r.Read(b)
	if n > 0 {
		if werr := p.lim.WaitN(p.ctx, n); werr != nil {
			return 0, werr
		}
	}
	return n, err
}

// pacedWriter is an upload's destination under a rate: each write waits
// for its bytes' tokens first (the client's sender then waits on TCP's
// window). It hides ReadFrom, so a limited upload is no splice.
type pacedWriter struct {
	ctx context.Context
	w   io.Writer
	lim *rate.Limiter
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		step := min(len(b), p.lim.Burst())
		if err := p.lim.WaitN(p.ctx, step); err != nil {
			return n, err
		}
		m, err := p.w.Write(b[:step])
		n += m
		if err != nil {
			return n, err
		}
		b = b[step:]
	}
	return n, nil
}

// paceDown is src under lim (src itself when lim is nil).
func paceDown(ctx context.Context, src io.Reader, lim *rate.Limiter) io.Reader {
	if lim == nil {
		return src
	}
	return &pacedReader{ctx: ctx, r: src, lim: lim}
}

// paceUp is dst under lim (dst itself when lim is nil).
func paceUp(ctx context.Context, dst io.Writer, lim *rate.Limiter) io.Writer {
	if lim == nil {
		return dst
	}
	return &pacedWriter{ctx: ctx, w: dst, lim: lim}
}

// limitRefusals name the refusals by a user's limits that are logged
// (as warnings, within the session's budget: a client looping on
// a refused command does not flood the log).
var limitRefusals = []struct {
	err    error
	reason string
}{
	{shell.ErrQuota, "quota"},
	{shell.ErrNotAllowed, "permissions"},
}

// logLimitRefusal logs a command refused by the user's quota or
// permissions (the reply follows). On the loop.
func (s *session) logLimitRefusal(err error, path string) {
	for _, r := range limitRefusals {
		if errors.Is(err, r.err) {
			s.warn("ftp refused by the user's limits", "user", logText(s.user), "path", logText(path), "limit", r.reason)
			return
		}
	}
}
