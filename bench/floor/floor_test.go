//go:build linux && amd64

package floor

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/bench/ftpbench"
	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp/client"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	ftplisting "github.com/gnetftp/gnetftp/ftp/listing"
	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/reactor"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

const entries = 2000

// bigSize is the test's bulk file: many times a socket buffer, so that
// the floor's sendfile meets a full socket and waits in epoll.
const bigSize = 8 << 20

// tree is the benchmark's layout in small: a 4 KiB file and an 8 MiB one
// of random bytes, and a directory of `entries` empty files.
func tree(t *testing.T) (root string, small []byte) {
	t.Helper()
	root = t.TempDir()
	small = make([]byte, 4096)
	_, _ = rand.Read(small)
	require.NoError(t, os.WriteFile(filepath.Join(root, "small.bin"), small, 0o644))
	big := make([]byte, bigSize)
	_, _ = rand.Read(big)
	require.NoError(t, os.WriteFile(filepath.Join(root, "big.bin"), big, 0o644))
	dir := filepath.Join(root, "bigdir")
	require.NoError(t, os.Mkdir(dir, 0o755))
	for i := 0; i < entries; i++ {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("entry-%05d", i)))
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	return root, small
}

func start(t *testing.T, root string, listThreads int) *Server {
	t.Helper()
	s, err := Start(Config{Addr: "127.0.0.1:0", Loops: 2, User: "u", Pass: "p", Root: root, Files: []string{"small.bin", "big.bin"}, ListThreads: listThreads})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestDialogue: the fixed replies of the login dialogue, in the order
// ftpbench sends it, and the 500 for anything else.
func TestDialogue(t *testing.T) {
	root, _ := tree(t)
	s := start(t, root, 1)
	c, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	reply := func() string {
		l, err := r.ReadString('\n')
		require.NoError(t, err)
		return strings.TrimRight(l, "\r\n")
	}
	cmd := func(line string) string {
		_, err := io.WriteString(c, line+"\r\n")
		require.NoError(t, err)
		return reply()
	}
	assert.Equal(t, strings.TrimRight(Greeting, "\r\n"), reply())
	assert.Contains(t, Greeting, "not an FTP server")
	assert.Equal(t, "530 Log in first.", cmd("RETR small.bin"))
	assert.Equal(t, "530 Log in first.", cmd("EPSV"))
	assert.Equal(t, "331 Password.", cmd("USER u"))
	assert.Equal(t, "530 Login incorrect.", cmd("PASS nope"))
	assert.Equal(t, "331 Password.", cmd("USER someone"))
	assert.Equal(t, "530 Login incorrect.", cmd("PASS p"), "the password of another user")
	for _, line := range []string{"NOOP", "SYST", "STOR x", "RETRX", "", "CWD /"} {
		assert.Equal(t, "500 Not understood (this is the floor, not an FTP server).", cmd(line), line)
	}
	assert.Equal(t, "331 Password.", cmd("USER u"))
	assert.Equal(t, "230 Logged in.", cmd("PASS p"))
	assert.Equal(t, "200 Type set.", cmd("TYPE I"))
	assert.Equal(t, "425 EPSV first.", cmd("RETR small.bin"))
	assert.Equal(t, "550 No such file.", cmd("RETR other.bin"))
	assert.Regexp(t, `^229 Entering Extended Passive Mode \(\|\|\|[0-9]+\|\)$`, cmd("EPSV"))
	assert.Equal(t, "550 No such directory.", cmd("LIST ../etc"), "nothing outside Root")
	assert.Equal(t, "550 No such directory.", cmd("LIST missing"))
	// Two pipelined commands in one segment are both answered.
	_, err = io.WriteString(c, "TYPE I\r\nQUIT\r\n")
	require.NoError(t, err)
	assert.Equal(t, "200 Type set.", reply())
	assert.Equal(t, "221 Bye.", reply())
	_, err = r.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "QUIT closes")
}

// TestScenarios drives each floor mode with ftpbench's own scenario code
// (logins, 4 KiB downloads, LIST) for a bounded count, and with the
// project's client for the bytes: the file's content, and a listing with
// one line per entry that is byte for byte ftp/listing's line (what ftpd
// sends).
func TestScenarios(t *testing.T) {
	root, small := tree(t)
	for _, threads := range []int{1, 3} {
		t.Run(fmt.Sprintf("list-threads=%d", threads), func(t *testing.T) {
			s := start(t, root, threads)
			ru := ftpbench.NewRunner(ftpbench.Config{Addr: s.Addr(), User: "u", Pass: "p", Timeout: 10 * time.Second, Loops: 1, Sources: 3})
			defer ru.Close()
			ctx := context.Background()

			// Each of the 4 clients checks the count before its next
			// operation: up to 3 more than asked.
			r := ru.Logins(ctx, 4, 40, 20*time.Second, nil)
			assert.GreaterOrEqual(t, r.Ops, 40, r.FirstErr)
			assert.LessOrEqual(t, r.Ops, 43)
			assert.Zero(t, r.Errors, r.FirstErr)

			r = ru.Transfers(ctx, "small", 4, 40, 20*time.Second, "RETR small.bin", 0, nil)
			assert.GreaterOrEqual(t, r.Ops, 40, r.FirstErr)
			assert.Zero(t, r.Errors, r.FirstErr)
			assert.Equal(t, int64(r.Ops)*4096, r.Bytes)

			r = ru.Transfers(ctx, "retr", 2, 2, 20*time.Second, "RETR big.bin", 0, nil)
			assert.GreaterOrEqual(t, r.Ops, 2, r.FirstErr)
			assert.Zero(t, r.Errors, r.FirstErr)
			assert.Equal(t, int64(r.Ops)*bigSize, r.Bytes)

			r = ru.Transfers(ctx, "list", 1, 3, 20*time.Second, "LIST bigdir", 0, nil)
			assert.Equal(t, 3, r.Ops, r.FirstErr)
			assert.Zero(t, r.Errors, r.FirstErr)

			got, listed, big := download(t, s.Addr())
			assert.Equal(t, small, got)
			wantBig, err := os.ReadFile(filepath.Join(root, "big.bin"))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(wantBig, big), "the 8 MiB file, byte for byte (%d bytes received)", len(big))
			lines := strings.Split(strings.TrimSuffix(string(listed), "\r\n"), "\r\n")
			require.Len(t, lines, entries)
			want := map[string]string{}
			now := time.Now()
			ents, err := os.ReadDir(filepath.Join(root, "bigdir"))
			require.NoError(t, err)
			for _, e := range ents {
				fi, err := e.Info()
				require.NoError(t, err)
				want[e.Name()] = strings.TrimSuffix(string(ftplisting.AppendLIST(nil, fi, now)), "\r\n")
			}
			for _, l := range lines {
				name := l[strings.LastIndexByte(l, ' ')+1:]
				assert.Equal(t, want[name], l)
				delete(want, name)
			}
			assert.Empty(t, want, "entries not listed")
		})
	}
}

// download logs in with ftp/client and returns RETR small.bin, LIST
// bigdir and RETR big.bin as received.
func download(t *testing.T, addr string) (file, list, big []byte) {
	t.Helper()
	r := reactor.New(reactor.Config{Loops: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.DialFrom(ctx, r, nil, addr, client.Config{ReplyTimeout: 10 * time.Second, DataTimeout: 10 * time.Second})
	require.NoError(t, err)
	_, err = deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[ftpwire.Reply] { return c.Login("u", "p") })
	require.NoError(t, err)
	var f, l bytes.Buffer
	n, err := deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[int64] { return c.Retrieve("small.bin", &f) })
	require.NoError(t, err)
	assert.Equal(t, int64(4096), n)
	_, err = deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[int64] { return c.List("bigdir", &l) })
	require.NoError(t, err)
	var b bytes.Buffer
	_, err = deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[int64] { return c.Retrieve("big.bin", &b) })
	require.NoError(t, err)
	_, err = deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[ftpwire.Reply] { return c.Quit() })
	require.NoError(t, err)
	return f.Bytes(), l.Bytes(), b.Bytes()
}

// TestPassiveSkipsBusyPorts: a passive port whose only other socket is a
// connection bound with SO_REUSEADDR (as the floor's own finished data
// connections in TIME_WAIT are) is taken; one held by another listener is
// skipped, and EPSV answers with the next free port; the download works.
func TestPassiveSkipsBusyPorts(t *testing.T) {
	root, small := tree(t)
	// The ports P (an established connection's local port, bound with
	// SO_REUSEADDR), P+1 (a listener) and P+2 (free).
	other, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer other.Close()
	var held net.Conn
	var blocker net.Listener
	var p int
	for try := 0; try < 50 && blocker == nil; try++ {
		p = 20000 + try*7
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p}, Control: reuseAddr}
		c, err := d.Dial("tcp", other.Addr().String())
		if err != nil {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		if err != nil {
			c.Close()
			continue
		}
		held, blocker = c, l
	}
	require.NotNil(t, blocker, "no free ports to stage the test")
	defer held.Close()
	defer blocker.Close()

	s, err := Start(Config{Addr: "127.0.0.1:0", Loops: 1, User: "u", Pass: "p", Root: root, Files: []string{"small.bin"}, PassiveLo: p, PassiveHi: p + 2})
	require.NoError(t, err)
	defer s.Close()
	c, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	cmd := func(line string) string {
		if line != "" {
			_, err := io.WriteString(c, line+"\r\n")
			require.NoError(t, err)
		}
		l, err := r.ReadString('\n')
		require.NoError(t, err)
		return strings.TrimRight(l, "\r\n")
	}
	cmd("")
	cmd("USER u")
	require.Equal(t, "230 Logged in.", cmd("PASS p"))
	require.Equal(t, fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)", p), cmd("EPSV"), "SO_REUSEADDR")
	require.Equal(t, fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)", p+2), cmd("EPSV"), "the listener's port skipped")
	d, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p+2))
	require.NoError(t, err)
	defer d.Close()
	_, err = io.WriteString(c, "RETR small.bin\r\n")
	require.NoError(t, err)
	got, err := io.ReadAll(d)
	require.NoError(t, err)
	assert.Equal(t, small, got)
	assert.Equal(t, "150 Sending 4096 bytes.", cmd(""))
	assert.Equal(t, "226 Transfer complete.", cmd(""))
}

func reuseAddr(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1) })
	if err != nil {
		return err
	}
	return serr
}
