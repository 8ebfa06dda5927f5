package local

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// NotifiableTempDir returns an empty directory, removed after the test, on
// a filesystem the listing cache trusts: the test's temporary directory if
// it is on one, else one under /dev/shm (tmpfs). Without either the test
// is skipped, or fails when CI=true.
func NotifiableTempDir(t testing.TB) string {
	t.Helper()
	if dir := t.TempDir(); onNotifiable(dir) {
		return dir
	}
	if onNotifiable("/dev/shm") {
		dir, err := os.MkdirTemp("/dev/shm", "gnetftp-listcache-")
		require.NoError(t, err)
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		return dir
	}
	const msg = "neither the temporary directory nor /dev/shm is on tmpfs, ext2/3/4, xfs or btrfs: " +
		"the listing cache is off there and cannot be tested"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func onNotifiable(dir string) bool {
	var sfs unix.Statfs_t
	return unix.Statfs(dir, &sfs) == nil && notifiable(uint32(sfs.Type))
}

// NewCachingAll is New on a fresh notifiable directory, caching
// every directory however small, so that the conformance suite goes
// through the cache.
func NewCachingAll(t *testing.T) (*Local, string) {
	dir := NotifiableTempDir(t)
	l := newCached(t, dir)
	l.cache.minEntries = 1
	return l, dir
}

// newCached opens a Local on dir and requires its listing cache.
func newCached(t testing.TB, dir string) *Local {
	t.Helper()
	l, err := New(dir)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	require.NotNil(t, l.cache, "the listing cache is on for a notifiable root")
	return l
}

// fill creates n regular files name-000... in dir, file i holding i bytes.
func fill(t testing.TB, dir, name string, n int) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for i := 0; i < n; i++ {
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%03d", name, i)), make([]byte, i), 0o644))
	}
}

// stats returns how many entries List stat'ed (fstatat) while listing p.
func stats(t testing.TB, l *Local, p string) ([]fs.FileInfo, int64) {
	t.Helper()
	before := l.fstatats.Load()
	infos, err := l.List(p)
	require.NoError(t, err)
	return infos, l.fstatats.Load() - before
}

// isCached reports whether the directory at disk path dir has a cached
// listing.
func isCached(t testing.TB, l *Local, dir string) bool {
	t.Helper()
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	c := l.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.dirs[dirID{dev: uint64(st.Dev), ino: st.Ino}]
	return d != nil && d.snap != nil
}

// watches counts the inotify watches the kernel holds for c.
func watches(t testing.TB, c *listCache) int {
	t.Helper()
	c.mu.Lock()
	fd := c.fd
	c.mu.Unlock()
	if fd < 0 {
		return 0
	}
	f, err := os.Open("/proc/self/fdinfo/" + strconv.Itoa(fd))
	require.NoError(t, err)
	defer f.Close()
	n := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		if strings.HasPrefix(s.Text(), "inotify wd:") {
			n++
		}
	}
	return n
}

// requireMatchesDisk checks List(p) entry by entry against the directory
// on disk: names, sizes, modes, mtimes, link counts, symlinks followed.
func requireMatchesDisk(t testing.TB, l *Local, p, dir string) []fs.FileInfo {
	t.Helper()
	infos, err := l.List(p)
	require.NoError(t, err)
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, len(infos))
	for i, fi := range infos {
		names[i] = fi.Name()
	}
	want := make([]string, len(des))
	for i, de := range des {
		want[i] = de.Name()
	}
	require.Equal(t, want, names)
	for _, fi := range infos {
		ref, err := os.Stat(filepath.Join(dir, fi.Name())) // symlinks in these tests stay inside the root
		require.NoError(t, err)
		require.Equal(t, ref.Size(), fi.Size(), fi.Name())
		require.Equal(t, ref.Mode(), fi.Mode(), fi.Name())
		require.True(t, ref.ModTime().Equal(fi.ModTime()), "%s: mtime %v, on disk %v", fi.Name(), fi.ModTime(), ref.ModTime())
		require.Equal(t, ref.Sys().(*syscall.Stat_t).Nlink, fi.Sys().(*syscall.Stat_t).Nlink, fi.Name())
	}
	return infos
}

func find(infos []fs.FileInfo, name string) fs.FileInfo {
	for _, fi := range infos {
		if fi.Name() == name {
			return fi
		}
	}
	return nil
}

func appendTo(t testing.TB, name string, data string) {
	t.Helper()
	require.NoError(t, appendFile(name, data))
}

func appendFile(name string, data string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// A large directory listed a second time is served from the cache: no
// fstatat but for the entries inotify cannot vouch for, and the same
// result. A small one is not cached.
func TestListCacheServesRepeatedLists(t *testing.T) {
	root := NotifiableTempDir(t)
	l := newCached(t, root)
	d := filepath.Join(root, "d")
	fill(t, d, "f", 200)
	for _, sub := range []string{"s1", "s2", "s3"} {
		require.NoError(t, os.Mkdir(filepath.Join(d, sub), 0o755))
	}
	require.NoError(t, os.Symlink("f-010", filepath.Join(d, "link")))
	require.NoError(t, os.Mkdir(filepath.Join(root, "e"), 0o755))
	require.NoError(t, os.Link(filepath.Join(d, "f-020"), filepath.Join(root, "e", "hard")))
	const unstable = 3 + 1 + 1 // directories, the symlink, f-020 (two links)

	first, n := stats(t, l, "/d")
	assert.EqualValues(t, 204, n, "the first List stats every entry")
	require.Len(t, first, 204)
	require.True(t, isCached(t, l, d))
	for range 3 {
		again, n := stats(t, l, "/d")
		assert.EqualValues(t, unstable, n, "later Lists stat only directories, symlinks and multiply linked files")
		require.Equal(t, len(first), len(again))
		for i := range first {
			assert.Equal(t, first[i].Name(), again[i].Name())
			assert.Equal(t, first[i].Size(), again[i].Size(), first[i].Name())
			assert.Equal(t, first[i].Mode(), again[i].Mode(), first[i].Name())
			assert.True(t, first[i].ModTime().Equal(again[i].ModTime()), first[i].Name())
			assert.Equal(t, first[i].(shell.FileInfoOwner).Owner(), again[i].(shell.FileInfoOwner).Owner())
		}
		// Each call returns its own slice.
		slices.Reverse(again)
		again[0] = nil
	}
	link := find(first, "link")
	require.NotNil(t, link)
	assert.EqualValues(t, 10, link.Size(), "a symlink lists as its target")
	assert.Equal(t, 1, watches(t, l.cache))

	small := filepath.Join(root, "small")
	fill(t, small, "f", minCachedEntries-1)
	_, n = stats(t, l, "/small")
	assert.EqualValues(t, minCachedEntries-1, n)
	_, n = stats(t, l, "/small")
	assert.EqualValues(t, minCachedEntries-1, n, "small directories are not cached")
	assert.False(t, isCached(t, l, small))
	assert.Equal(t, 1, watches(t, l.cache), "nor watched")

	fi, err := l.List("/d/f-005")
	require.NoError(t, err)
	require.Len(t, fi, 1)
	assert.EqualValues(t, 5, fi[0].Size(), "a file lists as itself")
}

// Every change made on this machine before a List is in it: each case
// caches /d (or the path given), changes it from outside the shell, and
// compares the next List with the disk.
func TestListCacheNeverStale(t *testing.T) {
	type env struct {
		t         *testing.T
		l         *Local
		root, d   string   // d is root/d
		e         string   // root/e, another directory
		list, dir string   // the path listed and its directory on disk
		f         *os.File // a descriptor from setup to change
	}
	cases := []struct {
		name   string
		setup  func(*env)
		change func(*env)
		check  func(*env, []fs.FileInfo)
	}{
		{name: "append", change: func(x *env) { appendTo(x.t, filepath.Join(x.d, "f-001"), "xyz") },
			check: func(x *env, infos []fs.FileInfo) { assert.EqualValues(x.t, 4, find(infos, "f-001").Size()) }},
		{name: "write through a descriptor opened before caching",
			setup: func(x *env) {
				f, err := os.OpenFile(filepath.Join(x.d, "f-007"), os.O_WRONLY, 0)
				require.NoError(x.t, err)
				x.t.Cleanup(func() { f.Close() })
				x.f = f
			},
			change: func(x *env) {
				_, err := x.f.WriteAt(make([]byte, 100), 0)
				require.NoError(x.t, err)
			},
			check: func(x *env, infos []fs.FileInfo) { assert.EqualValues(x.t, 100, find(infos, "f-007").Size()) }},
		{name: "truncate", change: func(x *env) { require.NoError(x.t, os.Truncate(filepath.Join(x.d, "f-050"), 2)) },
			check: func(x *env, infos []fs.FileInfo) { assert.EqualValues(x.t, 2, find(infos, "f-050").Size()) }},
		{name: "create", change: func(x *env) {
			require.NoError(x.t, os.WriteFile(filepath.Join(x.d, "new"), []byte("hello"), 0o600))
		}, check: func(x *env, infos []fs.FileInfo) { assert.EqualValues(x.t, 5, find(infos, "new").Size()) }},
		{name: "mkdir", change: func(x *env) { require.NoError(x.t, os.Mkdir(filepath.Join(x.d, "newdir"), 0o700)) },
			check: func(x *env, infos []fs.FileInfo) { assert.True(x.t, find(infos, "newdir").IsDir()) }},
		{name: "remove", change: func(x *env) { require.NoError(x.t, os.Remove(filepath.Join(x.d, "f-002"))) },
			check: func(x *env, infos []fs.FileInfo) { assert.Nil(x.t, find(infos, "f-002")) }},
		{name: "replace by another file", change: func(x *env) {
			p := filepath.Join(x.d, "f-003")
			require.NoError(x.t, os.Remove(p))
			require.NoError(x.t, os.WriteFile(p, make([]byte, 1000), 0o600))
		}, check: func(x *env, infos []fs.FileInfo) { assert.EqualValues(x.t, 1000, find(infos, "f-003").Size()) }},
		{name: "rename into", setup: func(x *env) {
			require.NoError(x.t, os.WriteFile(filepath.Join(x.e, "x"), []byte("12345678"), 0o644))
		}, change: func(x *env) { require.NoError(x.t, os.Rename(filepath.Join(x.e, "x"), filepath.Join(x.d, "x"))) },
			check: func(x *env, infos []fs.FileInfo) { assert.EqualValues(x.t, 8, find(infos, "x").Size()) }},
		{name: "rename out of", change: func(x *env) {
			require.NoError(x.t, os.Rename(filepath.Join(x.d, "f-004"), filepath.Join(x.e, "f-004")))
		}, check: func(x *env, infos []fs.FileInfo) { assert.Nil(x.t, find(infos, "f-004")) }},
		{name: "rename within", change: func(x *env) {
			require.NoError(x.t, os.Rename(filepath.Join(x.d, "f-009"), filepath.Join(x.d, "g-009")))
		}, check: func(x *env, infos []fs.FileInfo) {
			assert.Nil(x.t, find(infos, "f-009"))
			assert.EqualValues(x.t, 9, find(infos, "g-009").Size())
		}},
		{name: "chmod", change: func(x *env) { require.NoError(x.t, os.Chmod(filepath.Join(x.d, "f-005"), 0o600)) },
			check: func(x *env, infos []fs.FileInfo) { assert.Equal(x.t, fs.FileMode(0o600), find(infos, "f-005").Mode()) }},
		{name: "chtimes", change: func(x *env) {
			mt := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
			require.NoError(x.t, os.Chtimes(filepath.Join(x.d, "f-006"), mt, mt))
		}, check: func(x *env, infos []fs.FileInfo) {
			assert.True(x.t, find(infos, "f-006").ModTime().Equal(time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)))
		}},
		{name: "MFMT through the shell", change: func(x *env) {
			require.NoError(x.t, x.l.SetModTime("/d/f-012", time.Date(2002, 1, 1, 0, 0, 0, 0, time.UTC)))
		}, check: func(x *env, infos []fs.FileInfo) {
			assert.True(x.t, find(infos, "f-012").ModTime().Equal(time.Date(2002, 1, 1, 0, 0, 0, 0, time.UTC)))
		}},
		{name: "subdirectory gains a file", setup: func(x *env) {
			require.NoError(x.t, os.Mkdir(filepath.Join(x.d, "sub"), 0o755))
			old := time.Now().Add(-time.Hour)
			require.NoError(x.t, os.Chtimes(filepath.Join(x.d, "sub"), old, old))
		}, change: func(x *env) { require.NoError(x.t, os.WriteFile(filepath.Join(x.d, "sub", "x"), nil, 0o644)) },
			check: func(x *env, infos []fs.FileInfo) {
				assert.WithinDuration(x.t, time.Now(), find(infos, "sub").ModTime(), time.Minute)
			}},
		{name: "subdirectory gains a directory", setup: func(x *env) {
			require.NoError(x.t, os.Mkdir(filepath.Join(x.d, "sub"), 0o755))
		}, change: func(x *env) { require.NoError(x.t, os.Mkdir(filepath.Join(x.d, "sub", "x"), 0o755)) },
			check: func(x *env, infos []fs.FileInfo) {
				assert.EqualValues(x.t, 3, find(infos, "sub").Sys().(*syscall.Stat_t).Nlink)
			}},
		{name: "hard link written through another directory", setup: func(x *env) {
			require.NoError(x.t, os.Link(filepath.Join(x.d, "f-008"), filepath.Join(x.e, "h")))
		}, change: func(x *env) { appendTo(x.t, filepath.Join(x.e, "h"), "0123456789") },
			check: func(x *env, infos []fs.FileInfo) { assert.EqualValues(x.t, 18, find(infos, "f-008").Size()) }},
		{name: "symlink target in another directory grows", setup: func(x *env) {
			require.NoError(x.t, os.WriteFile(filepath.Join(x.e, "target"), []byte("ab"), 0o644))
			require.NoError(x.t, os.Symlink("../e/target", filepath.Join(x.d, "link")))
		}, change: func(x *env) { appendTo(x.t, filepath.Join(x.e, "target"), "cdef") },
			check: func(x *env, infos []fs.FileInfo) { assert.EqualValues(x.t, 6, find(infos, "link").Size()) }},
		{name: "symlink removed", setup: func(x *env) {
			require.NoError(x.t, os.Symlink("f-001", filepath.Join(x.d, "link")))
		}, change: func(x *env) { require.NoError(x.t, os.Remove(filepath.Join(x.d, "link"))) },
			check: func(x *env, infos []fs.FileInfo) { assert.Nil(x.t, find(infos, "link")) }},
		{name: "directory renamed and another made at its path", change: func(x *env) {
			require.NoError(x.t, os.Rename(x.d, filepath.Join(x.root, "d-old")))
			fill(x.t, x.d, "other", 70)
		}, check: func(x *env, infos []fs.FileInfo) {
			require.Len(x.t, infos, 70)
			assert.Equal(x.t, "other-000", infos[0].Name())
		}},
		{name: "directory removed and made again", change: func(x *env) {
			require.NoError(x.t, os.RemoveAll(x.d))
			fill(x.t, x.d, "again", 65)
		}, check: func(x *env, infos []fs.FileInfo) { require.Len(x.t, infos, 65) }},
		{name: "parent renamed and the path made again",
			setup: func(x *env) {
				x.dir = filepath.Join(x.root, "p", "q")
				x.list = "/p/q"
				fill(x.t, x.dir, "f", 80)
			},
			change: func(x *env) {
				// The watch on q sees nothing: its parent moved, not q.
				require.NoError(x.t, os.Rename(filepath.Join(x.root, "p"), filepath.Join(x.root, "p-old")))
				fill(x.t, x.dir, "new", 90)
			}, check: func(x *env, infos []fs.FileInfo) { require.Len(x.t, infos, 90) }},
		{name: "symlinked directory retargeted",
			setup: func(x *env) {
				fill(x.t, x.e, "e", 75)
				require.NoError(x.t, os.Symlink("d", filepath.Join(x.root, "l")))
				x.list, x.dir = "/l", filepath.Join(x.root, "l")
			},
			change: func(x *env) {
				// Neither d nor e changes: only what /l names.
				tmp := filepath.Join(x.root, "l.tmp")
				require.NoError(x.t, os.Symlink("e", tmp))
				require.NoError(x.t, os.Rename(tmp, filepath.Join(x.root, "l")))
			}, check: func(x *env, infos []fs.FileInfo) {
				require.Len(x.t, infos, 75)
				assert.Equal(x.t, "e-000", infos[0].Name())
			}},
		{name: "upload through the shell", change: func(x *env) {
			w, err := x.l.OpenForWriting("/d/f-010", 0, false)
			require.NoError(x.t, err)
			_, err = w.Write(make([]byte, 4096))
			require.NoError(x.t, err)
			require.NoError(x.t, w.Commit())
		}, check: func(x *env, infos []fs.FileInfo) { assert.EqualValues(x.t, 4096, find(infos, "f-010").Size()) }},
		{name: "append through the shell", change: func(x *env) {
			w, err := x.l.OpenForWriting("/d/f-011", -1, true)
			require.NoError(x.t, err)
			_, err = w.Write([]byte("+"))
			require.NoError(x.t, err)
			require.NoError(x.t, w.Commit())
		}, check: func(x *env, infos []fs.FileInfo) { assert.EqualValues(x.t, 12, find(infos, "f-011").Size()) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := NotifiableTempDir(t)
			x := &env{t: t, root: root, d: filepath.Join(root, "d"), e: filepath.Join(root, "e"), list: "/d"}
			x.dir = x.d
			fill(t, x.d, "f", 100)
			require.NoError(t, os.Mkdir(x.e, 0o755))
			if c.setup != nil {
				c.setup(x)
			}
			x.l = newCached(t, root)
			requireMatchesDisk(t, x.l, x.list, x.dir)
			requireMatchesDisk(t, x.l, x.list, x.dir)
			require.True(t, isCached(t, x.l, x.dir), "cached before the change")
			c.change(x)
			infos := requireMatchesDisk(t, x.l, x.list, x.dir)
			c.check(x, infos)
			requireMatchesDisk(t, x.l, x.list, x.dir) // and once more, cached again or not
		})
	}
}

// A queue overflow (the kernel dropped events) drops every listing and
// the inotify instance; a scan in progress is not stored.
func TestListCacheOverflowDropsEverything(t *testing.T) {
	root := NotifiableTempDir(t)
	l := newCached(t, root)
	for _, d := range []string{"a", "b"} {
		fill(t, filepath.Join(root, d), "f", 100)
		_, err := l.List("/" + d)
		require.NoError(t, err)
		require.True(t, isCached(t, l, filepath.Join(root, d)))
	}
	fill(t, filepath.Join(root, "c"), "f", 100)
	pending := watchOpen(t, l, filepath.Join(root, "c")) // as if a scan had begun under it
	require.Equal(t, 3, watches(t, l.cache))

	overflow := make([]byte, unix.SizeofInotifyEvent)
	binary.NativeEndian.PutUint32(overflow[0:], ^uint32(0)) // wd -1
	binary.NativeEndian.PutUint32(overflow[4:], unix.IN_Q_OVERFLOW)
	l.cache.mu.Lock()
	l.cache.applyLocked(overflow)
	l.cache.mu.Unlock()

	assert.False(t, isCached(t, l, filepath.Join(root, "a")))
	assert.False(t, isCached(t, l, filepath.Join(root, "b")))
	assert.Equal(t, -1, l.cache.fd, "the instance is closed with its watches")
	assert.Zero(t, l.cache.entries)
	assert.True(t, pending.dead)
	l.cache.store(pending, &dirSnapshot{infos: make([]fs.FileInfo, 100)})
	assert.False(t, isCached(t, l, filepath.Join(root, "c")), "a scan begun before the overflow is not stored")
	assert.Zero(t, l.cache.entries)
	assert.Zero(t, l.cache.lru.Len())

	_, n := stats(t, l, "/a")
	assert.EqualValues(t, 100, n, "listed afresh")
	_, n = stats(t, l, "/a")
	assert.EqualValues(t, 0, n, "and cached again under a new instance")
	assert.Equal(t, 1, watches(t, l.cache))
}

// watchOpen opens dir and watches it as List does before a scan.
func watchOpen(t *testing.T, l *Local, dir string) *cachedDir {
	t.Helper()
	f, err := os.Open(dir)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	sys := st.Sys().(*syscall.Stat_t)
	d := l.cache.watch(int(f.Fd()), dirID{dev: uint64(sys.Dev), ino: sys.Ino})
	require.NotNil(t, d)
	return d
}

// An event that arrives while a directory is scanned keeps that scan out
// of the cache.
func TestListCacheEventDuringScanIsNotStored(t *testing.T) {
	root := NotifiableTempDir(t)
	l := newCached(t, root)
	d := filepath.Join(root, "d")
	fill(t, d, "f", 100)
	pending := watchOpen(t, l, d)
	scanner, err := NewUncached(root)
	require.NoError(t, err)
	defer scanner.Close()
	infos, err := scanner.List("/d") // what a scan under the watch saw
	require.NoError(t, err)
	appendTo(t, filepath.Join(d, "f-001"), "x") // changed before the scan ended
	l.cache.store(pending, &dirSnapshot{infos: infos})
	assert.False(t, isCached(t, l, d))
	assert.Zero(t, l.cache.entries)
	assert.Zero(t, l.cache.lru.Len())
	requireMatchesDisk(t, l, "/d", d)
}

// The cache holds at most maxEntries entries and maxDirs directories,
// evicting the least recently used with their watches.
func TestListCacheEvictsLeastRecentlyUsed(t *testing.T) {
	root := NotifiableTempDir(t)
	l := newCached(t, root)
	l.cache.maxDirs, l.cache.maxEntries = 3, 250
	dir := func(name string) string { return filepath.Join(root, name) }
	for _, name := range []string{"a", "b", "c", "d"} {
		fill(t, dir(name), "f", 100)
	}
	fill(t, dir("huge"), "f", 300)
	list := func(name string) int64 { _, n := stats(t, l, "/"+name); return n }

	list("a")
	list("b")
	assert.EqualValues(t, 0, list("a"), "a is cached, and now the most recently used")
	list("c") // 300 entries > 250: b, the least recently used, goes
	assert.True(t, isCached(t, l, dir("a")))
	assert.False(t, isCached(t, l, dir("b")))
	assert.True(t, isCached(t, l, dir("c")))
	assert.Equal(t, 200, l.cache.entries)
	assert.Equal(t, 2, watches(t, l.cache), "the evicted directory's watch is removed")
	assert.EqualValues(t, 100, list("b"), "an evicted directory is scanned again")

	assert.EqualValues(t, 300, list("huge"))
	assert.EqualValues(t, 300, list("huge"), "a directory over the whole limit is never cached")
	assert.False(t, isCached(t, l, dir("huge")))
	assert.Equal(t, 2, watches(t, l.cache))

	l.cache.maxEntries = 1000
	list("a")
	list("d")
	list("b")
	assert.Equal(t, 3, l.cache.lru.Len(), "at most maxDirs directories")
	assert.Equal(t, 3, watches(t, l.cache))
	assert.False(t, isCached(t, l, dir("c")), "c was the least recently used")
	for _, name := range []string{"a", "b", "d"} {
		assert.True(t, isCached(t, l, dir(name)), name)
		requireMatchesDisk(t, l, "/"+name, dir(name))
	}
}

// When inotify refuses a watch (ENOSPC: max_user_watches reached) List
// works as without the cache.
func TestListCacheWithoutWatches(t *testing.T) {
	for _, n := range []int{100, 2000} { // read in one getdents, or several
		root := NotifiableTempDir(t)
		l := newCached(t, root)
		d := filepath.Join(root, "d")
		fill(t, d, "f", n)
		refuse := func(int, string, uint32) (int, error) { return -1, unix.ENOSPC }
		l.cache.addWatch = refuse
		for range 2 {
			_, stated := stats(t, l, "/d")
			assert.EqualValues(t, n, stated)
			requireMatchesDisk(t, l, "/d", d)
		}
		assert.False(t, isCached(t, l, d))
		assert.Empty(t, l.cache.dirs)

		l.cache.addWatch = unix.InotifyAddWatch
		requireMatchesDisk(t, l, "/d", d)
		require.True(t, isCached(t, l, d))
		appendTo(t, filepath.Join(d, "f-001"), "x")
		l.cache.addWatch = refuse // a directory known to be large, watched first
		requireMatchesDisk(t, l, "/d", d)
		assert.False(t, isCached(t, l, d))
		assert.Empty(t, l.cache.dirs)
	}
}

// Close releases the inotify instance; a closed Local caches nothing.
func TestListCacheClose(t *testing.T) {
	root := NotifiableTempDir(t)
	l, err := New(root)
	require.NoError(t, err)
	fill(t, filepath.Join(root, "d"), "f", 100)
	_, err = l.List("/d")
	require.NoError(t, err)
	require.GreaterOrEqual(t, l.cache.fd, 0)
	require.NoError(t, l.Close())
	assert.Equal(t, -1, l.cache.fd)
	assert.Empty(t, l.cache.dirs)
	f, err := os.Open(filepath.Join(root, "d"))
	require.NoError(t, err)
	defer f.Close()
	assert.Nil(t, l.cache.watch(int(f.Fd()), dirID{}), "no new instance after Close")
	assert.Equal(t, -1, l.cache.fd)
}

// Only filesystems whose every change goes through this kernel are
// trusted.
func TestNotifiable(t *testing.T) {
	for _, m := range []uint32{0x01021994, 0xEF53, 0x58465342, 0x9123683E} {
		assert.True(t, notifiable(m), "%#x", m)
	}
	for _, m := range []uint32{0x6969 /* NFS */, 0x65735546 /* FUSE */, 0xFF534D42 /* CIFS */, 0x794C7630 /* overlayfs */, 0} {
		assert.False(t, notifiable(m), "%#x", m)
	}
	l, err := New("/proc/self") // procfs changes without events
	require.NoError(t, err)
	defer l.Close()
	assert.Nil(t, l.cache)
}

// Lists racing with writes never show a file smaller than a write that
// completed before the List began, and agree with the disk at the end.
func TestListCacheConcurrentListsAndWrites(t *testing.T) {
	root := NotifiableTempDir(t)
	l := newCached(t, root)
	const writers, listers, rounds = 4, 4, 200
	for _, d := range []string{"a", "b"} {
		fill(t, filepath.Join(root, d), "f", 100)
	}
	var done [writers]atomic.Int64 // bytes appended to a/w<i>, completed
	for i := range writers {
		require.NoError(t, os.WriteFile(filepath.Join(root, "a", fmt.Sprintf("w%d", i)), nil, 0o644))
	}
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			name := filepath.Join(root, "a", fmt.Sprintf("w%d", i))
			for r := range rounds {
				if !assert.NoError(t, appendFile(name, "x")) {
					return
				}
				done[i].Store(int64(r + 1))
				if r%20 == 0 { // churn: entries come and go
					churn := filepath.Join(root, "a", fmt.Sprintf("c%d-%d", i, r))
					assert.NoError(t, os.WriteFile(churn, nil, 0o644))
					assert.NoError(t, os.Remove(churn))
				}
			}
		})
	}
	for range listers {
		wg.Go(func() {
			for range rounds / 4 {
				var floor [writers]int64
				for i := range writers {
					floor[i] = done[i].Load()
				}
				infos, err := l.List("/a")
				if !assert.NoError(t, err) {
					return
				}
				for i := range writers {
					fi := find(infos, fmt.Sprintf("w%d", i))
					if assert.NotNil(t, fi) {
						assert.GreaterOrEqual(t, fi.Size(), floor[i], "w%d", i)
					}
				}
				_, err = l.List("/b")
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	requireMatchesDisk(t, l, "/a", filepath.Join(root, "a"))
	requireMatchesDisk(t, l, "/b", filepath.Join(root, "b"))
	assert.True(t, isCached(t, l, filepath.Join(root, "b")))
}

// A file hard-linked from another directory after its listing was cached,
// then written through that name, raises no event on the cached
// directory's watch: the listing is stale until maxCacheAge, then scanned
// again.
func TestListCacheAgeBoundsWhatInotifyCannotSee(t *testing.T) {
	root := NotifiableTempDir(t)
	l := newCached(t, root)
	l.cache.maxAge = 100 * time.Millisecond
	d, e := filepath.Join(root, "d"), filepath.Join(root, "e")
	fill(t, d, "f", 100)
	require.NoError(t, os.Mkdir(e, 0o755))
	_, _ = stats(t, l, "/d")
	require.True(t, isCached(t, l, d))
	require.NoError(t, os.Link(filepath.Join(d, "f-008"), filepath.Join(e, "h")))
	appendTo(t, filepath.Join(e, "h"), "0123456789")
	time.Sleep(150 * time.Millisecond) // past the (test's) maximum age
	infos, n := stats(t, l, "/d")
	assert.EqualValues(t, 100, n, "an expired listing is scanned again")
	assert.EqualValues(t, 18, find(infos, "f-008").Size())
	assert.True(t, isCached(t, l, d), "and cached again under the same watch")
	_, n = stats(t, l, "/d")
	assert.EqualValues(t, 1, n, "served from the new snapshot (f-008 now has two links: re-checked)")
}
