package ftp_test

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/internal/ftptest"
	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

// pi is one FTP session on a fake transport and manual clock (Twisted's
// StringTransport + task.Clock), with a real worker pool and real
// loopback data connections.
type pi struct {
	t    *testing.T
	tr   *prototest.Transport
	p    protocol.Protocol
	f    *ftp.Factory
	root string
	buf  string
}

func newFactory(t *testing.T, mod func(*ftp.Config)) (*ftp.Factory, string) {
	t.Helper()
	f, root := ftptest.Factory(t, mod)
	t.Cleanup(f.StopFactory)
	return f, root
}

func newPI(t *testing.T, mod func(*ftp.Config)) *pi {
	f, root := newFactory(t, mod)
	return connectPI(t, f, root)
}

func connectPI(t *testing.T, f *ftp.Factory, root string) *pi {
	tr := prototest.NewTransport()
	p := f.BuildProtocol(tr.Remote)
	prototest.Connect(p, tr)
	h := &pi{t: t, tr: tr, p: p, f: f, root: root}
	t.Cleanup(func() {
		if !tr.Lost {
			p.ConnectionLost(nil)
		}
	})
	return h
}

// send feeds a raw line (CRLF added).
func (h *pi) send(line string) { h.p.DataReceived([]byte(line + "\r\n")) }

// next returns the next complete reply (all lines of a multi-line reply,
// joined with \n), pumping the loop until it arrives.
func (h *pi) next() string {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.buf += h.tr.Take()
		if r, rest, ok := cutReply(h.buf); ok {
			h.buf = rest
			require.NotRegexp(h.t, packagePrefix, r, "a reply names an internal package")
			return r
		}
		require.True(h.t, time.Now().Before(deadline), "no reply; have %q", h.buf)
		h.tr.FakeLoop.WaitPending(50 * time.Millisecond)
	}
}

// packagePrefix finds an internal package's error prefix ("dtp: ...",
// "shell: ...") in a reply: every reply of every PI test is checked, so
// an error text that leaks into a reply fails the test that provokes it.
var packagePrefix = regexp.MustCompile(`\b(auth|ban|deferred|dtp|ftp|ftptls|ftpwire|listing|local|shell): `)

// cutReply takes the first complete reply off s (its lines joined with
// \n) with ftpwire's Assembler. A line outside a reply that has no code,
// which a client would drop, is returned as a reply of its own, so that
// the checks of the caller see it.
func cutReply(s string) (string, string, bool) {
	var a ftpwire.Assembler
	for {
		i := strings.Index(s, "\r\n")
		if i < 0 {
			return "", "", false
		}
		line := s[:i]
		s = s[i+2:]
		r, done, err := a.Add(line)
		switch {
		case err != nil:
			return line, s, true
		case done:
			return r.String(), s, true
		case !a.Pending():
			return line, s, true
		}
	}
}

// cmd sends a line and returns its reply.
func (h *pi) cmd(line string) string {
	h.t.Helper()
	h.send(line)
	return h.next()
}

// quiet asserts no reply is pending after running the loop's queue.
func (h *pi) quiet() {
	h.t.Helper()
	h.tr.FakeLoop.RunPending()
	require.Empty(h.t, h.buf+h.tr.Out.String(), "unexpected output")
}

func (h *pi) login() {
	h.t.Helper()
	require.Equal(h.t, "220 gnetftp FTP server ready.", h.next())
	require.Equal(h.t, "331 Password required for alice.", h.cmd("USER alice"))
	require.Equal(h.t, "230 User logged in, proceed", h.cmd("PASS secret"))
}

func (h *pi) loginAnonymous() {
	h.t.Helper()
	require.Equal(h.t, "220 gnetftp FTP server ready.", h.next())
	require.Equal(h.t, "331 Guest login ok, type your email address as password.", h.cmd("USER anonymous"))
	require.Equal(h.t, "230 Anonymous login ok, access restrictions apply.", h.cmd("PASS guest@"))
}

// pasv sends PASV and connects to the announced port.
func (h *pi) pasv() *net.TCPConn {
	h.t.Helper()
	r := h.cmd("PASV")
	a, err := ftpwire.ParsePASVReply(r)
	require.NoError(h.t, err, r)
	c, err := net.DialTimeout("tcp", a.String(), 5*time.Second)
	require.NoError(h.t, err)
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	h.t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func readAll(t *testing.T, c net.Conn) string {
	t.Helper()
	b, err := io.ReadAll(bufio.NewReader(c))
	require.NoError(t, err)
	return string(b)
}

func writeFile(t *testing.T, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}
