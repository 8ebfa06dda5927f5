package shell

import (
	"io"
	"io/fs"
	"time"
)

// ReadOnly wraps a shell so that nothing can change (anonymous users):
// every mutator, OpenForWriting, CreateExclusive, SetModTime and SetMode fail with ErrReadOnly
// before touching the wrapped shell; reads pass through, ListNames and
// OpenList through the wrapped shell's NameLister and StreamLister when it
// has them.
func ReadOnly(s Shell) Shell { return readOnly{s} }

type readOnly struct{ s Shell }

func (readOnly) MakeDirectory(p string) error   { return PathError("mkdir", p, ErrReadOnly, nil) }
func (readOnly) RemoveDirectory(p string) error { return PathError("rmdir", p, ErrReadOnly, nil) }
func (readOnly) RemoveFile(p string) error      { return PathError("remove", p, ErrReadOnly, nil) }
func (readOnly) Rename(from, _ string) error    { return PathError("rename", from, ErrReadOnly, nil) }
func (readOnly) OpenForWriting(p string, _ int64, _ bool) (WriteFile, error) {
	return nil, PathError("open", p, ErrReadOnly, nil)
}
func (r readOnly) Access(p string) error                { return r.s.Access(p) }
func (r readOnly) Stat(p string) (fs.FileInfo, error)   { return r.s.Stat(p) }
func (r readOnly) List(p string) ([]fs.FileInfo, error) { return r.s.List(p) }

// ListNames uses the wrapped shell's NameLister, or List.
func (r readOnly) ListNames(p string) ([]string, error) {
	if nl, ok := r.s.(NameLister); ok {
		return nl.ListNames(p)
	}
	infos, err := r.s.List(p)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(infos))
	for i, fi := range infos {
		names[i] = fi.Name()
	}
	return names, nil
}

// OpenList uses the wrapped shell's StreamLister, or OpenListing's
// fallback: a read-only user's listings are as bounded as anyone's.
func (r readOnly) OpenList(p string, namesOnly bool) (Listing, error) {
	return OpenListing(r.s, p, namesOnly)
}

func (r readOnly) OpenForReading(p string, off int64) (io.ReadCloser, error) {
	return r.s.OpenForReading(p, off)
}

// SetModTime is refused: a read-only user changes nothing.
func (readOnly) SetModTime(p string, _ time.Time) error {
	return PathError("mfmt", p, ErrReadOnly, nil)
}

// CreateExclusive is refused: a read-only user creates nothing.
func (readOnly) CreateExclusive(p string) (WriteFile, error) {
	return nil, PathError("open", p, ErrReadOnly, nil)
}

// SetMode is refused: a read-only user changes nothing.
func (readOnly) SetMode(p string, _ fs.FileMode) error {
	return PathError("chmod", p, ErrReadOnly, nil)
}

// ReadOnly reports true (ReadOnlyShell).
func (readOnly) ReadOnly() bool { return true }

var (
	_ NameLister       = readOnly{}
	_ StreamLister     = readOnly{}
	_ TimeSetter       = readOnly{}
	_ ModeSetter       = readOnly{}
	_ ExclusiveCreator = readOnly{}
	_ ReadOnlyShell    = readOnly{}
)
