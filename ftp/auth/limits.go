package auth

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits are what a user may do and use beyond logging in, as the users
// file gives them in optional key=value fields after the home
// ("alice:HASH:/alice:quota=1GiB:perm=elr"). The zero value is no limit
// at all (every permission, no quota, no session cap, no rate).
type Limits struct {
	// Perm is the user's permissions in pyftpdlib's letters (see
	// PermLetters); "" means all of them.
	Perm string
	// Quota caps the bytes of the user's files under its home; 0: none.
	Quota int64
	// QuotaFiles caps the number of the user's files; 0: none.
	QuotaFiles int64
	// MaxSessions caps the user's sessions at once on this server; 0: none.
	MaxSessions int
	// RateDown and RateUp cap each session's downloads and uploads, in
	// bytes per second; 0: the server's default (its --rate-down and
	// --rate-up), which may be none.
	RateDown, RateUp int64
}

// PermLetters are pyftpdlib's permission letters, every one a user
// without a perm field has: read "e" (change directory), "l" (list), "r"
// (download); write "a" (append), "d" (delete a file or directory), "f"
// (rename), "m" (make a directory), "w" (store), "M" (change mode), "T"
// (change modification time).
const PermLetters = "elradfmwMT"

// ReadOnlyPerm is the permission string of --read-only: read, never write.
const ReadOnlyPerm = "elr"

// Allows reports whether the limits grant the permission letter c.
func (l Limits) Allows(c byte) bool {
	return l.Perm == "" || strings.IndexByte(l.Perm, c) >= 0
}

// ReadOnly reports whether the user may change nothing.
func (l Limits) ReadOnly() bool {
	for _, c := range []byte("adfmwMT") {
		if l.Allows(c) {
			return false
		}
	}
	return true
}

// limitKeys are the key=value fields of a users file line: how each is
// read into Limits and written back. The order is the order written.
var limitKeys = []struct {
	key    string
	parse  func(l *Limits, v string) error
	format func(l Limits) string // "" leaves the field out
}{
	{"perm", func(l *Limits, v string) error {
		p, err := normalizePerm(v)
		l.Perm = p
		return err
	}, func(l Limits) string { return l.Perm }},
	{"quota", func(l *Limits, v string) (err error) { l.Quota, err = ParseSize(v); return err },
		func(l Limits) string { return FormatSize(l.Quota) }},
	{"quota-files", func(l *Limits, v string) (err error) { l.QuotaFiles, err = parseCount(v); return err },
		func(l Limits) string { return formatCount(l.QuotaFiles) }},
	{"max-sessions", func(l *Limits, v string) error {
		n, err := parseCount(v)
		if n > math.MaxInt32 {
			return fmt.Errorf("%q is too large", v)
		}
		l.MaxSessions = int(n)
		return err
	}, func(l Limits) string { return formatCount(int64(l.MaxSessions)) }},
	{"rate-down", func(l *Limits, v string) (err error) { l.RateDown, err = ParseRate(v); return err },
		func(l Limits) string { return FormatSize(l.RateDown) }},
	{"rate-up", func(l *Limits, v string) (err error) { l.RateUp, err = ParseRate(v); return err },
		func(l Limits) string { return FormatSize(l.RateUp) }},
}

// isLimitField reports whether a field is one of limitKeys' key=value.
func isLimitField(f string) bool {
	k, _, ok := strings.Cut(f, "=")
	if !ok {
		return false
	}
	for _, lk := range limitKeys {
		if lk.key == k {
			return true
		}
	}
	return false
}

// parseLimits reads key=value fields.
func parseLimits(fields []string) (Limits, error) {
	var l Limits
	seen := map[string]bool{}
	for _, f := range fields {
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return l, fmt.Errorf("field %q: want key=value", f)
		}
		found := false
		for _, lk := range limitKeys {
			if lk.key != k {
				continue
			}
			if seen[k] {
				return l, fmt.Errorf("%s given twice", k)
			}
			seen[k], found = true, true
			if err := lk.parse(&l, v); err != nil {
				return l, fmt.Errorf("%s: %w", k, err)
			}
		}
		if !found {
			return l, fmt.Errorf("unknown field %q (known: perm, quota, quota-files, max-sessions, rate-down, rate-up)", k)
		}
	}
	return l, nil
}

// fields writes l's key=value fields, leaving out those at no limit.
func (l Limits) fields() []string {
	var out []string
	for _, lk := range limitKeys {
		if v := lk.format(l); v != "" {
			out = append(out, lk.key+"="+v)
		}
	}
	return out
}

// String describes the limits for `ftpd user list`: "-" when there are
// none.
func (l Limits) String() string {
	var parts []string
	if l.Perm != "" {
		parts = append(parts, PermSummary(l.Perm))
	}
	for _, f := range l.fields() {
		if !strings.HasPrefix(f, "perm=") {
			parts = append(parts, f)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// normalizePerm checks the letters and writes them in PermLetters' order;
// all of them is "" (the default).
func normalizePerm(v string) (string, error) {
	for i := 0; i < len(v); i++ {
		if strings.IndexByte(PermLetters, v[i]) < 0 {
			return "", fmt.Errorf("%q: unknown permission letter %q (known: %s)", v, v[i], PermLetters)
		}
	}
	if v == "" {
		return "", errors.New("empty (give at least e, or leave the field out for every permission)")
	}
	var b strings.Builder
	for i := 0; i < len(PermLetters); i++ {
		if strings.IndexByte(v, PermLetters[i]) >= 0 {
			b.WriteByte(PermLetters[i])
		}
	}
	if b.Len() == len(PermLetters) {
		return "", nil
	}
	return b.String(), nil
}

// NormalizePerm is normalizePerm for the command line: the letters in
// PermLetters' order, "" for all of them.
func NormalizePerm(v string) (string, error) { return normalizePerm(v) }

// sizeUnits are the suffixes ParseSize accepts, longest first.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"k", 1 << 10},
	{"B", 1}, {"", 1},
}

// ParseSize reads a byte count: digits with an optional KiB, MiB, GiB or
// TiB suffix (K, M, G, T too; all powers of 1024), "0" for none.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok || num == "" {
			continue
		}
		num = strings.TrimSpace(num)
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < 0 {
			break
		}
		if n > math.MaxInt64/u.mult {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return n * u.mult, nil
	}
	return 0, fmt.Errorf("%q: want bytes, e.g. 500MiB, 2GiB or 1048576", s)
}

// ParseRate is ParseSize for bytes per second: "2MiB", "2MiB/s".
func ParseRate(s string) (int64, error) {
	n, err := ParseSize(strings.TrimSuffix(strings.TrimSpace(s), "/s"))
	if err != nil {
		return 0, fmt.Errorf("%q: want bytes per second, e.g. 2MiB or 512KiB/s", s)
	}
	return n, nil
}

// FormatSize writes n with the largest binary suffix that divides it
// exactly ("" for 0), so that ParseSize reads it back unchanged.
func FormatSize(n int64) string {
	if n == 0 {
		return ""
	}
	for _, u := range sizeUnits[:4] {
		if n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func parseCount(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q: want a number, 0 for none", s)
	}
	return n, nil
}

func formatCount(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// permNames name the letters for PermSummary.
var permNames = []struct {
	letter byte
	name   string
}{
	{'e', "cd"}, {'l', "list"}, {'r', "download"}, {'a', "append"}, {'d', "delete"},
	{'f', "rename"}, {'m', "mkdir"}, {'w', "store"}, {'M', "chmod"}, {'T', "set times"},
}

// PermSummary says in words what perm withholds: "all", "read-only", or
// "no delete, rename (elramwMT)".
func PermSummary(perm string) string {
	l := Limits{Perm: perm}
	switch {
	case perm == "":
		return "all"
	case l.ReadOnly() && perm == ReadOnlyPerm:
		return "read-only"
	}
	var missing []string
	for _, p := range permNames {
		if !l.Allows(p.letter) {
			missing = append(missing, p.name)
		}
	}
	return "no " + strings.Join(missing, ", ") + " (" + perm + ")"
}
