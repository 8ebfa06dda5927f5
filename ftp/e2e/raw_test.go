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

	"github.com/gnetftp/gnetftp/ftp/ftpwire"
)

// rawConn speaks FTP by hand, to send what real clients never would.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	rd *bufio.Reader
}

func rawDial(t *testing.T, s *server) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.addr, 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := &rawConn{t: t, c: c, rd: bufio.NewReader(c)}
	r.expect("220")
	return r
}

// reply reads one whole reply (multi-line aware) and returns its last line.
func (r *rawConn) reply() string {
	r.t.Helper()
	line, err := r.rd.ReadString('\n')
	require.NoError(r.t, err, "reading a reply")
	if len(line) >= 4 && line[3] == '-' {
		end := line[:3] + " "
		for {
			l, err := r.rd.ReadString('\n')
			require.NoError(r.t, err)
			if strings.HasPrefix(l, end) {
				return strings.TrimRight(l, "\r\n")
			}
		}
	}
	return strings.TrimRight(line, "\r\n")
}

func (r *rawConn) expect(code string) string {
	r.t.Helper()
	l := r.reply()
	require.True(r.t, strings.HasPrefix(l, code), "want %s, got %q", code, l)
	return l
}

func (r *rawConn) cmd(line string) string {
	r.t.Helper()
	_, err := r.c.Write([]byte(line + "\r\n"))
	require.NoError(r.t, err)
	return r.reply()
}

func (r *rawConn) login() {
	r.t.Helper()
	assert.Regexp(r.t, `^331`, r.cmd("USER alice"))
	assert.Regexp(r.t, `^230`, r.cmd("PASS secret"))
}

func pasvAddr(t *testing.T, reply string) string {
	t.Helper()
	a, err := ftpwire.ParsePASVReply(reply)
	require.NoError(t, err, "PASV reply %q", reply)
	return a.String()
}

func TestDataConnectionFromAnotherHostIsRefused(t *testing.T) {
	s := startFTPD(t)
	require.NoError(t, os.WriteFile(filepath.Join(s.root, "f.txt"), []byte("secret data"), 0o644))
	r := rawDial(t, s)
	r.login()
	addr := pasvAddr(t, r.cmd("PASV"))
	assert.True(t, strings.HasPrefix(addr, "127.0.0.1:"), addr)

	// A thief on another loopback address connects first: it gets nothing.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	thief, err := d.Dial("tcp", addr)
	if err == nil {
		_ = thief.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = r.c.Write([]byte("RETR f.txt\r\n"))
		stolen, _ := io.ReadAll(thief)
		assert.Empty(t, stolen, "no data to a stranger")
		thief.Close()
		// The real client then connects and gets the file.
		data, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		_ = data.SetDeadline(time.Now().Add(10 * time.Second))
		got, _ := io.ReadAll(data)
		data.Close()
		assert.Equal(t, "secret data", string(got))
		assert.Regexp(t, `^1[25]0`, r.reply())
		assert.Regexp(t, `^226`, r.reply())
	}
	assert.Regexp(t, `^200`, r.cmd("NOOP"), "the session goes on")
}

func TestPORTBounceProtection(t *testing.T) {
	s := startFTPD(t)
	r := rawDial(t, s)
	r.login()
	assert.Regexp(t, `^5\d\d`, r.cmd("PORT 127,0,0,2,200,10"), "a third host is refused")
	assert.Regexp(t, `^5\d\d`, r.cmd("PORT 127,0,0,1,0,21"), "a privileged port is refused")
	assert.Regexp(t, `^5\d\d`, r.cmd("EPRT |1|127.0.0.2|51210|"), "EPRT to a third host is refused")
	assert.Regexp(t, `^5\d\d`, r.cmd("EPRT |1|127.0.0.1|25|"), "EPRT to a privileged port is refused")
	assert.Regexp(t, `^501`, r.cmd("PORT 1,2,3"), "malformed")
	assert.Regexp(t, `^200`, r.cmd("NOOP"))
}

func TestBadInputOverTheWire(t *testing.T) {
	s := startFTPD(t)

	t.Run("pipelined commands answered in order", func(t *testing.T) {
		r := rawDial(t, s)
		_, err := r.c.Write([]byte("USER alice\r\nPASS secret\r\nPWD\r\nSYST\r\nNOOP\r\n"))
		require.NoError(t, err)
		assert.Regexp(t, `^331`, r.reply())
		assert.Regexp(t, `^230`, r.reply())
		assert.Equal(t, `257 "/" is the current directory`, r.reply()[:len(`257 "/" is the current directory`)])
		assert.Regexp(t, `^215`, r.reply())
		assert.Regexp(t, `^200`, r.reply())
	})

	t.Run("over-long line closes the connection", func(t *testing.T) {
		r := rawDial(t, s)
		_, _ = r.c.Write([]byte("USER " + strings.Repeat("a", 20000) + "\r\n"))
		rest, _ := io.ReadAll(r.rd)
		assert.NotContains(t, string(rest), "331", "the long line is not executed")
		// and the server still serves others
		r2 := rawDial(t, s)
		assert.Regexp(t, `^200`, func() string { r2.login(); return r2.cmd("NOOP") }())
	})

	t.Run("unknown and malformed commands", func(t *testing.T) {
		r := rawDial(t, s)
		assert.Regexp(t, `^530`, r.cmd("LIST"), "login first")
		r.login()
		assert.Regexp(t, `^500`, r.cmd("FROB"))
		assert.Regexp(t, `^50[01]`, r.cmd("TYPE"))
		assert.Regexp(t, `^504`, r.cmd("TYPE X"))
		assert.Regexp(t, `^50[01]`, r.cmd("MKD"))
		assert.Regexp(t, `^503`, r.cmd("RNTO x"))
		assert.Regexp(t, `^550`, r.cmd("CWD /../../../../etc"))
		assert.Regexp(t, `^550`, r.cmd("SIZE ../../../etc/passwd"))
		assert.Regexp(t, `^257 "/"`, r.cmd("PWD"), "still in the root")
		assert.Regexp(t, `^200`, r.cmd("NOOP"))
		assert.Regexp(t, `^221`, r.cmd("QUIT"))
	})
}
