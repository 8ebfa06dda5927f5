package s3

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// RealmConfig configures a Realm.
type RealmConfig struct {
	// Store is the bucket and prefix under which every home is; required.
	Store *Store
	// AnonymousHome is the prefix, under the store's, that anonymous
	// users see read-only; "" means no anonymous logins.
	AnonymousHome string
}

// Realm gives each login the shell of its home, a prefix under the
// store's (shell.Realm): the home the user store gave, else the user's
// name; "/" is the whole store. A home's marker is written at its first
// login on this node. Safe for concurrent use.
type Realm struct {
	cfg    RealmConfig
	mu     sync.Mutex
	shells map[string]*Shell // by home key, made once per home
	anon   shell.Shell
}

var _ shell.ReadyRealm = (*Realm)(nil)

// ErrNoAnonymous is the failure of an anonymous login when the realm has
// no anonymous home.
var ErrNoAnonymous = errors.New("s3: no anonymous access")

// NewRealm checks cfg.
func NewRealm(cfg RealmConfig) (*Realm, error) {
	if cfg.Store == nil {
		return nil, errors.New("s3: realm needs a store")
	}
	r := &Realm{cfg: cfg, shells: map[string]*Shell{}}
	if cfg.AnonymousHome != "" {
		r.anon = shell.ReadOnly(cfg.Store.Shell(cfg.AnonymousHome))
	}
	return r, nil
}

// homeKey is a login's home relative to the store's prefix: clean,
// never above it ("" is the prefix itself); ok is false for a login
// without a home whose user name cannot name one.
func homeKey(l shell.Login) (string, bool) {
	home := l.Home
	if home == "" {
		if l.User == "" || l.User == "." || l.User == ".." || strings.ContainsAny(l.User, "/\\\x00") {
			return "", false
		}
		home = l.User
	}
	return strings.Trim(path.Clean("/"+home), "/"), true
}

// ReadyShell returns the shell of a home already opened; it never
// blocks beyond a mutex.
func (r *Realm) ReadyShell(l shell.Login) (shell.Shell, bool) {
	if l.Anonymous {
		return r.anon, r.anon != nil
	}
	key, ok := homeKey(l)
	if !ok {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.shells[key]
	return s, ok
}

// Shell returns the login's shell, writing its home's marker the first
// time (on the worker pool: it reaches the store).
func (r *Realm) Shell(l shell.Login) (shell.Shell, error) {
	if s, ok := r.ReadyShell(l); ok {
		return s, nil
	}
	if l.Anonymous {
		return nil, ErrNoAnonymous
	}
	key, ok := homeKey(l)
	if !ok {
		return nil, fmt.Errorf("s3: user name %q cannot name a home", l.User)
	}
	s := r.cfg.Store.Shell(key)
	if key != "" {
		if err := s.ensureRoot(); err != nil {
			return nil, fmt.Errorf("s3: home %s: %w", key, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.shells[key]; ok {
		return prev, nil
	}
	r.shells[key] = s
	return s, nil
}

// ensureRoot writes the marker of the shell's own prefix unless
// something is there already.
func (s *Shell) ensureRoot() error {
	parent := &Shell{st: s.st, root: ""}
	r := strings.TrimSuffix(s.root, "/")
	ok, _, err := parent.dirTime(r)
	if err != nil || ok {
		return err
	}
	return parent.putMarker(r)
}
