package main

import (
	"net"
	"net/textproto"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/internal/ftptest"
)

// --run-as: started as root, ftpd binds, then runs as the user: its
// credentials in /proc, the owner of an upload, and a root-only file that
// nobody may read.
func TestRunAsDropsPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs the tests as root (make test installs packages); --run-as needs root")
		}
		t.Skip("needs root")
	}
	nobody, err := user.Lookup("nobody")
	require.NoError(t, err)
	uid, _ := strconv.Atoi(nobody.Uid)
	base := t.TempDir()
	require.NoError(t, os.Chmod(base, 0o755)) // nobody must reach the root
	root := filepath.Join(base, "root")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "pub"), 0o755))
	require.NoError(t, os.Chown(root, uid, -1)) // homes are created on first login
	require.NoError(t, os.WriteFile(filepath.Join(root, "pub", "private"), []byte("root only"), 0o600))
	users := filepath.Join(base, "users")
	require.NoError(t, auth.SetPassword(users, "alice", "secret", bcrypt.MinCost))

	p := ftptest.Start(t, nil, "--root", root, "--users", users, "--anonymous", "--run-as", "nobody", "--log-level", "warn")
	status, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) == 5 && (f[0] == "Uid:" || f[0] == "Gid:") {
			want := nobody.Uid
			if f[0] == "Gid:" {
				want = nobody.Gid
			}
			assert.Equal(t, []string{want, want, want, want}, f[1:], line)
		}
	}

	c := dialText(t, p.Addr)
	expect(t, c, "USER alice", 331)
	if _, _, err := sendRead(c, "PASS secret", 230); err != nil {
		t.Fatalf("%v\nserver log: %s", err, p.Log)
	}
	_, msg := expectMsg(t, c, "PASV", 227)
	a, err := ftpwire.ParsePASVReply(msg)
	require.NoError(t, err)
	data, err := net.DialTimeout("tcp", a.String(), 5*time.Second)
	require.NoError(t, err)
	expect(t, c, "STOR up.txt", 150)
	_, err = data.Write([]byte("hello"))
	require.NoError(t, err)
	data.Close()
	_, _, err = c.ReadResponse(226)
	require.NoError(t, err)
	fi, err := os.Stat(filepath.Join(root, "alice", "up.txt"))
	require.NoError(t, err)
	assert.Equal(t, uint32(uid), fi.Sys().(*syscall.Stat_t).Uid, "uploads belong to --run-as, not root")

	anon := dialText(t, p.Addr)
	expect(t, anon, "USER anonymous", 331)
	expect(t, anon, "PASS guest@", 230)
	_, msg = expectMsg(t, anon, "PASV", 227)
	a, err = ftpwire.ParsePASVReply(msg)
	require.NoError(t, err)
	d2, err := net.DialTimeout("tcp", a.String(), 5*time.Second)
	require.NoError(t, err)
	defer d2.Close()
	expect(t, anon, "RETR private", 550)
}

func dialText(t *testing.T, addr string) *textproto.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	c := textproto.NewConn(nc)
	t.Cleanup(func() { c.Close() })
	_, _, err = c.ReadResponse(220)
	require.NoError(t, err)
	return c
}

func expect(t *testing.T, c *textproto.Conn, cmd string, code int) {
	t.Helper()
	expectMsg(t, c, cmd, code)
}

func expectMsg(t *testing.T, c *textproto.Conn, cmd string, code int) (int, string) {
	t.Helper()
	require.NoError(t, c.PrintfLine("%s", cmd))
	got, msg, err := c.ReadResponse(code)
	require.NoError(t, err, cmd)
	return got, msg
}

func sendRead(c *textproto.Conn, cmd string, code int) (int, string, error) {
	if err := c.PrintfLine("%s", cmd); err != nil {
		return 0, "", err
	}
	return c.ReadResponse(code)
}
