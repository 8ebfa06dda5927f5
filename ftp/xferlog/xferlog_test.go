package xferlog_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/xferlog"
)

var peer = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}

// The line has the 14 fields of wu-ftpd's format, in its order, as
// ProFTPD's and vsftpd's example show it.
func TestLineFormat(t *testing.T) {
	end := time.Date(2024, 1, 1, 0, 0, 1, 0, time.UTC)
	for _, c := range []struct {
		e    ftp.TransferEvent
		want string
	}{
		{ftp.TransferEvent{SessionInfo: ftp.SessionInfo{Peer: peer, User: "u"}, Command: "RETR", Path: "/a.txt",
			LocalPath: "/home/u/a.txt", Bytes: 6000, Duration: 300 * time.Millisecond, Complete: true},
			"Mon Jan  1 00:00:01 2024 1 192.0.2.7 6000 /home/u/a.txt b _ o r u ftp 0 * c\n"},
		{ftp.TransferEvent{SessionInfo: ftp.SessionInfo{Peer: peer, User: "anonymous", Anonymous: true}, Command: "STOR",
			Path: "/in/my file\x01.txt", Bytes: 12, Duration: 2600 * time.Millisecond, ASCII: true, Err: errors.New("x")},
			"Mon Jan  1 00:00:01 2024 3 192.0.2.7 12 /in/my_file_.txt a _ i a anonymous ftp 0 * i\n"},
	} {
		assert.Equal(t, c.want, string(xferlog.AppendLine(nil, c.e, end)))
	}
}

// Listings are not file transfers; every file transfer is a line, in
// order, and Reopen moves to a new file at the path (logrotate).
func TestOpenWritesFileTransfersAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xferlog")
	l, err := xferlog.Open(path, xferlog.Config{Location: time.UTC})
	require.NoError(t, err)
	ev := ftp.TransferEvent{SessionInfo: ftp.SessionInfo{Peer: peer, User: "u"}, Command: "RETR", Path: "/a", Complete: true}
	l.TransferDone(ev)
	l.TransferDone(ftp.TransferEvent{SessionInfo: ev.SessionInfo, Command: "LIST", Path: "/"})
	ev.Command = "APPE"
	l.TransferDone(ev)
	require.Eventually(t, func() bool { b, _ := os.ReadFile(path); return strings.Count(string(b), "\n") == 2 }, 10*time.Second, time.Millisecond)
	require.NoError(t, os.Rename(path, path+".1"))
	require.NoError(t, l.Reopen())
	ev.Command = "STOR"
	l.TransferDone(ev)
	require.NoError(t, l.Close())
	l.TransferDone(ev) // after Close: ignored
	old, err := os.ReadFile(path + ".1")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(old)), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[0], " /a b _ o r u ")
	assert.Contains(t, lines[1], " /a b _ i r u ")
	cur, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(cur), "\n"))
}

// blocked is a writer that waits until released.
type blocked struct {
	release chan struct{}
	buf     bytes.Buffer
}

func (b *blocked) Write(p []byte) (int, error) { <-b.release; return b.buf.Write(p) }

// A writer that falls behind costs the event loops nothing: lines over
// the queue are dropped and counted, never waited for.
func TestSlowWriterDropsInsteadOfBlocking(t *testing.T) {
	w := &blocked{release: make(chan struct{})}
	l := xferlog.New(w, xferlog.Config{Queue: 2})
	ev := ftp.TransferEvent{SessionInfo: ftp.SessionInfo{Peer: peer, User: "u"}, Command: "RETR", Path: "/a", Complete: true}
	done := make(chan struct{})
	go func() {
		for range 100 {
			l.TransferDone(ev)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("TransferDone blocked on a slow writer")
	}
	assert.GreaterOrEqual(t, l.Dropped(), int64(90))
	close(w.release)
	require.NoError(t, l.Close())
}
