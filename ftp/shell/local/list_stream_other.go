//go:build !linux

package local

import (
	"io"
	"io/fs"
	"os"
	"path"
	"slices"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// openDir starts a listing of the directory f (root-relative name r,
// client path vpath), which it takes over: its names, sorted, each batch
// lstat'ed (symlinks followed inside the root) when Next reaches it.
func (l *Local) openDir(f *os.File, r, vpath string, _ fs.FileInfo, namesOnly bool) (*dirListing, error) {
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	names = slices.DeleteFunc(names, isTempName)
	slices.Sort(names)
	return &dirListing{l: l, f: f, r: r, vpath: vpath, names: names, namesOnly: namesOnly}, nil
}

// dirListing is Local's shell.Listing of a directory outside Linux.
type dirListing struct {
	l         *Local
	f         *os.File
	r, vpath  string
	names     []string
	namesOnly bool
	pos       int
	out       []fs.FileInfo
	infos     []localInfo
	bare      []shell.NameInfo
}

// Next returns the next batch of at most shell.MaxListBatch entries.
func (d *dirListing) Next() ([]fs.FileInfo, error) {
	if d.f == nil {
		return nil, mapErr("list", d.vpath, os.ErrClosed)
	}
	for d.pos < len(d.names) {
		end := min(d.pos+shell.MaxListBatch, len(d.names))
		batch := d.names[d.pos:end]
		d.pos = end
		d.out = d.out[:0]
		if d.namesOnly {
			d.bare = append(d.bare[:0], make([]shell.NameInfo, len(batch))...)
			for i, n := range batch {
				d.bare[i] = shell.NameInfo(n)
				d.out = append(d.out, &d.bare[i])
			}
			return d.out, nil
		}
		var found []fs.FileInfo
		for _, n := range batch {
			fi, err := d.l.root.Lstat(path.Join(d.r, n))
			if err != nil {
				if os.IsNotExist(err) {
					continue // removed since it was read
				}
				return nil, mapErr("list", d.vpath, err)
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				if t, err := d.l.root.Stat(path.Join(d.r, n)); err == nil {
					fi = t
				}
			}
			found = append(found, fi)
		}
		d.infos = append(d.infos[:0], make([]localInfo, len(found))...)
		d.l.describe(d.infos, found)
		for i := range d.infos {
			d.out = append(d.out, &d.infos[i])
		}
		if len(d.out) > 0 {
			return d.out, nil
		}
	}
	return nil, io.EOF
}

// Close closes the directory.
func (d *dirListing) Close() error {
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f, d.names, d.out, d.infos, d.bare = nil, nil, nil, nil, nil
	return mapErr("close", d.vpath, err)
}
