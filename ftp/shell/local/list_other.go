//go:build !linux

package local

import (
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// listCache is Linux's listing cache (inotify); elsewhere there is none.
type listCache struct{}

func newListCache(*os.Root) *listCache { return nil }

func (*listCache) close() error { return nil }

// listDir lists the directory f (root-relative name r) with Readdir: one
// lstat per entry, relative to the directory's descriptor.
func (l *Local) listDir(f *os.File, r string, _ fs.FileInfo) ([]fs.FileInfo, error) {
	infos, err := f.Readdir(-1)
	if err != nil {
		return nil, err
	}
	infos = slices.DeleteFunc(infos, func(fi fs.FileInfo) bool { return isTempName(fi.Name()) })
	slices.SortFunc(infos, func(a, b fs.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	for i, e := range infos {
		if e.Mode()&fs.ModeSymlink != 0 {
			// Follow only inside the root: os.Root refuses the rest.
			if t, err := l.root.Stat(path.Join(r, e.Name())); err == nil {
				infos[i] = t
			}
		}
	}
	out := make([]localInfo, len(infos))
	l.describe(out, infos)
	for i := range out {
		infos[i] = &out[i]
	}
	return infos, nil
}
