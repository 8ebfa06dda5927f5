package local

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// An atomic upload (STOR) writes a file that no client can see, and puts
// it in place with one rename when it is committed:
//
//   - Where the filesystem allows (Linux: tmpfs, ext4, xfs, btrfs and
//     most local ones), the file has no name at all while it is written:
//     open(O_TMPFILE) in the target's directory. Commit links it under a
//     private name (linkat through /proc/self/fd) and renames that over
//     the target; Abort, or a crash of the server, just closes it and the
//     kernel frees it. Nothing is left behind, whatever happens.
//   - Elsewhere it is a hidden file named tempPrefix + 16 hex digits in
//     the target's directory, renamed over the target by Commit and
//     removed by Abort. A crash leaves it behind until the next start,
//     whose sweep removes it (see sweep).
//
// Either way every name that starts with tempPrefix is invisible: left
// out of every listing, and a path through one does not exist for any
// command (resolve), nor can a client create one. And the directory is
// held open by descriptor for the whole upload, and every later step is
// relative to it (openat, linkat, renameat), so renaming the directory,
// or one above it, during the upload moves the upload along: it lands in
// the directory under its new name, and never strands a file.
const tempPrefix = ".gnetftp-upload-"

// isTempName reports whether name is an upload's reserved name.
func isTempName(name string) bool { return strings.HasPrefix(name, tempPrefix) }

// hasTempName reports whether any segment of the root-relative name r is
// an upload's reserved name.
func hasTempName(r string) bool {
	return strings.HasPrefix(r, tempPrefix) || strings.Contains(r, "/"+tempPrefix)
}

// tempName is a fresh reserved name.
func tempName() string {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	return tempPrefix + hex.EncodeToString(rnd[:])
}

// OpenForWriting starts an upload; see shell.Shell. An atomic upload that
// replaces a file keeps that file's permission bits; a new file gets 0644
// less the umask. A directory at p is shell.ErrIsDir, a missing parent
// fs.ErrNotExist.
func (l *Local) OpenForWriting(p string, offset int64, appendMode bool) (shell.WriteFile, error) {
	r, err := resolveNew("open", p)
	if err != nil {
		return nil, err
	}
	if r == "." {
		return nil, mapErr("open", p, shell.ErrIsDir)
	}
	perm := fs.FileMode(0o644)
	old, err := l.root.Stat(r)
	switch {
	case err == nil && old.IsDir():
		return nil, mapErr("open", p, shell.ErrIsDir)
	case err == nil && !old.Mode().IsRegular():
		return nil, mapErr("open", p, shell.ErrNotRegular)
	case err == nil:
		perm = old.Mode().Perm()
	case !errors.Is(err, fs.ErrNotExist):
		return nil, mapErr("open", p, err)
	}
	if offset > 0 && !appendMode && (err != nil || offset > old.Size()) {
		return nil, mapErr("open", p, shell.ErrBadOffset) // nothing created
	}
	if appendMode || offset > 0 {
		return l.openInPlace(p, r, offset, appendMode)
	}
	dir, base := path.Split(r)
	if dir == "" {
		dir = "."
	}
	d, err := l.root.Open(dir)
	if err != nil {
		return nil, mapErr("open", p, err)
	}
	u, err := l.openAtomic(d, base, perm)
	if err != nil {
		d.Close()
		return nil, mapErr("open", p, err)
	}
	u.vpath = p
	return u, nil
}

// CreateExclusive starts an atomic upload to p that never replaces a
// file (shell.ExclusiveCreator, for STOU): fs.ErrExist if p exists now,
// or at Commit, which links the upload under p (link(2) fails on an
// existing name) instead of renaming it over p.
func (l *Local) CreateExclusive(p string) (shell.WriteFile, error) {
	r, err := resolveNew("open", p)
	if err != nil {
		return nil, err
	}
	if r == "." {
		return nil, mapErr("open", p, shell.ErrIsDir)
	}
	if _, err := l.root.Lstat(r); err == nil {
		return nil, mapErr("open", p, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, mapErr("open", p, err)
	}
	dir, base := path.Split(r)
	if dir == "" {
		dir = "."
	}
	d, err := l.root.Open(dir)
	if err != nil {
		return nil, mapErr("open", p, err)
	}
	u, err := l.openAtomic(d, base, 0o644)
	if err != nil {
		d.Close()
		return nil, mapErr("open", p, err)
	}
	u.vpath, u.noReplace = p, true
	return u, nil
}

// openAtomic opens the upload of base in the directory d: an unnamed
// file, or a hidden named one where the filesystem has no O_TMPFILE.
func (l *Local) openAtomic(d *os.File, base string, perm fs.FileMode) (*atomicUpload, error) {
	u := &atomicUpload{dir: d, base: base}
	err := u.dirCall(func(dirfd int) error {
		fd, err := openUnnamed(dirfd, l.linkByProc)
		if err != nil {
			name := tempName()
			fd, err = unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
			if err != nil {
				return fmt.Errorf("creating %s: %w", name, err)
			}
			u.tmp = name
		}
		u.File = os.NewFile(uintptr(fd), base)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if perm != 0o644 {
		if err := u.File.Chmod(perm); err != nil {
			_ = u.Abort()
			return nil, err
		}
	}
	return u, nil
}

// atomicUpload is a STOR in progress (see tempPrefix). The embedded
// *os.File gives it ReadFrom, so io.Copy from a *net.TCPConn splices.
type atomicUpload struct {
	*os.File
	dir   *os.File // the target's directory, held for the whole upload
	base  string   // the target's name in dir
	tmp   string   // the hidden name, "" for an unnamed file
	vpath string
	done  bool
	// noReplace: Commit links the file under base, failing if the name
	// exists, instead of renaming over it (CreateExclusive).
	noReplace bool
}

// dirCall runs fn with the directory's descriptor.
func (u *atomicUpload) dirCall(fn func(dirfd int) error) error {
	rc, err := u.dir.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = fn(int(fd)) }); err != nil {
		return err
	}
	return opErr
}

// Commit puts the upload in place: an unnamed file is linked under a
// hidden name first; then the file is closed and renamed over the target
// in one step, relative to the directory wherever it is now (or, for
// CreateExclusive, linked under the target's name, and the hidden name
// removed).
func (u *atomicUpload) Commit() error {
	if u.done {
		return mapErr("commit", u.vpath, errFinished)
	}
	u.done = true
	defer u.dir.Close()
	if u.tmp == "" {
		if err := u.link(); err != nil {
			_ = u.File.Close()
			return mapErr("commit", u.vpath, err)
		}
	}
	if err := u.File.Close(); err != nil {
		u.removeTemp()
		return mapErr("close", u.vpath, err)
	}
	if u.noReplace {
		err := u.dirCall(func(dirfd int) error { return unix.Linkat(dirfd, u.tmp, dirfd, u.base, 0) })
		u.removeTemp()
		return mapErr("link", u.vpath, err)
	}
	err := u.dirCall(func(dirfd int) error { return unix.Renameat(dirfd, u.tmp, dirfd, u.base) })
	if err != nil {
		u.removeTemp()
		return mapErr("rename", u.vpath, err)
	}
	return nil
}

// link gives the unnamed file a hidden name in its directory.
func (u *atomicUpload) link() error {
	rc, err := u.File.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	err = rc.Control(func(fd uintptr) {
		opErr = u.dirCall(func(dirfd int) error {
			for {
				name := tempName()
				err := linkUnnamed(int(fd), dirfd, name)
				if errors.Is(err, syscall.EEXIST) {
					continue // 64 random bits taken: try others
				}
				if err == nil {
					u.tmp = name
				}
				return err
			}
		})
	})
	if err != nil {
		return err
	}
	return opErr
}

// removeTemp removes the hidden name, if the upload has one.
func (u *atomicUpload) removeTemp() {
	if u.tmp != "" {
		_ = u.dirCall(func(dirfd int) error { return unix.Unlinkat(dirfd, u.tmp, 0) })
	}
}

// Abort discards the upload (an unnamed file vanishes as it is closed);
// after Commit it does nothing.
func (u *atomicUpload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	defer u.dir.Close()
	_ = u.File.Close()
	if u.tmp == "" {
		return nil
	}
	err := u.dirCall(func(dirfd int) error { return unix.Unlinkat(dirfd, u.tmp, 0) })
	return mapErr("abort", u.vpath, err)
}

// sweepSlack keeps the sweep off files written in the moments before the
// Local was opened: a filesystem's timestamps come from a coarse clock,
// and an upload through another Local on the same tree may have just
// begun.
const sweepSlack = 2 * time.Second

// sweep removes the hidden upload files (regular files with a reserved
// name) under the root last modified before cutoff: uploads of a server
// that stopped in the middle of them (killed, or a crash), which no
// client can see and nothing else would ever remove. Uploads in progress
// are newer (their data moves, or they time out). It walks the tree
// without following symlinks, in the background; Close stops it. Two
// servers sharing a tree must not run where O_TMPFILE is missing: one's
// stalled upload (more than sweepSlack without a write) could be taken
// for the other's debris.
func (l *Local) sweep(cutoff time.Time) {
	defer close(l.swept)
	stopped := false
	_ = fs.WalkDir(l.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		select {
		case <-l.stop:
			stopped = true
			return fs.SkipAll
		default:
		}
		if err != nil || d.IsDir() || !isTempName(d.Name()) || !d.Type().IsRegular() {
			return nil // an unreadable directory is skipped, the walk goes on
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().Before(cutoff) && l.root.Remove(p) == nil {
			l.sweepRemoved++
		}
		return nil
	})
	l.sweepWhole = !stopped
}
