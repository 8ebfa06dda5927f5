package local_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/local"
	"github.com/gnetftp/gnetftp/ftp/shell/shelltest"
)

// The whole contract again with uploads in hidden named files (as on a
// filesystem without O_TMPFILE): the on-disk checks of the suite then see
// the temporary files, which no method may reach.
func TestLocalConformanceWithNamedUploads(t *testing.T) {
	shelltest.Run(t, func(t *testing.T) (shell.Shell, string) {
		dir := t.TempDir()
		l, err := local.NewNamedUploads(dir)
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		return l, dir
	})
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// Where the filesystem has O_TMPFILE (Linux: tmpfs, ext4, xfs, btrfs),
// an upload has no name at all until Commit puts it in place.
func TestUploadHasNoNameUntilCommit(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("O_TMPFILE is Linux's")
	}
	sh, dir := newLocal(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "keep"), []byte("old"), 0o644))
	w, err := sh.OpenForWriting("/keep", 0, false)
	require.NoError(t, err)
	_, err = w.Write([]byte("new"))
	require.NoError(t, err)
	n, err := sh.OpenForWriting("/new", 0, false)
	require.NoError(t, err)
	_, err = n.Write([]byte("never"))
	require.NoError(t, err)
	assert.Equal(t, []string{"keep"}, dirNames(t, dir), "nothing on disk shows the uploads")
	require.NoError(t, w.Commit())
	require.NoError(t, n.Abort())
	assert.Equal(t, []string{"keep"}, dirNames(t, dir))
	b, err := os.ReadFile(filepath.Join(dir, "keep"))
	require.NoError(t, err)
	assert.Equal(t, "new", string(b))
}

// Clients cannot create, see or reach a name reserved for uploads.
func TestReservedUploadNames(t *testing.T) {
	sh, dir := newLocal(t)
	name := local.TempPrefix + "0123456789abcdef"
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("debris"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "d"), 0o755))
	infos, err := sh.List("/")
	require.NoError(t, err)
	assert.Len(t, infos, 1, "only d")
	_, err = sh.Stat("/" + name)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, err = sh.OpenForWriting("/d/"+name, 0, false)
	assert.ErrorIs(t, err, fs.ErrPermission, "STOR of a reserved name")
	_, err = sh.OpenForWriting("/"+local.TempPrefix+"x", -1, true)
	assert.ErrorIs(t, err, fs.ErrPermission, "APPE of a reserved name")
	assert.ErrorIs(t, sh.MakeDirectory("/"+local.TempPrefix+"dir"), fs.ErrPermission)
	assert.ErrorIs(t, sh.Rename("/d", "/"+local.TempPrefix+"d"), fs.ErrPermission)
	_, err = sh.OpenForReading("/"+name+"/x", 0)
	assert.ErrorIs(t, err, fs.ErrNotExist, "not as a directory either")
	assert.Equal(t, []string{name, "d"}, dirNames(t, dir), "nothing changed on disk")
}

// A server killed during named uploads leaves their files; the next
// start removes them (and only them), in the background.
func TestStaleUploadsAreRemovedAtStart(t *testing.T) {
	dir := t.TempDir()
	stale := []string{
		filepath.Join(dir, local.TempPrefix+"0000000000000001"),
		filepath.Join(dir, "a", "b", local.TempPrefix+"0000000000000002"),
	}
	keep := []string{
		filepath.Join(dir, "a", ".hidden"),
		filepath.Join(dir, "a", "b", "file"),
		filepath.Join(dir, "a", local.TempPrefix+"0000000000000003"), // an upload of another server, still moving
	}
	old := time.Now().Add(-time.Hour)
	for _, p := range append(append([]string{}, stale...), keep...) {
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	}
	for _, p := range stale {
		require.NoError(t, os.Chtimes(p, old, old))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, local.TempPrefix+"0000000000000004"), 0o755))
	require.NoError(t, os.Chtimes(filepath.Join(dir, local.TempPrefix+"0000000000000004"), old, old))
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, local.TempPrefix+"0000000000000005"), nil, 0o644))
	require.NoError(t, os.Chtimes(filepath.Join(outside, local.TempPrefix+"0000000000000005"), old, old))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "out")))

	l, err := local.New(dir)
	require.NoError(t, err)
	defer l.Close()
	removed, whole := l.SweepResult()
	assert.Equal(t, len(stale), removed, "the stale uploads, and nothing else")
	assert.True(t, whole, "the whole tree was walked")
	for _, p := range stale {
		_, err := os.Lstat(p)
		assert.ErrorIs(t, err, fs.ErrNotExist, p)
	}
	for _, p := range keep {
		_, err := os.Lstat(p)
		assert.NoError(t, err, p)
	}
	_, err = os.Lstat(filepath.Join(dir, local.TempPrefix+"0000000000000004"))
	assert.NoError(t, err, "only regular files are removed")
	_, err = os.Lstat(filepath.Join(outside, local.TempPrefix+"0000000000000005"))
	assert.NoError(t, err, "the sweep does not follow symlinks out of the root")
}

// Close ends a sweep still under way (here: one that has not begun).
func TestCloseStopsTheSweep(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 100; i++ {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "d", string(rune('a'+i%26)), string(rune('a'+i/26))), 0o755))
	}
	l, err := local.New(dir)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	select {
	case <-local.Swept(l):
	default:
		t.Fatal("Close returned before the sweep ended")
	}
}

// A realm's SweepResult is its root's sweep (which covers the homes
// under it) and the anonymous root's, when that lies outside the root.
func TestRealmSweepResultCountsBothRoots(t *testing.T) {
	root, anon := t.TempDir(), t.TempDir()
	old := time.Now().Add(-time.Hour)
	for _, p := range []string{
		filepath.Join(root, "alice", local.TempPrefix+"0000000000000001"),
		filepath.Join(root, local.TempPrefix+"0000000000000002"),
		filepath.Join(anon, local.TempPrefix+"0000000000000003"),
	} {
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
		require.NoError(t, os.Chtimes(p, old, old))
	}
	r, err := local.NewRealm(local.RealmConfig{Root: root, AnonymousRoot: anon})
	require.NoError(t, err)
	defer r.Close()
	removed, whole := r.SweepResult()
	assert.Equal(t, 3, removed)
	assert.True(t, whole)
}

// BenchmarkUpload is a small STOR's filesystem side (open, 4 KiB,
// commit) with the unnamed O_TMPFILE file against the hidden named one,
// and against main's way (the named file through os.Root paths) as the
// reference; on tmpfs when the temporary directory is elsewhere.
func BenchmarkUpload(b *testing.B) {
	data := make([]byte, 4096)
	dir := b.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "gnetftp-upload-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	run := func(b *testing.B, sh shell.Shell) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			w, err := sh.OpenForWriting("/f.bin", 0, false)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := w.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	unnamed, err := local.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer unnamed.Close()
	named, err := local.NewNamedUploads(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer named.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	b.Run("O_TMPFILE", func(b *testing.B) { run(b, unnamed) })
	b.Run("named", func(b *testing.B) { run(b, named) })
	b.Run("reference-root-paths", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := root.Stat("f.bin"); err != nil && !os.IsNotExist(err) {
				b.Fatal(err)
			}
			f, err := root.OpenFile(".f.bin.upload-0123456789ab", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			if err := root.Rename(".f.bin.upload-0123456789ab", "f.bin"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// CreateExclusive (STOU) never replaces a file: not one there at open,
// nor one put there during the upload; with either kind of upload file.
func TestCreateExclusiveNeverReplaces(t *testing.T) {
	for _, named := range []bool{false, true} {
		dir := t.TempDir()
		var l *local.Local
		var err error
		if named {
			l, err = local.NewNamedUploads(dir)
		} else {
			l, err = local.New(dir)
		}
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		require.NoError(t, os.WriteFile(filepath.Join(dir, "taken"), []byte("old"), 0o644))
		_, err = l.CreateExclusive("/taken")
		assert.ErrorIs(t, err, fs.ErrExist)

		w, err := l.CreateExclusive("/new")
		require.NoError(t, err)
		_, err = w.Write([]byte("data"))
		require.NoError(t, err)
		assert.Empty(t, filterVisible(dirNames(t, dir), "taken"), "nothing visible before Commit")
		require.NoError(t, w.Commit())
		b, err := os.ReadFile(filepath.Join(dir, "new"))
		require.NoError(t, err)
		assert.Equal(t, "data", string(b))

		w, err = l.CreateExclusive("/race")
		require.NoError(t, err)
		_, err = w.Write([]byte("mine"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "race"), []byte("theirs"), 0o644))
		assert.ErrorIs(t, w.Commit(), fs.ErrExist)
		b, err = os.ReadFile(filepath.Join(dir, "race"))
		require.NoError(t, err)
		assert.Equal(t, "theirs", string(b), "the file put there meanwhile stays")
		assert.ElementsMatch(t, []string{"new", "race", "taken"}, dirNames(t, dir), "no upload file left (named=%v)", named)
	}
}

// filterVisible drops the names in skip and hidden upload files.
func filterVisible(names []string, skip ...string) []string {
	var out []string
	for _, n := range names {
		if n != skip[0] && !strings.HasPrefix(n, ".gnetftp-upload-") {
			out = append(out, n)
		}
	}
	return out
}
