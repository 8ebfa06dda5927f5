// Package auth checks FTP logins against a users file of
// "name:bcrypt-hash[:home][:key=value...]" lines (see User and Limits), with a bounded cache of recent
// successful verifications so repeated logins skip bcrypt.
//
// bcrypt is slow on purpose (tens of milliseconds); Authenticate blocks and
// must run on the worker pool, never on an event loop.
package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// ErrBadCredentials is the single failure for an unknown user and a wrong
// password, so a client cannot tell them apart.
var ErrBadCredentials = errors.New("auth: bad credentials")

// ErrUnknownUser and ErrBadPassword are the two kinds of
// ErrBadCredentials (errors.Is(err, ErrBadCredentials) holds for both),
// for the server's own log and metrics; the client is told neither.
var (
	ErrUnknownUser = fmt.Errorf("%w: unknown user", ErrBadCredentials)
	ErrBadPassword = fmt.Errorf("%w: bad password", ErrBadCredentials)
)

// ErrUnavailable wraps the failure of a user store that could not be
// asked (a database down or slow): the login is not refused as bad
// credentials (530, counted towards a ban) but answered 421, try later.
var ErrUnavailable = errors.New("auth: user store unavailable")

// Authenticator checks a user's password and returns the user's home as
// the user store gives it: "" when none is given (the realm then confines
// the user to a directory of its own, <root>/<name> for the local realm),
// "/" for the whole root, else a directory under the root.
type Authenticator interface {
	Authenticate(user, password string) (home string, err error)
}

// LimitedAuthenticator is an Authenticator that also knows each user's
// limits (permissions, quotas, sessions, rates): the server asks it once
// a login has succeeded, on the event loop, so UserLimits must not block.
type LimitedAuthenticator interface {
	Authenticator
	UserLimits(user string) (Limits, bool)
}

// CachedAuthenticator is an Authenticator that can sometimes answer
// without blocking: the PI asks it first, on the event loop, and logs the
// user in there when it knows the answer, with no trip through the
// worker pool (the common case of a client logging in again and again).
type CachedAuthenticator interface {
	Authenticator
	// AuthenticateCached returns user's home if this exact password was
	// verified recently. ok false means "not known here, call
	// Authenticate", never "wrong password". It must not block.
	AuthenticateCached(user, password string) (home string, ok bool)
}

type entry struct {
	hash   []byte
	cost   int
	home   string
	limits Limits
}

// Config tunes a UsersFile. The zero value is usable.
type Config struct {
	// CacheSize bounds the cache of recent successful logins; default
	// 1024, negative disables it.
	CacheSize int
	// Compare checks a password against a hash; default bcrypt (tests may
	// count calls).
	Compare func(hash, password []byte) error
}

// UsersFile authenticates against a users file. It is safe for
// concurrent use.
type UsersFile struct {
	path  string
	cfg   Config
	cache *LoginCache // dropped at every reload

	mu sync.Mutex
	// dummy is compared against for unknown users, so they cost one bcrypt
	// at the file's highest cost, like a wrong password does.
	dummy []byte
	users map[string]entry
}

// LoadUsersFile reads path. Malformed lines are errors naming the line;
// a missing file is an error, an empty one has no users.
func LoadUsersFile(path string, cfg Config) (*UsersFile, error) {
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 1024
	}
	if cfg.Compare == nil {
		cfg.Compare = bcrypt.CompareHashAndPassword
	}
	cache, err := NewLoginCache(cfg.CacheSize)
	if err != nil {
		return nil, err
	}
	u := &UsersFile{path: path, cfg: cfg, cache: cache}
	if err := u.Reload(); err != nil {
		return nil, err
	}
	return u, nil
}

// Reload re-reads the file and drops the cache. On error the previous
// users stay in force.
func (u *UsersFile) Reload() error {
	b, err := os.ReadFile(u.path)
	if err != nil {
		return fmt.Errorf("auth: reading users file: %w", err)
	}
	users, err := parse(b, u.path)
	if err != nil {
		return err
	}
	cost := bcrypt.DefaultCost
	if len(users) > 0 {
		cost = bcrypt.MinCost
		for _, e := range users {
			cost = max(cost, e.cost)
		}
	}
	u.mu.Lock()
	dummy := u.dummy
	u.mu.Unlock()
	if c, err := bcrypt.Cost(dummy); err != nil || c != cost {
		// A random password nobody knows, hashed at the users' cost.
		var pw [16]byte
		_, _ = rand.Read(pw[:])
		if dummy, err = bcrypt.GenerateFromPassword(pw[:], cost); err != nil {
			return fmt.Errorf("auth: dummy hash: %w", err)
		}
	}
	u.mu.Lock()
	u.users = users
	u.dummy = dummy
	u.mu.Unlock()
	u.cache.Forget("") // after the swap: a check of an old entry is not remembered
	return nil
}

// parse reads the users file's text (see User); blank lines and lines
// starting with '#' are skipped. All malformed lines are reported, each
// with its number. The messages never quote a hash field: a mistaken
// plaintext password there must not reach a log.
func parse(b []byte, file string) (map[string]entry, error) {
	t := &UsersFileText{path: file, users: map[string]int{}}
	if len(b) > 0 {
		t.lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	list, err := t.parse()
	if err != nil {
		return nil, err
	}
	users := make(map[string]entry, len(list))
	for _, u := range list {
		cost, _ := bcryptCost(u.Hash)
		users[u.Name] = entry{hash: []byte(u.Hash), cost: cost, home: u.Home, limits: u.Limits}
	}
	return users, nil
}

// bcryptCost is the cost of a bcrypt hash, or an error if it is none.
func bcryptCost(hash string) (int, error) { return bcrypt.Cost([]byte(hash)) }

// UserLimits returns the limits the users file gives user
// (LimitedAuthenticator). Safe from any goroutine; it does not block.
func (u *UsersFile) UserLimits(user string) (Limits, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	e, ok := u.users[user]
	return e.limits, ok
}

// AuthenticateCached answers from the cache of recent verifications: a
// SHA-256 and a map lookup, no bcrypt (CachedAuthenticator).
func (u *UsersFile) AuthenticateCached(user, password string) (string, bool) {
	u.mu.Lock()
	e, known := u.users[user]
	u.mu.Unlock()
	if !known || !u.cache.Has(user, password) {
		return "", false
	}
	return e.home, true
}

// Authenticate checks user's password. It blocks for one bcrypt unless
// the same user and password succeeded recently.
func (u *UsersFile) Authenticate(user, password string) (string, error) {
	gen := u.cache.Gen() // before the entry is read: a reload from now on is noticed
	u.mu.Lock()
	e, known := u.users[user]
	dummy := u.dummy
	u.mu.Unlock()
	if known && u.cache.Has(user, password) {
		return e.home, nil
	}
	if !known {
		_ = u.cfg.Compare(dummy, []byte(password)) // same cost as a wrong password
		return "", ErrUnknownUser
	}
	if err := u.cfg.Compare(e.hash, []byte(password)); err != nil {
		return "", ErrBadPassword
	}
	u.cache.Add(user, password, gen)
	return e.home, nil
}

// CacheLen reports how many verifications are cached.
func (u *UsersFile) CacheLen() int { return u.cache.Len() }

// SetPassword adds or updates user in the users file at path with a
// bcrypt hash of password at cost (0: bcrypt.DefaultCost), keeping every
// other line (comments included) and the user's home and limits. The
// file is replaced atomically (a temporary file in the same directory,
// synced, then renamed) with the old file's owner and mode; a missing
// file is created, mode 0600.
func SetPassword(path, user, password string, cost int) error {
	if !ValidName(user) {
		return fmt.Errorf("auth: invalid user name %q", user)
	}
	if Reserved(user) {
		return fmt.Errorf("auth: user name %q is reserved for anonymous logins", user)
	}
	hash, err := HashPassword(password, cost)
	if err != nil {
		return err
	}
	t, err := ReadUsersFileText(path)
	if err != nil {
		return err
	}
	u, _ := t.Lookup(user)
	u.Name, u.Hash = user, hash
	if err := t.Put(u); err != nil {
		return err
	}
	return t.Write()
}

// HashPassword is the users file's hash of password: bcrypt at cost (0:
// bcrypt.DefaultCost). An empty password is refused.
func HashPassword(password string, cost int) (string, error) {
	if password == "" {
		return "", errors.New("auth: empty password")
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("auth: hashing the password: %w", err)
	}
	return string(hash), nil
}

// ValidName reports whether name can be a user of the users file: not
// empty, none of ':', '#', '/', '\\', blanks or control characters, and
// not "." or "..", because a user without a home of its own is confined to
// <root>/<name>, so a name must be a plain directory name.
func ValidName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 255 {
		return false
	}
	for _, r := range name {
		if r < 0x21 || r == 0x7f || strings.ContainsRune(":#/\\", r) {
			return false
		}
	}
	return true
}

// SetHome sets (or, with home "", removes) the home of user in the users
// file at path, keeping every other line and the user's limits; the user
// must exist. "/" gives the user the whole root.
func SetHome(path, user, home string) error {
	if err := checkHome(home); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	t, err := ReadUsersFileText(path)
	if err != nil {
		return err
	}
	u, ok := t.Lookup(user)
	if !ok {
		return fmt.Errorf("auth: %s: no user %q", path, user)
	}
	u.Home = home
	if err := t.Put(u); err != nil {
		return err
	}
	return t.Write()
}

// Anonymous accepts nobody; it exists so a server with only anonymous
// access has an Authenticator.
type Anonymous struct{}

// Authenticate always fails.
func (Anonymous) Authenticate(string, string) (string, error) { return "", ErrBadCredentials }
