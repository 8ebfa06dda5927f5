package ftp_test

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
)

// An upload whose data ends while the control connection's peer has
// closed (a FIN or RST pending: the client died, and the kernel closed
// both of its connections) is not committed: the old file stays, and
// the transfer is logged as failed.
func TestUploadIsNotCommittedWhenTheControlConnectionClosed(t *testing.T) {
	logs := &syncBuffer{}
	h := newPI(t, func(c *ftp.Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	h.login()
	writeFile(t, h.root, "keep.txt", "precious")
	data := h.pasv()
	assert.Regexp(t, `^150`, h.cmd("STOR keep.txt"))
	_, err := data.Write([]byte("the first half of it"))
	require.NoError(t, err)
	h.tr.PeerGone = true // the control connection's FIN is in, not read yet
	require.NoError(t, data.Close())
	assert.Equal(t, "426 Transfer aborted.  Data connection closed.", h.next())
	b, err := os.ReadFile(filepath.Join(h.root, "keep.txt"))
	require.NoError(t, err)
	assert.Equal(t, "precious", string(b))
	entries, err := os.ReadDir(h.root)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "nothing left behind")
	assert.Contains(t, logs.String(), "kind=STOR path="+filepath.Join(h.root, "keep.txt")+" ftp_path=/keep.txt")
	assert.Contains(t, logs.String(), `ok=false err="ftp: control connection closed before the upload could be committed"`)

	// The same upload with the control connection standing is committed.
	h.tr.PeerGone = false
	data = h.pasv()
	assert.Regexp(t, `^150`, h.cmd("STOR keep.txt"))
	_, err = data.Write([]byte("all of it"))
	require.NoError(t, err)
	require.NoError(t, data.Close())
	assert.Equal(t, "226 Transfer Complete.", h.next())
	b, err = os.ReadFile(filepath.Join(h.root, "keep.txt"))
	require.NoError(t, err)
	assert.Equal(t, "all of it", string(b))
}

// A session lost in the middle of an upload: the data that then ends is
// not committed, and the transfer is logged although its final reply can
// never be sent.
func TestTransferOfALostSessionIsLoggedAndNotCommitted(t *testing.T) {
	logs := &syncBuffer{}
	h := newPI(t, func(c *ftp.Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	h.login()
	writeFile(t, h.root, "keep.txt", "precious")
	data := h.pasv()
	assert.Regexp(t, `^150`, h.cmd("STOR keep.txt"))
	_, err := data.Write([]byte("half"))
	require.NoError(t, err)
	h.tr.Lost = true
	h.p.ConnectionLost(nil)
	h.tr.FakeLoop.Stop() // nothing runs on the loop any more
	_ = data.Close()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), `msg="ftp transfer"`) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.Regexp(t, `msg="ftp transfer" .* kind=STOR path=[^ ]*/keep.txt ftp_path=/keep.txt .* ok=false`, logs.String())
	b, err := os.ReadFile(filepath.Join(h.root, "keep.txt"))
	require.NoError(t, err)
	assert.Equal(t, "precious", string(b))
}

// A small binary download whose data connection already waits (the
// common case: the client connects right after the 229) is sent at once
// and answered with the 150 and the 226 together; from a REST offset it
// sends the rest; the transfer is told and the listener kept for the next
// PASV. When the send buffer fills first (a client with a small receive
// buffer, a larger file than the quick path takes by default), the send
// is handed over to the usual path: the client gets the file whole, its
// 150 before the data ends and its 226 after.
func TestSmallDownloadWithItsConnectionWaiting(t *testing.T) {
	rec := &recorder{}
	h := newPI(t, func(c *ftp.Config) { c.Events = rec })
	h.login()
	h.cmd("TYPE I")
	body := strings.Repeat("0123456789abcdef", 1024) // 16 KiB
	writeFile(t, h.root, "f", body)

	for _, rest := range []int{0, 5000} {
		data := h.pasv()
		waitQueued(t)
		if rest > 0 {
			h.cmd("REST " + strconv.Itoa(rest))
		}
		h.send("RETR f")
		assert.Equal(t, "150 File status okay; about to open data connection.", h.next())
		assert.Equal(t, "226 Transfer Complete.", h.next())
		assert.Equal(t, body[rest:], readAll(t, data))
		assert.Equal(t, int64(len(body)-rest), rec.last.Bytes)
		assert.True(t, rec.last.Complete)
	}

	// A client with a small receive buffer, and a download large enough
	// to fill the send buffer: the connection is handed over.
	ftp.SetQuickMax(h.f, 8<<20)
	big := strings.Repeat(body, 512) // 8 MiB
	writeFile(t, h.root, "big", big)
	small := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
	}}
	a, err := ftpwire.ParsePASVReply(h.cmd("PASV"))
	require.NoError(t, err)
	c, err := small.Dial("tcp", a.String())
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	waitQueued(t)
	h.send("RETR big")
	assert.Equal(t, "150 File status okay; about to open data connection.", h.next())
	assert.True(t, big == readAll(t, c), "byte for byte")
	assert.Equal(t, "226 Transfer Complete.", h.next())
	assert.Equal(t, int64(len(big)), rec.last.Bytes)
	assert.True(t, rec.last.Complete)
}

// waitQueued gives a data connection just dialled time to reach the
// listener's queue (the handshake's last ACK on loopback).
func waitQueued(t *testing.T) {
	t.Helper()
	time.Sleep(20 * time.Millisecond)
}
