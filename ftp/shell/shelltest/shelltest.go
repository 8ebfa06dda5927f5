// Package shelltest is the conformance suite every shell.Shell backend
// runs (Twisted's IFTPShellTestsMixin): the same behaviour and the same
// error kinds whatever stores the files.
package shelltest

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// Factory returns a fresh, empty shell and the directory on disk behind
// it ("" if it has none: on-disk checks are then skipped).
type Factory func(t *testing.T) (sh shell.Shell, dir string)

// Run runs the read-write conformance suite.
func Run(t *testing.T, newShell Factory) {
	t.Run("MakeAndRemoveDirectory", func(t *testing.T) {
		sh, _ := newShell(t)
		require.NoError(t, sh.MakeDirectory("/d"))
		assert.ErrorIs(t, sh.MakeDirectory("/d"), fs.ErrExist)
		assert.ErrorIs(t, sh.MakeDirectory("/no/parent"), fs.ErrNotExist)
		require.NoError(t, sh.Access("/d"))
		require.NoError(t, sh.MakeDirectory("/d/e"))
		assert.Error(t, sh.RemoveDirectory("/d"), "not empty")
		require.NoError(t, sh.RemoveDirectory("/d/e"))
		require.NoError(t, sh.RemoveDirectory("/d"))
		assert.ErrorIs(t, sh.Access("/d"), fs.ErrNotExist)
		assert.ErrorIs(t, sh.RemoveDirectory("/d"), fs.ErrNotExist)
	})
	t.Run("WriteReadStatList", func(t *testing.T) {
		sh, dir := newShell(t)
		put(t, sh, "/b.txt", "hello")
		put(t, sh, "/a.txt", "x")
		require.NoError(t, sh.MakeDirectory("/c"))
		assert.Equal(t, "hello", get(t, sh, "/b.txt", 0))
		assert.Equal(t, "llo", get(t, sh, "/b.txt", 2), "offset (REST)")
		fi, err := sh.Stat("/b.txt")
		require.NoError(t, err)
		assert.Equal(t, int64(5), fi.Size())
		assert.False(t, fi.IsDir())
		infos, err := sh.List("/")
		require.NoError(t, err)
		var names []string
		for _, i := range infos {
			names = append(names, i.Name())
		}
		assert.Equal(t, []string{"a.txt", "b.txt", "c"}, names, "sorted by name")
		one, err := sh.List("/b.txt")
		require.NoError(t, err)
		require.Len(t, one, 1, "a file lists as itself")
		assert.Equal(t, "b.txt", one[0].Name())
		if dir != "" {
			b, err := os.ReadFile(filepath.Join(dir, "b.txt"))
			require.NoError(t, err)
			assert.Equal(t, "hello", string(b))
		}
	})
	t.Run("ErrorKinds", func(t *testing.T) {
		sh, _ := newShell(t)
		put(t, sh, "/f", "x")
		require.NoError(t, sh.MakeDirectory("/d"))
		_, err := sh.OpenForReading("/missing", 0)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		_, err = sh.OpenForReading("/d", 0)
		assert.ErrorIs(t, err, shell.ErrIsDir)
		_, err = sh.OpenForWriting("/d", 0, false)
		assert.ErrorIs(t, err, shell.ErrIsDir)
		assert.ErrorIs(t, sh.RemoveFile("/d"), shell.ErrIsDir)
		assert.ErrorIs(t, sh.RemoveDirectory("/f"), shell.ErrNotDir)
		assert.ErrorIs(t, sh.Access("/f"), shell.ErrNotDir)
		assert.ErrorIs(t, sh.RemoveFile("/missing"), fs.ErrNotExist)
		_, err = sh.Stat("/missing")
		assert.ErrorIs(t, err, fs.ErrNotExist)
		_, err = sh.List("/missing")
		assert.ErrorIs(t, err, fs.ErrNotExist)
	})
	t.Run("Rename", func(t *testing.T) {
		sh, _ := newShell(t)
		put(t, sh, "/old", "content")
		require.NoError(t, sh.MakeDirectory("/sub"))
		require.NoError(t, sh.Rename("/old", "/sub/new"))
		assert.Equal(t, "content", get(t, sh, "/sub/new", 0))
		_, err := sh.Stat("/old")
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.ErrorIs(t, sh.Rename("/missing", "/x"), fs.ErrNotExist)
	})
	t.Run("AtomicUploadKeepsOldFileOnAbort", func(t *testing.T) {
		sh, _ := newShell(t)
		put(t, sh, "/f", "old")
		w, err := sh.OpenForWriting("/f", 0, false)
		require.NoError(t, err)
		_, err = w.Write([]byte("new but failed"))
		require.NoError(t, err)
		assert.Equal(t, "old", get(t, sh, "/f", 0), "the old file is intact during the upload")
		require.NoError(t, w.Abort())
		assert.Equal(t, "old", get(t, sh, "/f", 0))
		infos, _ := sh.List("/")
		assert.Len(t, infos, 1, "no temporary file left behind")
		put(t, sh, "/f", "replaced")
		assert.Equal(t, "replaced", get(t, sh, "/f", 0))
	})
	t.Run("AppendAndOffsetWrites", func(t *testing.T) {
		sh, _ := newShell(t)
		put(t, sh, "/f", "abc")
		w, err := sh.OpenForWriting("/f", -1, true)
		require.NoError(t, err)
		_, _ = w.Write([]byte("def"))
		require.NoError(t, w.Commit())
		assert.Equal(t, "abcdef", get(t, sh, "/f", 0))
		w, err = sh.OpenForWriting("/f", 2, false)
		require.NoError(t, err)
		_, _ = w.Write([]byte("XY"))
		require.NoError(t, w.Commit())
		assert.Equal(t, "abXY", get(t, sh, "/f", 0), "REST+STOR writes from the offset and truncates")
	})
	t.Run("NothingEscapesTheRoot", func(t *testing.T) {
		sh, dir := newShell(t)
		for _, p := range []string{"/../etc/passwd", "/../../x"} {
			_, err := sh.OpenForReading(p, 0)
			assert.Error(t, err, p)
		}
		if dir == "" {
			return
		}
		outside := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o644))
		require.NoError(t, os.Symlink(outside, filepath.Join(dir, "link")))
		require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "filelink")))
		_, err := sh.OpenForReading("/link/secret", 0)
		assert.Error(t, err, "a symlinked directory pointing outside is not followed")
		_, err = sh.OpenForReading("/filelink", 0)
		assert.Error(t, err, "a symlinked file pointing outside is not followed")
		_, err = sh.OpenForWriting("/link/new", 0, false)
		assert.Error(t, err)
		_, err = os.Stat(filepath.Join(outside, "new"))
		assert.ErrorIs(t, err, fs.ErrNotExist, "nothing was written outside")
		_, err = sh.List("/link")
		assert.Error(t, err)
	})
}

// RunReadOnly checks a read-only shell: reads work, every change fails
// with shell.ErrReadOnly and changes nothing. newShell's directory is
// pre-filled by the suite through the filesystem, so dir must not be "".
func RunReadOnly(t *testing.T, newShell Factory) {
	sh, dir := newShell(t)
	require.NotEmpty(t, dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), []byte("data"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "d"), 0o755))
	assert.Equal(t, "data", get(t, sh, "/f", 0))
	require.NoError(t, sh.Access("/d"))
	for name, err := range map[string]error{
		"mkdir":  sh.MakeDirectory("/x"),
		"rmdir":  sh.RemoveDirectory("/d"),
		"remove": sh.RemoveFile("/f"),
		"rename": sh.Rename("/f", "/g"),
	} {
		assert.ErrorIs(t, err, shell.ErrReadOnly, name)
	}
	_, err := sh.OpenForWriting("/f", 0, false)
	assert.ErrorIs(t, err, shell.ErrReadOnly)
	b, _ := os.ReadFile(filepath.Join(dir, "f"))
	assert.Equal(t, "data", string(b))
}

func put(t *testing.T, sh shell.Shell, p, content string) {
	t.Helper()
	w, err := sh.OpenForWriting(p, 0, false)
	require.NoError(t, err)
	_, err = io.Copy(w, bytes.NewReader([]byte(content)))
	require.NoError(t, err)
	require.NoError(t, w.Commit())
}

func get(t *testing.T, sh shell.Shell, p string, offset int64) string {
	t.Helper()
	r, err := sh.OpenForReading(p, offset)
	require.NoError(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(b)
}
