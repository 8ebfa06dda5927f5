package local

import (
	"io"
	"io/fs"
	"os"
	"slices"
	"syscall"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// keepPrivate is the most entries a listing keeps stat'ed in memory when
// they are not in the shared cache: a scan made for the cache that could
// not be stored (the directory changed meanwhile) is kept when it is this
// small, else only its names are, and each batch is stat'ed again as the
// client reads it.
const keepPrivate = 2 * shell.MaxListBatch

// openDir starts a listing of the directory f (root-relative name r,
// f.Stat() fi, client path vpath), which it takes over (Close closes
// it). It costs what List costs, less the per-session copy: a directory
// in the cache is read from the cached snapshot (shared by every session,
// never modified); a scan worth caching is made and stored as List makes
// it, then read from the snapshot; otherwise only the names are read
// (one getdents pass, sorted) and each batch is stat'ed when Next reaches
// it. With namesOnly nothing is stat'ed.
func (l *Local) openDir(f *os.File, r, vpath string, fi fs.FileInfo, namesOnly bool) (*dirListing, error) {
	d := &dirListing{l: l, f: f, r: r, vpath: vpath, namesOnly: namesOnly}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = d.open(int(fd), fi) }); err != nil {
		return nil, err
	}
	if opErr != nil {
		return nil, opErr
	}
	return d, nil
}

// dirListing is Local's shell.Listing of a directory: from a snapshot
// (cached, or a small private one), or from sorted names stat'ed a batch
// at a time.
type dirListing struct {
	l         *Local
	f         *os.File
	r, vpath  string
	namesOnly bool

	snap    *dirSnapshot // nil: read from names
	recheck bool         // stat snap's unstable entries again (a cached snapshot)
	names   []string
	pos     int // next entry of snap or names
	rpos    int // next index of snap.recheck

	out   []fs.FileInfo    // what Next returns, reused
	fresh []dirEntry       // entries stat'ed for the current batch, reused
	bare  []shell.NameInfo // names-only entries of the current batch, reused
}

// open chooses where the listing of fd comes from (see openDir).
func (d *dirListing) open(fd int, fi fs.FileInfo) error {
	l := d.l
	c, id, large := l.cache, dirID{}, false
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && c != nil {
		id = dirID{dev: uint64(st.Dev), ino: st.Ino}
		var snap *dirSnapshot
		if snap, large = c.get(id); snap != nil {
			d.snap, d.recheck = snap, !d.namesOnly
			return nil
		}
	} else {
		c = nil
	}
	for c != nil && !d.namesOnly {
		// One scan per directory at a time: a listing that finds another
		// one scanning waits for it (a scan takes milliseconds) and is
		// served from the snapshot it stores, so forty sessions asking
		// for a cold directory at once share one scan's memory instead
		// of holding forty.
		wait, mine := c.claim(id)
		if mine {
			defer c.unclaim(id)
			break
		}
		<-wait
		var snap *dirSnapshot
		if snap, large = c.get(id); snap != nil {
			d.snap, d.recheck = snap, true
			return nil
		}
	}
	buf := make([]byte, direntBufSize)
	if c == nil || d.namesOnly {
		names, err := appendNames(fd, buf, nil)
		if err != nil {
			return err
		}
		slices.Sort(names)
		d.names = names
		return nil
	}
	// A scan for the cache, as List makes it.
	var w *cachedDir
	if large {
		w = c.watch(fd, id)
	}
	var batches [][]dirEntry
	var err error
	if w == nil {
		batches, w, err = l.scanOrWatch(fd, buf, c, id)
	}
	if w != nil {
		defer c.abandon(w)
		if err == nil {
			batches, err = scanDir(fd, buf)
		}
	}
	if err != nil {
		return err
	}
	out, recheck := l.collect(batches, d.r, w != nil)
	snap := &dirSnapshot{infos: out, recheck: recheck}
	switch {
	case w != nil && c.store(w, snap):
		d.snap, d.recheck = snap, true
	case len(out) <= keepPrivate:
		d.snap = &dirSnapshot{infos: out} // just stat'ed: nothing to check again
	default:
		names := make([]string, len(out))
		for i, e := range out {
			names[i] = e.Name()
		}
		d.names = names
	}
	return nil
}

// Next returns the next batch of at most shell.MaxListBatch entries.
func (d *dirListing) Next() ([]fs.FileInfo, error) {
	if d.f == nil {
		return nil, mapErr("list", d.vpath, os.ErrClosed)
	}
	for {
		var err error
		if d.snap != nil {
			err = d.nextFromSnapshot()
		} else {
			err = d.nextFromNames()
		}
		if err != nil {
			return nil, mapErr("list", d.vpath, err)
		}
		if len(d.out) > 0 {
			return d.out, nil
		}
		if d.done() {
			return nil, io.EOF
		}
		// every entry of this batch was removed meanwhile: the next one
	}
}

func (d *dirListing) done() bool {
	if d.snap != nil {
		return d.pos >= len(d.snap.infos)
	}
	return d.pos >= len(d.names)
}

// nextFromSnapshot copies the next batch of the snapshot to d.out, with
// the entries a cached listing cannot vouch for stat'ed again (dropped if
// gone), as fromSnapshot does for the whole of it.
func (d *dirListing) nextFromSnapshot() error {
	infos := d.snap.infos
	end := min(d.pos+shell.MaxListBatch, len(infos))
	d.out = append(d.out[:0], infos[d.pos:end]...)
	start := d.pos
	d.pos = end
	if !d.recheck {
		return nil
	}
	rc := d.snap.recheck
	first := d.rpos
	for d.rpos < len(rc) && int(rc[d.rpos]) < end {
		d.rpos++
	}
	again := rc[first:d.rpos]
	if len(again) == 0 {
		return nil
	}
	fresh := d.entries(len(again))
	for k, i := range again {
		fresh[k].name = infos[i].Name()
	}
	if err := d.stat(fresh); err != nil {
		return err
	}
	var ids idMemo
	gone := false
	for k, i := range again {
		e := &fresh[k]
		if e.gone {
			d.out[int(i)-start], gone = nil, true
			continue
		}
		d.l.complete(e, d.r, &ids)
		d.out[int(i)-start] = e
	}
	if gone {
		d.out = slices.DeleteFunc(d.out, func(fi fs.FileInfo) bool { return fi == nil })
	}
	return nil
}

// nextFromNames describes the next batch of names in d.out: stat'ed (in
// parallel when the batch is large), or names only.
func (d *dirListing) nextFromNames() error {
	end := min(d.pos+shell.MaxListBatch, len(d.names))
	batch := d.names[d.pos:end]
	d.pos = end
	d.out = d.out[:0]
	if d.namesOnly {
		if cap(d.bare) < len(batch) {
			d.bare = make([]shell.NameInfo, len(batch))
		}
		d.bare = d.bare[:len(batch)]
		for i, n := range batch {
			d.bare[i] = shell.NameInfo(n)
			d.out = append(d.out, &d.bare[i])
		}
		return nil
	}
	fresh := d.entries(len(batch))
	for i, n := range batch {
		fresh[i].name = n
	}
	if err := d.stat(fresh); err != nil {
		return err
	}
	var ids idMemo
	for i := range fresh {
		e := &fresh[i]
		if e.gone {
			continue
		}
		d.l.complete(e, d.r, &ids)
		d.out = append(d.out, e)
	}
	return nil
}

// entries returns n zeroed entries from the listing's reused buffer.
func (d *dirListing) entries(n int) []dirEntry {
	if cap(d.fresh) < n {
		d.fresh = make([]dirEntry, n)
	}
	d.fresh = d.fresh[:n]
	clear(d.fresh)
	return d.fresh
}

// stat lstats entries relative to the listed directory.
func (d *dirListing) stat(entries []dirEntry) error {
	d.l.fstatats.Add(int64(len(entries)))
	rc, err := d.f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = statEntries(int(fd), entries) }); err != nil {
		return err
	}
	return opErr
}

// Close closes the directory.
func (d *dirListing) Close() error {
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f, d.snap, d.names, d.out, d.fresh, d.bare = nil, nil, nil, nil, nil, nil
	return mapErr("close", d.vpath, err)
}
