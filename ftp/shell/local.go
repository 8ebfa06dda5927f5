package shell

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
)

// Resolve turns a client's path argument into a clean absolute virtual
// path, relative to the working directory cwd (itself clean and absolute),
// like Twisted's toSegments: "." and empty segments are skipped, ".."
// pops, and climbing above "/" or a NUL byte is ErrInvalidPath.
func Resolve(cwd, arg string) (string, error) {
	if strings.IndexByte(arg, 0) >= 0 {
		return "", ErrInvalidPath
	}
	var segs []string
	if !strings.HasPrefix(arg, "/") {
		segs = strings.Split(strings.Trim(cwd, "/"), "/")
		if len(segs) == 1 && segs[0] == "" {
			segs = segs[:0]
		}
	}
	for _, s := range strings.Split(arg, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(segs) == 0 {
				return "", ErrInvalidPath
			}
			segs = segs[:len(segs)-1]
		default:
			segs = append(segs, s)
		}
	}
	return "/" + strings.Join(segs, "/"), nil
}

// Local is a Shell on a directory of the local filesystem, through
// os.Root: "..", absolute paths and symlinks cannot leave the directory,
// whatever the path says (the kernel-level checks are os.Root's).
type Local struct {
	root *os.Root
}

// NewLocal opens dir as a shell's root.
func NewLocal(dir string) (*Local, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("shell: opening root %s: %w", dir, err)
	}
	return &Local{root: r}, nil
}

// Close releases the root directory.
func (l *Local) Close() error { return l.root.Close() }

// rel maps a virtual path to a name relative to the root.
func rel(p string) (string, error) {
	if !strings.HasPrefix(p, "/") || strings.IndexByte(p, 0) >= 0 {
		return "", ErrInvalidPath
	}
	c := path.Clean(p)
	if c == "/" {
		return ".", nil
	}
	return c[1:], nil
}

// mapErr turns OS errors into the shell's error kinds, with context.
func mapErr(op, p string, err error) error {
	if err == nil {
		return nil
	}
	var kind error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		kind = fs.ErrNotExist
	case errors.Is(err, fs.ErrExist), errors.Is(err, syscall.ENOTEMPTY):
		kind = fs.ErrExist
	case errors.Is(err, syscall.EISDIR):
		kind = ErrIsDir
	case errors.Is(err, syscall.ENOTDIR):
		kind = ErrNotDir
	case errors.Is(err, fs.ErrPermission):
		kind = fs.ErrPermission
	case strings.Contains(err.Error(), "escapes from parent"), strings.Contains(err.Error(), "path escapes"):
		kind = ErrInvalidPath
	default:
		return fmt.Errorf("%s %s: %w", op, p, err)
	}
	return fmt.Errorf("%s %s: %w", op, p, errors.Join(kind, err))
}

// MakeDirectory creates one directory.
func (l *Local) MakeDirectory(p string) error {
	r, err := rel(p)
	if err != nil {
		return err
	}
	if r == "." {
		return mapErr("mkdir", p, fs.ErrExist)
	}
	return mapErr("mkdir", p, l.root.Mkdir(r, 0o755))
}

// RemoveDirectory removes an empty directory.
func (l *Local) RemoveDirectory(p string) error {
	r, err := rel(p)
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
		return mapErr("rmdir", p, ErrNotDir)
	}
	return mapErr("rmdir", p, l.root.Remove(r))
}

// RemoveFile removes a file (not a directory).
func (l *Local) RemoveFile(p string) error {
	r, err := rel(p)
	if err != nil {
		return err
	}
	fi, err := l.root.Lstat(r)
	if err != nil {
		return mapErr("remove", p, err)
	}
	if fi.IsDir() {
		return mapErr("remove", p, ErrIsDir)
	}
	return mapErr("remove", p, l.root.Remove(r))
}

// Rename moves from to to.
func (l *Local) Rename(from, to string) error {
	rf, err := rel(from)
	if err != nil {
		return err
	}
	rt, err := rel(to)
	if err != nil {
		return err
	}
	if rf == "." || rt == "." {
		return mapErr("rename", from, fs.ErrPermission)
	}
	return mapErr("rename", from, l.root.Rename(rf, rt))
}

// Access reports whether p is a directory that can be entered.
func (l *Local) Access(p string) error {
	fi, err := l.Stat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return mapErr("cwd", p, ErrNotDir)
	}
	return nil
}

// Stat describes p (symlinks inside the root are followed by os.Root).
func (l *Local) Stat(p string) (fs.FileInfo, error) {
	r, err := rel(p)
	if err != nil {
		return nil, err
	}
	fi, err := l.root.Stat(r)
	return fi, mapErr("stat", p, err)
}

// List returns a directory's entries sorted by name, or the file itself.
func (l *Local) List(p string) ([]fs.FileInfo, error) {
	r, err := rel(p)
	if err != nil {
		return nil, err
	}
	f, err := l.root.Open(r)
	if err != nil {
		return nil, mapErr("list", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, mapErr("list", p, err)
	}
	if !fi.IsDir() {
		return []fs.FileInfo{fi}, nil
	}
	// Readdir lstats each entry relative to the directory's descriptor
	// (fstatat), which is what LIST needs anyway.
	out, err := f.Readdir(-1)
	if err != nil {
		return nil, mapErr("list", p, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// OpenForReading returns the *os.File itself so that io.Copy to a
// *net.TCPConn uses sendfile(2).
func (l *Local) OpenForReading(p string, offset int64) (io.ReadCloser, error) {
	r, err := rel(p)
	if err != nil {
		return nil, err
	}
	f, err := l.root.Open(r)
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
		return nil, mapErr("open", p, ErrIsDir)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, mapErr("seek", p, err)
		}
	}
	return f, nil
}

// OpenForWriting starts an upload; see Shell.
func (l *Local) OpenForWriting(p string, offset int64, appendMode bool) (WriteFile, error) {
	r, err := rel(p)
	if err != nil {
		return nil, err
	}
	if fi, err := l.root.Stat(r); err == nil && fi.IsDir() {
		return nil, mapErr("open", p, ErrIsDir)
	}
	if appendMode || offset > 0 {
		flags := os.O_WRONLY | os.O_CREATE
		if appendMode && offset <= 0 {
			flags |= os.O_APPEND
		}
		f, err := l.root.OpenFile(r, flags, 0o644)
		if err != nil {
			return nil, mapErr("open", p, err)
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
		return &inPlace{File: f}, nil
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	dir, base := path.Split(r)
	tmp := dir + "." + base + ".upload-" + hex.EncodeToString(rnd[:])
	f, err := l.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, mapErr("open", p, err)
	}
	return &atomicUpload{File: f, root: l.root, tmp: tmp, final: r, vpath: p}, nil
}

// atomicUpload writes to a temporary file and renames it into place on
// Commit. The embedded *os.File gives it ReadFrom, so io.Copy from a
// *net.TCPConn splices.
type atomicUpload struct {
	*os.File
	root       *os.Root
	tmp, final string
	vpath      string
}

func (u *atomicUpload) Commit() error {
	if err := u.File.Close(); err != nil {
		_ = u.root.Remove(u.tmp)
		return mapErr("close", u.vpath, err)
	}
	if err := u.root.Rename(u.tmp, u.final); err != nil {
		_ = u.root.Remove(u.tmp)
		return mapErr("rename", u.vpath, err)
	}
	return nil
}

func (u *atomicUpload) Abort() error {
	_ = u.File.Close()
	return mapErr("abort", u.vpath, u.root.Remove(u.tmp))
}

type inPlace struct{ *os.File }

func (w *inPlace) Commit() error { return w.File.Close() }
func (w *inPlace) Abort() error  { return w.File.Close() }

// ReadOnly wraps a shell so that nothing can change (anonymous users).
func ReadOnly(s Shell) Shell { return readOnly{s} }

type readOnly struct{ Shell }

func (readOnly) MakeDirectory(string) error   { return ErrReadOnly }
func (readOnly) RemoveDirectory(string) error { return ErrReadOnly }
func (readOnly) RemoveFile(string) error      { return ErrReadOnly }
func (readOnly) Rename(string, string) error  { return ErrReadOnly }
func (readOnly) OpenForWriting(string, int64, bool) (WriteFile, error) {
	return nil, ErrReadOnly
}
