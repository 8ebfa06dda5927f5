package local_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/listing"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/local"
	"github.com/gnetftp/gnetftp/ftp/shell/shelltest"
	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func newLocal(t *testing.T) (shell.Shell, string) {
	dir := t.TempDir()
	l, err := local.New(dir)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l, dir
}

func TestLocalConformance(t *testing.T) { shelltest.Run(t, newLocal) }

// The zero-copy paths depend on types: RETR hands a *os.File to io.Copy
// (sendfile), STOR copies into a writer that is an io.ReaderFrom (splice).
func TestLocalKeepsTheZeroCopyTypes(t *testing.T) {
	sh, _ := newLocal(t)
	w, err := sh.OpenForWriting("/f", 0, false)
	require.NoError(t, err)
	_, ok := w.(io.ReaderFrom)
	assert.True(t, ok, "upload writer implements io.ReaderFrom (splice from *net.TCPConn)")
	require.NoError(t, w.Commit())
	r, err := sh.OpenForReading("/f", 0)
	require.NoError(t, err)
	defer r.Close()
	_, isFile := r.(*os.File)
	assert.True(t, isFile, "reads are an *os.File (sendfile into *net.TCPConn)")
	w, err = sh.OpenForWriting("/f", -1, true)
	require.NoError(t, err)
	_, ok = w.(io.ReaderFrom)
	assert.True(t, ok, "appends too")
	require.NoError(t, w.Commit())
	var _ io.ReaderFrom = (*net.TCPConn)(nil)
}

// LIST shows owner and group names, looked up once per id.
func TestLocalListsOwnerNames(t *testing.T) {
	sh, dir := newLocal(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644))
	infos, err := sh.List("/")
	require.NoError(t, err)
	require.Len(t, infos, 1)
	st, ok := infos[0].Sys().(*syscall.Stat_t)
	require.True(t, ok, "the OS stat is still reachable (hard links for LIST)")
	want := strconv.Itoa(int(st.Uid))
	if u, err := user.LookupId(want); err == nil {
		want = u.Username
	}
	o, ok := infos[0].(shell.FileInfoOwner)
	require.True(t, ok)
	assert.Equal(t, want, o.Owner())
	assert.NotEmpty(t, o.Group())
	fi, err := sh.Stat("/f")
	require.NoError(t, err)
	o, ok = fi.(shell.FileInfoOwner)
	require.True(t, ok)
	assert.Equal(t, want, o.Owner())
}

// Errors name the client's path and the kind, never the root on disk.
func TestLocalErrorsHideTheRoot(t *testing.T) {
	sh, dir := newLocal(t)
	require.NoError(t, os.Symlink(t.TempDir(), filepath.Join(dir, "out")))
	for _, err := range []error{
		func() error { _, err := sh.Stat("/missing"); return err }(),
		func() error { _, err := sh.List("/out"); return err }(),
		sh.RemoveFile("/"),
	} {
		require.Error(t, err)
		assert.NotContains(t, err.Error(), dir)
	}
	_, err := sh.Stat("/missing")
	assert.Equal(t, "stat /missing: file does not exist", err.Error())
	_, err = sh.List("/out")
	assert.ErrorIs(t, err, shell.ErrInvalidPath, "os.Root's escape error maps to ErrInvalidPath")
}

// BenchmarkList10000 measures LIST's filesystem side and formatting for a
// 10,000-entry directory, against the reference of reading the same
// directory with os.File.Readdir (one getdents pass, then one lstat per
// entry, one after the other). ListNames is NLST's side (no stat). "List"
// is a Local without the listing cache; "List cached" the same directory
// listed again through the cache (Linux, temporary directory on tmpfs,
// ext2/3/4, xfs or btrfs; skipped otherwise).
func BenchmarkList10000(b *testing.B) {
	dir := b.TempDir()
	for i := 0; i < 10000; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%05d.dat", i)), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	l, err := local.NewUncached(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	cached, err := local.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer cached.Close()
	warm := func(b *testing.B) { // fill the cache, or skip
		before := int64(-1)
		for range 2 {
			before = local.Fstatats(cached)
			if _, err := cached.List("/"); err != nil {
				b.Fatal(err)
			}
		}
		if local.Fstatats(cached) != before {
			b.Skip("no listing cache here (Linux, tmpfs, ext2/3/4, xfs or btrfs)")
		}
	}
	now := time.Now()
	b.Run("reference-Readdir", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			f, err := os.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Readdir(-1); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("List", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := l.List("/"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("List cached", func(b *testing.B) {
		warm(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := cached.List("/"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ListNames", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := l.ListNames("/"); err != nil {
				b.Fatal(err)
			}
		}
	})
	listAndFormat := func(b *testing.B, sh *local.Local) {
		b.ReportAllocs()
		b.ResetTimer()
		var buf []byte
		for i := 0; i < b.N; i++ {
			infos, err := sh.List("/")
			if err != nil {
				b.Fatal(err)
			}
			buf = buf[:0]
			for _, fi := range infos {
				buf = listing.AppendLIST(buf, fi, now)
			}
		}
		b.ReportMetric(float64(len(buf))/10000, "bytes/line")
	}
	b.Run("List+AppendLIST", func(b *testing.B) { listAndFormat(b, l) })
	b.Run("List cached+AppendLIST", func(b *testing.B) {
		warm(b)
		listAndFormat(b, cached)
	})
	// What LIST does now: OpenList, a batch at a time into a 32 KiB
	// buffer (one session's memory), against the whole List above.
	streamAndFormat := func(b *testing.B, sh *local.Local) {
		b.ReportAllocs()
		b.ResetTimer()
		buf := make([]byte, 0, 64<<10)
		lines := 0
		for i := 0; i < b.N; i++ {
			lst, err := sh.OpenList("/", false)
			if err != nil {
				b.Fatal(err)
			}
			lines = 0
			for {
				batch, err := lst.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				buf = buf[:0]
				for _, fi := range batch {
					buf = listing.AppendLIST(buf, fi, now)
				}
				lines += len(batch)
			}
			lst.Close()
		}
		if lines != 10000 {
			b.Fatalf("%d lines", lines)
		}
	}
	b.Run("OpenList+AppendLIST", func(b *testing.B) { streamAndFormat(b, l) })
	b.Run("OpenList cached+AppendLIST", func(b *testing.B) {
		warm(b)
		streamAndFormat(b, cached)
	})
}

// List of large directories (read in several getdents batches, stat'ed on
// worker goroutines) agrees with os.Lstat entry by entry.
func TestLocalListLargeDirectoriesMatchLstat(t *testing.T) {
	for _, c := range []struct {
		name  string
		n     int
		width int
	}{{"many short names", 3000, 10}, {"few long names", 700, 200}, {"small", 5, 3}} {
		t.Run(c.name, func(t *testing.T) {
			sh, dir := newLocal(t)
			var want []string
			for i := 0; i < c.n; i++ {
				name := fmt.Sprintf("%0*d", c.width, i)
				switch i % 100 {
				case 7:
					require.NoError(t, os.Mkdir(filepath.Join(dir, name), 0o750))
				case 8:
					require.NoError(t, os.Symlink("nowhere", filepath.Join(dir, name)))
				default:
					require.NoError(t, os.WriteFile(filepath.Join(dir, name), make([]byte, i%13), 0o640))
				}
				want = append(want, name)
			}
			uncached, err := local.NewUncached(dir)
			require.NoError(t, err)
			defer uncached.Close()
			// Twice each: the second List of the (default) Local comes
			// from its cache, where the platform has one.
			for _, sh := range []shell.Shell{sh, sh, uncached, uncached} {
				infos, err := sh.List("/")
				require.NoError(t, err)
				require.Len(t, infos, c.n)
				for i, fi := range infos {
					require.Equal(t, want[i], fi.Name())
					ref, err := os.Lstat(filepath.Join(dir, fi.Name()))
					require.NoError(t, err)
					assert.Equal(t, ref.Mode(), fi.Mode(), fi.Name())
					assert.Equal(t, ref.IsDir(), fi.IsDir(), fi.Name())
					assert.Equal(t, ref.Size(), fi.Size(), fi.Name())
					assert.True(t, ref.ModTime().Equal(fi.ModTime()), fi.Name())
					assert.Equal(t, ref.Sys().(*syscall.Stat_t).Nlink, fi.Sys().(*syscall.Stat_t).Nlink, fi.Name())
				}
			}
		})
	}
}

type listOnly struct{ shell.Shell }

// A FIFO inside the root must not block the worker that opens it (open
// of a FIFO waits for the other end): transfers refuse it at once, and
// LIST describes it.
func TestFIFOIsRefusedWithoutBlocking(t *testing.T) {
	sh, dir := newLocal(t)
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := sh.OpenForReading("/fifo", 0)
		assert.ErrorIs(t, err, shell.ErrNotRegular, "RETR")
		_, err = sh.OpenForWriting("/fifo", 0, false)
		assert.ErrorIs(t, err, shell.ErrNotRegular, "STOR over it")
		_, err = sh.OpenForWriting("/fifo", 0, true)
		assert.ErrorIs(t, err, shell.ErrNotRegular, "APPE")
		_, err = sh.OpenForWriting("/fifo", 5, false)
		assert.ErrorIs(t, err, shell.ErrNotRegular, "REST+STOR")
		infos, err := sh.List("/fifo")
		if assert.NoError(t, err) && assert.Len(t, infos, 1) {
			assert.Equal(t, os.ModeNamedPipe, infos[0].Mode().Type())
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		// Unblock the stuck open so the test can end, then fail.
		if f, err := os.OpenFile(filepath.Join(dir, "fifo"), os.O_RDWR, 0); err == nil {
			defer f.Close()
		}
		<-done
		t.Fatal("opening a FIFO blocked")
	}
	fi, err := os.Lstat(filepath.Join(dir, "fifo"))
	require.NoError(t, err)
	assert.Equal(t, os.ModeNamedPipe, fi.Mode().Type(), "the FIFO is still there, not replaced by an upload")
}

// The conformance suite through shell.Limit with every permission and a
// quota large enough never to refuse: the wrapper changes nothing a
// client could see but the counts.
func TestLimitedLocalConformance(t *testing.T) {
	shelltest.Run(t, func(t *testing.T) (shell.Shell, string) {
		sh, dir := newLocal(t)
		return shell.Limit(sh, "", shell.NewQuota(1<<40, 1<<20)), dir
	})
	shelltest.RunReadOnly(t, func(t *testing.T) (shell.Shell, string) {
		sh, dir := newLocal(t)
		return shell.Limit(sh, "elr", nil), dir
	})
}

// Two uploads racing for the last of a quota: one is refused, whichever
// it is, and nothing of it stays; the usage is what is on disk.
func TestQuotaRaceLeavesOneUpload(t *testing.T) {
	sh, dir := newLocal(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "old"), make([]byte, 400), 0o644))
	q := shell.NewQuota(1000, 0)
	lim := shell.Limit(sh, "", q)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := lim.OpenForWriting(fmt.Sprintf("/up%d", i), 0, false)
			if err != nil {
				errs[i] = err
				return
			}
			// ReadFrom, as a STOR's splice does, in two steps.
			src := &io.LimitedReader{R: bytes.NewReader(make([]byte, 400)), N: 400}
			for err == nil && src.N > 0 {
				_, err = w.(io.ReaderFrom).ReadFrom(&io.LimitedReader{R: src, N: 200})
			}
			if err != nil {
				_ = w.Abort()
				errs[i] = err
				return
			}
			errs[i] = w.Commit()
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			assert.ErrorIs(t, err, shell.ErrQuota)
		}
	}
	assert.Equal(t, 1, ok, "400 + 400 fits 1000, a second 400 does not: %v", errs)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "the refused upload left nothing")
	b, n, known := q.Usage()
	assert.True(t, known)
	assert.Equal(t, int64(800), b)
	assert.Equal(t, int64(2), n)
	require.NoError(t, lim.RemoveFile("/old"))
	b, n, _ = q.Usage()
	assert.Equal(t, int64(400), b, "deleting frees quota")
	assert.Equal(t, int64(1), n)
}

// In-place uploads (APPE, REST+STOR) count what they add past the old
// size; a refused one is cut back (or removed when it made the file).
func TestQuotaOfInPlaceUploads(t *testing.T) {
	sh, dir := newLocal(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), make([]byte, 300), 0o644))
	q := shell.NewQuota(1000, 3)
	lim := shell.Limit(sh, "", q)
	write := func(p string, off int64, app bool, n int) error {
		w, err := lim.OpenForWriting(p, off, app)
		if err != nil {
			return err
		}
		if _, err := w.Write(make([]byte, n)); err != nil {
			_ = w.Abort()
			return err
		}
		return w.Commit()
	}
	usage := func() (int64, int64) { b, n, _ := q.Usage(); return b, n }
	require.NoError(t, write("/f", -1, true, 100)) // APPE: 400
	b, n := usage()
	assert.Equal(t, [2]int64{400, 1}, [2]int64{b, n})
	require.NoError(t, write("/f", 100, false, 500)) // REST 100 + STOR 500: 600
	b, _ = usage()
	assert.Equal(t, int64(600), b)
	fi, err := os.Stat(filepath.Join(dir, "f"))
	require.NoError(t, err)
	assert.Equal(t, int64(600), fi.Size())
	assert.ErrorIs(t, write("/f", -1, true, 401), shell.ErrQuota)
	fi, err = os.Stat(filepath.Join(dir, "f"))
	require.NoError(t, err)
	assert.Equal(t, int64(600), fi.Size(), "the refused append cut back")
	assert.ErrorIs(t, write("/new", -1, true, 401), shell.ErrQuota)
	assert.NoFileExists(t, filepath.Join(dir, "new"), "a refused APPE that made the file removes it")
	b, n = usage()
	assert.Equal(t, [2]int64{600, 1}, [2]int64{b, n})
	require.NoError(t, write("/new", -1, true, 400))
	b, n = usage()
	assert.Equal(t, [2]int64{1000, 2}, [2]int64{b, n})
}
