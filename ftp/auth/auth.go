// Package auth checks FTP logins against a users file of
// "name:bcrypt-hash[:home]" lines, with a bounded cache of recent
// successful verifications so repeated logins skip bcrypt.
//
// bcrypt is slow on purpose (tens of milliseconds); Authenticate blocks and
// must run on the worker pool, never on an event loop.
package auth

import (
	"bufio"
	"bytes"
	"container/list"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// ErrBadCredentials is the single failure for an unknown user and a wrong
// password, so a client cannot tell them apart.
var ErrBadCredentials = errors.New("auth: bad credentials")

// Authenticator checks a user's password and returns the user's home
// (relative to the served root; "" means the root).
type Authenticator interface {
	Authenticate(user, password string) (home string, err error)
}

type entry struct {
	hash []byte
	home string
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

// UsersFile authenticates against a users file.
type UsersFile struct {
	path string
	cfg  Config
	salt [32]byte // per process: cache keys are useless elsewhere
	// dummy is compared against for unknown users, so they cost one bcrypt
	// like a wrong password does.
	dummy []byte

	mu    sync.Mutex
	users map[string]entry
	lru   *list.List // of cacheKey, front = most recent
	cache map[cacheKey]*list.Element
}

type cacheKey struct {
	user   string
	digest [32]byte
}

// LoadUsersFile reads path. Malformed lines are errors naming the line.
func LoadUsersFile(path string, cfg Config) (*UsersFile, error) {
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 1024
	}
	if cfg.Compare == nil {
		cfg.Compare = bcrypt.CompareHashAndPassword
	}
	u := &UsersFile{path: path, cfg: cfg}
	if _, err := rand.Read(u.salt[:]); err != nil {
		return nil, fmt.Errorf("auth: salt: %w", err)
	}
	dummy, err := bcrypt.GenerateFromPassword(u.salt[:16], bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("auth: dummy hash: %w", err)
	}
	u.dummy = dummy
	if err := u.Reload(); err != nil {
		return nil, err
	}
	return u, nil
}

// Reload re-reads the file and drops the cache.
func (u *UsersFile) Reload() error {
	b, err := os.ReadFile(u.path)
	if err != nil {
		return fmt.Errorf("auth: reading users file: %w", err)
	}
	users, err := parse(b, u.path)
	if err != nil {
		return err
	}
	u.mu.Lock()
	u.users = users
	u.lru = list.New()
	u.cache = map[cacheKey]*list.Element{}
	u.mu.Unlock()
	return nil
}

func parse(b []byte, name string) (map[string]entry, error) {
	users := map[string]entry{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) < 2 || parts[0] == "" {
			return nil, fmt.Errorf("auth: %s:%d: want name:bcrypt-hash[:home]", name, n)
		}
		if _, err := bcrypt.Cost([]byte(parts[1])); err != nil {
			return nil, fmt.Errorf("auth: %s:%d: user %q: not a bcrypt hash: %w", name, n, parts[0], err)
		}
		e := entry{hash: []byte(parts[1])}
		if len(parts) == 3 {
			e.home = parts[2]
		}
		users[parts[0]] = e
	}
	return users, sc.Err()
}

// Authenticate checks user's password. It blocks for one bcrypt unless
// the same user and password succeeded recently.
func (u *UsersFile) Authenticate(user, password string) (string, error) {
	key := cacheKey{user: user, digest: u.digest(user, password)}
	u.mu.Lock()
	e, known := u.users[user]
	if el, ok := u.cache[key]; ok && known {
		u.lru.MoveToFront(el)
		u.mu.Unlock()
		return e.home, nil
	}
	u.mu.Unlock()
	if !known {
		_ = u.cfg.Compare(u.dummy, []byte(password)) // same cost as a wrong password
		return "", ErrBadCredentials
	}
	if err := u.cfg.Compare(e.hash, []byte(password)); err != nil {
		return "", ErrBadCredentials
	}
	u.remember(key)
	return e.home, nil
}

func (u *UsersFile) digest(user, password string) [32]byte {
	h := sha256.New()
	h.Write(u.salt[:])
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

func (u *UsersFile) remember(key cacheKey) {
	if u.cfg.CacheSize < 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if el, ok := u.cache[key]; ok {
		u.lru.MoveToFront(el)
		return
	}
	u.cache[key] = u.lru.PushFront(key)
	for u.lru.Len() > u.cfg.CacheSize {
		old := u.lru.Remove(u.lru.Back()).(cacheKey)
		delete(u.cache, old)
	}
}

// CacheLen reports how many verifications are cached.
func (u *UsersFile) CacheLen() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lru.Len()
}

// SetPassword adds or updates user in the users file at path with a
// bcrypt hash of password, keeping every other line (comments included)
// and the user's home. The file is replaced atomically, mode 0600.
func SetPassword(path, user, password string, cost int) error {
	if user == "" || strings.ContainsAny(user, ":\n\r") {
		return fmt.Errorf("auth: invalid user name %q", user)
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return fmt.Errorf("auth: hashing: %w", err)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("auth: reading %s: %w", path, err)
	}
	var out []string
	found := false
	for _, line := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		if line == "" && len(old) == 0 {
			continue
		}
		name, rest, ok := strings.Cut(line, ":")
		if ok && name == user && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			home := ""
			if _, h, ok := strings.Cut(rest, ":"); ok {
				home = ":" + h
			}
			line = user + ":" + string(hash) + home
			found = true
		}
		out = append(out, line)
	}
	if !found {
		out = append(out, user+":"+string(hash))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".users-*")
	if err != nil {
		return fmt.Errorf("auth: writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(strings.Join(out, "\n") + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("auth: writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("auth: replacing %s: %w", path, err)
	}
	return nil
}

// Anonymous accepts nobody; it exists so a server with only anonymous
// access has an Authenticator.
type Anonymous struct{}

// Authenticate always fails.
func (Anonymous) Authenticate(string, string) (string, error) { return "", ErrBadCredentials }
