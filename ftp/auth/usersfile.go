package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// User is one line of a users file:
//
//	name:bcrypt-hash[:home][:key=value]...
//
// Home may be left empty ("name:hash::quota=1GiB") or out when limits
// follow ("name:hash:quota=1GiB": a third field that is a known key=value
// is a limit, not a home). Files of the older "name:hash[:home]" form
// read unchanged.
type User struct {
	Name   string
	Hash   string
	Home   string
	Limits Limits
}

// reservedNames are the anonymous logins: a named user of either name
// could never log in while anonymous access is on.
var reservedNames = []string{"anonymous", "ftp"}

// Reserved reports whether name is an anonymous login's name (any case).
func Reserved(name string) bool {
	for _, r := range reservedNames {
		if strings.EqualFold(name, r) {
			return true
		}
	}
	return false
}

// parseUser reads one non-comment line. Errors never quote the hash
// field: a mistaken plaintext password there must not reach a log.
func parseUser(line string) (User, error) {
	name, rest, ok := strings.Cut(line, ":")
	if !ok || name == "" {
		return User{}, errors.New("want name:bcrypt-hash[:home][:key=value...]")
	}
	u := User{Name: name}
	fields := strings.Split(rest, ":")
	u.Hash = fields[0]
	if !ValidName(name) {
		return u, fmt.Errorf("user name %q is not allowed (it must be usable as a directory name)", name)
	}
	if Reserved(name) {
		return u, fmt.Errorf("user name %q is reserved for anonymous logins", name)
	}
	if _, err := bcryptCost(u.Hash); err != nil {
		return u, fmt.Errorf("user %q: not a bcrypt hash", name)
	}
	fields = fields[1:]
	if len(fields) > 0 && !isLimitField(fields[0]) {
		u.Home, fields = fields[0], fields[1:]
	}
	l, err := parseLimits(fields)
	if err != nil {
		return u, fmt.Errorf("user %q: %w", name, err)
	}
	u.Limits = l
	return u, nil
}

// Line is u as a users file line (no newline).
func (u User) Line() string {
	parts := []string{u.Name, u.Hash}
	if u.Home != "" {
		parts = append(parts, u.Home)
	}
	return strings.Join(append(parts, u.Limits.fields()...), ":")
}

// checkHome refuses homes that cannot be written in a field.
func checkHome(home string) error {
	if strings.ContainsAny(home, ":\n\r") || isLimitField(home) {
		return fmt.Errorf("invalid home %q (no ':' or line breaks, and not key=value)", home)
	}
	return nil
}

// UsersFileText is a users file as text lines, for editing: comments,
// blank lines and the order of users are kept.
type UsersFileText struct {
	path  string
	lines []string
	users map[string]int // index in lines
}

// ReadUsersFileText reads path for editing; a missing file is empty. A
// byte order mark or a bad line is an error naming the line.
func ReadUsersFileText(path string) (*UsersFileText, error) {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("auth: reading %s: %w", path, err)
	}
	t := &UsersFileText{path: path, users: map[string]int{}}
	if len(b) > 0 {
		t.lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	if _, err := t.parse(); err != nil {
		return nil, err
	}
	return t, nil
}

// parse checks every line and indexes the users; every bad line is
// reported with its number.
func (t *UsersFileText) parse() ([]User, error) {
	var errs []error
	var out []User
	for i, raw := range t.lines {
		if i == 0 && strings.HasPrefix(raw, "\ufeff") {
			errs = append(errs, fmt.Errorf("auth: %s:1: the file starts with a byte order mark (save it as plain UTF-8 without BOM)", t.path))
			continue
		}
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		u, err := parseUser(line)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("auth: %s:%d: %w", t.path, i+1, err))
		case t.has(u.Name):
			errs = append(errs, fmt.Errorf("auth: %s:%d: user %q listed twice", t.path, i+1, u.Name))
		default:
			t.users[u.Name] = i
			out = append(out, u)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func (t *UsersFileText) has(name string) bool { _, ok := t.users[name]; return ok }

// Users returns the users in file order.
func (t *UsersFileText) Users() []User {
	out := make([]User, 0, len(t.users))
	for _, raw := range t.lines {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if u, err := parseUser(line); err == nil {
			out = append(out, u)
		}
	}
	return out
}

// Lookup returns the user name, if listed.
func (t *UsersFileText) Lookup(name string) (User, bool) {
	i, ok := t.users[name]
	if !ok {
		return User{}, false
	}
	u, err := parseUser(strings.TrimSpace(t.lines[i]))
	return u, err == nil
}

// Put replaces u's line, or appends one.
func (t *UsersFileText) Put(u User) error {
	if !ValidName(u.Name) {
		return fmt.Errorf("auth: invalid user name %q", u.Name)
	}
	if Reserved(u.Name) {
		return fmt.Errorf("auth: user name %q is reserved for anonymous logins", u.Name)
	}
	if err := checkHome(u.Home); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if i, ok := t.users[u.Name]; ok {
		t.lines[i] = u.Line()
		return nil
	}
	t.users[u.Name] = len(t.lines)
	t.lines = append(t.lines, u.Line())
	return nil
}

// Delete removes name's line; false if it was not listed.
func (t *UsersFileText) Delete(name string) bool {
	i, ok := t.users[name]
	if !ok {
		return false
	}
	t.lines = append(t.lines[:i], t.lines[i+1:]...)
	delete(t.users, name)
	for n, j := range t.users {
		if j > i {
			t.users[n] = j - 1
		}
	}
	return true
}

// Write replaces the file atomically, keeping its owner and mode (a new
// file is 0600, owned by the writer).
func (t *UsersFileText) Write() error {
	text := strings.Join(t.lines, "\n")
	if len(t.lines) > 0 {
		text += "\n"
	}
	return writeAtomic(t.path, []byte(text))
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, given the old file's mode and owner (0600 and the writer
// for a new file), synced, then renamed over path. Keeping the owner
// matters when root edits the file of a server that runs as another
// user: a root-owned 0600 file would be unreadable to the server's next
// SIGHUP.
func writeAtomic(path string, data []byte) (err error) {
	mode, uid, gid := fs.FileMode(0o600), -1, -1
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".users-*")
	if err != nil {
		return fmt.Errorf("auth: writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("auth: writing %s: %w", path, err)
	}
	if uid >= 0 && (uid != os.Geteuid() || gid != os.Getegid()) {
		if err := tmp.Chown(uid, gid); err != nil {
			return fmt.Errorf("auth: keeping the owner of %s (%d:%d): %w", path, uid, gid, err)
		}
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("auth: writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("auth: writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("auth: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("auth: replacing %s: %w", path, err)
	}
	return nil
}
