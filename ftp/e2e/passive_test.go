package e2e_test

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Sessions that open passive listeners and never connect cannot take the
// passive range: one address holds at most --max-passive-per-ip of them
// (16 by default); the others get 425, the server's descriptors stop
// growing with them, and every other client still gets its data
// connection.
func TestPassivePortsCannotBeHoardedFromOneAddress(t *testing.T) {
	p := startFTPDProcess(t, "--max-connections-per-ip", "0") // the passive cap, not the session cap, is under test
	base := p.fds(t)
	const sessions = 40
	refused := 0
	for i := 0; i < sessions; i++ {
		r := rawDial(t, &p.server)
		r.login()
		switch reply := r.cmd("EPSV"); {
		case strings.HasPrefix(reply, "229"):
		case strings.HasPrefix(reply, "425"):
			refused++
		default:
			t.Fatalf("EPSV: %q", reply)
		}
	}
	assert.Equal(t, sessions-16, refused, "16 open listeners for 127.0.0.1, then 425")
	assert.LessOrEqual(t, p.fds(t)-base, sessions+16+2, "a descriptor per session, 16 listeners (and the home opened on the first login): %s", p.fdList(t))

	// Another address is not refused for them.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", p.addr)
	require.NoError(t, err)
	r := &rawConn{t: t, c: c, rd: bufio.NewReader(c)}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r.expect("220")
	r.login()
	assert.Regexp(t, `^229`, r.cmd("EPSV"))
}

// The ftpd program keeps a session's passive listener across its
// transfers (the same EPSV port every time) and closes it with the
// session: its descriptors return to what they were before the session.
func TestKeptPassiveListenerEndsWithTheSession(t *testing.T) {
	p := startFTPDProcess(t)
	require.NoError(t, os.WriteFile(filepath.Join(p.server.root, "f"), []byte("data"), 0o644))
	before := p.fds(t)
	r := rawDial(t, &p.server)
	r.login()
	base := p.fds(t)
	baseList := p.fdList(t)
	var port string
	for i := 0; i < 3; i++ {
		reply := r.cmd("EPSV")
		require.Regexp(t, `^229 .*\(\|\|\|\d+\|\)`, reply)
		got := reply[strings.Index(reply, "|||")+3 : strings.LastIndex(reply, "|")]
		if i == 0 {
			port = got
		}
		assert.Equal(t, port, got, "transfer %d: the same listener", i+1)
		data, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", got), 5*time.Second)
		require.NoError(t, err)
		_ = data.SetDeadline(time.Now().Add(10 * time.Second))
		assert.Regexp(t, `^150`, r.cmd("RETR f"))
		b, err := io.ReadAll(data)
		require.NoError(t, err)
		assert.Equal(t, "data", string(b))
		data.Close()
		r.expect("226")
	}
	assert.Equal(t, base+1, p.fds(t), "the kept listener, and nothing else, outlives the transfers:\nafter login %s\nnow %s", baseList, p.fdList(t))
	r.cmd("QUIT")
	r.c.Close()
	// The login opened the home, which the process keeps for the next
	// session (before+1); the control connection and the listener go.
	require.Eventually(t, func() bool { return p.fds(t) == base-1 }, 10*time.Second, 20*time.Millisecond,
		"the control connection and the kept listener closed (before the session %d, during %d, now %d: %s)", before, base, p.fds(t), p.fdList(t))
	_, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), 5*time.Second)
	assert.Error(t, err, "nothing listens on the port")
}

// A small download whose data connection is already up when RETR comes
// gets its 150 and its 226 in one write: one read of the control
// connection returns both. A client that connects only after the 150
// still gets it first, at once.
func TestSmallDownloadSends150And226InOneWrite(t *testing.T) {
	p := startFTPDProcess(t)
	require.NoError(t, os.WriteFile(filepath.Join(p.server.root, "f"), []byte("data"), 0o644))
	r := rawDial(t, &p.server)
	r.login()

	data, err := net.DialTimeout("tcp", pasvAddr(t, r.cmd("PASV")), 5*time.Second)
	require.NoError(t, err)
	_ = data.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = r.c.Write([]byte("RETR f\r\n"))
	require.NoError(t, err)
	require.Zero(t, r.rd.Buffered())
	buf := make([]byte, 4096)
	n, err := r.c.Read(buf)
	require.NoError(t, err)
	assert.Regexp(t, `^150 [^\r\n]*\r\n226 Transfer Complete\.\r\n$`, string(buf[:n]), "both replies in the first read")
	b, err := io.ReadAll(data)
	require.NoError(t, err)
	assert.Equal(t, "data", string(b))
	data.Close()

	// Connecting after the 150: nothing waits for the client.
	addr := pasvAddr(t, r.cmd("PASV"))
	assert.Regexp(t, `^150`, r.cmd("RETR f"))
	data, err = net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	_ = data.SetDeadline(time.Now().Add(10 * time.Second))
	b, err = io.ReadAll(data)
	require.NoError(t, err)
	assert.Equal(t, "data", string(b))
	r.expect("226")
}
