package ftp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
)

// stou uploads content with STOU arg and returns the 150's text.
func (h *pi) stou(arg, content string) string {
	h.t.Helper()
	data := h.pasv()
	first := h.cmd(strings.TrimSpace("STOU " + arg))
	require.Regexp(h.t, `^150 FILE: `, first)
	_, err := data.Write([]byte(content))
	require.NoError(h.t, err)
	data.Close()
	require.Equal(h.t, "226 Transfer Complete.", h.next())
	return first
}

// STOU (RFC 959, RFC 1123 4.1.2.9): "150 FILE: name", a name that
// exists nowhere in the directory, the upload under it.
func TestSTOUPicksAUniqueName(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(h.root, filepath.FromSlash(name)))
		require.NoError(t, err, name)
		return string(b)
	}
	first := h.stou("", "one")
	assert.Regexp(t, `^150 FILE: stou\.[0-9a-f]{8}$`, first)
	assert.Equal(t, "one", read(strings.TrimPrefix(first, "150 FILE: ")))

	writeFile(t, h.root, "a.txt", "old")
	assert.Equal(t, "150 FILE: a.txt.1", h.stou("a.txt", "two"))
	assert.Equal(t, "150 FILE: a.txt.2", h.stou("a.txt", "three"))
	assert.Equal(t, "old", read("a.txt"), "never replaces")
	assert.Equal(t, "two", read("a.txt.1"))
	assert.Equal(t, "three", read("a.txt.2"))
	assert.Equal(t, "150 FILE: new.txt", h.stou("new.txt", "four"))
	assert.Equal(t, "four", read("new.txt"))

	writeFile(t, h.root, "sub/x", "old")
	assert.Equal(t, "150 FILE: sub/x.1", h.stou("sub/x", "five"))
	assert.Equal(t, "five", read("sub/x.1"))
	assert.Equal(t, "250 Requested File Action Completed OK", h.cmd("CWD sub"))
	assert.Equal(t, "150 FILE: x.2", h.stou("x", "six"), "in the working directory")
	assert.Equal(t, "six", read("sub/x.2"))

	assert.Equal(t, "425 Use PORT, PASV, EPRT or EPSV first.", h.cmd("STOU"))
	h.pasv()
	assert.Equal(t, "550 nodir/x: No such file or directory.", h.cmd("STOU nodir/x"))
	h.pasv()
	assert.Equal(t, "550 /: is a directory", h.cmd("STOU /"))
}

// An interrupted STOU leaves nothing, as STOR.
func TestSTOUIsAtomic(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	data := h.pasv()
	assert.Equal(t, "150 FILE: part", h.cmd("STOU part"))
	_, err := data.Write([]byte("half"))
	require.NoError(t, err)
	assert.Equal(t, "426 Transfer aborted.  Data connection closed.", h.cmd("ABOR"))
	assert.Equal(t, "226 Abort successful", h.next())
	entries, err := os.ReadDir(h.root)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func TestSTOURefusedToAnonymous(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) { c.AllowAnonymous = true })
	h.loginAnonymous()
	h.pasv()
	assert.Equal(t, "550 x: Permission denied.", h.cmd("STOU x"))
}
