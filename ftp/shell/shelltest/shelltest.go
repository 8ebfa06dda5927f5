// Package shelltest is the conformance suite every shell.Shell backend
// runs (Twisted's IFTPShellTestsMixin): the same behaviour and the same
// error kinds whatever stores the files, and no way out of the root.
//
// The contract it checks, beyond the Shell doc comments:
//   - errors match (errors.Is) fs.ErrNotExist, fs.ErrExist (also for RMD of
//     a directory with entries), shell.ErrIsDir, shell.ErrNotDir and
//     shell.ErrInvalidPath (a path climbing above "/", a NUL, a relative
//     path, a symlink leading outside the root);
//   - List is sorted by name, a file lists as itself; entries that
//     implement shell.FileInfoOwner have non-empty names;
//   - STOR is atomic: the old content stays readable until Commit, Abort
//     leaves it untouched and no entry behind; APPE and REST+STOR write in
//     place; a second Commit fails, Abort after Commit does nothing;
//   - an upload in progress is invisible: listings (List, ListNames,
//     OpenListing) show only committed files, and whatever the backend
//     keeps on disk for it is reachable by no path (every method fails
//     with fs.ErrNotExist and leaves it alone); nothing of it is left once
//     it is committed or aborted, nor when its directory was renamed
//     meanwhile;
//   - OpenListing gives what List gives (and ListNames, names only), in
//     batches of at most shell.MaxListBatch, and reports a missing path
//     before any entry;
//   - the shell is safe for concurrent use.
package shelltest

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// Factory returns a fresh, empty shell and the directory on disk behind
// it ("" if it has none: on-disk checks, symlinks among them, are then
// skipped).
type Factory func(t *testing.T) (sh shell.Shell, dir string)

// Run runs the read-write conformance suite.
func Run(t *testing.T, newShell Factory) { RunSkipping(t, newShell, nil) }

// RunSkipping is Run with the subtests named in skip skipped, each with
// its reason: for a backend whose storage cannot give what a subtest
// checks (an object store cannot append), said where the suite runs.
func RunSkipping(t *testing.T, newShell Factory, skip map[string]string) {
	run := func(name string, fn func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			if why, ok := skip[name]; ok {
				t.Skip(why)
			}
			fn(t)
		})
	}
	run("MakeAndRemoveDirectory", func(t *testing.T) {
		sh, dir := newShell(t)
		require.NoError(t, sh.MakeDirectory("/d"))
		assert.ErrorIs(t, sh.MakeDirectory("/d"), fs.ErrExist)
		assert.ErrorIs(t, sh.MakeDirectory("/"), fs.ErrExist)
		assert.ErrorIs(t, sh.MakeDirectory("/no/parent"), fs.ErrNotExist, "parents are not created (MKD)")
		require.NoError(t, sh.Access("/d"))
		require.NoError(t, sh.MakeDirectory("/d/e"))
		assert.ErrorIs(t, sh.RemoveDirectory("/d"), fs.ErrExist, "not empty")
		require.NoError(t, sh.RemoveDirectory("/d/e"))
		require.NoError(t, sh.RemoveDirectory("/d"))
		assert.ErrorIs(t, sh.Access("/d"), fs.ErrNotExist)
		assert.ErrorIs(t, sh.RemoveDirectory("/d"), fs.ErrNotExist)
		assert.Error(t, sh.RemoveDirectory("/"), "the root cannot be removed")
		require.NoError(t, sh.Access("/"))
		if dir != "" {
			require.NoError(t, sh.MakeDirectory("/ondisk"))
			fi, err := os.Stat(filepath.Join(dir, "ondisk"))
			require.NoError(t, err)
			assert.True(t, fi.IsDir())
		}
	})
	run("WriteReadStatList", func(t *testing.T) {
		sh, dir := newShell(t)
		put(t, sh, "/b.txt", "hello")
		put(t, sh, "/a.txt", "x")
		require.NoError(t, sh.MakeDirectory("/c"))
		require.NoError(t, sh.MakeDirectory("/B"))
		assert.Equal(t, "hello", get(t, sh, "/b.txt", 0))
		assert.Equal(t, "llo", get(t, sh, "/b.txt", 2), "offset (REST)")
		assert.Equal(t, "", get(t, sh, "/b.txt", 5), "offset at the end")
		fi, err := sh.Stat("/b.txt")
		require.NoError(t, err)
		assert.Equal(t, int64(5), fi.Size())
		assert.False(t, fi.IsDir())
		assert.Equal(t, "b.txt", fi.Name())
		fi, err = sh.Stat("/c")
		require.NoError(t, err)
		assert.True(t, fi.IsDir())
		fi, err = sh.Stat("/")
		require.NoError(t, err)
		assert.True(t, fi.IsDir())
		infos, err := sh.List("/")
		require.NoError(t, err)
		assert.Equal(t, []string{"B", "a.txt", "b.txt", "c"}, names(infos), "sorted by name, byte order")
		for _, i := range infos {
			if o, ok := i.(shell.FileInfoOwner); ok {
				assert.NotEmpty(t, o.Owner(), i.Name())
				assert.NotEmpty(t, o.Group(), i.Name())
			}
		}
		one, err := sh.List("/b.txt")
		require.NoError(t, err)
		require.Len(t, one, 1, "a file lists as itself")
		assert.Equal(t, "b.txt", one[0].Name())
		assert.Equal(t, int64(5), one[0].Size())
		empty, err := sh.List("/c")
		require.NoError(t, err)
		assert.Empty(t, empty)
		assertNamesAgree(t, sh, "/", "/b.txt", "/c")
		if dir != "" {
			b, err := os.ReadFile(filepath.Join(dir, "b.txt"))
			require.NoError(t, err)
			assert.Equal(t, "hello", string(b))
		}
	})
	run("ErrorKinds", func(t *testing.T) {
		sh, _ := newShell(t)
		put(t, sh, "/f", "x")
		require.NoError(t, sh.MakeDirectory("/d"))
		_, err := sh.OpenForReading("/missing", 0)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		_, err = sh.OpenForReading("/d", 0)
		assert.ErrorIs(t, err, shell.ErrIsDir)
		_, err = sh.OpenForWriting("/d", 0, false)
		assert.ErrorIs(t, err, shell.ErrIsDir)
		_, err = sh.OpenForWriting("/d", -1, true)
		assert.ErrorIs(t, err, shell.ErrIsDir)
		_, err = sh.OpenForWriting("/", 0, false)
		assert.ErrorIs(t, err, shell.ErrIsDir)
		_, err = sh.OpenForWriting("/missing/f", 0, false)
		assert.ErrorIs(t, err, fs.ErrNotExist, "missing parent")
		_, err = sh.OpenForWriting("/f/g", 0, false)
		assert.ErrorIs(t, err, shell.ErrNotDir, "parent is a file")
		assert.ErrorIs(t, sh.MakeDirectory("/f/g"), shell.ErrNotDir)
		assert.ErrorIs(t, sh.RemoveFile("/d"), shell.ErrIsDir)
		assert.ErrorIs(t, sh.RemoveDirectory("/f"), shell.ErrNotDir)
		assert.ErrorIs(t, sh.Access("/f"), shell.ErrNotDir)
		assert.ErrorIs(t, sh.Access("/missing"), fs.ErrNotExist)
		assert.ErrorIs(t, sh.RemoveFile("/missing"), fs.ErrNotExist)
		_, err = sh.Stat("/missing")
		assert.ErrorIs(t, err, fs.ErrNotExist)
		_, err = sh.List("/missing")
		assert.ErrorIs(t, err, fs.ErrNotExist)
		if nl, ok := sh.(shell.NameLister); ok {
			_, err = nl.ListNames("/missing")
			assert.ErrorIs(t, err, fs.ErrNotExist)
			_, err = nl.ListNames("/../x")
			assert.ErrorIs(t, err, shell.ErrInvalidPath)
		}
		assert.NotContains(t, sh.RemoveFile("/d").Error(), "\n", "one-line errors")
		require.NoError(t, sh.RemoveFile("/f"))
		_, err = sh.Stat("/f")
		assert.ErrorIs(t, err, fs.ErrNotExist)
	})
	run("Rename", func(t *testing.T) {
		sh, _ := newShell(t)
		put(t, sh, "/old", "content")
		put(t, sh, "/other", "other")
		require.NoError(t, sh.MakeDirectory("/sub"))
		require.NoError(t, sh.Rename("/old", "/sub/new"))
		assert.Equal(t, "content", get(t, sh, "/sub/new", 0))
		_, err := sh.Stat("/old")
		assert.ErrorIs(t, err, fs.ErrNotExist)
		require.NoError(t, sh.Rename("/other", "/sub/new"), "an existing file is replaced")
		assert.Equal(t, "other", get(t, sh, "/sub/new", 0))
		require.NoError(t, sh.Rename("/sub", "/moved"), "directories move too")
		assert.Equal(t, "other", get(t, sh, "/moved/new", 0))
		assert.ErrorIs(t, sh.Rename("/missing", "/x"), fs.ErrNotExist)
		assert.ErrorIs(t, sh.Rename("/moved/new", "/nodir/x"), fs.ErrNotExist)
		assert.Error(t, sh.Rename("/", "/x"))
	})
	run("AtomicUpload", func(t *testing.T) {
		sh, dir := newShell(t)
		put(t, sh, "/f", "old")
		w, err := sh.OpenForWriting("/f", 0, false)
		require.NoError(t, err)
		_, err = w.Write([]byte("new but failed"))
		require.NoError(t, err)
		assert.Equal(t, "old", get(t, sh, "/f", 0), "the old file is intact during the upload")
		require.NoError(t, w.Abort())
		assert.Equal(t, "old", get(t, sh, "/f", 0))
		infos, err := sh.List("/")
		require.NoError(t, err)
		assert.Equal(t, []string{"f"}, names(infos), "no temporary file left behind")

		w, err = sh.OpenForWriting("/f", 0, false)
		require.NoError(t, err)
		_, err = w.Write([]byte("new"))
		require.NoError(t, err)
		assert.Equal(t, "old", get(t, sh, "/f", 0), "not visible before Commit")
		require.NoError(t, w.Commit())
		assert.Equal(t, "new", get(t, sh, "/f", 0))
		assert.Error(t, w.Commit(), "a second Commit fails")
		assert.NoError(t, w.Abort(), "Abort after Commit does nothing")
		assert.Equal(t, "new", get(t, sh, "/f", 0))
		infos, err = sh.List("/")
		require.NoError(t, err)
		assert.Equal(t, []string{"f"}, names(infos))

		long := "/" + strings.Repeat("n", 250)
		put(t, sh, long, "long name")
		assert.Equal(t, "long name", get(t, sh, long, 0), "the temporary name fits NAME_MAX")

		if dir != "" {
			require.NoError(t, os.Chmod(filepath.Join(dir, "f"), 0o600))
			put(t, sh, "/f", "private")
			fi, err := os.Stat(filepath.Join(dir, "f"))
			require.NoError(t, err)
			assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm(), "a replaced file keeps its permissions")
		}
	})
	run("UploadsInProgressAreInvisible", func(t *testing.T) {
		sh, dir := newShell(t)
		require.NoError(t, sh.MakeDirectory("/d"))
		put(t, sh, "/d/old", "old")
		replace, err := sh.OpenForWriting("/d/old", 0, false)
		require.NoError(t, err)
		fresh, err := sh.OpenForWriting("/d/new", 0, false)
		require.NoError(t, err)
		for _, w := range []shell.WriteFile{replace, fresh} {
			_, err := w.Write([]byte("in progress"))
			require.NoError(t, err)
		}
		assertListed(t, sh, "/d", []string{"old"})
		assertListed(t, sh, "/", []string{"d"})
		_, err = sh.Stat("/d/new")
		assert.ErrorIs(t, err, fs.ErrNotExist, "not there before Commit")
		assert.Equal(t, "old", get(t, sh, "/d/old", 0))
		if dir != "" {
			entries, err := os.ReadDir(filepath.Join(dir, "d"))
			require.NoError(t, err)
			for _, e := range entries {
				if e.Name() != "old" {
					assertUnreachable(t, sh, "/d/"+e.Name())
					_, err := os.Lstat(filepath.Join(dir, "d", e.Name()))
					assert.NoError(t, err, "%s: no command touched it", e.Name())
				}
			}
		}
		require.NoError(t, replace.Commit())
		require.NoError(t, fresh.Abort())
		assert.Equal(t, "in progress", get(t, sh, "/d/old", 0))
		assertListed(t, sh, "/d", []string{"old"})
		if dir != "" {
			assert.Equal(t, []string{". d---------", "d d---------", "d/old ---------- in progress"}, snapshot(t, dir), "nothing left behind")
		}
	})
	run("RenamingTheDirectoryDuringAnUpload", func(t *testing.T) {
		sh, dir := newShell(t)
		require.NoError(t, sh.MakeDirectory("/a"))
		w, err := sh.OpenForWriting("/a/f", 0, false)
		require.NoError(t, err)
		_, err = w.Write([]byte("data"))
		require.NoError(t, err)
		require.NoError(t, sh.Rename("/a", "/b"))
		if err := w.Commit(); err == nil {
			assertListed(t, sh, "/b", []string{"f"})
			assert.Equal(t, "data", get(t, sh, "/b/f", 0), "the upload followed its directory")
		} else {
			_ = w.Abort()
			assertListed(t, sh, "/b", nil)
		}
		if dir != "" {
			for _, line := range snapshot(t, dir) {
				assert.Contains(t, []string{". d---------", "b d---------", "b/f ---------- data"}, line, "no file stranded")
			}
		}
	})
	run("OpenListing", func(t *testing.T) {
		sh, _ := newShell(t)
		require.NoError(t, sh.MakeDirectory("/big"))
		n := shell.MaxListBatch*2 + 7
		for i := 0; i < n; i++ {
			put(t, sh, fmt.Sprintf("/big/f%04d", n-i), "x")
		}
		require.NoError(t, sh.MakeDirectory("/big/sub"))
		put(t, sh, "/one", "1")
		for _, p := range []string{"/", "/big", "/one"} {
			want, err := sh.List(p)
			require.NoError(t, err, p)
			got := readListing(t, sh, p, false)
			require.Equal(t, names(want), names(got), p)
			for i := range want {
				assert.Equal(t, want[i].Size(), got[i].Size(), want[i].Name())
				assert.Equal(t, want[i].Mode(), got[i].Mode(), want[i].Name())
				assert.Equal(t, want[i].ModTime(), got[i].ModTime(), want[i].Name())
			}
			assert.Equal(t, names(want), names(readListing(t, sh, p, true)), "%s, names only", p)
		}
		_, err := shell.OpenListing(sh, "/missing", false)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		_, err = shell.OpenListing(sh, "/../x", true)
		assert.ErrorIs(t, err, shell.ErrInvalidPath)
	})
	run("AppendAndOffsetWrites", func(t *testing.T) {
		sh, _ := newShell(t)
		put(t, sh, "/f", "abc")
		w, err := sh.OpenForWriting("/f", -1, true)
		require.NoError(t, err)
		_, err = w.Write([]byte("def"))
		require.NoError(t, err)
		require.NoError(t, w.Commit())
		assert.Equal(t, "abcdef", get(t, sh, "/f", 0))
		w, err = sh.OpenForWriting("/f", 0, true)
		require.NoError(t, err)
		_, err = w.Write([]byte("g"))
		require.NoError(t, err)
		require.NoError(t, w.Abort(), "an in-place Abort keeps what was written")
		assert.Equal(t, "abcdefg", get(t, sh, "/f", 0))
		w, err = sh.OpenForWriting("/f", 2, false)
		require.NoError(t, err)
		_, err = w.Write([]byte("XY"))
		require.NoError(t, err)
		require.NoError(t, w.Commit())
		assert.Equal(t, "abXY", get(t, sh, "/f", 0), "REST+STOR writes from the offset and truncates")
		w, err = sh.OpenForWriting("/new", -1, true)
		require.NoError(t, err)
		_, err = w.Write([]byte("created"))
		require.NoError(t, err)
		require.NoError(t, w.Commit())
		assert.Equal(t, "created", get(t, sh, "/new", 0), "APPE creates a missing file")
	})
	run("RestartPointPastTheEnd", func(t *testing.T) {
		// REST past the end is refused (pyftpdlib's 554) and creates
		// nothing: REST 1099511627776 + STOR must not make a 1 TiB
		// sparse file, nor REST 2^63-1 an empty one.
		sh, _ := newShell(t)
		put(t, sh, "/f", "12345")
		for _, off := range []int64{6, 1 << 40, math.MaxInt64} {
			_, err := sh.OpenForReading("/f", off)
			assert.ErrorIs(t, err, shell.ErrBadOffset, "read at %d", off)
			_, err = sh.OpenForWriting("/f", off, false)
			assert.ErrorIs(t, err, shell.ErrBadOffset, "write at %d", off)
			_, err = sh.OpenForWriting("/new", off, false)
			assert.ErrorIs(t, err, shell.ErrBadOffset, "write a missing file at %d", off)
		}
		assert.Equal(t, "12345", get(t, sh, "/f", 0), "the file is unchanged")
		_, err := sh.Stat("/new")
		assert.ErrorIs(t, err, fs.ErrNotExist, "nothing was created")
		w, err := sh.OpenForWriting("/f", 5, false)
		require.NoError(t, err, "a restart point at the end is where an upload resumes")
		_, err = w.Write([]byte("67"))
		require.NoError(t, err)
		require.NoError(t, w.Commit())
		assert.Equal(t, "1234567", get(t, sh, "/f", 0))
	})
	run("NothingEscapesTheRoot", func(t *testing.T) {
		sh, _ := newShell(t)
		put(t, sh, "/f", "x")
		for _, p := range []string{"/../etc/passwd", "/../../x", "/a/../../x", "/f/../..", "relative", "/a\x00b"} {
			assertAllFail(t, sh, p, shell.ErrInvalidPath)
		}
	})
	run("Symlinks", func(t *testing.T) {
		sh, dir := newShell(t)
		if dir == "" {
			t.Skip("no directory on disk")
		}
		outside := t.TempDir()
		secret := strings.Repeat("s", 1000)
		require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte(secret), 0o644))
		require.NoError(t, os.Symlink(outside, filepath.Join(dir, "link")))
		require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "filelink")))
		require.NoError(t, os.Symlink("../"+filepath.Base(outside), filepath.Join(dir, "rellink")))
		require.NoError(t, os.Symlink("nowhere", filepath.Join(dir, "dangling")))
		require.NoError(t, os.Mkdir(filepath.Join(dir, "in"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "in", "file"), []byte("inside"), 0o644))
		require.NoError(t, os.Symlink("in/file", filepath.Join(dir, "goodfile")))
		require.NoError(t, os.Symlink("in", filepath.Join(dir, "gooddir")))
		before := snapshot(t, outside)

		for _, p := range []string{"/link/secret", "/filelink", "/rellink/secret"} {
			_, err := sh.OpenForReading(p, 0)
			assert.Error(t, err, "%s: a symlink pointing outside is not followed", p)
			_, err = sh.Stat(p)
			assert.Error(t, err, p)
			_, err = sh.OpenForWriting(p, 0, false)
			assert.Error(t, err, p)
			_, err = sh.OpenForWriting(p, -1, true)
			assert.Error(t, err, p)
			_, err = sh.OpenForWriting(p, 1, false)
			assert.Error(t, err, p)
		}
		for _, p := range []string{"/link", "/rellink"} {
			assert.Error(t, sh.Access(p), p)
			_, err := sh.List(p)
			assert.Error(t, err, p)
			_, err = sh.OpenForWriting(p+"/new", 0, false)
			assert.Error(t, err, p)
			assert.Error(t, sh.MakeDirectory(p+"/d"), p)
			assert.Error(t, sh.RemoveFile(p+"/secret"), p)
			assert.Error(t, sh.Rename(p+"/secret", "/stolen"), p)
			assert.Error(t, sh.Rename("/in/file", p+"/planted"), p)
		}
		_, err := sh.Stat("/dangling")
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.Equal(t, before, snapshot(t, outside), "nothing outside changed")

		infos, err := sh.List("/")
		require.NoError(t, err)
		for _, fi := range infos {
			assert.NotEqual(t, int64(len(secret)), fi.Size(), "%s: LIST shows nothing from outside", fi.Name())
		}

		assert.Equal(t, "inside", get(t, sh, "/goodfile", 0), "symlinks inside the root work")
		require.NoError(t, sh.Access("/gooddir"))
		inner, err := sh.List("/gooddir")
		require.NoError(t, err)
		assert.Equal(t, []string{"file"}, names(inner))
		require.NoError(t, sh.RemoveFile("/filelink"), "removing a link removes the link")
		_, err = os.Lstat(filepath.Join(dir, "filelink"))
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.Equal(t, before, snapshot(t, outside))
	})
	run("Concurrent", func(t *testing.T) {
		sh, _ := newShell(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					p := fmt.Sprintf("/g%d-%d", g, i)
					if err := write(sh, p, p); err != nil {
						errs <- err
						return
					}
					if _, err := sh.List("/"); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}
		infos, err := sh.List("/")
		require.NoError(t, err)
		assert.Len(t, infos, 80)
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
	require.NoError(t, os.WriteFile(filepath.Join(dir, "d", "g"), []byte("g"), 0o644))
	before := snapshot(t, dir)

	assert.Equal(t, "data", get(t, sh, "/f", 0))
	assert.Equal(t, "ta", get(t, sh, "/f", 2))
	require.NoError(t, sh.Access("/d"))
	assert.ErrorIs(t, sh.Access("/f"), shell.ErrNotDir)
	fi, err := sh.Stat("/f")
	require.NoError(t, err)
	assert.Equal(t, int64(4), fi.Size())
	infos, err := sh.List("/")
	require.NoError(t, err)
	assert.Equal(t, []string{"d", "f"}, names(infos))
	assertNamesAgree(t, sh, "/", "/d", "/f")
	_, err = sh.OpenForReading("/d", 0)
	assert.ErrorIs(t, err, shell.ErrIsDir)

	for name, err := range map[string]error{
		"mkdir":      sh.MakeDirectory("/x"),
		"mkdir-dup":  sh.MakeDirectory("/d"),
		"rmdir":      sh.RemoveDirectory("/d"),
		"rmdir-file": sh.RemoveDirectory("/f"),
		"remove":     sh.RemoveFile("/f"),
		"remove-dir": sh.RemoveFile("/d/g"),
		"rename":     sh.Rename("/f", "/g"),
	} {
		assert.ErrorIs(t, err, shell.ErrReadOnly, name)
	}
	for _, w := range []struct {
		p      string
		offset int64
		append bool
	}{{"/f", 0, false}, {"/new", 0, false}, {"/f", -1, true}, {"/f", 2, false}, {"/d", 0, false}} {
		_, err := sh.OpenForWriting(w.p, w.offset, w.append)
		assert.ErrorIs(t, err, shell.ErrReadOnly, w)
	}
	_, err = sh.OpenForReading("/../f", 0)
	assert.ErrorIs(t, err, shell.ErrInvalidPath)
	assert.Equal(t, before, snapshot(t, dir), "nothing changed on disk")
}

// assertNamesAgree checks that a NameLister's ListNames gives the names
// List gives.
func assertNamesAgree(t *testing.T, sh shell.Shell, paths ...string) {
	t.Helper()
	nl, ok := sh.(shell.NameLister)
	if !ok {
		return
	}
	for _, p := range paths {
		infos, err := sh.List(p)
		require.NoError(t, err, p)
		got, err := nl.ListNames(p)
		require.NoError(t, err, p)
		assert.Equal(t, names(infos), append([]string{}, got...), p)
	}
}

// assertListed checks that every listing of the directory p shows
// exactly want.
func assertListed(t *testing.T, sh shell.Shell, p string, want []string) {
	t.Helper()
	infos, err := sh.List(p)
	require.NoError(t, err, p)
	assert.Equal(t, append([]string{}, want...), names(infos), "List %s", p)
	if nl, ok := sh.(shell.NameLister); ok {
		got, err := nl.ListNames(p)
		require.NoError(t, err, p)
		assert.Equal(t, append([]string{}, want...), append([]string{}, got...), "ListNames %s", p)
	}
	assert.Equal(t, append([]string{}, want...), names(readListing(t, sh, p, false)), "OpenListing %s", p)
	assert.Equal(t, append([]string{}, want...), names(readListing(t, sh, p, true)), "OpenListing %s, names only", p)
}

// readListing reads a whole OpenListing of p, checking the batch bound.
func readListing(t *testing.T, sh shell.Shell, p string, namesOnly bool) []fs.FileInfo {
	t.Helper()
	lst, err := shell.OpenListing(sh, p, namesOnly)
	require.NoError(t, err, p)
	defer func() { assert.NoError(t, lst.Close()) }()
	var all []fs.FileInfo
	for {
		b, err := lst.Next()
		if err == io.EOF {
			assert.Empty(t, b)
			break
		}
		require.NoError(t, err, p)
		require.NotEmpty(t, b, "a batch before the end is not empty")
		assert.LessOrEqual(t, len(b), shell.MaxListBatch)
		for _, fi := range b {
			all = append(all, copyInfo(fi))
		}
	}
	assert.NoError(t, lst.Close(), "Close twice")
	return all
}

// info is a FileInfo copied out of a listing's reused batch.
type info struct {
	name string
	size int64
	mode fs.FileMode
	mod  time.Time
}

func copyInfo(fi fs.FileInfo) fs.FileInfo {
	return info{fi.Name(), fi.Size(), fi.Mode(), fi.ModTime()}
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.size }
func (i info) Mode() fs.FileMode  { return i.mode }
func (i info) ModTime() time.Time { return i.mod }
func (i info) IsDir() bool        { return i.mode.IsDir() }
func (i info) Sys() any           { return nil }

// assertUnreachable checks that no method finds p.
func assertUnreachable(t *testing.T, sh shell.Shell, p string) {
	t.Helper()
	_, err := sh.OpenForReading(p, 0)
	assert.ErrorIs(t, err, fs.ErrNotExist, "read %q", p)
	_, err = sh.Stat(p)
	assert.ErrorIs(t, err, fs.ErrNotExist, "stat %q", p)
	_, err = sh.List(p)
	assert.ErrorIs(t, err, fs.ErrNotExist, "list %q", p)
	_, err = shell.OpenListing(sh, p, false)
	assert.ErrorIs(t, err, fs.ErrNotExist, "open listing %q", p)
	assert.ErrorIs(t, sh.Access(p), fs.ErrNotExist, "access %q", p)
	assert.ErrorIs(t, sh.RemoveFile(p), fs.ErrNotExist, "remove %q", p)
	assert.ErrorIs(t, sh.RemoveDirectory(p), fs.ErrNotExist, "rmdir %q", p)
	assert.ErrorIs(t, sh.Rename(p, "/stolen"), fs.ErrNotExist, "rename from %q", p)
	_, err = sh.OpenForWriting(p, -1, true)
	assert.Error(t, err, "append %q", p)
	_, err = sh.OpenForWriting(p, 0, false)
	assert.Error(t, err, "write %q", p)
	assert.Error(t, sh.Rename("/d/old", p), "rename onto %q", p)
	if ts, ok := sh.(shell.TimeSetter); ok {
		assert.Error(t, ts.SetModTime(p, time.Now()), "mfmt %q", p)
	}
}

// assertAllFail checks that every method fails on p with kind.
func assertAllFail(t *testing.T, sh shell.Shell, p string, kind error) {
	t.Helper()
	_, err := sh.OpenForReading(p, 0)
	assert.ErrorIs(t, err, kind, "read %q", p)
	_, err = sh.OpenForWriting(p, 0, false)
	assert.ErrorIs(t, err, kind, "write %q", p)
	_, err = sh.OpenForWriting(p, -1, true)
	assert.ErrorIs(t, err, kind, "append %q", p)
	_, err = sh.Stat(p)
	assert.ErrorIs(t, err, kind, "stat %q", p)
	_, err = sh.List(p)
	assert.ErrorIs(t, err, kind, "list %q", p)
	assert.ErrorIs(t, sh.Access(p), kind, "access %q", p)
	assert.ErrorIs(t, sh.MakeDirectory(p), kind, "mkdir %q", p)
	assert.ErrorIs(t, sh.RemoveDirectory(p), kind, "rmdir %q", p)
	assert.ErrorIs(t, sh.RemoveFile(p), kind, "remove %q", p)
	assert.ErrorIs(t, sh.Rename(p, "/x"), kind, "rename from %q", p)
	assert.ErrorIs(t, sh.Rename("/f", p), kind, "rename to %q", p)
}

// snapshot lists every path under dir with its type and, for files, content
// (small trees only).
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(dir, p)
		line := r + " " + d.Type().String()
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += " " + string(b)
		}
		out = append(out, line)
		return nil
	})
	require.NoError(t, err)
	sort.Strings(out)
	return out
}

func names(infos []fs.FileInfo) []string {
	out := make([]string, 0, len(infos))
	for _, i := range infos {
		out = append(out, i.Name())
	}
	return out
}

func write(sh shell.Shell, p, content string) error {
	w, err := sh.OpenForWriting(p, 0, false)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, bytes.NewReader([]byte(content))); err != nil {
		_ = w.Abort()
		return err
	}
	return w.Commit()
}

func put(t *testing.T, sh shell.Shell, p, content string) {
	t.Helper()
	require.NoError(t, write(sh, p, content))
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
