package local

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// drain reads a listing to its end, copying out what each batch
// describes (the batches are reused), and counts the batches.
func drain(t testing.TB, lst shell.Listing) (names []string, sizes []int64, batches int) {
	t.Helper()
	defer func() { require.NoError(t, lst.Close()) }()
	for {
		b, err := lst.Next()
		if err == io.EOF {
			return names, sizes, batches
		}
		require.NoError(t, err)
		require.LessOrEqual(t, len(b), shell.MaxListBatch)
		batches++
		for _, fi := range b {
			names, sizes = append(names, fi.Name()), append(sizes, fi.Size())
		}
	}
}

func namesAndSizes(infos []fs.FileInfo) ([]string, []int64) {
	var n []string
	var s []int64
	for _, fi := range infos {
		n, s = append(n, fi.Name()), append(s, fi.Size())
	}
	return n, s
}

// A cached directory is listed straight from the shared snapshot: no
// fstatat for its regular files, the snapshot untouched, and each batch
// only what it needs of the entries to check again.
func TestOpenListReadsTheCachedSnapshot(t *testing.T) {
	root := NotifiableTempDir(t)
	l := newCached(t, root)
	d := filepath.Join(root, "d")
	fill(t, d, "f", 1500)
	require.NoError(t, os.Mkdir(filepath.Join(d, "sub"), 0o755))
	want, _ := stats(t, l, "/d")
	require.True(t, isCached(t, l, d))
	wantNames, wantSizes := namesAndSizes(want)

	before := l.fstatats.Load()
	lst, err := l.OpenList("/d", false)
	require.NoError(t, err)
	require.IsType(t, &dirListing{}, lst)
	snap := lst.(*dirListing).snap
	require.NotNil(t, snap, "read from the cache")
	names, sizes, batches := drain(t, lst)
	assert.Equal(t, wantNames, names)
	assert.Equal(t, wantSizes, sizes)
	assert.Equal(t, 3, batches)
	assert.EqualValues(t, 1, l.fstatats.Load()-before, "only the subdirectory is stat'ed again")
	assert.Len(t, snap.infos, 1501, "the snapshot is shared, not consumed")

	before = l.fstatats.Load()
	names, _, _ = drain(t, mustOpenList(t, l, "/d", true))
	assert.Equal(t, wantNames, names, "names only")
	assert.Zero(t, l.fstatats.Load()-before, "NLST of a cached directory stats nothing")

	// A change is seen by the next listing, as by the next List.
	require.NoError(t, os.Remove(filepath.Join(d, "f-100")))
	names, _, _ = drain(t, mustOpenList(t, l, "/d", false))
	assert.Len(t, names, 1500)
	assert.NotContains(t, names, "f-100")
}

func mustOpenList(t testing.TB, l *Local, p string, namesOnly bool) shell.Listing {
	t.Helper()
	lst, err := l.OpenList(p, namesOnly)
	require.NoError(t, err)
	return lst
}

// Without the cache a listing keeps only the sorted names, and stats a
// batch when Next reaches it: the work and the memory of one step are
// bounded whatever the directory's size.
func TestOpenListWithoutTheCacheStatsABatchAtATime(t *testing.T) {
	dir := t.TempDir()
	l, err := NewUncached(dir)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	fill(t, filepath.Join(dir, "d"), "f", 1200)
	want, err := l.List("/d")
	require.NoError(t, err)
	wantNames, wantSizes := namesAndSizes(want)

	before := l.fstatats.Load()
	lst := mustOpenList(t, l, "/d", false)
	assert.Zero(t, l.fstatats.Load()-before, "nothing stat'ed before the first batch")
	b, err := lst.Next()
	require.NoError(t, err)
	assert.Len(t, b, shell.MaxListBatch)
	assert.EqualValues(t, shell.MaxListBatch, l.fstatats.Load()-before, "one batch stat'ed")
	firstNames, firstSizes := names0(b), sizes0(b) // b is reused by the next Next
	// Entries removed since the names were read are left out.
	require.NoError(t, os.Remove(filepath.Join(dir, "d", "f-998")))
	names, sizes, _ := drain(t, lst)
	names, sizes = append(firstNames, names...), append(firstSizes, sizes...)
	assert.Len(t, names, 1199)
	assert.NotContains(t, names, "f-998")
	assert.Equal(t, slices.DeleteFunc(slices.Clone(wantNames), func(n string) bool { return n == "f-998" }), names)
	assert.Equal(t, len(names), len(sizes))
	for i, n := range names {
		j := indexOf(wantNames, n)
		require.GreaterOrEqual(t, j, 0, n)
		assert.Equal(t, wantSizes[j], sizes[i], n)
	}

	names, _, _ = drain(t, mustOpenList(t, l, "/d", true))
	assert.Len(t, names, 1199, "names only")
}

func names0(b []fs.FileInfo) []string {
	out := make([]string, len(b))
	for i, fi := range b {
		out[i] = fi.Name()
	}
	return out
}

func sizes0(b []fs.FileInfo) []int64 {
	out := make([]int64, len(b))
	for i, fi := range b {
		out[i] = fi.Size()
	}
	return out
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// A directory too large for the cache is scanned for it once (which
// finds it too large), then streamed from its names, stat'ed a batch at a
// time, not held whole.
func TestOpenListOfADirectoryTooLargeToCache(t *testing.T) {
	root := NotifiableTempDir(t)
	l := newCached(t, root)
	l.cache.maxEntries = 1000
	d := filepath.Join(root, "d")
	fill(t, d, "f", 1300)
	lst := mustOpenList(t, l, "/d", false)
	dl := lst.(*dirListing)
	assert.Nil(t, dl.snap, "not kept whole")
	assert.Len(t, dl.names, 1300)
	names, _, batches := drain(t, lst)
	assert.Len(t, names, 1300)
	assert.Equal(t, 3, batches)
	assert.False(t, isCached(t, l, d))

	small := filepath.Join(root, "small")
	fill(t, small, "f", 10)
	lst = mustOpenList(t, l, "/small", false)
	assert.NotNil(t, lst.(*dirListing).snap, "a small scan is kept as it is")
	names, _, _ = drain(t, lst)
	assert.Len(t, names, 10)
}

func TestOpenListOfAFileAndErrors(t *testing.T) {
	dir := t.TempDir()
	l, err := New(dir)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), []byte("abc"), 0o644))
	names, sizes, _ := drain(t, mustOpenList(t, l, "/f", false))
	assert.Equal(t, []string{"f"}, names)
	assert.Equal(t, []int64{3}, sizes)
	_, err = l.OpenList("/missing", false)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Equal(t, "list /missing: file does not exist", err.Error(), "the client's path, not the disk's")
	lst := mustOpenList(t, l, "/", false)
	require.NoError(t, lst.Close())
	_, err = lst.Next()
	assert.ErrorIs(t, err, os.ErrClosed)
	assert.NoError(t, lst.Close(), "twice")
}

// Listings of a cold directory that arrive together share one scan: the
// first scans for the cache, the others wait for its snapshot instead of
// each holding a full scan of their own (memory per listing stays small
// when many clients ask at once).
func TestConcurrentOpenListsOfAColdDirectoryShareOneScan(t *testing.T) {
	root := NotifiableTempDir(t)
	l := newCached(t, root)
	d := filepath.Join(root, "d")
	const entries, listers = 3000, 8
	fill(t, d, "f", entries)
	before := l.fstatats.Load()
	start := make(chan struct{})
	done := make(chan []string, listers)
	for i := 0; i < listers; i++ {
		go func() {
			<-start
			lst, err := l.OpenList("/d", false)
			if err != nil {
				done <- nil
				return
			}
			names, _, _ := drain(t, lst)
			done <- names
		}()
	}
	close(start)
	for i := 0; i < listers; i++ {
		names := <-done
		assert.Len(t, names, entries)
	}
	assert.Less(t, l.fstatats.Load()-before, int64(2*entries), "one scan stat'ed the entries, not one per listing")
	assert.True(t, isCached(t, l, d))
}
