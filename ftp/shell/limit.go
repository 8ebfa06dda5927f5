package shell

import (
	"errors"
	"io"
	"io/fs"
	"math"
	"strings"
	"time"
)

// ErrNotAllowed: the user's permissions (Limit's perm letters) do not
// allow the operation.
var ErrNotAllowed = errors.New("permission denied")

// ErrQuota: the operation would take the user past its quota of bytes or
// files (552). An upload refused for it leaves nothing of itself.
var ErrQuota = errors.New("quota exceeded")

// Perm letters, pyftpdlib's: read "e" (change directory), "l" (list),
// "r" (download); write "a" (append, and resume an upload), "d" (delete
// a file or directory), "f" (rename), "m" (make a directory), "w"
// (store), "M" (change mode), "T" (change modification time).
const (
	PermAll       = "elradfmwMT"
	permWriteOnes = "adfmwMT"
)

// Limit wraps a shell with a user's permissions and quota: perm is
// pyftpdlib's letters (see PermAll; "" means all), q the user's Quota or
// nil for none. With neither it returns s itself. Refused operations
// fail with ErrNotAllowed before touching s; an upload that would pass
// the quota fails with ErrQuota during the write (checked as data
// arrives, zero-copy kept: the wrapper's ReadFrom splices through s's)
// and again at commit, and leaves nothing of itself: an atomic upload is
// discarded, an append is cut back to where it started. Deleting a file,
// or replacing one by a rename or an upload, frees its bytes.
//
// The wrapper passes through NameLister, StreamLister and TimeSetter;
// other optional capabilities of s are hidden.
func Limit(s Shell, perm string, q *Quota) Shell {
	if perm == PermAll {
		perm = ""
	}
	if perm == "" && q == nil {
		return s
	}
	return &limited{s: s, perm: perm, q: q}
}

type limited struct {
	s    Shell
	perm string
	q    *Quota
}

// allow fails with ErrNotAllowed unless the letter c is granted.
func (l *limited) allow(c byte, op, p string) error {
	if l.granted(c) {
		return nil
	}
	if strings.IndexByte(permWriteOnes, c) >= 0 && l.ReadOnly() {
		return PathError(op, p, ErrReadOnly, nil) // as ReadOnly's wrapper says it
	}
	return PathError(op, p, ErrNotAllowed, nil)
}

// Granted implements PermissionShell.
func (l *limited) Granted(c byte) bool { return l.granted(c) }

func (l *limited) granted(c byte) bool { return l.perm == "" || strings.IndexByte(l.perm, c) >= 0 }

// ReadOnly reports whether no write letter is granted (ReadOnlyShell):
// MLSx's perm fact then offers nothing.
func (l *limited) ReadOnly() bool {
	if IsReadOnly(l.s) {
		return true
	}
	for i := 0; i < len(permWriteOnes); i++ {
		if l.granted(permWriteOnes[i]) {
			return false
		}
	}
	return true
}

func (l *limited) MakeDirectory(p string) error {
	if err := l.allow('m', "mkdir", p); err != nil {
		return err
	}
	return l.s.MakeDirectory(p)
}

func (l *limited) RemoveDirectory(p string) error {
	if err := l.allow('d', "rmdir", p); err != nil {
		return err
	}
	return l.s.RemoveDirectory(p)
}

// regularSize is p's size if it is a regular file.
func (l *limited) regularSize(p string) (int64, bool) {
	fi, err := l.s.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	return fi.Size(), true
}

func (l *limited) RemoveFile(p string) error {
	if err := l.allow('d', "remove", p); err != nil {
		return err
	}
	if l.q == nil {
		return l.s.RemoveFile(p)
	}
	if err := l.q.ensure(l.s); err != nil {
		return err
	}
	size, regular := l.regularSize(p)
	if err := l.s.RemoveFile(p); err != nil {
		return err
	}
	if regular {
		_ = l.q.adjust(-size, -1) // the file is gone: a ledger that cannot be told keeps it counted
	}
	return nil
}

func (l *limited) Rename(from, to string) error {
	if err := l.allow('f', "rename", from); err != nil {
		return err
	}
	if l.q == nil {
		return l.s.Rename(from, to)
	}
	if err := l.q.ensure(l.s); err != nil {
		return err
	}
	size, replaced := l.regularSize(to)
	if replaced && from == to {
		replaced = false
	}
	if err := l.s.Rename(from, to); err != nil {
		return err
	}
	if replaced {
		_ = l.q.adjust(-size, -1)
	}
	return nil
}

func (l *limited) Access(p string) error {
	if err := l.allow('e', "chdir", p); err != nil {
		return err
	}
	return l.s.Access(p)
}

func (l *limited) Stat(p string) (fs.FileInfo, error) { return l.s.Stat(p) }

func (l *limited) List(p string) ([]fs.FileInfo, error) {
	if err := l.allow('l', "list", p); err != nil {
		return nil, err
	}
	return l.s.List(p)
}

// ListNames uses the wrapped shell's NameLister, or List.
func (l *limited) ListNames(p string) ([]string, error) {
	if err := l.allow('l', "list", p); err != nil {
		return nil, err
	}
	return readOnly{l.s}.ListNames(p)
}

// OpenList uses the wrapped shell's StreamLister, or OpenListing's
// fallback.
func (l *limited) OpenList(p string, namesOnly bool) (Listing, error) {
	if err := l.allow('l', "list", p); err != nil {
		return nil, err
	}
	return OpenListing(l.s, p, namesOnly)
}

func (l *limited) OpenForReading(p string, off int64) (io.ReadCloser, error) {
	if err := l.allow('r', "open", p); err != nil {
		return nil, err
	}
	return l.s.OpenForReading(p, off)
}

// SetModTime needs "T" and the wrapped shell's TimeSetter.
func (l *limited) SetModTime(p string, t time.Time) error {
	if err := l.allow('T', "mfmt", p); err != nil {
		return err
	}
	ts, ok := l.s.(TimeSetter)
	if !ok {
		return PathError("mfmt", p, errors.ErrUnsupported, nil)
	}
	return ts.SetModTime(p, t)
}

// SetMode needs "M" and the wrapped shell's ModeSetter (SITE CHMOD).
func (l *limited) SetMode(p string, mode fs.FileMode) error {
	if err := l.allow('M', "chmod", p); err != nil {
		return err
	}
	ms, ok := l.s.(ModeSetter)
	if !ok {
		return PathError("chmod", p, errors.ErrUnsupported, nil)
	}
	return ms.SetMode(p, mode)
}

// CreateExclusive (STOU) needs "w" and is counted as a new file; over a
// shell without ExclusiveCreator it checks the name is free and opens
// an ordinary upload, as the PI does.
func (l *limited) CreateExclusive(p string) (WriteFile, error) {
	if err := l.allow('w', "open", p); err != nil {
		return nil, err
	}
	create := func() (WriteFile, error) {
		if ec, ok := l.s.(ExclusiveCreator); ok {
			return ec.CreateExclusive(p)
		}
		if _, err := l.s.Stat(p); err == nil {
			return nil, PathError("open", p, fs.ErrExist, nil)
		}
		return l.s.OpenForWriting(p, 0, false)
	}
	if l.q == nil {
		return create()
	}
	if err := l.q.ensure(l.s); err != nil {
		return nil, err
	}
	if l.q.filesFull() {
		return nil, quotaErr("open", p, ErrQuota)
	}
	w, err := create()
	if err != nil {
		return nil, err
	}
	return &quotaUpload{w: w, l: l, path: p}, nil
}

// OpenForWriting needs "w" for a new upload, "a" for APPE and for a
// resumed upload (REST); with a quota the upload is counted as it is
// written (quotaUpload).
func (l *limited) OpenForWriting(p string, offset int64, appendMode bool) (WriteFile, error) {
	inPlace := appendMode || offset > 0
	letter := byte('w')
	if inPlace {
		letter = 'a'
	}
	if err := l.allow(letter, "open", p); err != nil {
		return nil, err
	}
	if l.q == nil {
		return l.s.OpenForWriting(p, offset, appendMode)
	}
	if err := l.q.ensure(l.s); err != nil {
		return nil, err
	}
	oldSize, existed := l.regularSize(p)
	if !existed && l.q.filesFull() {
		return nil, quotaErr("open", p, ErrQuota) // nothing created
	}
	w, err := l.s.OpenForWriting(p, offset, appendMode)
	if err != nil {
		return nil, err
	}
	u := &quotaUpload{w: w, l: l, path: p, inPlace: inPlace, existed: existed}
	switch {
	case !existed:
	case !inPlace:
		u.credit = oldSize // replacing the old file frees its bytes
	case offset > 0:
		u.start, u.credit = offset, oldSize-offset
	default:
		u.start = oldSize
	}
	if inPlace && !existed {
		if err := l.q.settle(0, 0, 1); err != nil {
			_ = w.Abort()
			_ = l.s.RemoveFile(p)
			return nil, quotaErr("open", p, err)
		}
	}
	return u, nil
}

// quotaUpload counts an upload against its user's quota as it is
// written: the bytes past what it replaces (credit: the old file for an
// atomic upload, the part overwritten for a resumed one) are reserved
// as they arrive and settled at commit.
type quotaUpload struct {
	w       WriteFile
	l       *limited
	path    string
	inPlace bool
	existed bool
	start   int64 // where an in-place upload began writing
	credit  int64
	written int64
	refused error // why the quota refused it (ErrQuota, ErrQuotaUnavailable): Abort leaves nothing
	// released: a refused atomic upload gave its reservation back when it
	// was refused, not after draining the client's data: others
	// uploading meanwhile (on this node or another) may use it.
	released bool
	done     bool
}

// growth is what writing n bytes adds to the user's usage.
func (u *quotaUpload) growth(n int64) int64 { return max(0, n-u.credit) }

// count charges m more written bytes (negative: gives back); false (and
// the upload marked refused) when they do not fit.
func (u *quotaUpload) count(m int64) bool {
	g := u.growth(u.written+m) - u.growth(u.written)
	u.written += m
	switch {
	case g > 0:
		if err := u.l.q.reserve(g); err != nil {
			u.written -= m
			u.refused = err
			u.release()
			return false
		}
	case g < 0:
		u.l.q.unreserve(-g)
	}
	return true
}

// release gives back at once what a refused atomic upload reserved: it
// will be discarded, and draining the rest of the client's data can take
// long. Were it kept until then, uploads running side by side could each
// hold part of the quota while they drain, and all be refused, none
// finishing. An in-place upload keeps its hold until Abort cuts the file
// back, since its bytes are in the file meanwhile.
func (u *quotaUpload) release() {
	if u.inPlace || u.released {
		return
	}
	u.released = true
	if g := u.growth(u.written); g > 0 {
		u.l.q.unreserve(g)
	}
}

func (u *quotaUpload) quotaErr() error { return quotaErr("write", u.path, u.refused) }

// Write checks the quota before the bytes reach the file; past it, the
// rest of the upload is read and dropped (see drain).
func (u *quotaUpload) Write(p []byte) (int, error) {
	if u.refused != nil || !u.count(int64(len(p))) {
		return len(p), nil
	}
	n, err := u.w.Write(p)
	if n < len(p) {
		u.count(int64(n - len(p))) // give back what was not written
	}
	return n, err
}

// writerOnly hides ReadFrom, for io.Copy's fallback.
type writerOnly struct{ io.Writer }

// ReadFrom reads at most one byte past the free quota through the
// wrapped upload's own ReadFrom (splice for a local file: an
// io.LimitedReader of a connection is rewritten, not wrapped again, so
// the kernel still sees the socket), then counts it; past the quota it
// drains.
//
// drain: an upload over its quota keeps reading the client's data and
// drops it, so that the client finishes sending and reads the 552 that
// Commit's ErrQuota becomes. Closing the data connection instead would
// reset it under the client's feet (curl exits 55 "send failure",
// ftplib raises ConnectionResetError) and the client would never see
// why. Nothing of the drained data reaches the disk; the data timeout
// and the session's rate still apply.
func (u *quotaUpload) ReadFrom(r io.Reader) (int64, error) {
	if u.refused != nil {
		return io.Copy(io.Discard, r)
	}
	rf, ok := u.w.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{u}, r)
	}
	var total int64
	for {
		free := u.l.q.free()
		if left := u.credit - u.written; left > 0 {
			free = satAdd(free, left)
		}
		ask := satAdd(free, 1)
		base, outer := r, (*io.LimitedReader)(nil)
		if lr, isLR := r.(*io.LimitedReader); isLR {
			base, outer = lr.R, lr
			ask = min(ask, lr.N)
			if ask <= 0 {
				return total, nil
			}
		}
		lr := &io.LimitedReader{R: base, N: ask}
		m, err := rf.ReadFrom(lr)
		if outer != nil {
			outer.N -= m
		}
		total += m
		if !u.count(m) {
			if err != nil || lr.N > 0 {
				return total, err
			}
			d, err := io.Copy(io.Discard, r)
			return total + d, err
		}
		if err != nil || lr.N > 0 {
			return total, err // lr.N > 0: the source ended
		}
		if outer != nil && outer.N <= 0 {
			return total, nil
		}
	}
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Commit counts the upload at what it really replaces now (the target
// may have changed since the upload began) and the file it adds, and
// refuses it (discarded, ErrQuota) if that no longer fits. An in-place
// upload's bytes are in the file already: they are settled as written.
func (u *quotaUpload) Commit() error {
	if u.refused != nil {
		_ = u.Abort()
		return u.quotaErr()
	}
	g := u.growth(u.written)
	if u.inPlace {
		u.done = true
		// A ledger that cannot be told now leaves these bytes uncounted:
		// the data is the client's and stays.
		_ = u.l.q.settle(g, g, 0)
		return u.w.Commit()
	}
	oldSize, exists := u.l.regularSize(u.path)
	files := int64(0)
	if !exists {
		files = 1
	}
	if err := u.l.q.settle(g, u.written-oldSize, files); err != nil {
		u.refused = err
		_ = u.Abort()
		return u.quotaErr()
	}
	u.done = true
	if err := u.w.Commit(); err != nil {
		_ = u.l.q.adjust(oldSize-u.written, -files)
		return err
	}
	return nil
}

// truncater is an in-place upload whose file can be cut back (the local
// shell's, through its *os.File).
type truncater interface{ Truncate(size int64) error }

// Abort gives back what an atomic upload counted. An in-place upload
// keeps what it wrote (as every server does), unless the quota refused
// it: then it is cut back to where it began, or removed if it made the
// file.
func (u *quotaUpload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	g := u.growth(u.written)
	if !u.inPlace {
		if g > 0 && !u.released {
			u.l.q.unreserve(g)
		}
		return u.w.Abort()
	}
	if u.refused == nil {
		_ = u.l.q.settle(g, g, 0)
		return u.w.Abort()
	}
	if t, ok := u.w.(truncater); ok {
		_ = t.Truncate(u.start)
	}
	if g > 0 {
		u.l.q.unreserve(g)
	}
	err := u.w.Abort()
	if !u.existed && u.l.s.RemoveFile(u.path) == nil {
		_ = u.l.q.adjust(0, -1)
	}
	return err
}

var (
	_ NameLister    = (*limited)(nil)
	_ StreamLister  = (*limited)(nil)
	_ TimeSetter    = (*limited)(nil)
	_ ReadOnlyShell = (*limited)(nil)
	_ io.ReaderFrom = (*quotaUpload)(nil)
)
