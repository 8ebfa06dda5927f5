package tlsref_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/bench/tlsref"
	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/internal/testcert"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

// conn is a blocking FTP control connection for the test.
type conn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (c *conn) reply() string {
	c.t.Helper()
	_ = c.c.SetDeadline(time.Now().Add(10 * time.Second))
	l, err := c.r.ReadString('\n')
	require.NoError(c.t, err)
	return strings.TrimRight(l, "\r\n")
}

func (c *conn) cmd(line string) string {
	c.t.Helper()
	_, err := c.c.Write([]byte(line + "\r\n"))
	require.NoError(c.t, err)
	return c.reply()
}

// TestDialogue: the replies of the reference server's dialogue in the
// order a benchmark sends it, its refusals, and Close ending a session
// that is still open (goleak checks its goroutine is gone).
func TestDialogue(t *testing.T) {
	pair := testcert.MustNew()
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s, err := tlsref.Serve(ln, tlsref.Config{TLS: pair.ServerConfig(), User: "u", Pass: "p", Root: root, RequireReuse: true})
	require.NoError(t, err)
	defer s.Close()

	raw, err := net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer raw.Close()
	c := &conn{t: t, c: raw, r: bufio.NewReader(raw)}
	assert.Equal(t, "220 tlsref ready.", c.reply())
	assert.Equal(t, "503 PBSZ needs TLS first.", c.cmd("PBSZ 0"))
	assert.Equal(t, "530 Please log in with USER and PASS.", c.cmd("RETR f"))
	assert.Equal(t, "504 Unknown AUTH type.", c.cmd("AUTH KERBEROS"))
	assert.Equal(t, "234 Proceed with negotiation.", c.cmd("AUTH TLS"))
	tc := tls.Client(raw, &tls.Config{RootCAs: pair.Pool, ServerName: "127.0.0.1"})
	require.NoError(t, tc.Handshake())
	c.c, c.r = tc, bufio.NewReader(tc)
	assert.Equal(t, "503 Already using TLS.", c.cmd("AUTH TLS"))
	assert.Equal(t, "503 PBSZ first.", c.cmd("PROT P"))
	assert.Equal(t, "331 Password please.", c.cmd("USER u"))
	assert.Equal(t, "530 Login incorrect.", c.cmd("PASS wrong"))
	assert.Equal(t, "331 Password please.", c.cmd("USER u"))
	assert.Equal(t, "230 Logged in.", c.cmd("PASS p"))
	assert.Equal(t, "200 PBSZ=0", c.cmd("PBSZ 0"))
	assert.Equal(t, "504 PROT P or C only.", c.cmd("PROT S"))
	assert.Equal(t, "200 Protection set.", c.cmd("PROT P"))
	assert.Equal(t, "502 Command not implemented.", c.cmd("SITE CHMOD 777 f"))
	assert.Equal(t, "550 No such file.", c.cmd("RETR ../../../etc/hostname"), "paths stay inside Root")
	assert.Equal(t, "425 Use EPSV or PASV first.", c.cmd("RETR f"))
	assert.Equal(t, "200 NOOP ok.", c.cmd("NOOP"))
	// An idle session, then Close: its goroutine ends.
}
