package auth_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func usersFile(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "users")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func hash(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	require.NoError(t, err)
	return string(h)
}

// counting returns a Compare that counts calls and records the cost of the
// hashes it was given.
func counting() (func(h, pw []byte) error, *atomic.Int32, *atomic.Int32) {
	var n, lastCost atomic.Int32
	return func(h, pw []byte) error {
		n.Add(1)
		c, _ := bcrypt.Cost(h)
		lastCost.Store(int32(c))
		return bcrypt.CompareHashAndPassword(h, pw)
	}, &n, &lastCost
}

func TestParseAndAuthenticate(t *testing.T) {
	p := usersFile(t, "# comment\n\n  alice:"+hash(t, "pw1")+"\nbob:"+hash(t, "pw2")+":bobdir\r\n")
	u, err := auth.LoadUsersFile(p, auth.Config{})
	require.NoError(t, err)
	home, err := u.Authenticate("alice", "pw1")
	require.NoError(t, err)
	assert.Equal(t, "", home)
	home, err = u.Authenticate("bob", "pw2")
	require.NoError(t, err)
	assert.Equal(t, "bobdir", home)
	_, err = u.Authenticate("bob", "pw1")
	assert.ErrorIs(t, err, auth.ErrBadCredentials)
	_, err = u.Authenticate("carol", "pw1")
	assert.ErrorIs(t, err, auth.ErrBadCredentials, "unknown user: the same error")
	_, err = u.Authenticate("", "")
	assert.ErrorIs(t, err, auth.ErrBadCredentials)
	assert.NotContains(t, err.Error(), "pw1")

	empty, err := auth.LoadUsersFile(usersFile(t, "# nobody yet\n"), auth.Config{})
	require.NoError(t, err, "an empty file has no users")
	_, err = empty.Authenticate("alice", "pw1")
	assert.ErrorIs(t, err, auth.ErrBadCredentials)
	_, err = auth.LoadUsersFile(filepath.Join(t.TempDir(), "missing"), auth.Config{})
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestMalformedLinesNameTheLine(t *testing.T) {
	good := "ok:" + hash(t, "x") + "\n"
	cases := []struct{ content, want string }{
		{"alice\n", `users:1: want name:bcrypt-hash`},
		{"# ok\n" + good + "bob:plaintextpw\n", `users:3: user "bob": not a bcrypt hash`},
		{"\n:" + hash(t, "x") + "\n", `users:2: want name:bcrypt-hash`},
		{good + good, `users:2: user "ok" listed twice`},
	}
	for _, c := range cases {
		_, err := auth.LoadUsersFile(usersFile(t, c.content), auth.Config{})
		require.Error(t, err, c.content)
		assert.Contains(t, err.Error(), c.want)
		assert.NotContains(t, err.Error(), "plaintextpw", "never quote a hash field")
	}
	_, err := auth.LoadUsersFile(usersFile(t, "a\n"+good+"b\n"), auth.Config{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "users:1:")
	assert.Contains(t, err.Error(), "users:3:", "every bad line is reported")
}

// An unknown user costs one comparison against a hash of the users' own
// cost, exactly like a wrong password.
func TestUnknownUserCostsLikeAWrongPassword(t *testing.T) {
	cmp, n, cost := counting()
	h5, err := bcrypt.GenerateFromPassword([]byte("pw"), 5)
	require.NoError(t, err)
	u, err := auth.LoadUsersFile(usersFile(t, "a:"+hash(t, "pw")+"\nb:"+string(h5)+"\n"), auth.Config{Compare: cmp})
	require.NoError(t, err)
	_, err = u.Authenticate("b", "wrong")
	require.ErrorIs(t, err, auth.ErrBadCredentials)
	assert.Equal(t, int32(1), n.Load())
	assert.Equal(t, int32(5), cost.Load())
	_, err = u.Authenticate("nobody", "wrong")
	require.ErrorIs(t, err, auth.ErrBadCredentials)
	assert.Equal(t, int32(2), n.Load(), "one comparison for an unknown user")
	assert.Equal(t, int32(5), cost.Load(), "at the highest cost in the file")
	_, _ = u.Authenticate("nobody", "wrong")
	assert.Equal(t, int32(3), n.Load(), "failures are never cached")
}

func TestCacheSkipsBcryptAndIsBounded(t *testing.T) {
	cmp, compares, _ := counting()
	content := ""
	for _, n := range []string{"u1", "u2", "u3"} {
		content += n + ":" + hash(t, "pw") + "\n"
	}
	p := usersFile(t, content)
	u, err := auth.LoadUsersFile(p, auth.Config{CacheSize: 2, Compare: cmp})
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		_, err := u.Authenticate("u1", "pw")
		require.NoError(t, err)
	}
	assert.Equal(t, int32(1), compares.Load(), "repeated logins hit the cache")
	_, err = u.Authenticate("u1", "wrong")
	assert.ErrorIs(t, err, auth.ErrBadCredentials, "a different password is not a cache hit")
	_, err = u.Authenticate("u2", "pw")
	require.NoError(t, err)
	_, err = u.Authenticate("u1", "pw")
	require.NoError(t, err, "u1 is the most recent now")
	_, err = u.Authenticate("u3", "pw")
	require.NoError(t, err)
	assert.Equal(t, 2, u.CacheLen(), "bounded")
	before := compares.Load()
	_, _ = u.Authenticate("u1", "pw")
	assert.Equal(t, before, compares.Load(), "u1 was kept (least recently used was u2)")
	_, _ = u.Authenticate("u2", "pw")
	assert.Equal(t, before+1, compares.Load(), "u2 was evicted")

	// Reload drops the cache: a changed password stops working at once.
	require.NoError(t, os.WriteFile(p, []byte("u1:"+hash(t, "new")+"\n"), 0o600))
	require.NoError(t, u.Reload())
	assert.Zero(t, u.CacheLen(), "reload drops the cache")
	_, err = u.Authenticate("u1", "pw")
	assert.ErrorIs(t, err, auth.ErrBadCredentials)
	_, err = u.Authenticate("u2", "pw")
	assert.ErrorIs(t, err, auth.ErrBadCredentials, "removed users are gone")
	_, err = u.Authenticate("u1", "new")
	assert.NoError(t, err)

	require.NoError(t, os.WriteFile(p, []byte("broken\n"), 0o600))
	assert.Error(t, u.Reload())
	_, err = u.Authenticate("u1", "new")
	assert.NoError(t, err, "a failed reload keeps the previous users")

	off, err := auth.LoadUsersFile(usersFile(t, content), auth.Config{CacheSize: -1, Compare: cmp})
	require.NoError(t, err)
	before = compares.Load()
	_, _ = off.Authenticate("u1", "pw")
	_, _ = off.Authenticate("u1", "pw")
	assert.Equal(t, before+2, compares.Load(), "a negative size disables the cache")
	assert.Zero(t, off.CacheLen())
}

func TestConcurrentAuthenticate(t *testing.T) {
	u, err := auth.LoadUsersFile(usersFile(t, "a:"+hash(t, "pw")+"\n"), auth.Config{CacheSize: 4})
	require.NoError(t, err)
	var wg sync.WaitGroup
	var failures atomic.Int32
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := u.Authenticate("a", "pw"); err != nil {
					failures.Add(1)
				}
				if _, err := u.Authenticate("a", fmt.Sprint("bad", i)); err == nil {
					failures.Add(1)
				}
				if i == 10 && g == 0 {
					if err := u.Reload(); err != nil {
						failures.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, failures.Load())
}

func TestSetPasswordKeepsOtherLines(t *testing.T) {
	p := usersFile(t, "# team\n\nbob:"+hash(t, "b")+":bobhome\n# bob:old comment\n")
	require.NoError(t, os.Chmod(p, 0o644))
	require.NoError(t, auth.SetPassword(p, "alice", "a", bcrypt.MinCost))
	const secret = "never-stored-in-clear" // no bcrypt hash can contain '-'
	require.NoError(t, auth.SetPassword(p, "bob", secret, bcrypt.MinCost))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	require.Len(t, lines, 6, string(b))
	assert.Equal(t, "# team", lines[0])
	assert.Equal(t, "", lines[1], "blank lines kept")
	assert.True(t, strings.HasPrefix(lines[2], "bob:$2"))
	assert.True(t, strings.HasSuffix(lines[2], ":bobhome"), "home kept")
	assert.Equal(t, "# bob:old comment", lines[3], "comments are not users")
	assert.True(t, strings.HasPrefix(lines[4], "alice:$2"))
	assert.Equal(t, "", lines[5], "ends with a newline")
	assert.NotContains(t, string(b), secret, "only the hash is written")
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "the mode is kept")
	entries, err := os.ReadDir(filepath.Dir(p))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")

	u, err := auth.LoadUsersFile(p, auth.Config{})
	require.NoError(t, err)
	home, err := u.Authenticate("bob", secret)
	assert.NoError(t, err)
	assert.Equal(t, "bobhome", home)
	_, err = u.Authenticate("bob", "b")
	assert.ErrorIs(t, err, auth.ErrBadCredentials)
	_, err = u.Authenticate("alice", "a")
	assert.NoError(t, err)

	for _, bad := range []string{"", "bad:name", "#x", "a b", "a\nb"} {
		assert.Error(t, auth.SetPassword(p, bad, "x", bcrypt.MinCost), "%q", bad)
	}
	assert.Error(t, auth.SetPassword(p, "carol", "", bcrypt.MinCost), "empty password")
}

func TestSetPasswordCreatesTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new-users")
	require.NoError(t, auth.SetPassword(p, "alice", "secret", bcrypt.MinCost))
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Regexp(t, `^alice:\$2a\$04\$[./A-Za-z0-9]{53}\n$`, string(b))
	u, err := auth.LoadUsersFile(p, auth.Config{})
	require.NoError(t, err)
	_, err = u.Authenticate("alice", "secret")
	assert.NoError(t, err)
}

// BenchmarkAuthenticate compares a cached login with a full bcrypt
// verification (the reference) at the default cost.
func BenchmarkAuthenticate(b *testing.B) {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(b.TempDir(), "users")
	if err := os.WriteFile(p, []byte("u:"+string(h)+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		size int
	}{{"cached", 0}, {"reference-uncached", -1}} {
		b.Run(c.name, func(b *testing.B) {
			u, err := auth.LoadUsersFile(p, auth.Config{CacheSize: c.size})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := u.Authenticate("u", "pw"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestAuthenticateCachedNeverBlocksNorGuesses(t *testing.T) {
	cmp, compares, _ := counting()
	p := usersFile(t, "u1:"+hash(t, "pw")+":home1\n")
	u, err := auth.LoadUsersFile(p, auth.Config{Compare: cmp})
	require.NoError(t, err)
	var _ auth.CachedAuthenticator = u
	_, ok := u.AuthenticateCached("u1", "pw")
	assert.False(t, ok, "not verified yet: ask Authenticate")
	assert.Zero(t, compares.Load(), "no bcrypt on the cached path")
	home, err := u.Authenticate("u1", "pw")
	require.NoError(t, err)
	got, ok := u.AuthenticateCached("u1", "pw")
	assert.True(t, ok)
	assert.Equal(t, home, got)
	_, ok = u.AuthenticateCached("u1", "other")
	assert.False(t, ok, "another password is unknown, not wrong")
	_, ok = u.AuthenticateCached("nobody", "pw")
	assert.False(t, ok)
	assert.Equal(t, int32(1), compares.Load())
	require.NoError(t, os.WriteFile(p, []byte("u1:"+hash(t, "new")+"\n"), 0o600))
	require.NoError(t, u.Reload())
	_, ok = u.AuthenticateCached("u1", "pw")
	assert.False(t, ok, "reload forgets: an old password never comes back through the cache")
}

func TestUserNamesMustNameADirectory(t *testing.T) {
	for _, bad := range []string{"", ".", "..", "a/b", `a\b`, "a b", "a:b", "#a", "a\x00", "a\tb"} {
		assert.False(t, auth.ValidName(bad), "%q", bad)
	}
	for _, good := range []string{"alice", "bob.smith", "user-1", "ümlaut", "a..b"} {
		assert.True(t, auth.ValidName(good), "%q", good)
	}
	p := filepath.Join(t.TempDir(), "users")
	require.NoError(t, os.WriteFile(p, []byte("../x:$2a$04$abcdefghijklmnopqrstuuAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"), 0o600))
	_, err := auth.LoadUsersFile(p, auth.Config{})
	assert.ErrorContains(t, err, "is not allowed")
}

func TestSetHome(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users")
	require.NoError(t, auth.SetPassword(p, "alice", "a", bcrypt.MinCost))
	require.NoError(t, auth.SetPassword(p, "bob", "b", bcrypt.MinCost))
	require.NoError(t, auth.SetHome(p, "alice", "/"))
	require.NoError(t, auth.SetHome(p, "bob", "projects/bob"))
	u, err := auth.LoadUsersFile(p, auth.Config{})
	require.NoError(t, err)
	home, err := u.Authenticate("alice", "a")
	require.NoError(t, err)
	assert.Equal(t, "/", home)
	home, err = u.Authenticate("bob", "b")
	require.NoError(t, err)
	assert.Equal(t, "projects/bob", home)
	require.NoError(t, auth.SetPassword(p, "bob", "c", bcrypt.MinCost))
	require.NoError(t, u.Reload())
	home, err = u.Authenticate("bob", "c")
	require.NoError(t, err)
	assert.Equal(t, "projects/bob", home, "a new password keeps the home")
	assert.Error(t, auth.SetHome(p, "nobody", "/"))
	assert.Error(t, auth.SetHome(p, "bob", "a:b"))
}

func TestLimitsFieldsAreReadAndWrittenBack(t *testing.T) {
	h := hash(t, "pw")
	p := usersFile(t, "old:"+h+":oldhome\n"+
		"lim:"+h+":quota=10MiB:rate-down=2MiB:max-sessions=2\n"+
		"both:"+h+":dir:perm=elr:quota-files=5:rate-up=512KiB\n"+
		"empty:"+h+"::quota=1048577\n")
	u, err := auth.LoadUsersFile(p, auth.Config{})
	require.NoError(t, err)
	home, err := u.Authenticate("old", "pw")
	require.NoError(t, err)
	assert.Equal(t, "oldhome", home)
	l, ok := u.UserLimits("old")
	require.True(t, ok)
	assert.Equal(t, auth.Limits{}, l, "an old line has no limits")
	l, _ = u.UserLimits("lim")
	assert.Equal(t, auth.Limits{Quota: 10 << 20, RateDown: 2 << 20, MaxSessions: 2}, l)
	home, err = u.Authenticate("lim", "pw")
	require.NoError(t, err)
	assert.Equal(t, "", home, "a key=value third field is a limit, not a home")
	l, _ = u.UserLimits("both")
	assert.Equal(t, auth.Limits{Perm: "elr", QuotaFiles: 5, RateUp: 512 << 10}, l)
	assert.True(t, l.ReadOnly())
	l, _ = u.UserLimits("empty")
	assert.Equal(t, int64(1048577), l.Quota)

	text, err := auth.ReadUsersFileText(p)
	require.NoError(t, err)
	got := text.Users()
	require.Len(t, got, 4)
	assert.Equal(t, "lim:"+h+":quota=10MiB:max-sessions=2:rate-down=2MiB", got[1].Line())
	assert.Equal(t, "both:"+h+":dir:perm=elr:quota-files=5:rate-up=512KiB", got[2].Line())
	assert.Equal(t, "old:"+h+":oldhome", got[0].Line(), "an old line is written as it was")
}

func TestBadLimitsBOMAndReservedNamesNameTheLine(t *testing.T) {
	h := hash(t, "pw")
	cases := []struct{ content, want string }{
		{"\ufeffalice:" + h + "\n", "users:1: the file starts with a byte order mark"},
		{"a:" + h + "\nb:" + h + ":quota=lots\n", `users:2: user "b": quota: "lots"`},
		{"a:" + h + ":home:speed=3\n", `users:1: user "a": unknown field "speed"`},
		{"a:" + h + ":home:perm=elrX\n", `unknown permission letter 'X'`},
		{"# x\nanonymous:" + h + "\n", `users:2: user name "anonymous" is reserved`},
		{"FTP:" + h + "\n", `users:1: user name "FTP" is reserved`},
		{"a:" + h + ":h:quota=1K:quota=2K\n", `quota given twice`},
	}
	for _, c := range cases {
		_, err := auth.LoadUsersFile(usersFile(t, c.content), auth.Config{})
		require.Error(t, err, c.content)
		assert.Contains(t, err.Error(), c.want)
		_, err = auth.ReadUsersFileText(usersFile(t, c.content))
		assert.ErrorContains(t, err, c.want, "editing refuses it too")
	}
	p := filepath.Join(t.TempDir(), "users")
	assert.ErrorContains(t, auth.SetPassword(p, "ftp", "x", bcrypt.MinCost), "reserved")
	assert.ErrorContains(t, auth.SetPassword(p, "Anonymous", "x", bcrypt.MinCost), "reserved")
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "1KiB": 1024, "2MiB": 2 << 20, "3GiB": 3 << 30,
		"1TiB": 1 << 40, "5M": 5 << 20, "7k": 7 << 10, "9B": 9, " 4 MiB": 4 << 20} {
		got, err := auth.ParseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "-1", "1.5MiB", "MiB", "1XB", "99999999999TiB"} {
		_, err := auth.ParseSize(bad)
		assert.Error(t, err, bad)
	}
	r, err := auth.ParseRate("2MiB/s")
	require.NoError(t, err)
	assert.Equal(t, int64(2<<20), r)
	for _, n := range []int64{1, 1023, 1024, 1536, 2 << 20, 5 << 30, 1<<40 + 1} {
		back, err := auth.ParseSize(auth.FormatSize(n))
		require.NoError(t, err)
		assert.Equal(t, n, back)
	}
}

func TestWritingKeepsTheFilesMode(t *testing.T) {
	p := usersFile(t, "a:"+hash(t, "pw")+"\n")
	require.NoError(t, os.Chmod(p, 0o640))
	text, err := auth.ReadUsersFileText(p)
	require.NoError(t, err)
	require.NoError(t, text.Put(auth.User{Name: "b", Hash: hash(t, "x"), Limits: auth.Limits{Quota: 1 << 20}}))
	require.True(t, text.Delete("a"))
	require.NoError(t, text.Write())
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Regexp(t, `^b:\$2a\$04\$[^:]+:quota=1MiB\n$`, string(b))
}
