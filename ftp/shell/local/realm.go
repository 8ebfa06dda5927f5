package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// RealmConfig says where a Realm's users live.
type RealmConfig struct {
	// Root holds the users' homes (required). A login whose Home is ""
	// gets Root/<user>, "/" the whole Root, any other Home the directory
	// Root/Home; each is created (mode 0755) on its first login. So a
	// user is confined to a directory of its own unless the user store
	// says otherwise.
	Root string
	// AnonymousRoot is the directory anonymous logins see, read-only
	// (created if missing); "" refuses anonymous logins (ErrNoAnonymous).
	AnonymousRoot string
	// AnonymousAnyMode lets anonymous users read files that are not
	// readable by everyone; by default they may read only mode o+r files
	// (vsftpd's anon_world_readable_only, on there by default too).
	AnonymousAnyMode bool
}

// Realm is the local shell.Realm (Twisted's FTPRealm): a user's shell is
// a Local on its home (see RealmConfig), shared by every session of that
// home; an anonymous login gets the anonymous root's Local behind
// shell.ReadOnly. It is a shell.ReadyRealm: a home opened before is
// handed out without blocking, which keeps repeated logins on the event
// loop. Safe for concurrent use.
type Realm struct {
	root string
	dir  *os.Root // Root, open: homes are made and opened through it
	// sweepers are the shells whose start-up sweeps SweepResult waits for.
	sweepers []*Local

	mu     sync.Mutex
	shells map[string]*Local // by home, as homeKey cleans it
	anon   shell.Shell       // nil: no anonymous logins
	anonL  *Local
	closed bool
}

var _ shell.ReadyRealm = (*Realm)(nil)

var (
	// ErrRealmClosed is the failure of Shell after Close.
	ErrRealmClosed = errors.New("local: realm closed")
	// ErrNoAnonymous is the failure of an anonymous login when the realm
	// has no anonymous root.
	ErrNoAnonymous = errors.New("local: no anonymous access")
)

// NewRealm checks cfg, creates and opens the anonymous root if there is
// one, and returns the realm; homes are opened on their first login.
func NewRealm(cfg RealmConfig) (*Realm, error) {
	if cfg.Root == "" {
		return nil, errors.New("local: realm needs a root")
	}
	abs, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("local: realm root: %w", err)
	}
	dir, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("local: realm root: %w", err)
	}
	// The root's own shell (users whose home is "/") is opened now: its
	// start-up sweep of stale uploads covers every home under it.
	whole, err := dir.OpenRoot(".")
	if err != nil {
		dir.Close()
		return nil, fmt.Errorf("local: realm root: %w", err)
	}
	top := fromRoot(whole, Options{})
	r := &Realm{root: abs, dir: dir, shells: map[string]*Local{"": top}, sweepers: []*Local{top}}
	if cfg.AnonymousRoot != "" {
		dir, err := filepath.Abs(cfg.AnonymousRoot)
		if err != nil {
			return nil, fmt.Errorf("local: anonymous root: %w", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			r.Close()
			return nil, fmt.Errorf("local: anonymous root: %w", err)
		}
		inside := strings.HasPrefix(dir+string(filepath.Separator), abs+string(filepath.Separator))
		l, err := Open(dir, Options{WorldReadableOnly: !cfg.AnonymousAnyMode, NoSweep: inside})
		if err != nil {
			r.Close()
			return nil, err
		}
		r.anonL, r.anon = l, shell.ReadOnly(l)
		if !inside {
			r.sweepers = append(r.sweepers, l)
		}
	}
	return r, nil
}

// SweepResult waits for the start-up sweeps of stale uploads NewRealm
// started (the root's, and the anonymous root's when it lies outside the
// root) and returns how many files they removed; whole is false when
// Close stopped one before the end of its tree. It blocks until then:
// call it on a goroutine of its own, never on an event loop.
func (r *Realm) SweepResult() (removed int, whole bool) {
	whole = true
	for _, l := range r.sweepers {
		n, w := l.SweepResult()
		removed, whole = removed+n, whole && w
	}
	return removed, whole
}

// Root is the realm's directory, absolute.
func (r *Realm) Root() string { return r.root }

// homeKey is the directory of a login relative to the root, as the
// shells map keys it: clean, never above the root ("" is the root). ok is
// false for a login without a home whose user name cannot name one (".",
// "..", a slash: it must never come out as the root).
func homeKey(l shell.Login) (key string, ok bool) {
	home := l.Home
	if home == "" {
		if l.User == "" || l.User == "." || l.User == ".." || strings.ContainsAny(l.User, "/\\\x00") {
			return "", false
		}
		home = l.User // confined to a directory of its own
	}
	return strings.Trim(filepath.ToSlash(filepath.Clean("/"+home)), "/"), true
}

// ReadyShell returns what Shell would, if no directory has to be opened.
// It never blocks beyond a mutex.
func (r *Realm) ReadyShell(l shell.Login) (shell.Shell, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, false
	}
	if l.Anonymous {
		return r.anon, r.anon != nil
	}
	key, ok := homeKey(l)
	if !ok {
		return nil, false
	}
	s, ok := r.shells[key]
	return s, ok
}

// Shell returns the login's shell, opening (and creating) its home the
// first time. It blocks on the filesystem: call it on the worker pool.
func (r *Realm) Shell(l shell.Login) (shell.Shell, error) {
	if s, ok := r.ReadyShell(l); ok {
		return s, nil
	}
	if r.isClosed() {
		return nil, ErrRealmClosed
	}
	if l.Anonymous {
		return nil, ErrNoAnonymous
	}
	home, ok := homeKey(l)
	if !ok {
		return nil, fmt.Errorf("local: user name %q cannot name a home", l.User)
	}
	// Open outside the lock: ReadyShell runs on event loops and must not
	// wait behind a filesystem call. Through the realm's open root: a
	// home that is (or goes through) a symlink pointing out of the root
	// is refused, and the parents of the root need not be searchable by
	// a server that dropped its privileges.
	name := home
	if name == "" {
		name = "."
	}
	if err := r.dir.MkdirAll(name, 0o755); err != nil {
		return nil, fmt.Errorf("local: home %s: %w", home, err)
	}
	sub, err := r.dir.OpenRoot(name)
	if err != nil {
		return nil, fmt.Errorf("local: home %s: %w", home, err)
	}
	s := fromRoot(sub, Options{NoSweep: true}) // the root's sweep covers it
	r.mu.Lock()
	defer r.mu.Unlock()
	switch prev, ok := r.shells[home]; {
	case r.closed:
		s.Close()
		return nil, ErrRealmClosed
	case ok: // another login opened it meanwhile
		s.Close()
		return prev, nil
	}
	r.shells[home] = s
	return s, nil
}

func (r *Realm) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Close closes every shell the realm opened; later logins fail.
func (r *Realm) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, s := range r.shells {
		errs = append(errs, s.Close())
	}
	if r.anonL != nil {
		errs = append(errs, r.anonL.Close())
	}
	if !r.closed {
		errs = append(errs, r.dir.Close())
	}
	r.shells, r.anon, r.anonL, r.closed = nil, nil, nil, true
	return errors.Join(errs...)
}
