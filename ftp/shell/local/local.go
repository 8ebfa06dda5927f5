package local

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// Local is a shell.Shell on a directory of the local filesystem, through
// os.Root: "..", absolute paths and symlinks cannot leave the directory,
// whatever the path says (the checks are os.Root's, made with openat on
// each component, so a symlink swapped in during a call cannot escape
// either).
//
// Symlinks that stay inside the root are followed by Stat, Access,
// OpenForReading, OpenForWriting and List of a directory; a symlink that
// points outside (or dangles) fails as shell.ErrInvalidPath or fs.ErrNotExist.
// List entries for symlinks describe their target when it is inside the
// root, else the link itself, so LIST never shows metadata from outside.
//
// A Local is safe for concurrent use: the server shares one per home
// directory among that user's sessions.
//
// On Linux, List caches the listings of large directories (64 entries or
// more, up to 200,000 entries and 512 directories per Local, least
// recently used evicted) when the root is on tmpfs, ext2/3/4, xfs or
// btrfs. Each cached directory has an inotify watch, added before it is
// scanned; any event drops the listing, and every List first reads the
// queued events, so a change made on this machine that completed before
// the List began is always seen. Entries inotify cannot vouch for
// (directories, symlinks, files with several hard links) are stat'ed
// again at every List. Not seen by inotify, and so shown stale for at
// most maxCacheAge (2 s), after which the directory is scanned again:
// writes to a file that had one link when cached, made through a name in
// another directory (a hard link made later, or a descriptor opened
// through a link since removed), and mtime updates from writes through a
// shared mmap. Without inotify (no instance
// or watch left) List simply scans. A Local holds one inotify instance
// (fs.inotify.max_user_instances is 128 per user by default), released by
// Close.
//
// An atomic upload in progress is invisible to every client and every
// command, and never outlives the upload (upload.go): an unnamed
// O_TMPFILE file where the filesystem allows, else a hidden file that no
// listing shows and no path reaches, removed by Abort, or after a crash
// by the sweep New starts.
type Local struct {
	root  *os.Root
	opts  Options
	names *idNames
	cache *listCache // nil: no listing cache

	// linkByProc: uploads may be unnamed files (see canLinkUnnamed).
	linkByProc bool

	// The sweep of stale uploads (see sweep): stop ends it early, swept
	// is closed when it is over, sweepRemoved and sweepWhole are its
	// result once swept is closed.
	stop, swept  chan struct{}
	sweepRemoved int
	sweepWhole   bool

	// fstatats counts the entries List has stat'ed (tests: cache hits).
	fstatats atomic.Int64
}

var (
	_ shell.Shell            = (*Local)(nil)
	_ shell.NameLister       = (*Local)(nil)
	_ shell.StreamLister     = (*Local)(nil)
	_ shell.ExclusiveCreator = (*Local)(nil)
)

// New opens dir as a shell's root, and starts removing, in the
// background, the hidden files uploads that were in progress when a
// server stopped without finishing them left anywhere under it (see
// sweep).
func New(dir string) (*Local, error) { return Open(dir, Options{}) }

// Options tune a Local. The zero value is New's.
type Options struct {
	// WorldReadableOnly refuses to open for reading (fs.ErrPermission) a
	// file that is not readable by everyone (mode o+r), whatever the
	// server's own rights: vsftpd's anon_world_readable_only, for
	// anonymous users of a server that runs as root or as the files'
	// owner.
	WorldReadableOnly bool
	// NoSweep skips the start-up sweep of stale uploads: a Realm sweeps
	// its root once, which covers the directories under it.
	NoSweep bool
}

// Open opens dir as a shell's root with opts.
func Open(dir string, opts Options) (*Local, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("shell: opening root %s: %w", dir, err)
	}
	return fromRoot(r, opts), nil
}

// fromRoot is a Local on an open root, which it owns from now on.
func fromRoot(r *os.Root, opts Options) *Local {
	l := &Local{root: r, opts: opts, names: newIDNames(), cache: newListCache(r), linkByProc: canLinkUnnamed(),
		stop: make(chan struct{}), swept: make(chan struct{})}
	if opts.NoSweep {
		close(l.swept)
	} else {
		go l.sweep(time.Now().Add(-sweepSlack))
	}
	return l
}

// SweepResult waits for the end of the start-up sweep of stale uploads
// (at once with Options.NoSweep) and says what it did: the stale uploads
// it removed, and whole, false when Close stopped it before the end of
// the tree (or it did not run). It blocks on the sweep: any goroutine but
// an event loop.
func (l *Local) SweepResult() (removed int, whole bool) {
	<-l.swept
	return l.sweepRemoved, l.sweepWhole
}

// Close stops the sweep and releases the root directory and the listing
// cache.
func (l *Local) Close() error {
	close(l.stop)
	<-l.swept
	cacheErr := l.cache.close()
	if err := l.root.Close(); err != nil {
		return fmt.Errorf("shell: closing root: %w", err)
	}
	if cacheErr != nil {
		return fmt.Errorf("shell: closing listing cache: %w", cacheErr)
	}
	return nil
}

// resolve maps the virtual path p to its root-relative name. A path
// through an in-progress upload's name (isTempName) does not exist: those
// files are no client's to see or touch.
func resolve(op, p string) (string, error) {
	r, err := shell.RootRelative(p)
	if err != nil {
		return "", mapErr(op, p, err)
	}
	if hasTempName(r) {
		return "", mapErr(op, p, fs.ErrNotExist)
	}
	return r, nil
}

// resolveNew is resolve for a name about to be created (MKD, STOR,
// RNTO): an upload's reserved name is refused as not allowed.
func resolveNew(op, p string) (string, error) {
	r, err := shell.RootRelative(p)
	if err != nil {
		return "", mapErr(op, p, err)
	}
	if hasTempName(r) {
		return "", mapErr(op, p, fs.ErrPermission)
	}
	return r, nil
}

// MakeDirectory creates one directory (mode 0755 less the umask); its
// parent must exist, as with MKD.
func (l *Local) MakeDirectory(p string) error {
	r, err := resolveNew("mkdir", p)
	if err != nil {
		return err
	}
	if r == "." {
		return mapErr("mkdir", p, fs.ErrExist)
	}
	return mapErr("mkdir", p, l.root.Mkdir(r, 0o755))
}

// RemoveDirectory removes an empty directory; a file is shell.ErrNotDir, a
// directory with entries fs.ErrExist, the root itself fs.ErrPermission.
func (l *Local) RemoveDirectory(p string) error {
	r, err := resolve("rmdir", p)
	if err != nil {
		return err
	}
	if r == "." {
		return mapErr("rmdir", p, fs.ErrPermission)
	}
	fi, err := l.root.Lstat(r)
	if err != nil {
		return mapErr("rmdir", p, err)
	}
	if !fi.IsDir() {
		return mapErr("rmdir", p, shell.ErrNotDir)
	}
	return mapErr("rmdir", p, l.root.Remove(r))
}

// RemoveFile removes a file (a symlink: the link itself); a directory is
// shell.ErrIsDir.
func (l *Local) RemoveFile(p string) error {
	r, err := resolve("remove", p)
	if err != nil {
		return err
	}
	fi, err := l.root.Lstat(r)
	if err != nil {
		return mapErr("remove", p, err)
	}
	if fi.IsDir() {
		return mapErr("remove", p, shell.ErrIsDir)
	}
	return mapErr("remove", p, l.root.Remove(r))
}

// Rename moves from to to (rename(2): an existing file at to is
// replaced). Renaming the root, or onto it, is fs.ErrPermission.
func (l *Local) Rename(from, to string) error {
	rf, err := resolve("rename", from)
	if err != nil {
		return err
	}
	rt, err := resolveNew("rename", to)
	if err != nil {
		return err
	}
	if rf == "." || rt == "." {
		return mapErr("rename", from, fs.ErrPermission)
	}
	return mapErr("rename", from, l.root.Rename(rf, rt))
}

// Access reports nil if p is a directory (CWD); a file is shell.ErrNotDir.
func (l *Local) Access(p string) error {
	fi, err := l.Stat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return mapErr("cwd", p, shell.ErrNotDir)
	}
	return nil
}

// Stat describes p, following symlinks that stay inside the root. The
// result implements shell.FileInfoOwner.
func (l *Local) Stat(p string) (fs.FileInfo, error) {
	r, err := resolve("stat", p)
	if err != nil {
		return nil, err
	}
	fi, err := l.root.Stat(r)
	if err != nil {
		return nil, mapErr("stat", p, err)
	}
	out := make([]localInfo, 1)
	l.describe(out, []fs.FileInfo{fi})
	return &out[0], nil
}

// List returns a directory's entries sorted by name (byte order), or the
// file itself. Entries implement shell.FileInfoOwner and their Sys is the
// *syscall.Stat_t (not to be modified); the slice is the caller's. On
// Linux the cost is one getdents pass, a sort, one fstatat per entry (in
// parallel for large directories; one more per symlink) and a handful of
// allocations for the whole listing; owner names are looked up once per
// id and Local. A large directory listed again is served from the cache
// (see Local): a copy of the slice plus one fstatat per subdirectory,
// symlink or multiply linked file.
func (l *Local) List(p string) ([]fs.FileInfo, error) {
	f, fi, r, err := l.openListed(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if !fi.IsDir() {
		out := make([]localInfo, 1)
		l.describe(out, []fs.FileInfo{fi})
		return []fs.FileInfo{&out[0]}, nil
	}
	infos, err := l.listDir(f, r, fi)
	if err != nil {
		return nil, mapErr("list", p, err)
	}
	return infos, nil
}

// OpenList starts a listing of p in bounded memory (shell.StreamLister):
// what List returns, a batch at a time. A large directory in the listing
// cache is read straight from the cached snapshot, which every session
// shares, with no copy of it per session; one worth caching is scanned
// and stored as List does, then read from there; otherwise the listing
// keeps the sorted names and stats each batch when Next reaches it. The
// Listing holds the directory open until Close.
func (l *Local) OpenList(p string, namesOnly bool) (shell.Listing, error) {
	f, fi, r, err := l.openListed(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		f.Close()
		out := make([]localInfo, 1)
		l.describe(out, []fs.FileInfo{fi})
		return shell.SliceListing([]fs.FileInfo{&out[0]}), nil
	}
	d, err := l.openDir(f, r, p, fi, namesOnly)
	if err != nil {
		f.Close()
		return nil, mapErr("list", p, err)
	}
	return d, nil
}

// openListed opens p for List/ListNames and stats it; r is p relative
// to the root. The caller closes f.
func (l *Local) openListed(p string) (f *os.File, fi fs.FileInfo, r string, err error) {
	if r, err = resolve("list", p); err != nil {
		return nil, nil, "", err
	}
	// O_NONBLOCK: opening a FIFO must not wait for a writer.
	if f, err = l.root.OpenFile(r, os.O_RDONLY|syscall.O_NONBLOCK, 0); err != nil {
		return nil, nil, "", mapErr("list", p, err)
	}
	if fi, err = f.Stat(); err != nil {
		f.Close()
		return nil, nil, "", mapErr("list", p, err)
	}
	return f, fi, r, nil
}

// ListNames returns the sorted names in the directory p, or p's base
// name when it is a file (shell.NameLister): one getdents pass, no stat.
func (l *Local) ListNames(p string) ([]string, error) {
	f, fi, _, err := l.openListed(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if !fi.IsDir() {
		return []string{fi.Name()}, nil
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, mapErr("list", p, err)
	}
	names = slices.DeleteFunc(names, isTempName)
	slices.Sort(names)
	return names, nil
}

// describe fills out with infos and their owner and group names.
func (l *Local) describe(out []localInfo, infos []fs.FileInfo) {
	var ids idMemo
	for i, fi := range infos {
		out[i].FileInfo = fi
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			out[i].owner, out[i].group = "ftp", "ftp"
			continue
		}
		out[i].owner, out[i].group = ids.names(l.names, st.Uid, st.Gid)
	}
}

// idMemo remembers the last uid and gid named: entries of one directory
// mostly share them, so names are looked up only when the id changes.
type idMemo struct {
	uid, gid     uint32
	owner, group string
}

// names returns the owner and group names of uid and gid.
func (m *idMemo) names(n *idNames, uid, gid uint32) (owner, group string) {
	if m.owner == "" || uid != m.uid {
		m.uid, m.owner = uid, n.user(uid)
	}
	if m.group == "" || gid != m.gid {
		m.gid, m.group = gid, n.group(gid)
	}
	return m.owner, m.group
}

// localInfo is a FileInfo with owner and group names for LIST.
type localInfo struct {
	fs.FileInfo
	owner, group string
}

// Owner is the file owner's user name, or the uid if it has none.
func (i *localInfo) Owner() string { return i.owner }

// Group is the file group's name, or the gid if it has none.
func (i *localInfo) Group() string { return i.group }

// OpenForReading returns the *os.File itself so that io.Copy to a
// *net.TCPConn uses sendfile(2). A directory is shell.ErrIsDir; an offset past
// the end reads nothing.
func (l *Local) OpenForReading(p string, offset int64) (io.ReadCloser, error) {
	r, err := resolve("open", p)
	if err != nil {
		return nil, err
	}
	// O_NONBLOCK: opening a FIFO must not wait for a writer (it is then
	// refused). Reads of a regular file ignore the flag.
	f, err := l.root.OpenFile(r, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, mapErr("open", p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, mapErr("open", p, err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, mapErr("open", p, shell.ErrIsDir)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, mapErr("open", p, shell.ErrNotRegular)
	}
	if l.opts.WorldReadableOnly && fi.Mode().Perm()&0o004 == 0 {
		// Checked on the opened file: a chmod between a check by name and
		// the open cannot slip a private file through.
		f.Close()
		return nil, mapErr("open", p, fs.ErrPermission)
	}
	if offset > fi.Size() {
		f.Close()
		return nil, mapErr("open", p, shell.ErrBadOffset)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, mapErr("seek", p, err)
		}
	}
	return f, nil
}

// openInPlace opens r for APPE (offset < 0 or 0: at the end) or REST+STOR
// (offset > 0: truncated to offset and written from there).
func (l *Local) openInPlace(p, r string, offset int64, appendMode bool) (shell.WriteFile, error) {
	flags := os.O_WRONLY
	switch {
	case appendMode && offset <= 0:
		flags |= os.O_APPEND | os.O_CREATE
	case offset <= 0:
		flags |= os.O_CREATE
	}
	// REST+STOR (offset > 0) opens an existing file only: one removed
	// since the check above is not created again as a hole.
	// O_NONBLOCK: a FIFO put there since the check above fails (ENXIO)
	// instead of blocking; writes to a regular file ignore the flag.
	f, err := l.root.OpenFile(r, flags|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, mapErr("open", p, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, mapErr("open", p, shell.ErrNotRegular)
	}
	if offset > fi.Size() {
		f.Close()
		return nil, mapErr("open", p, shell.ErrBadOffset) // shrunk since the check
	}
	if offset > 0 {
		if err := f.Truncate(offset); err != nil {
			f.Close()
			return nil, mapErr("truncate", p, err)
		}
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, mapErr("seek", p, err)
		}
	}
	return &inPlace{File: f, vpath: p}, nil
}

// errFinished is returned by a second Commit.
var errFinished = errors.New("upload already finished")

// inPlace is an APPE or REST+STOR upload: Commit and Abort both close.
type inPlace struct {
	*os.File
	vpath string
	done  bool
}

// Commit closes the file.
func (w *inPlace) Commit() error {
	if w.done {
		return mapErr("commit", w.vpath, errFinished)
	}
	w.done = true
	return mapErr("close", w.vpath, w.File.Close())
}

// Abort closes the file, keeping what was written (as every peer does).
func (w *inPlace) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	return mapErr("close", w.vpath, w.File.Close())
}

// LocalPath is shell.Locator: the virtual path p under the directory the
// Local was opened on.
func (l *Local) LocalPath(p string) (string, bool) {
	r, err := shell.RootRelative(p)
	if err != nil {
		return "", false
	}
	return filepath.Join(l.root.Name(), r), true
}
