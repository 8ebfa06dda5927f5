package auth_test

import (
	"os"
	"path/filepath"
	"strings"
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

func TestParseAndAuthenticate(t *testing.T) {
	p := usersFile(t, "# comment\n\nalice:"+hash(t, "pw1")+"\nbob:"+hash(t, "pw2")+":bobdir\n")
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
}

func TestMalformedLinesNameTheLine(t *testing.T) {
	for _, content := range []string{"alice\n", "# ok\nbob:notahash\n", ":" + "$2a$04$x\n"} {
		_, err := auth.LoadUsersFile(usersFile(t, content), auth.Config{})
		require.Error(t, err, content)
		assert.Regexp(t, `users:\d+:`, err.Error())
	}
}

func TestCacheSkipsBcryptAndIsBounded(t *testing.T) {
	var compares atomic.Int32
	cmp := func(h, pw []byte) error { compares.Add(1); return bcrypt.CompareHashAndPassword(h, pw) }
	content := ""
	for _, n := range []string{"u1", "u2", "u3"} {
		content += n + ":" + hash(t, "pw") + "\n"
	}
	u, err := auth.LoadUsersFile(usersFile(t, content), auth.Config{CacheSize: 2, Compare: cmp})
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		_, err := u.Authenticate("u1", "pw")
		require.NoError(t, err)
	}
	assert.Equal(t, int32(1), compares.Load(), "repeated logins hit the cache")
	_, err = u.Authenticate("u1", "wrong")
	assert.ErrorIs(t, err, auth.ErrBadCredentials, "a different password is not a cache hit")
	_, _ = u.Authenticate("u2", "pw")
	_, _ = u.Authenticate("u3", "pw")
	assert.Equal(t, 2, u.CacheLen(), "bounded")
	before := compares.Load()
	_, _ = u.Authenticate("u1", "pw")
	assert.Equal(t, before+1, compares.Load(), "u1 was evicted")
	require.NoError(t, u.Reload())
	assert.Zero(t, u.CacheLen(), "reload drops the cache")
}

func TestSetPasswordKeepsOtherLines(t *testing.T) {
	p := usersFile(t, "# team\nbob:"+hash(t, "b")+":bobhome\n")
	require.NoError(t, auth.SetPassword(p, "alice", "a", bcrypt.MinCost))
	require.NoError(t, auth.SetPassword(p, "bob", "b2", bcrypt.MinCost))
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, "# team", lines[0])
	assert.True(t, strings.HasPrefix(lines[1], "bob:$2"))
	assert.True(t, strings.HasSuffix(lines[1], ":bobhome"), "home kept")
	assert.True(t, strings.HasPrefix(lines[2], "alice:$2"))
	u, err := auth.LoadUsersFile(p, auth.Config{})
	require.NoError(t, err)
	_, err = u.Authenticate("bob", "b2")
	assert.NoError(t, err)
	_, err = u.Authenticate("bob", "b")
	assert.Error(t, err)
	assert.Error(t, auth.SetPassword(p, "bad:name", "x", bcrypt.MinCost))
}

func BenchmarkAuthenticate(b *testing.B) {
	h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.DefaultCost)
	p := filepath.Join(b.TempDir(), "users")
	_ = os.WriteFile(p, []byte("u:"+string(h)+"\n"), 0o600)
	for _, c := range []struct {
		name string
		size int
	}{{"cached", 0}, {"uncached", -1}} {
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
