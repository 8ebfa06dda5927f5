package ftp_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
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
