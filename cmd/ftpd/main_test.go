package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func TestDefaultsNeedNoConfiguration(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:2121"}, o.listen)
	assert.Equal(t, "ftproot", o.root)
	assert.True(t, o.anonymous, "anonymous read-only when no users file is given")
	assert.Equal(t, 600*time.Second, o.idleTimeout)
}

func TestFlags(t *testing.T) {
	o, err := parseFlags([]string{"--listen", "127.0.0.1:0", "--listen", "[::1]:0", "--users", "u", "--passive-ports", "50000-50010", "--max-connections-per-ip", "5"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:0", "[::1]:0"}, o.listen)
	assert.False(t, o.anonymous, "a users file turns anonymous off unless asked")
	assert.Equal(t, [2]int{50000, 50010}, [2]int{o.passiveLo, o.passiveHi})
	assert.Equal(t, 5, o.maxConnsPerIP)

	for _, bad := range [][]string{
		{"--passive-ports", "10-5"}, {"--passive-ports", "x"}, {"--anonymous=false"}, {"extra"},
	} {
		_, err := parseFlags(bad, &bytes.Buffer{})
		assert.Error(t, err, "%v", bad)
	}
	var help bytes.Buffer
	assert.Equal(t, 0, run([]string{"--help"}, nil, &help, &help))
	assert.Contains(t, help.String(), "ftpd passwd --users FILE NAME")
	assert.Contains(t, help.String(), "-max-connections-per-ip")
	assert.Contains(t, help.String(), "-max-passive-per-ip")

	o, err = parseFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 16, o.maxPassivePerIP, "a passive cap by default")
	o, err = parseFlags([]string{"--max-passive-per-ip", "0"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, -1, limitOrOff(o.maxPassivePerIP), "0 turns it off")
}

func TestPasswdWritesAUsableUsersFile(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, os.WriteFile(users, []byte("# team\nbob:$2a$04$abcdefghijklmnopqrstuuQm5k0iQ7Lq3yZrC8Yw1c8n1j3xDgJ1e:bobhome\n"), 0o600))
	var out, errOut bytes.Buffer
	code := run([]string{"passwd", "--users", users, "--cost", "4", "alice"}, strings.NewReader("s3cret\n"), &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	b, err := os.ReadFile(users)
	require.NoError(t, err)
	assert.Contains(t, string(b), "# team\n", "comments are kept")
	assert.NotContains(t, string(b), "s3cret", "no plaintext password")
	fi, err := os.Stat(users)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	uf, err := auth.LoadUsersFile(users, auth.Config{})
	require.NoError(t, err)
	_, err = uf.Authenticate("alice", "s3cret")
	assert.NoError(t, err)
	_, err = uf.Authenticate("alice", "wrong")
	assert.ErrorIs(t, err, auth.ErrBadCredentials)

	assert.Equal(t, 1, run([]string{"passwd", "--users", users, "carol"}, strings.NewReader(""), &out, &errOut), "empty password refused")
}

func TestServeStartsAndStopsOnSignal(t *testing.T) {
	dir := t.TempDir()
	o, err := parseFlags([]string{"--listen", "127.0.0.1:0", "--root", filepath.Join(dir, "root"), "--shutdown-grace", "2s"}, &bytes.Buffer{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, o, pw, &bytes.Buffer{}); pw.Close() }()
	rd := bufio.NewReader(pr)
	line, err := rd.ReadString('\n')
	require.NoError(t, err)
	assert.Contains(t, line, "anonymous read-only")
	addr := strings.TrimPrefix(strings.Fields(line)[4], "ftp://")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	greet, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(greet, "220 "), greet)
	_, err = os.Stat(filepath.Join(dir, "root"))
	assert.NoError(t, err, "the root is created")
	cancel() // as SIGINT/SIGTERM do through signal.NotifyContext
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	c.Close()
	pr.Close()
}

func TestProcs(t *testing.T) {
	assert.Equal(t, 4, procs(0, false, 2), "twice Go's default")
	assert.Equal(t, 3, procs(0, true, 3), "the GOMAXPROCS variable wins over the default")
	assert.Equal(t, 6, procs(6, true, 3), "--procs wins over everything")
}
