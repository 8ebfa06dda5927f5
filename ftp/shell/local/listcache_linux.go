package local

import (
	"container/list"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Limits of a Local's listing cache.
const (
	// maxCachedEntries bounds the cache's memory: an entry is about 250
	// bytes (stat, name, owner, group, interface), so 200,000 entries
	// across directories are about 50 MB per Local at most.
	maxCachedEntries = 200_000
	// maxCachedDirs bounds the inotify watches a Local holds, one per
	// cached directory: watches are a per-user resource
	// (fs.inotify.max_user_watches, 8192 by default before Linux 5.11)
	// shared with every other program running as the server's user.
	maxCachedDirs = 512
	// minCachedEntries: smaller directories are not cached. Their scan is
	// cheap (64 fstatat take about 80 µs), while adding and removing a
	// watch and reading its IN_IGNORED costs about 10 µs, and every watch
	// counts against max_user_watches.
	minCachedEntries = 64
	// watchMask is every event that changes what List shows of a
	// directory's entries or of the directory itself.
	watchMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
		unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE |
		unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR
	// maxCacheAge bounds how stale a listing can be in the few cases
	// inotify on the directory cannot see (a file hard-linked from another
	// directory after it was cached and written through that name, a
	// write through a descriptor opened via a link since removed, a write
	// through a shared mmap): a cached listing older than this is scanned
	// again. Short next to NFS's attribute cache (3-60 s); long enough
	// that clients polling a directory, and a mirror listing it again,
	// hit the cache.
	maxCacheAge = 2 * time.Second
	// maxLargeDirs bounds listCache.large (16 bytes a directory); it is
	// emptied when full.
	maxLargeDirs = 8 * maxCachedDirs
	// eventBufSize holds at least one event with the longest name.
	eventBufSize = 64 << 10
)

// notifiable reports whether inotify sees every change to a filesystem
// of this statfs f_type: local filesystems only, where all changes go
// through this kernel's VFS. NFS, CIFS, FUSE, overlayfs and the like can
// change under the kernel without events.
func notifiable(fsType uint32) bool {
	switch fsType {
	case unix.TMPFS_MAGIC, unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC:
		return true
	}
	return false
}

// fdNotifiable reports whether the file open as fd is on a notifiable
// filesystem.
func fdNotifiable(fd int) bool {
	var sfs unix.Statfs_t
	return unix.Fstatfs(fd, &sfs) == nil && notifiable(uint32(sfs.Type))
}

// dirID is a directory's identity. The cache is keyed by it rather than
// by path: what a path names can change without any event on the
// directory's own watch (a parent renamed, a symlinked component
// retargeted), what an open directory is cannot.
type dirID struct{ dev, ino uint64 }

// cachedDir is one watched directory: its listing, once a scan made under
// the watch completed with no event in between. Any event drops the
// record and its watch, so a record that is still live when a scan ends
// proves that nothing changed during the scan (the record plays the role
// of a generation number).
type cachedDir struct {
	id   dirID
	wd   int32
	dead bool         // dropped: a scan begun under it must not be stored
	snap *dirSnapshot // nil while the first scan runs
	elem *list.Element
}

// dirSnapshot is a cached listing. infos are sorted by name and never
// modified once stored; recheck indexes the entries inotify on the
// directory cannot vouch for, stat'ed again at every use: directories
// (their nlink and mtime change with their own contents), symlinks (the
// target can change elsewhere) and anything with several hard links (it
// can be written through another directory).
type dirSnapshot struct {
	infos   []fs.FileInfo
	recheck []int32
	stored  time.Time // for maxCacheAge
}

// listCache is a Local's cache of large directory listings, validated
// with inotify. There is no goroutine: List drains the inotify queue
// (non-blocking) before each lookup. The kernel queues an event before
// the system call that made the change returns, so every change that
// completed before a List began is seen by it.
//
// Safe for concurrent use; mu is held for lookups, watch changes and
// stores, never during a scan.
type listCache struct {
	mu     sync.Mutex
	fd     int // inotify instance, -1 until the first watch or after a reset
	closed bool
	dirs   map[dirID]*cachedDir // watched directories, cached or being scanned
	wds    map[int32]*cachedDir // the same by watch descriptor
	// large holds directories that were worth caching when last scanned,
	// cached or not: their next scan adds the watch before reading the
	// directory, instead of reading the start of it again under the watch.
	large map[dirID]struct{}
	// claims are the directories a streaming listing is scanning for the
	// cache right now (see claim).
	claims  map[dirID]chan struct{}
	lru     list.List // cached directories, most recently used first
	entries int       // cached entries across directories
	buf     []byte

	// maxCachedEntries, maxCachedDirs, minCachedEntries and maxCacheAge;
	// tests change them.
	maxEntries, maxDirs, minEntries int
	maxAge                          time.Duration
	// addWatch is unix.InotifyAddWatch; tests make it fail.
	addWatch func(fd int, path string, mask uint32) (int, error)
}

// newListCache returns a cache for root, or nil if root's filesystem
// does not report every change through inotify.
func newListCache(root *os.Root) *listCache {
	f, err := root.Open(".")
	if err != nil {
		return nil
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	ok := false
	if rc.Control(func(fd uintptr) { ok = fdNotifiable(int(fd)) }) != nil || !ok {
		return nil
	}
	return &listCache{
		fd:         -1,
		dirs:       map[dirID]*cachedDir{},
		wds:        map[int32]*cachedDir{},
		large:      map[dirID]struct{}{},
		maxEntries: maxCachedEntries,
		maxDirs:    maxCachedDirs,
		minEntries: minCachedEntries,
		maxAge:     maxCacheAge,
		addWatch:   unix.InotifyAddWatch,
	}
}

// get returns the cached listing of the directory id, or nil and whether
// the directory was large enough to cache when last scanned.
func (c *listCache) get(id dirID) (snap *dirSnapshot, large bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, large = c.large[id]
	if len(c.dirs) == 0 {
		return nil, large
	}
	c.drainLocked()
	d := c.dirs[id]
	if d == nil || d.snap == nil {
		return nil, large
	}
	if time.Since(d.snap.stored) > c.maxAge {
		c.forgetSnapLocked(d) // too old: scan again under the same watch
		return nil, large
	}
	c.lru.MoveToFront(d.elem)
	return d.snap, large
}

// claim reserves the scan of directory id for the caller (mine true),
// or returns a channel closed when the listing that holds it is done, so
// that streaming listings arriving meanwhile wait for its snapshot rather
// than each hold a full scan. unclaim ends the reservation.
func (c *listCache) claim(id dirID) (wait <-chan struct{}, mine bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, taken := c.claims[id]; taken {
		return ch, false
	}
	if c.claims == nil {
		c.claims = map[dirID]chan struct{}{}
	}
	c.claims[id] = make(chan struct{})
	return nil, true
}

func (c *listCache) unclaim(id dirID) {
	c.mu.Lock()
	if ch := c.claims[id]; ch != nil {
		close(ch)
		delete(c.claims, id)
	}
	c.mu.Unlock()
}

// watch starts watching the directory open as dirfd, whose identity is
// id, before the caller scans it. It returns nil, and the caller lists
// without the cache, when that is not possible: a filesystem without
// complete notifications, or inotify refusing (no instance or watch left:
// EMFILE, ENOSPC). Every non-nil result must be given to store or
// abandon.
func (c *listCache) watch(dirfd int, id dirID) *cachedDir {
	if !fdNotifiable(dirfd) { // a mount inside the root may not be
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	if d := c.dirs[id]; d != nil {
		return d // being scanned by another List, or just stored
	}
	if c.fd < 0 {
		fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
		if err != nil {
			return nil
		}
		c.fd, c.buf = fd, make([]byte, eventBufSize)
	}
	// Through /proc, the watch is on the very directory being listed,
	// whatever its path has become.
	wd, err := c.addWatch(c.fd, "/proc/self/fd/"+strconv.Itoa(dirfd), watchMask)
	if err != nil {
		return nil
	}
	if old := c.wds[int32(wd)]; old != nil {
		// The kernel says this directory is already watched under another
		// identity: trust neither.
		c.dropLocked(old, true)
		return nil
	}
	d := &cachedDir{id: id, wd: int32(wd)}
	c.dirs[id], c.wds[d.wd] = d, d
	return d
}

// store caches snap as d's listing if no event arrived for d since watch
// returned it, then evicts least recently used directories beyond the
// limits. It reports whether snap was stored (it may be evicted since).
func (c *listCache) store(d *cachedDir, snap *dirSnapshot) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(snap.infos)
	if n < c.minEntries {
		delete(c.large, d.id)
	} else {
		if len(c.large) >= maxLargeDirs {
			clear(c.large)
		}
		c.large[d.id] = struct{}{}
	}
	c.drainLocked()
	if d.dead || d.snap != nil { // changed, or a concurrent scan stored first
		return false
	}
	if n < c.minEntries || n > c.maxEntries {
		c.dropLocked(d, true)
		return false
	}
	snap.stored = time.Now()
	d.snap, d.elem = snap, c.lru.PushFront(d)
	c.entries += n
	for c.entries > c.maxEntries || c.lru.Len() > c.maxDirs {
		c.dropLocked(c.lru.Back().Value.(*cachedDir), true)
	}
	return true
}

// abandon drops d if its scan failed and nothing was stored.
func (c *listCache) abandon(d *cachedDir) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d.snap == nil {
		c.dropLocked(d, true)
	}
}

// close releases the inotify instance; the cache stays empty afterwards.
func (c *listCache) close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return c.resetLocked()
}

// drainLocked reads every queued event without blocking and applies it.
func (c *listCache) drainLocked() {
	for c.fd >= 0 {
		n, err := unix.Read(c.fd, c.buf)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return
		case err != nil || n <= 0:
			_ = c.resetLocked() // cannot tell what changed: trust nothing
			return
		}
		c.applyLocked(c.buf[:n])
	}
}

// applyLocked applies a buffer of struct inotify_event: any event drops
// its directory (IN_IGNORED: the kernel already removed the watch), a
// queue overflow drops everything.
func (c *listCache) applyLocked(b []byte) {
	for len(b) >= unix.SizeofInotifyEvent {
		wd := int32(binary.NativeEndian.Uint32(b[0:4]))
		mask := binary.NativeEndian.Uint32(b[4:8])
		size := unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(b[12:16]))
		if mask&unix.IN_Q_OVERFLOW != 0 || size > len(b) {
			_ = c.resetLocked()
			return
		}
		b = b[size:]
		if d := c.wds[wd]; d != nil {
			c.dropLocked(d, mask&unix.IN_IGNORED == 0)
		}
	}
}

// dropLocked forgets d, and removes its watch if rmWatch.
func (c *listCache) dropLocked(d *cachedDir, rmWatch bool) {
	if d.dead {
		return
	}
	d.dead = true
	delete(c.dirs, d.id)
	delete(c.wds, d.wd)
	c.forgetSnapLocked(d)
	if rmWatch && c.fd >= 0 {
		// EINVAL if the kernel removed it already; its IN_IGNORED, queued
		// now, names a descriptor no longer in wds.
		_, _ = unix.InotifyRmWatch(c.fd, uint32(d.wd))
	}
}

// forgetSnapLocked drops d's listing, if it has one, keeping its watch.
func (c *listCache) forgetSnapLocked(d *cachedDir) {
	if d.snap == nil {
		return
	}
	c.entries -= len(d.snap.infos)
	c.lru.Remove(d.elem)
	d.snap, d.elem = nil, nil
}

// resetLocked drops every directory and closes the inotify instance,
// which removes all its watches at once; the next watch makes a new one.
func (c *listCache) resetLocked() error {
	for _, d := range c.dirs {
		d.dead, d.snap, d.elem = true, nil, nil
	}
	clear(c.dirs)
	clear(c.wds)
	c.lru.Init()
	c.entries = 0
	if c.fd < 0 {
		return nil
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}
