package local

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// LIST of a large directory is bound by one fstatat(2) per entry (about
// 1.25 µs each on the benchmark machine, a kernel path lookup, so 10,000
// entries take 16 ms one after the other) and by getdents (another 3-4
// ms). So listDir pipelines them: while it reads the next batch of names,
// up to statWorkers goroutines stat the previous ones; a directory that
// fits in one read of fewer than parallelMin names is stat'ed inline
// without goroutines. Entries are stored in one slice per batch, not one
// allocation per entry as os.File.Readdir makes.
//
// Doing that work once is still too slow for a large directory listed
// again and again, so directories of minCachedEntries or more are cached
// (listcache_linux.go), validated with inotify: a watch is added before
// the scan, any event on it drops the listing, and List drains the event
// queue before each lookup. What a watch on the directory cannot see is
// stat'ed again at every use of the cached listing: entries that are
// directories, symlinks, or files with several hard links. Its limits,
// inherent to inotify: writes to a file that had one link when cached,
// made through a name in another directory (a hard link made later, as
// link(2) notifies only the file itself, or a descriptor opened through a
// link since removed), and mtime changes from writes through a shared
// mmap raise no event on this directory; a listing older than
// maxCacheAge (2 s) is therefore scanned again, which bounds how long
// they can go unseen. Only filesystems where the kernel sees
// every change are cached (tmpfs, ext2/3/4, xfs, btrfs).
const (
	parallelMin   = 512
	statWorkers   = 8
	statPiece     = 256
	direntBufSize = 32 << 10
)

// listDir lists the directory f (root-relative name r, f.Stat() fi) on
// Linux, sorted by name.
func (l *Local) listDir(f *os.File, r string, fi fs.FileInfo) ([]fs.FileInfo, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var out []fs.FileInfo
	var opErr error
	err = rc.Control(func(fd uintptr) { out, opErr = l.listFD(int(fd), r, fi) })
	if err == nil {
		err = opErr
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// listFD lists the directory open as fd: from the cache when it has the
// directory, else by a scan, cached if the directory is large enough and
// nothing changes in it meanwhile.
func (l *Local) listFD(fd int, r string, fi fs.FileInfo) ([]fs.FileInfo, error) {
	c, id, large := l.cache, dirID{}, false
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && c != nil {
		id = dirID{dev: uint64(st.Dev), ino: st.Ino}
		var snap *dirSnapshot
		if snap, large = c.get(id); snap != nil {
			return l.fromSnapshot(fd, r, snap)
		}
	} else {
		c = nil
	}
	buf := make([]byte, direntBufSize)
	var d *cachedDir
	if large { // it was last time: watch before reading anything
		d = c.watch(fd, id)
	}
	var batches [][]dirEntry
	var err error
	if d == nil {
		batches, d, err = l.scanOrWatch(fd, buf, c, id)
	}
	if d != nil {
		defer c.abandon(d)
		if err == nil {
			batches, err = scanDir(fd, buf)
		}
	}
	if err != nil {
		return nil, err
	}
	out, recheck := l.collect(batches, r, d != nil)
	if d != nil {
		c.store(d, &dirSnapshot{infos: slices.Clone(out), recheck: recheck})
	}
	return out, nil
}

// scanOrWatch reads the start of the directory fd to tell whether it is
// worth caching. If so, and c can watch it, it returns the watch with the
// directory rewound, for the caller to scan under the watch (the names
// read so far predate it). Else it returns the whole scan.
func (l *Local) scanOrWatch(fd int, buf []byte, c *listCache, id dirID) ([][]dirEntry, *cachedDir, error) {
	first, err := readBatch(fd, buf)
	if err != nil || len(first) == 0 {
		return nil, nil, err
	}
	batches := [][]dirEntry{first}
	complete := false
	if len(first) < parallelMin {
		more, err := readBatch(fd, buf)
		if err != nil {
			return nil, nil, err
		}
		if complete = len(more) == 0; !complete {
			batches = append(batches, more)
		}
	}
	if c != nil && !(complete && len(first) < c.minEntries) {
		if d := c.watch(fd, id); d != nil {
			if _, err := unix.Seek(fd, 0, io.SeekStart); err != nil {
				return nil, d, fmt.Errorf("rewinding directory: %w", err)
			}
			return nil, d, nil
		}
	}
	if complete {
		return batches, nil, statRange(fd, first)
	}
	batches, err = scanParallel(fd, buf, batches)
	return batches, nil, err
}

// collect sorts the scanned entries by name, leaving out those removed
// during the scan, and completes them (symlinks followed, owner and group
// names). With recheck it also returns the indexes of the entries a
// cached listing must stat again (see dirSnapshot), judged on lstat.
func (l *Local) collect(batches [][]dirEntry, r string, recheck bool) ([]fs.FileInfo, []int32) {
	n := 0
	for _, b := range batches {
		n += len(b)
	}
	l.fstatats.Add(int64(n))
	sorted := make([]*dirEntry, 0, n)
	for _, b := range batches {
		for i := range b {
			if !b[i].gone {
				sorted = append(sorted, &b[i])
			}
		}
	}
	slices.SortFunc(sorted, func(a, b *dirEntry) int { return strings.Compare(a.name, b.name) })
	out := make([]fs.FileInfo, len(sorted))
	var again []int32
	var ids idMemo
	for i, e := range sorted {
		if recheck && unstable(e) {
			again = append(again, int32(i))
		}
		l.complete(e, r, &ids)
		out[i] = e
	}
	return out, again
}

// unstable reports whether inotify on e's directory may miss a change of
// what List shows of e (e as lstat'ed, before following a symlink).
func unstable(e *dirEntry) bool {
	return e.mode.IsDir() || e.mode&fs.ModeSymlink != 0 || e.stat.Nlink > 1
}

// fromSnapshot returns a copy of a cached listing of the directory open
// as fd, with its unstable entries stat'ed again (dropped if gone).
func (l *Local) fromSnapshot(fd int, r string, snap *dirSnapshot) ([]fs.FileInfo, error) {
	out := slices.Clone(snap.infos)
	if len(snap.recheck) == 0 {
		return out, nil
	}
	fresh := make([]dirEntry, len(snap.recheck))
	for k, i := range snap.recheck {
		fresh[k].name = snap.infos[i].Name()
	}
	l.fstatats.Add(int64(len(fresh)))
	if err := statEntries(fd, fresh); err != nil {
		return nil, err
	}
	var ids idMemo
	gone := false
	for k, i := range snap.recheck {
		e := &fresh[k]
		if e.gone {
			out[i], gone = nil, true
			continue
		}
		l.complete(e, r, &ids)
		out[i] = e
	}
	if gone {
		out = slices.DeleteFunc(out, func(fi fs.FileInfo) bool { return fi == nil })
	}
	return out, nil
}

// complete follows e if it is a symlink whose target is inside the root
// (os.Root refuses the rest) and sets its owner and group names.
func (l *Local) complete(e *dirEntry, r string, m *idMemo) {
	if e.mode&fs.ModeSymlink != 0 {
		if t, err := l.root.Stat(path.Join(r, e.name)); err == nil {
			if st, ok := t.Sys().(*syscall.Stat_t); ok {
				e.stat, e.mode = *st, fileMode(st.Mode)
			}
		}
	}
	e.owner, e.group = m.names(l.names, e.stat.Uid, e.stat.Gid)
}

// scanDir reads the directory fd from its current position batch by
// batch and stats every entry relative to fd, the stats of one batch
// overlapping the read of the next.
func scanDir(fd int, buf []byte) ([][]dirEntry, error) {
	first, err := readBatch(fd, buf)
	if err != nil || len(first) == 0 {
		return nil, err
	}
	if len(first) < parallelMin {
		more, err := readBatch(fd, buf)
		if err != nil {
			return nil, err
		}
		if len(more) == 0 {
			return [][]dirEntry{first}, statRange(fd, first)
		}
		return scanParallel(fd, buf, [][]dirEntry{first, more})
	}
	return scanParallel(fd, buf, [][]dirEntry{first})
}

// statWorkerCount is how many goroutines stat in parallel, this one
// included.
func statWorkerCount() int { return max(1, min(runtime.GOMAXPROCS(0), statWorkers)) }

// statPieces stats the pieces received until the channel is closed and
// returns the first error.
func statPieces(fd int, pieces <-chan []dirEntry) error {
	var first error
	for p := range pieces {
		if err := statRange(fd, p); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// sendPieces sends b to pieces in slices of statPiece entries.
func sendPieces(pieces chan<- []dirEntry, b []dirEntry) {
	for len(b) > 0 {
		n := min(len(b), statPiece)
		pieces <- b[:n]
		b = b[n:]
	}
}

// scanParallel stats the batches read so far and the rest of the
// directory on worker goroutines, all joined before it returns.
func scanParallel(fd int, buf []byte, batches [][]dirEntry) ([][]dirEntry, error) {
	pieces := make(chan []dirEntry, 64)
	workers := statWorkerCount()
	errs := make([]error, workers+1)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Go(func() { errs[w] = statPieces(fd, pieces) })
	}
	for _, b := range batches {
		sendPieces(pieces, b)
	}
	var readErr error
	for {
		b, err := readBatch(fd, buf)
		if err != nil {
			readErr = err
			break
		}
		if len(b) == 0 {
			break
		}
		batches = append(batches, b)
		sendPieces(pieces, b)
	}
	close(pieces)
	errs[workers] = statPieces(fd, pieces) // this goroutine's share, now that reading is done
	wg.Wait()
	if readErr != nil {
		return nil, readErr
	}
	return batches, errors.Join(errs...)
}

// statEntries stats entries relative to the directory fd, on worker
// goroutines when there are many.
func statEntries(fd int, entries []dirEntry) error {
	if len(entries) < parallelMin {
		return statRange(fd, entries)
	}
	pieces := make(chan []dirEntry, (len(entries)+statPiece-1)/statPiece)
	sendPieces(pieces, entries)
	close(pieces)
	workers := statWorkerCount()
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Go(func() { errs[w] = statPieces(fd, pieces) })
	}
	errs[0] = statPieces(fd, pieces)
	wg.Wait()
	return errors.Join(errs...)
}

// readBatch reads the next getdents batch of names, without "." and "..",
// as entries to be stat'ed. The names of one batch share one string. An
// empty batch is the end of the directory.
func readBatch(fd int, buf []byte) ([]dirEntry, error) {
	all, ends, err := readNames(fd, buf)
	if err != nil || len(ends) == 0 {
		return nil, err
	}
	entries := make([]dirEntry, len(ends))
	start := 0
	for i, end := range ends {
		entries[i].name, start = all[start:end], end
	}
	return entries, nil
}

// appendNames appends the names of the rest of the directory fd to
// names (unsorted), without stat'ing anything: NLST, and the first step
// of a listing stat'ed a batch at a time.
func appendNames(fd int, buf []byte, names []string) ([]string, error) {
	for {
		all, ends, err := readNames(fd, buf)
		if err != nil {
			return nil, err
		}
		if len(ends) == 0 {
			return names, nil
		}
		start := 0
		for _, end := range ends {
			names, start = append(names, all[start:end]), end
		}
	}
}

// readNames reads the next getdents batch that has names other than "."
// and ".." and in-progress uploads (see isTempName): all of them in one
// string, ends[i] the end of the i-th. No ends: the end of the directory.
func readNames(fd int, buf []byte) (all string, ends []int, err error) {
	for {
		n, err := syscall.ReadDirent(fd, buf)
		if err != nil {
			return "", nil, fmt.Errorf("getdents: %w", err)
		}
		if n <= 0 {
			return "", nil, nil
		}
		var arena []byte
		// struct linux_dirent64: ino u64, off s64, reclen u16, type u8,
		// name NUL-terminated.
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return "", nil, errors.New("getdents: malformed record")
			}
			name := b[19:reclen]
			if i := slices.Index(name, 0); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			if string(name) == "." || string(name) == ".." || isTempName(string(name)) {
				continue
			}
			arena = append(arena, name...)
			ends = append(ends, len(arena))
		}
		if len(ends) > 0 {
			return string(arena), ends, nil
		}
		// only "." and ".." (or uploads) in this read
	}
}

// statRange lstats each entry by name relative to the directory fd.
func statRange(fd int, entries []dirEntry) error {
	var st unix.Stat_t
	for i := range entries {
		e := &entries[i]
		name := e.name
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				e.gone = true // removed since getdents
				continue
			}
			return fmt.Errorf("lstat %s: %w", name, err)
		}
		e.stat = syscall.Stat_t{
			Dev: st.Dev, Ino: st.Ino, Nlink: st.Nlink, Mode: st.Mode, Uid: st.Uid, Gid: st.Gid,
			Rdev: st.Rdev, Size: st.Size, Blksize: st.Blksize, Blocks: st.Blocks,
			Atim: syscall.Timespec{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec},
			Mtim: syscall.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
			Ctim: syscall.Timespec{Sec: st.Ctim.Sec, Nsec: st.Ctim.Nsec},
		}
		e.mode = fileMode(st.Mode)
	}
	return nil
}

// dirEntry is one LIST entry: an fs.FileInfo over the raw stat, with
// owner and group names. Sys returns the *syscall.Stat_t, as os does.
// Once returned by List it never changes (cached listings share it), and
// callers must not modify what Sys points to.
type dirEntry struct {
	name         string
	mode         fs.FileMode
	stat         syscall.Stat_t
	owner, group string
	gone         bool
}

// fileTypes maps st_mode's file type to fs.FileMode bits, as os does.
var fileTypes = map[uint32]fs.FileMode{
	syscall.S_IFBLK:  fs.ModeDevice,
	syscall.S_IFCHR:  fs.ModeDevice | fs.ModeCharDevice,
	syscall.S_IFDIR:  fs.ModeDir,
	syscall.S_IFIFO:  fs.ModeNamedPipe,
	syscall.S_IFLNK:  fs.ModeSymlink,
	syscall.S_IFSOCK: fs.ModeSocket,
}

// modeBits maps st_mode's special bits to fs.FileMode bits.
var modeBits = [...]struct {
	sys  uint32
	mode fs.FileMode
}{{syscall.S_ISUID, fs.ModeSetuid}, {syscall.S_ISGID, fs.ModeSetgid}, {syscall.S_ISVTX, fs.ModeSticky}}

func (e *dirEntry) Name() string      { return e.name }
func (e *dirEntry) Size() int64       { return e.stat.Size }
func (e *dirEntry) Mode() fs.FileMode { return e.mode }

// fileMode converts st_mode to an fs.FileMode, as os does.
func fileMode(sys uint32) fs.FileMode {
	m := fs.FileMode(sys&0o777) | fileTypes[sys&syscall.S_IFMT]
	for _, b := range modeBits {
		if sys&b.sys != 0 {
			m |= b.mode
		}
	}
	return m
}
func (e *dirEntry) ModTime() time.Time { return time.Unix(e.stat.Mtim.Unix()) }
func (e *dirEntry) IsDir() bool        { return e.mode.IsDir() }
func (e *dirEntry) Sys() any           { return &e.stat }

// Owner is the file owner's user name, or the uid if it has none.
func (e *dirEntry) Owner() string { return e.owner }

// Group is the file group's name, or the gid if it has none.
func (e *dirEntry) Group() string { return e.group }
