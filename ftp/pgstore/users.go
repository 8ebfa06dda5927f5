package pgstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/ftp/auth"
)

// usersChannel is the LISTEN/NOTIFY channel of changed users (the
// payload is the name).
const usersChannel = "ftpd_users"

// UsersOptions tune a Users store. Zero values get the defaults.
type UsersOptions struct {
	// CacheSize bounds the cache of recent successful logins; default
	// 1024, negative disables it.
	CacheSize int
	// Compare checks a password against a hash; default bcrypt.
	Compare func(hash, password []byte) error
}

// Users authenticates against the ftpd_users table: an
// auth.LimitedAuthenticator and auth.CachedAuthenticator for the fleet.
// Each node keeps its own cache of recent successful logins (so logins
// cost no round trip, and a cached user gets in while the database is
// down); a change to a user (Put, Delete, here or on any node) is
// notified through the database and drops that user from every node's
// cache within a round trip, so a deleted user or an old password cannot
// log in anywhere afterwards. After its listening connection was lost a
// node drops its whole cache: it may have missed changes.
//
// Authenticate blocks (a query, then bcrypt): call it on a pool. A
// database that cannot be asked makes it fail with auth.ErrUnavailable.
type Users struct {
	db      *DB
	opts    UsersOptions
	dummy   []byte
	cache   *auth.LoginCache
	mu      sync.Mutex
	byUser  map[string]userInfo // home and limits of users logged in recently
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started chan struct{} // closed once the first LISTEN is in place
	once    sync.Once
}

// userInfo is what the last successful login of a user on this node
// read: its home and limits, and the cache generation when it began.
type userInfo struct {
	home   string
	limits auth.Limits
	gen    uint64
	at     time.Time
}

// userInfoKeep is how long a userInfo is kept whatever the bound.
const userInfoKeep = time.Minute

// maxUserInfos bounds byUser, a few times the login cache's size: past
// it an entry is dropped to make room (that user's next login, cached or
// not, reads the database again).
func (u *Users) maxUserInfos() int { return max(4*u.opts.CacheSize, 4096) }

// Users starts the user store; Close stops its listener.
func (db *DB) Users(opts UsersOptions) (*Users, error) {
	if opts.CacheSize == 0 {
		opts.CacheSize = 1024
	}
	if opts.Compare == nil {
		opts.Compare = bcrypt.CompareHashAndPassword
	}
	cache, err := auth.NewLoginCache(opts.CacheSize)
	if err != nil {
		return nil, err
	}
	u := &Users{db: db, opts: opts, cache: cache, byUser: map[string]userInfo{}, started: make(chan struct{})}
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	dummy, err := bcrypt.GenerateFromPassword(pw[:], bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("pgstore: dummy hash: %w", err)
	}
	u.dummy = dummy
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel = cancel
	u.wg.Add(1)
	go u.listener(ctx)
	select { // logins are cached only once changes can be heard
	case <-u.started:
	case <-time.After(db.timeout):
	}
	return u, nil
}

// Close stops the listener.
func (u *Users) Close() {
	u.cancel()
	u.wg.Wait()
}

// Authenticate implements auth.Authenticator.
func (u *Users) Authenticate(user, password string) (string, error) {
	gen := u.cache.Gen() // before the query: a change from now on is noticed
	if home, ok := u.AuthenticateCached(user, password); ok {
		return home, nil
	}
	var rec auth.User
	var found bool
	err := u.db.query(func(ctx context.Context) error {
		var err error
		rec, found, err = u.db.getUser(ctx, user)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("%w: %w", auth.ErrUnavailable, err)
	}
	if !found {
		_ = u.opts.Compare(u.dummy, []byte(password)) // the cost of a wrong password
		return "", auth.ErrUnknownUser
	}
	if err := u.opts.Compare([]byte(rec.Hash), []byte(password)); err != nil {
		return "", auth.ErrBadPassword
	}
	// The limits just read are this login's (UserLimits is asked for
	// them next, on the loop), even if some user changed meanwhile: an
	// entry is replaced unless a login that began later wrote it. Only
	// the password's cache entry waits for a quiet generation (Add).
	u.mu.Lock()
	if old, ok := u.byUser[user]; !ok || old.gen <= gen {
		if !ok && len(u.byUser) >= u.maxUserInfos() {
			// Make room: one entry not written in the last userInfoKeep
			// (a login that has just read its limits finds them; in a
			// flood of fresh logins the map grows past the bound instead).
			for name, info := range u.byUser {
				if time.Since(info.at) > userInfoKeep {
					delete(u.byUser, name)
					break
				}
			}
		}
		u.byUser[user] = userInfo{home: rec.Home, limits: rec.Limits, gen: gen, at: time.Now()}
	}
	u.mu.Unlock()
	u.cache.Add(user, password, gen)
	return rec.Home, nil
}

// AuthenticateCached implements auth.CachedAuthenticator: a digest and a
// map lookup.
func (u *Users) AuthenticateCached(user, password string) (string, bool) {
	u.mu.Lock()
	info, ok := u.byUser[user]
	u.mu.Unlock()
	if !ok || !u.cache.Has(user, password) {
		return "", false
	}
	return info.home, true
}

// UserLimits implements auth.LimitedAuthenticator from what the last
// successful login of user on this node read (it does not block). A
// change to the user drops its cached logins but not this, so the login
// that has just read it always finds it.
func (u *Users) UserLimits(user string) (auth.Limits, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	info, ok := u.byUser[user]
	return info.limits, ok
}

// CacheLen reports how many verifications are cached.
func (u *Users) CacheLen() int { return u.cache.Len() }

// forget drops user's cached logins ("" drops everyone's): the next
// login of the user reads the database again. The home and limits the
// last login read stay, for the logins in progress (UserLimits);
// AuthenticateCached answers only with a cached login.
func (u *Users) forget(user string) {
	u.cache.Forget(user)
}

// listener hears of changed users; after a lost connection it drops the
// whole cache (changes may have been missed) and listens again.
func (u *Users) listener(ctx context.Context) {
	defer u.wg.Done()
	u.db.keepListening(ctx, listener{
		Channel: usersChannel,
		Listened: func(context.Context, *pgx.Conn) error {
			u.forget("") // whatever changed before this LISTEN
			u.once.Do(func() { close(u.started) })
			return nil
		},
		Notified: func(_ context.Context, _ *pgx.Conn, name string) error { u.forget(name); return nil },
		Lost: func(err error) {
			u.forget("")
			u.db.logger.Warn("ftp user store: lost the database's notifications; cache dropped, listening again", "err", err)
		},
	})
}

// getUser reads one user.
func (db *DB) getUser(ctx context.Context, name string) (auth.User, bool, error) {
	var r auth.User
	err := db.pool.QueryRow(ctx, `SELECT name, hash, home, perm, quota, quota_files, max_sessions, rate_down, rate_up
		FROM ftpd_users WHERE name = $1`, name).Scan(&r.Name, &r.Hash, &r.Home, &r.Limits.Perm, &r.Limits.Quota,
		&r.Limits.QuotaFiles, &r.Limits.MaxSessions, &r.Limits.RateDown, &r.Limits.RateUp)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

// GetUser reads one user (ftpd user set, list).
func (db *DB) GetUser(ctx context.Context, name string) (auth.User, bool, error) {
	return db.getUser(ctx, name)
}

// PutUser creates or replaces a user and tells every node (its cached
// logins are dropped).
func (db *DB) PutUser(ctx context.Context, r auth.User) error {
	if !auth.ValidName(r.Name) || auth.Reserved(r.Name) {
		return fmt.Errorf("pgstore: user name %q is not allowed", r.Name)
	}
	if _, err := bcrypt.Cost([]byte(r.Hash)); err != nil {
		return fmt.Errorf("pgstore: user %q: not a bcrypt hash", r.Name)
	}
	return db.change(ctx, r.Name, `INSERT INTO ftpd_users (name, hash, home, perm, quota, quota_files, max_sessions, rate_down, rate_up)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (name) DO UPDATE SET hash = EXCLUDED.hash, home = EXCLUDED.home, perm = EXCLUDED.perm,
			quota = EXCLUDED.quota, quota_files = EXCLUDED.quota_files, max_sessions = EXCLUDED.max_sessions,
			rate_down = EXCLUDED.rate_down, rate_up = EXCLUDED.rate_up, updated_at = now()`,
		r.Name, r.Hash, r.Home, r.Limits.Perm, r.Limits.Quota, r.Limits.QuotaFiles, r.Limits.MaxSessions, r.Limits.RateDown, r.Limits.RateUp)
}

// DeleteUser removes a user and tells every node; it reports whether
// there was one.
func (db *DB) DeleteUser(ctx context.Context, name string) (bool, error) {
	var n int64
	err := db.inTx(ctx, name, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM ftpd_users WHERE name = $1", name)
		n = tag.RowsAffected()
		return err
	})
	return n > 0, err
}

// ListUsers returns every user, by name.
func (db *DB) ListUsers(ctx context.Context) ([]auth.User, error) {
	rows, err := db.pool.Query(ctx, `SELECT name, hash, home, perm, quota, quota_files, max_sessions, rate_down, rate_up
		FROM ftpd_users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list users: %w", err)
	}
	defer rows.Close()
	var out []auth.User
	for rows.Next() {
		var r auth.User
		if err := rows.Scan(&r.Name, &r.Hash, &r.Home, &r.Limits.Perm, &r.Limits.Quota, &r.Limits.QuotaFiles,
			&r.Limits.MaxSessions, &r.Limits.RateDown, &r.Limits.RateUp); err != nil {
			return nil, fmt.Errorf("pgstore: list users: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// change runs one statement and the notification in a transaction (the
// notification goes out at commit).
func (db *DB) change(ctx context.Context, name, sql string, args ...any) error {
	return db.inTx(ctx, name, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, sql, args...)
		return err
	})
}

func (db *DB) inTx(ctx context.Context, name string, fn func(pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", usersChannel, name); err != nil {
		return fmt.Errorf("pgstore: notify: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: commit: %w", err)
	}
	return nil
}
