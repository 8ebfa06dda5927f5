package ftp_test

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
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
			return r
		}
		require.True(h.t, time.Now().Before(deadline), "no reply; have %q", h.buf)
		h.tr.FakeLoop.WaitPending(50 * time.Millisecond)
	}
}

func cutReply(s string) (string, string, bool) {
	var lines []string
	for {
		i := strings.Index(s, "\r\n")
		if i < 0 {
			return "", "", false
		}
		line := s[:i]
		s = s[i+2:]
		lines = append(lines, line)
		if len(lines[0]) >= 4 && lines[0][3] == '-' {
			if len(line) >= 4 && line[:3] == lines[0][:3] && line[3] == ' ' {
				return strings.Join(lines, "\n"), s, true
			}
			continue
		}
		return line, s, true
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

var pasvRE = regexp.MustCompile(`\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`)

// pasv sends PASV and connects to the announced port.
func (h *pi) pasv() *net.TCPConn {
	h.t.Helper()
	r := h.cmd("PASV")
	m := pasvRE.FindStringSubmatch(r)
	require.NotNil(h.t, m, r)
	p1, _ := strconv.Atoi(m[5])
	p2, _ := strconv.Atoi(m[6])
	c, err := net.DialTimeout("tcp", net.JoinHostPort(strings.Join(m[1:5], "."), strconv.Itoa(p1*256+p2)), 5*time.Second)
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
