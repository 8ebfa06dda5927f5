package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/internal/ftptest"
)

// The ftpd program with a [[vhost]] table: HOST chooses its users and
// root before login, and SIGHUP reloads its users file.
func TestVirtualHostsFromTheConfigFileAndSIGHUP(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "a")
	users := filepath.Join(dir, "a.users")
	require.NoError(t, auth.SetPassword(users, "bob", "pw-a", 4))
	require.NoError(t, auth.SetHome(users, "bob", "/"))
	cfg := filepath.Join(dir, "ftpd.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(`root = "`+filepath.Join(dir, "default")+`"
anonymous = true
ban-after = 0
login-timeout = "0s"

[[vhost]]
name = "a.example"
root = "`+root+`"
users = "`+users+`"
`), 0o644))
	p := ftptest.Start(t, nil, "--config", cfg)
	login := func(user, pass string) string {
		c, err := dialCtrl(p.Addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = c.reply()
		require.NoError(t, err)
		require.Equal(t, "220 gnetftp FTP server ready.", c.cmd(t, "HOST a.example"))
		c.cmd(t, "USER "+user)
		return c.cmd(t, "PASS "+pass)
	}
	assert.Equal(t, "230 User logged in, proceed", login("bob", "pw-a"))
	_, err := os.Stat(root)
	assert.NoError(t, err, "the virtual host's root is created")
	assert.Equal(t, "530 Sorry, Authentication failed.", login("dave", "pw-d"))

	require.NoError(t, auth.SetPassword(users, "dave", "pw-d", 4))
	require.NoError(t, auth.SetHome(users, "dave", "/"))
	require.NoError(t, syscall.Kill(p.Pid, syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(p.Log.String(), "virtual host users file reloaded") },
		10*time.Second, 10*time.Millisecond, p.Log.String())
	assert.Equal(t, "230 User logged in, proceed", login("dave", "pw-d"), "SIGHUP reloaded the host's users")

	text, err := os.ReadFile(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfg, append(text, []byte("welcome = \"changed\"\n")...), 0o644))
	require.NoError(t, syscall.Kill(p.Pid, syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(p.Log.String(), "setting=vhost") },
		10*time.Second, 10*time.Millisecond, "a changed [[vhost]] table is logged as needing a restart:\n%s", p.Log.String())

	c, err := dialCtrl(p.Addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.reply()
	require.NoError(t, err)
	assert.Equal(t, "504 Unknown host 'b.example'.", c.cmd(t, "HOST b.example"))
}
