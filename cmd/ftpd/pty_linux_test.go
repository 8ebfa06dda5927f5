package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gnetftp/gnetftp/ftp/auth"
)

// openPty returns a pseudo-terminal's master and slave.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	require.NoError(t, unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return m, s
}

// readUntil reads the terminal's output until it holds want.
func readUntil(t *testing.T, m *os.File, seen *bytes.Buffer, want string) {
	t.Helper()
	require.NoError(t, m.SetReadDeadline(time.Now().Add(20*time.Second)))
	buf := make([]byte, 256)
	for !strings.Contains(seen.String(), want) {
		n, err := m.Read(buf)
		seen.Write(buf[:n])
		require.NoError(t, err, "waiting for %q; the terminal shows %q", want, seen.String())
	}
}

// On a terminal `ftpd user add` prompts, asks twice, and echoes nothing
// of the password.
func TestUserAddOnATerminalPromptsWithoutEcho(t *testing.T) {
	m, s := openPty(t)
	users := filepath.Join(t.TempDir(), "users")
	cmd := exec.Command(os.Args[0], "user", "add", "--users", users, "--cost", "4", "alice")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdin, cmd.Stderr = s, s
	var out bytes.Buffer
	cmd.Stdout = &out
	require.NoError(t, cmd.Start())
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill() // the process this test started
			<-exited
		}
	})
	var seen bytes.Buffer
	readUntil(t, m, &seen, "Password for alice: ")
	// The prompt is written just before echo goes off (as with sudo and
	// passwd, type-ahead can be echoed): a person is slower than that.
	time.Sleep(300 * time.Millisecond)
	_, err := m.WriteString("hunter2-secret\r")
	require.NoError(t, err)
	readUntil(t, m, &seen, "Again: ")
	time.Sleep(300 * time.Millisecond)
	_, err = m.WriteString("hunter2-secret\r")
	require.NoError(t, err)
	select {
	case <-exited:
		require.NoError(t, waitErr, "%s %s", out.String(), seen.String())
	case <-time.After(20 * time.Second):
		t.Fatal("ftpd user add did not finish")
	}
	assert.NotContains(t, seen.String(), "hunter2", "no echo")
	assert.Contains(t, out.String(), "alice added")
	uf, err := auth.LoadUsersFile(users, auth.Config{})
	require.NoError(t, err)
	_, err = uf.Authenticate("alice", "hunter2-secret")
	assert.NoError(t, err)
}
