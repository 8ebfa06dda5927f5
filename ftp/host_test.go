package ftp_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/auth"
)

// usersFile writes a users file with one user (home "/") and loads it.
func usersFile(t *testing.T, name, password string) *auth.UsersFile {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users")
	require.NoError(t, auth.SetPassword(p, name, password, bcrypt.MinCost))
	require.NoError(t, auth.SetHome(p, name, "/"))
	uf, err := auth.LoadUsersFile(p, auth.Config{})
	require.NoError(t, err)
	return uf
}

// vhostPI is a PI with two virtual hosts beside the default one: bob on
// a.example (anonymous too), carol on [::1].
func vhostPI(t *testing.T) (h *pi, rootA, rootB string) {
	rootA, rootB = t.TempDir(), t.TempDir()
	writeFile(t, rootA, "a-only.txt", "A")
	writeFile(t, rootA, "pub/anon-a.txt", "pub A")
	writeFile(t, rootB, "b-only.txt", "B")
	h = newPI(t, func(c *ftp.Config) {
		c.VirtualHosts = []ftp.VirtualHost{
			{Name: "A.Example.", Root: rootA, Users: usersFile(t, "bob", "pw-a"), AllowAnonymous: true, Welcome: "Welcome to a.example"},
			{Name: "[::1]", Root: rootB, Users: usersFile(t, "carol", "pw-b")},
		}
	})
	require.Equal(t, "220 gnetftp FTP server ready.", h.next())
	return h, rootA, rootB
}

// HOST (RFC 7151) chooses the users and files before login; each host
// has its own.
func TestHOSTChoosesAVirtualHost(t *testing.T) {
	h, _, _ := vhostPI(t)
	assert.Equal(t, "220 Welcome to a.example", h.cmd("HOST a.example"), "without case or the trailing dot")
	assert.Equal(t, "331 Password required for bob.", h.cmd("USER bob"))
	assert.Equal(t, "230 User logged in, proceed", h.cmd("PASS pw-a"))
	assert.Equal(t, "213 1", h.cmd("SIZE a-only.txt"))
	assert.Equal(t, "550 b-only.txt: No such file or directory.", h.cmd("SIZE b-only.txt"))
	assert.Equal(t, "503 Incorrect sequence of commands: HOST must come before USER", h.cmd("HOST [::1]"), "after login: 503")

	assert.Equal(t, "220 Service ready for new user.", h.cmd("REIN"))
	assert.Equal(t, "220 gnetftp FTP server ready.", h.cmd("HOST [0:0::1]"), "an IPv6 literal, as RFC 7151 writes it")
	h.cmd("USER bob")
	h.send("PASS pw-a")
	h.tr.FakeLoop.Advance(2 * time.Second)
	assert.Equal(t, "530 Sorry, Authentication failed.", h.pumpReply(), "bob is a.example's user, not [::1]'s")
	h.cmd("USER carol")
	assert.Equal(t, "230 User logged in, proceed", h.cmd("PASS pw-b"))
	assert.Equal(t, "213 1", h.cmd("SIZE b-only.txt"))
}

// pumpReply is next, advancing the manual clock past the failed login
// delay while it waits.
func (h *pi) pumpReply() string {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.buf += h.tr.Take()
		if r, rest, ok := cutReply(h.buf); ok {
			h.buf = rest
			return r
		}
		require.True(h.t, time.Now().Before(deadline), "no reply; have %q", h.buf)
		h.tr.FakeLoop.WaitPending(20 * time.Millisecond)
		h.tr.FakeLoop.Advance(time.Second)
	}
}

func TestHOSTRepliesByRFC7151(t *testing.T) {
	h, _, _ := vhostPI(t)
	assert.Equal(t, "504 Unknown host 'c.example'.", h.cmd("HOST c.example"))
	assert.Equal(t, "501 Syntax error: HOST requires an argument.", h.cmd("HOST"))
	for _, bad := range []string{"a b", "-a.example", "a..example", "[1.2.3.4]", "[::1", "a/b"} {
		assert.Regexp(t, `^501 Syntax error: HOST <host name or IP address> `, h.cmd("HOST "+bad), bad)
	}
	assert.Equal(t, "220 Welcome to a.example", h.cmd("HOST a.example"))
	assert.Equal(t, "220 gnetftp FTP server ready.", h.cmd("HOST [::1]"), "HOST again before USER: the last one counts")
	h.cmd("USER carol")
	assert.Equal(t, "503 Incorrect sequence of commands: HOST must come before USER", h.cmd("HOST a.example"))
	assert.Equal(t, "230 User logged in, proceed", h.cmd("PASS pw-b"))

	// Anonymous logins follow the host's setting and its pub directory.
	h2, _, _ := vhostPI(t)
	h2.cmd("HOST a.example")
	h2.cmd("USER anonymous")
	assert.Equal(t, "230 Anonymous login ok, access restrictions apply.", h2.cmd("PASS x@"))
	assert.Equal(t, "213 5", h2.cmd("SIZE anon-a.txt"))
}

// Without virtual hosts HOST accepts any name and changes nothing.
func TestHOSTWithoutVirtualHosts(t *testing.T) {
	h := newPI(t, nil)
	require.Equal(t, "220 gnetftp FTP server ready.", h.next())
	assert.Equal(t, "220 gnetftp FTP server ready.", h.cmd("HOST ftp.example.org"))
	assert.Equal(t, "220 gnetftp FTP server ready.", h.cmd("HOST 127.0.0.1"))
	h.cmd("USER alice")
	assert.Equal(t, "230 User logged in, proceed", h.cmd("PASS secret"))
	assert.Equal(t, "503 Incorrect sequence of commands: HOST must come before USER", h.cmd("HOST ftp.example.org"))
}

func TestVirtualHostConfigErrors(t *testing.T) {
	root := t.TempDir()
	for _, c := range []struct {
		vh   []ftp.VirtualHost
		want string
	}{
		{[]ftp.VirtualHost{{Name: "", Root: root}}, `virtual host "": not a host name`},
		{[]ftp.VirtualHost{{Name: "a b", Root: root}}, `virtual host "a b": not a host name`},
		{[]ftp.VirtualHost{{Name: "a", Root: root}, {Name: "A.", Root: root}}, `virtual host "A." given twice`},
		{[]ftp.VirtualHost{{Name: "a"}}, `virtual host "a": Root is required`},
		{[]ftp.VirtualHost{{Name: "a", Root: filepath.Join(root, "nope")}}, `virtual host "a": root`},
	} {
		_, err := ftp.NewFactory(ftp.Config{Root: root, VirtualHosts: c.vh})
		assert.ErrorContains(t, err, c.want)
	}
}

// REIN (RFC 959 4.1.1): logged out, parameters back to their defaults,
// as just after the greeting.
func TestREINResetsTheSession(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "d/f.txt", "abc")
	h.cmd("CWD d")
	h.cmd("TYPE A")
	h.cmd("REST 2")
	h.cmd("OPTS MLST size;")
	h.cmd("PORT 127,0,0,1,200,10")
	assert.Equal(t, "220 Service ready for new user.", h.cmd("REIN"))
	assert.Equal(t, "530 Please login with USER and PASS.", h.cmd("PWD"))
	assert.Equal(t, "530 Please login with USER and PASS.", h.cmd("RETR f.txt"))
	h.cmd("USER alice")
	assert.Equal(t, "230 User logged in, proceed", h.cmd("PASS secret"))
	assert.Equal(t, `257 "/" is the current directory`, h.cmd("PWD"))
	assert.Regexp(t, `TYPE: BINARY`, h.cmd("STAT"))
	assert.Equal(t, "425 Use PORT, PASV, EPRT or EPSV first.", h.cmd("RETR d/f.txt"), "the PORT is gone")
	data := h.pasv()
	h.cmd("RETR d/f.txt")
	assert.Equal(t, "abc", readAll(t, data), "REST is gone")
	assert.Equal(t, "226 Transfer Complete.", h.next())
	assert.Regexp(t, `^250-Listing /d\n type=dir;.*modify=.*\n250 End$`, h.cmd("MLST d"), "MLST facts back to all")

	assert.Equal(t, "220 Service ready for new user.", h.cmd("REIN"), "REIN before login too")
	h.cmd("USER alice")
	assert.Equal(t, "220 Service ready for new user.", h.cmd("REIN"), "REIN between USER and PASS")
	assert.Equal(t, "503 Incorrect sequence of commands: USER required before PASS", h.cmd("PASS secret"))
	assert.Equal(t, "501 Syntax error: REIN takes no argument.", h.cmd("REIN x"))
}

// REIN starts the login deadline again: a session is never left logged
// out past LoginTimeout, nor cut off at once for an old deadline.
func TestREINRestartsTheLoginDeadline(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) { c.LoginTimeout = 30 * time.Second; c.IdleTimeout = time.Hour })
	h.login()
	h.tr.FakeLoop.Advance(time.Minute)
	assert.Equal(t, "220 Service ready for new user.", h.cmd("REIN"))
	h.tr.FakeLoop.Advance(29 * time.Second)
	h.quiet()
	assert.False(t, h.tr.Lost)
	h.tr.FakeLoop.Advance(time.Second)
	assert.Equal(t, "421 Login timeout: closing control connection.", h.next())
	assert.True(t, h.tr.Lost)
}
