package hooks_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/hooks"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var who = ftp.SessionInfo{Peer: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 4000}, User: "bob"}

// A failed transfer runs the hook too, FTPD_RESULT=failed with the
// error; a hook that fails is logged with its output's end.
func TestFailedTransferAndFailingHook(t *testing.T) {
	dir := t.TempDir()
	var logs syncBuffer
	r := hooks.New(hooks.Config{
		OnUpload:   `echo "$FTPD_RESULT|$FTPD_ERROR|$FTPD_SIZE|$FTPD_PEER|$FTPD_USER|$FTPD_PATH" > ` + filepath.Join(dir, "out"),
		OnDownload: "echo some complaint >&2; exit 3",
		Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
	})
	r.TransferDone(ftp.TransferEvent{SessionInfo: who, Command: "APPE", Path: "/x", LocalPath: "/srv/x", Bytes: 7, Err: errors.New("disk full")})
	r.TransferDone(ftp.TransferEvent{SessionInfo: who, Command: "RETR", Path: "/x", Complete: true})
	r.TransferDone(ftp.TransferEvent{SessionInfo: who, Command: "LIST", Path: "/"}) // no hook
	r.FileChanged(ftp.FileEvent{SessionInfo: who, Command: "DELE", Path: "/x"})     // no --on-delete
	r.Close()
	assert.Equal(t, int64(2), r.Ran())
	b, err := os.ReadFile(filepath.Join(dir, "out"))
	require.NoError(t, err)
	assert.Equal(t, "failed|disk full|7|192.0.2.7|bob|/srv/x\n", string(b))
	assert.Contains(t, logs.String(), `msg="hook failed" event=download path=/x err="exit status 3" output="some complaint\n"`)
}

// Events beyond the queue run nothing and are counted, without blocking
// the caller (an event loop).
func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	r := hooks.New(hooks.Config{OnDelete: "sleep 0.2", MaxRunning: 1, Queue: 2, Logger: slog.New(slog.NewTextHandler(&syncBuffer{}, nil))})
	start := time.Now()
	for range 20 {
		r.FileChanged(ftp.FileEvent{SessionInfo: who, Command: "DELE", Path: "/x"})
	}
	assert.Less(t, time.Since(start), 150*time.Millisecond)
	r.Close()
	assert.LessOrEqual(t, r.Ran(), int64(3))
	assert.Equal(t, int64(20), r.Ran()+r.Dropped())
}

// The timeout kills the whole process group: a shell's child too.
func TestTimeoutKillsTheGroup(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "late")
	var logs syncBuffer
	r := hooks.New(hooks.Config{OnDelete: "(sleep 2; touch " + marker + ") & wait", Timeout: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	start := time.Now()
	r.FileChanged(ftp.FileEvent{SessionInfo: who, Command: "DELE", Path: "/x"})
	r.Close()
	assert.Less(t, time.Since(start), 1500*time.Millisecond)
	assert.True(t, strings.Contains(logs.String(), "killed after 200ms"), logs.String())
	time.Sleep(2500 * time.Millisecond)
	assert.NoFileExists(t, marker, "the child was killed with its shell")
}
