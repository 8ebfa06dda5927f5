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

// Realm is the local shell.Realm (Twisted's FTPRealm): a user's shell is
// a Local on a directory under Root named by the login's home (created,
// mode 0755, on its first login), shared by every session of that home;
// an anonymous login gets the root's Local behind shell.ReadOnly. It is
// a shell.ReadyRealm: a home opened before is handed out without
// blocking, which keeps repeated logins on the event loop. Safe for
// concurrent use.
type Realm struct {
	root string

	mu     sync.Mutex
	shells map[string]*Local // by home, as homeKey cleans it
	anon   shell.Shell
	closed bool
}

var _ shell.ReadyRealm = (*Realm)(nil)

// ErrRealmClosed is the failure of Shell after Close.
var ErrRealmClosed = errors.New("local: realm closed")

// NewRealm opens root (which must exist) and its shell, used by anonymous
// logins and by users without a home.
func NewRealm(root string) (*Realm, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("local: realm root: %w", err)
	}
	l, err := New(abs)
	if err != nil {
		return nil, err
	}
	return &Realm{root: abs, shells: map[string]*Local{"": l}, anon: shell.ReadOnly(l)}, nil
}

// Root is the realm's directory, absolute.
func (r *Realm) Root() string { return r.root }

// homeKey is a home directory as the shells map keys it: clean, relative,
// never above the root.
func homeKey(home string) string {
	return strings.Trim(filepath.ToSlash(filepath.Clean("/"+home)), "/")
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
		return r.anon, true
	}
	s, ok := r.shells[homeKey(l.Home)]
	return s, ok
}

// Shell returns the login's shell, opening (and creating) its home the
// first time. It blocks on the filesystem: call it on the worker pool.
func (r *Realm) Shell(l shell.Login) (shell.Shell, error) {
	if l.Anonymous {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.closed {
			return nil, ErrRealmClosed
		}
		return r.anon, nil
	}
	home := homeKey(l.Home)
	if s, ok := r.ReadyShell(l); ok {
		return s, nil
	}
	// Open outside the lock: ReadyShell runs on event loops and must not
	// wait behind a filesystem call.
	dir := filepath.Join(r.root, filepath.FromSlash(home))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("local: home %s: %w", home, err)
	}
	s, err := open(dir, false) // the root's sweep covers the homes
	if err != nil {
		return nil, err
	}
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

// Close closes every shell the realm opened; later logins fail.
func (r *Realm) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, s := range r.shells {
		errs = append(errs, s.Close())
	}
	r.shells, r.closed = nil, true
	return errors.Join(errs...)
}
