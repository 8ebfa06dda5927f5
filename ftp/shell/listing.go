package shell

import (
	"io"
	"io/fs"
	"time"
)

// StreamLister is an optional capability for listings in bounded memory:
// LIST, NLST, MLSD and STAT of a directory of any size read it piece by
// piece while the client takes it, instead of holding the whole of it per
// session (50,000 entries are megabytes, and a client that does not read
// would keep them for as long as the data timeout). The local shell has
// it; OpenListing falls back to List for shells without it.
type StreamLister interface {
	// OpenList starts a listing of path: what List would return (the
	// directory's entries sorted by name, or the one entry of a file),
	// read with Next. Errors about path itself (missing, not allowed, not
	// listable) come from OpenList, before the server answers 150. With
	// namesOnly only the entries' names are needed (NLST): their other
	// facts may be left zero, which saves a stat per entry. It may block
	// like every Shell method; the Listing's methods too.
	OpenList(path string, namesOnly bool) (Listing, error)
}

// Listing is a listing being read. One goroutine at a time uses it (the
// server reads it on a transfer's goroutine or on the worker pool), and
// Close must be called once it is no longer needed.
type Listing interface {
	// Next returns the next entries, in order, at most MaxListBatch of
	// them; after the last it returns no entries and io.EOF. The slice
	// and the FileInfos in it may be reused by the next call: use them,
	// do not keep them.
	Next() ([]fs.FileInfo, error)
	// Close releases what the listing holds (an open directory); safe to
	// call twice.
	Close() error
}

// MaxListBatch bounds the entries one Listing.Next returns, and so what
// a session holds of a listing at a time besides the formatted lines.
const MaxListBatch = 512

// OpenListing returns sh's own Listing of path (StreamLister), or one
// over the whole result of List (or, with namesOnly, of a NameLister's
// ListNames), handed out MaxListBatch entries at a time: memory is then
// bounded by the backend's List, not by the listing's consumer.
func OpenListing(sh Shell, path string, namesOnly bool) (Listing, error) {
	if sl, ok := sh.(StreamLister); ok {
		return sl.OpenList(path, namesOnly)
	}
	if nl, ok := sh.(NameLister); ok && namesOnly {
		names, err := nl.ListNames(path)
		if err != nil {
			return nil, err
		}
		infos := make([]fs.FileInfo, len(names))
		for i, n := range names {
			infos[i] = NameInfo(n)
		}
		return &sliceListing{infos: infos}, nil
	}
	infos, err := sh.List(path)
	if err != nil {
		return nil, err
	}
	return &sliceListing{infos: infos}, nil
}

// SliceListing is a Listing over entries already in memory (a backend's
// listing of a single file, or its List result).
func SliceListing(infos []fs.FileInfo) Listing { return &sliceListing{infos: infos} }

// sliceListing hands out a slice MaxListBatch entries at a time.
type sliceListing struct{ infos []fs.FileInfo }

func (l *sliceListing) Next() ([]fs.FileInfo, error) {
	if len(l.infos) == 0 {
		return nil, io.EOF
	}
	n := min(len(l.infos), MaxListBatch)
	b := l.infos[:n:n]
	l.infos = l.infos[n:]
	return b, nil
}

func (l *sliceListing) Close() error { l.infos = nil; return nil }

// NameInfo is a FileInfo that knows only its name: an entry of a
// names-only listing (StreamLister with namesOnly). It reports a regular
// file of size 0 with mode 0 and no time.
type NameInfo string

func (n NameInfo) Name() string     { return string(n) }
func (NameInfo) Size() int64        { return 0 }
func (NameInfo) Mode() fs.FileMode  { return 0 }
func (NameInfo) ModTime() time.Time { return time.Time{} }
func (NameInfo) IsDir() bool        { return false }
func (NameInfo) Sys() any           { return nil }
