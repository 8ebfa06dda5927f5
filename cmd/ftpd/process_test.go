package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/internal/ftptest"
)

// These tests run the real ftpd program as its own process: what they
// assert (descriptor counts, a process that goes on serving) is the
// process's, not a library's.

type ftpdProcess struct{ *ftptest.Process }

// startFTPDProcess runs the ftpd program (ftptest.Start: built from this
// module, its own process; FTPD_BIN names another build instead) serving
// a fresh root to anonymous users, under an open-file limit (soft and
// hard; 0 leaves the inherited one), and returns once it serves.
func startFTPDProcess(t *testing.T, fileLimit int, args ...string) *ftpdProcess {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "pub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "pub", "hello.txt"), []byte("hello\n"), 0o644))
	limit := func(cmd *exec.Cmd) {
		if fileLimit > 0 { // exec under sh's ulimit: Go cannot set a child's rlimit
			cmd.Args = append([]string{"sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, fileLimit), cmd.Path}, cmd.Args[1:]...)
			cmd.Path = "/bin/sh"
		}
	}
	return &ftpdProcess{ftptest.Start(t, limit, append([]string{"--root", root, "--anonymous"}, args...)...)}
}

// fds counts the process's open descriptors.
func (p *ftpdProcess) fds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Pid))
	require.NoError(t, err, "the ftpd process is gone")
	return len(ents)
}

// cpu is the process's user and system CPU time so far (/proc/PID/stat,
// in clock ticks of 10 ms).
func (p *ftpdProcess) cpu(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid))
	require.NoError(t, err, "the ftpd process is gone")
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	require.NoError(t, errors.Join(err1, err2))
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// settledFDs is the process's descriptor count once its start-up sweep
// of stale uploads is over (it holds a descriptor of the root while it
// walks) and the count has held still for 200 ms (bounded), which a
// baseline must not count.
func (p *ftpdProcess) settledFDs(t *testing.T) int {
	t.Helper()
	p.WaitSwept(t)
	n, since := p.fds(t), time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := p.fds(t); m != n {
			n, since = m, time.Now()
		} else if time.Since(since) >= 200*time.Millisecond {
			break
		}
	}
	return n
}

// alive reports whether the process is still running (not a zombie).
func (p *ftpdProcess) alive() bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// waitFDs waits (bounded) until the process has want descriptors open.
func (p *ftpdProcess) waitFDs(t *testing.T, want int, msg string) {
	t.Helper()
	require.Eventually(t, func() bool { return p.fds(t) == want }, 20*time.Second, 10*time.Millisecond,
		"%s: %d descriptors open, want %d", msg, p.fds(t), want)
}

// ctrl is a raw control connection.
type ctrl struct {
	net.Conn
	rd *bufio.Reader
}

func dialCtrl(addr string) (*ctrl, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &ctrl{Conn: c, rd: bufio.NewReader(c)}, nil
}

// reply reads one reply (the last line of a multi-line one).
func (c *ctrl) reply() (string, error) {
	for {
		l, err := c.rd.ReadString('\n')
		if err != nil {
			return l, err
		}
		l = strings.TrimRight(l, "\r\n")
		if len(l) >= 4 && l[3] == ' ' {
			return l, nil
		}
	}
}

func (c *ctrl) cmd(t *testing.T, line string) string {
	t.Helper()
	_, err := fmt.Fprintf(c, "%s\r\n", line)
	require.NoError(t, err)
	r, err := c.reply()
	require.NoError(t, err, "reply to %s", line)
	return r
}

func login(t *testing.T, addr string) *ctrl {
	t.Helper()
	c, err := dialCtrl(addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	r, err := c.reply()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(r, "220 "), r)
	require.True(t, strings.HasPrefix(c.cmd(t, "USER anonymous"), "331 "))
	require.True(t, strings.HasPrefix(c.cmd(t, "PASS x@"), "230 "))
	return c
}

// list runs EPSV + LIST over a data connection: a whole service, with a
// passive listener and a data connection.
func (c *ctrl) list(t *testing.T, dir string) string {
	t.Helper()
	r := c.cmd(t, "EPSV")
	require.True(t, strings.HasPrefix(r, "229 "), r)
	i, j := strings.Index(r, "(|||"), strings.LastIndex(r, "|)")
	require.True(t, i > 0 && j > i, r)
	host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	d, err := net.DialTimeout("tcp", net.JoinHostPort(host, r[i+4:j]), 5*time.Second)
	require.NoError(t, err)
	defer d.Close()
	_ = d.SetDeadline(time.Now().Add(20 * time.Second))
	_, err = fmt.Fprintf(c, "LIST %s\r\n", dir)
	require.NoError(t, err)
	r, err = c.reply()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(r, "150 "), r)
	data, err := io.ReadAll(d)
	require.NoError(t, err)
	r, err = c.reply()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(r, "226 "), r)
	return string(data)
}

// Under a low open-file limit, a connect flood exhausts the server's
// descriptors. The server keeps its sessions, sheds newcomers (accepts
// and closes them at once) with one log line per interval rather than
// one per connection, and serves again as soon as descriptors free up.
func TestDescriptorExhaustionShedsAndRecovers(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc to count descriptors")
	}
	p := startFTPDProcess(t, 256, "--max-connections", "0", "--max-connections-per-ip", "0")
	baseline := p.settledFDs(t)

	var sessions []*ctrl
	for range 5 {
		sessions = append(sessions, login(t, p.Addr))
	}
	p.waitFDs(t, baseline+5, "five sessions")

	// Plain connects until the server has shed 20 of them.
	var flood []*ctrl
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	shed, served, stuck := 0, 0, 0
	for i := 0; i < 600 && shed < 20; i++ {
		c, err := dialCtrl(p.Addr)
		require.NoError(t, err, "the listener still takes connections")
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		r, err := c.reply()
		var ne net.Error
		switch {
		case err == nil && strings.HasPrefix(r, "220 "):
			served++
			flood = append(flood, c)
		case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
			shed++
			c.Close()
		case errors.As(err, &ne) && ne.Timeout():
			stuck++ // left in the backlog: the slot went to another thread
			flood = append(flood, c)
		default:
			t.Fatalf("connect %d: %q %v", i, r, err)
		}
	}
	t.Logf("flood: %d served, %d shed, %d left waiting; %d descriptors open", served, shed, stuck, p.fds(t))
	require.Equal(t, 20, shed, "newcomers are shed once descriptors run out")
	assert.Less(t, served, 256, "the limit was reached")

	require.True(t, p.alive(), "the process is still up")
	for i, s := range sessions {
		assert.True(t, strings.HasPrefix(s.cmd(t, "NOOP"), "200 "), "session %d still answers", i)
	}

	// Out of descriptors with more connections waiting in the backlog,
	// the loops must not spin on accept(2): an accepting loop that does
	// burns a core (measured: 3.4-5.1 s of CPU in 3 s before the fix).
	for range 30 {
		c, err := dialCtrl(p.Addr)
		require.NoError(t, err)
		flood = append(flood, c)
	}
	cpu0, wall0 := p.cpu(t), time.Now()
	time.Sleep(time.Second)
	spent, wall := p.cpu(t)-cpu0, time.Since(wall0)
	assert.Less(t, spent, wall/4, "the idle server used %v of CPU in %v while descriptors were exhausted", spent, wall)

	for _, c := range flood {
		c.Close()
	}
	flood = nil
	p.waitFDs(t, baseline+5, "the flood's descriptors are closed")

	fresh := login(t, p.Addr)
	assert.True(t, strings.HasPrefix(fresh.cmd(t, "PWD"), "257 "))
	assert.Contains(t, fresh.list(t, "/"), "hello.txt", "a new client is served, data connection included")
	assert.True(t, strings.HasPrefix(fresh.cmd(t, "QUIT"), "221 "))
	for _, s := range sessions {
		assert.True(t, strings.HasPrefix(s.cmd(t, "QUIT"), "221 "))
	}
	p.waitFDs(t, baseline, "every session ended")

	logs := p.Log.String()
	assert.Contains(t, logs, "too many open files")
	assert.NotContains(t, logs, "exiting", "the engine did not stop")
	assert.LessOrEqual(t, strings.Count(logs, "accept failing"), 2, "one line per interval, not one per shed connection:\n%s", logs)
}

// Connections over --max-connections get 421 and are closed at once,
// even when the client never reads: they hold no descriptor.
func TestRefusedConnectionsHoldNoDescriptors(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc to count descriptors")
	}
	p := startFTPDProcess(t, 0, "--max-connections", "5")
	baseline := p.settledFDs(t)
	for range 5 {
		login(t, p.Addr)
	}
	var refused []*ctrl
	defer func() {
		for _, c := range refused {
			c.Close()
		}
	}()
	for range 100 {
		c, err := dialCtrl(p.Addr)
		require.NoError(t, err)
		refused = append(refused, c) // not read yet
	}
	p.waitFDs(t, baseline+5, "refused connections are closed without being read")
	for i, c := range refused {
		r, err := c.reply()
		require.NoError(t, err)
		assert.Equal(t, "421 Too many users right now, try again in a few minutes.", r, "connection %d", i)
		_, err = c.rd.ReadByte()
		assert.ErrorIs(t, err, io.EOF, "then closed")
	}
}

// The defaults shown by --help and used at start agree with the limit the
// process runs under.
func TestDefaultMaxConnectionsFollowsTheFileLimit(t *testing.T) {
	p := startFTPDProcess(t, 256)
	require.Eventually(t, func() bool { return strings.Contains(p.Log.String(), "connection limits") }, 10*time.Second, 10*time.Millisecond)
	logs := p.Log.String()
	assert.Contains(t, logs, "max_connections="+strconv.Itoa(defaultMaxConnections(256)))
	assert.Contains(t, logs, "max_connections_per_ip=20")
	assert.Contains(t, logs, "open_file_limit=256")
}

// SIGHUP reads the --config file again and applies new connection limits
// to new connections; the sessions already open stay.
func TestSIGHUPReloadsLimitsFromTheConfigFile(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "ftpd.toml")
	require.NoError(t, os.WriteFile(conf, []byte("max-connections-per-ip = 2\n"), 0o644))
	p := startFTPDProcess(t, 0, "--config", conf)
	greeting := func() string {
		c, err := dialCtrl(p.Addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		r, err := c.reply()
		require.NoError(t, err)
		return r
	}
	a, b := login(t, p.Addr), login(t, p.Addr)
	assert.True(t, strings.HasPrefix(greeting(), "421 "), "a third connection from the address is over the limit of 2")

	require.NoError(t, os.WriteFile(conf, []byte("max-connections-per-ip = 4\nusers = \"/elsewhere/users\"\n"), 0o644))
	require.NoError(t, syscall.Kill(p.Pid, syscall.SIGHUP)) // only the process this test started
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Log.String(), "connection limits reloaded") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	require.Contains(t, p.Log.String(), "connection limits reloaded")
	assert.Contains(t, p.Log.String(), "needs a restart", "a changed users file path is not applied live")
	assert.True(t, strings.HasPrefix(greeting(), "220 "), "the new limit of 4 admits a third")
	assert.True(t, strings.HasPrefix(a.cmd(t, "NOOP"), "200 "))
	assert.True(t, strings.HasPrefix(b.cmd(t, "NOOP"), "200 "))
}
