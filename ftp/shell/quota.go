package shell

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"sync"
	"time"
)

// ErrQuotaUnavailable: the user's quota is kept in a shared Ledger that
// could not be asked (the database is down or slow), so an operation
// that needs it is refused (451) rather than risk passing the quota.
var ErrQuotaUnavailable = errors.New("quota cannot be checked now")

// Ledger keeps one user's quota usage outside the process, where every
// node of a fleet counts against the same figures (ftp/pgstore
// implements it over PostgreSQL). The usage is what uploads have
// committed; an upload in progress is covered by a hold its node
// reserved first, and a hold counts only while its node is alive, so a
// node that dies mid-upload gives its holds back by itself. Reserve and
// Settle are atomic against every node: two nodes cannot both take the
// last bytes of a quota.
//
// Every method blocks for a round trip: a Quota calls them from the
// goroutines shells run on (the worker pool, a transfer's goroutine),
// never from an event loop. An error means the ledger could not be
// asked.
type Ledger interface {
	// Usage returns the usage recorded, with known false when none is
	// recorded yet (no node has walked the home).
	Usage(ctx context.Context) (t Tally, known bool, err error)
	// Record sets the usage to a walk's result unless one is recorded
	// already (another node walked first), and returns what is recorded.
	Record(ctx context.Context, bytes, files int64) (Tally, error)
	// Reserve adds n bytes to this node's hold if the usage plus every
	// live hold plus n stays within limit (0: none); false (nothing
	// changed) when it would not.
	Reserve(ctx context.Context, n, limit int64) (ok bool, t Tally, err error)
	// Settle drops release bytes of this node's hold and adds bytes and
	// files (negative: frees) to the usage, at once. When bytes or files
	// is positive it is refused (false, nothing changed) if the usage plus
	// every live hold would then pass limitBytes or limitFiles (0: none).
	Settle(ctx context.Context, release, bytes, files, limitBytes, limitFiles int64) (ok bool, t Tally, err error)
}

// Tally is a Ledger's figures for a user: the committed usage, and the
// bytes every live node holds for uploads in progress.
type Tally struct {
	Bytes, Files, Held int64
}

// ledgerTimeout bounds one Ledger call (the ledger has its own, usually
// shorter, query timeout).
const ledgerTimeout = 15 * time.Second

// reserveChunk is how much a shared Quota reserves at once for its
// node's uploads: one round trip per 4 MiB written rather than per
// write, while a small file's reservation is given back when it ends.
const reserveChunk = 4 << 20

// Quota is one user's allowance of bytes and files, shared by all of the
// user's sessions (the server keeps one per user), and its usage.
//
// A Quota of NewQuota counts in this process: the usage is what was on
// disk under the home when it was first needed (one walk of the home, by
// the first upload, delete or rename), then kept up to date by every
// upload, delete and rename made through Limit. Changes made behind the
// server's back are seen at the next start.
//
// A Quota of NewSharedQuota keeps the usage in a Ledger that every node
// of a fleet shares: the first node that needs it walks the home, and
// from then on uploads reserve their bytes in the ledger as they are
// written and settle them at commit.
//
// Safe for concurrent use.
type Quota struct {
	scan sync.Mutex // held during the one walk, so others wait for it

	mu           sync.Mutex
	bytes, files int64 // limits; 0: none
	scanned      bool
	usedBytes    int64 // the usage (a shared Quota's: as last seen)
	usedFiles    int64

	ledger    Ledger
	reserving sync.Mutex // one Reserve round trip at a time
	held      int64      // bytes this node holds in the ledger
	pending   int64      // the part of held counted by uploads in progress
	heldAll   int64      // every live node's holds, as last seen
}

// NewQuota returns a Quota of bytes and files (0: no limit on that one)
// counted in this process.
func NewQuota(bytes, files int64) *Quota { return &Quota{bytes: bytes, files: files} }

// NewSharedQuota returns a Quota of bytes and files whose usage is kept
// in l, shared with the other nodes of a fleet.
func NewSharedQuota(bytes, files int64, l Ledger) *Quota {
	return &Quota{bytes: bytes, files: files, ledger: l}
}

// SetLimits changes the limits (a reloaded users file); the usage stays.
func (q *Quota) SetLimits(bytes, files int64) {
	q.mu.Lock()
	q.bytes, q.files = bytes, files
	q.mu.Unlock()
}

// Usage reports the bytes and files counted, and whether the home has
// been walked yet (before, both are 0). A shared Quota reports them as
// its last exchange with the ledger saw them.
func (q *Quota) Usage() (bytes, files int64, known bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.usedBytes, q.usedFiles, q.scanned
}

// maxWalkDepth bounds the walk of a home (a symlink loop a backend might
// follow cannot make it endless).
const maxWalkDepth = 64

// ensure makes the usage known, on first use: a shared Quota asks its
// ledger, and walks sh only if no node has; regular files count,
// directories are entered, anything else is left out.
func (q *Quota) ensure(sh Shell) error {
	q.mu.Lock()
	done := q.scanned
	q.mu.Unlock()
	if done {
		return nil
	}
	q.scan.Lock()
	defer q.scan.Unlock()
	q.mu.Lock()
	done = q.scanned
	q.mu.Unlock()
	if done {
		return nil
	}
	if q.ledger != nil {
		ctx, cancel := context.WithTimeout(context.Background(), ledgerTimeout)
		defer cancel()
		t, known, err := q.ledger.Usage(ctx)
		if err != nil {
			return unavailable(err)
		}
		if !known {
			b, n, err := WalkUsage(sh)
			if err != nil {
				return err
			}
			if t, err = q.ledger.Record(ctx, b, n); err != nil {
				return unavailable(err)
			}
		}
		q.mu.Lock()
		q.see(t)
		q.scanned = true
		q.mu.Unlock()
		return nil
	}
	b, n, err := WalkUsage(sh)
	if err != nil {
		return err
	}
	q.mu.Lock()
	q.usedBytes += b // what uploads and deletes changed meanwhile is kept
	q.usedFiles += n
	q.scanned = true
	q.mu.Unlock()
	return nil
}

// WalkUsage adds up the regular files under sh's root, as a Quota counts
// them on first use (directories entered to a depth of 64, anything but
// regular files left out); ftpd user rescan uses it to count a home again.
// It blocks on sh: call it off the event loop.
func WalkUsage(sh Shell) (bytes, files int64, err error) {
	var walk func(dir string, depth int) error
	walk = func(dir string, depth int) error {
		infos, err := sh.List(dir)
		if err != nil {
			return err
		}
		for _, fi := range infos {
			switch {
			case fi.Mode().IsRegular():
				bytes += fi.Size()
				files++
			case fi.IsDir() && depth < maxWalkDepth:
				if err := walk(path.Join(dir, fi.Name()), depth+1); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
		}
		return nil
	}
	err = walk("/", 0)
	return bytes, files, err
}

// unavailable is a ledger's failure as the error an operation fails
// with.
func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrQuotaUnavailable, err) }

// see keeps what the ledger reported. With q.mu held.
func (q *Quota) see(t Tally) {
	q.usedBytes, q.usedFiles, q.heldAll = t.Bytes, t.Files, t.Held
}

// take counts bytes and files more in this process, unless that would
// pass a limit. Negative values give back and always succeed.
func (q *Quota) take(bytes, files int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if (bytes > 0 && q.bytes > 0 && q.usedBytes+bytes > q.bytes) ||
		(files > 0 && q.files > 0 && q.usedFiles+files > q.files) {
		return false
	}
	q.usedBytes += bytes
	q.usedFiles += files
	return true
}

// reserve counts n (> 0) bytes an upload in progress is writing: ErrQuota
// when they do not fit.
func (q *Quota) reserve(n int64) error {
	if q.ledger == nil {
		if !q.take(n, 0) {
			return ErrQuota
		}
		return nil
	}
	if q.reserveSpare(n) {
		return nil
	}
	// One round trip at a time: the uploads that wait here find the
	// spare the first one reserved.
	q.reserving.Lock()
	defer q.reserving.Unlock()
	if q.reserveSpare(n) {
		return nil
	}
	q.mu.Lock()
	need := n - (q.held - q.pending)
	limit := q.bytes
	q.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), ledgerTimeout)
	defer cancel()
	ask := max(need, reserveChunk)
	ok, t, err := q.ledger.Reserve(ctx, ask, limit)
	if err == nil && !ok && ask > need {
		ask = need // near the limit: only what this write needs
		ok, t, err = q.ledger.Reserve(ctx, ask, limit)
	}
	if err != nil {
		return unavailable(err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.see(t)
	if !ok {
		return ErrQuota
	}
	q.held += ask
	q.pending += n
	return nil
}

// reserveSpare counts n from the spare of this node's hold, if it has
// enough.
func (q *Quota) reserveSpare(n int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.held-q.pending >= n {
		q.pending += n
		return true
	}
	return false
}

// unreserve gives back n (> 0) bytes reserve counted (an upload
// discarded). A shared Quota with no upload left in progress gives its
// whole hold back to the ledger.
func (q *Quota) unreserve(n int64) {
	if q.ledger == nil {
		q.take(-n, 0)
		return
	}
	q.mu.Lock()
	q.pending -= n
	release := int64(0)
	if q.pending <= 0 {
		q.pending, release, q.held = 0, q.held, 0
	}
	q.mu.Unlock()
	if release > 0 {
		if ok, _ := q.settleLedger(release, 0, 0); !ok {
			q.mu.Lock()
			q.held += release // given back at the next settle
			q.mu.Unlock()
		}
	}
}

// settle turns reserved bytes that reserve counted into a committed
// change of the usage by bytes and files (an upload's commit): ErrQuota,
// and nothing changed, when the change does not fit.
func (q *Quota) settle(reserved, bytes, files int64) error {
	if q.ledger == nil {
		if !q.take(bytes-reserved, files) {
			return ErrQuota
		}
		return nil
	}
	q.mu.Lock()
	q.pending -= reserved
	release := reserved
	if q.pending <= 0 {
		q.pending, release = 0, q.held
	}
	q.held -= release
	q.mu.Unlock()
	ok, err := q.settleLedger(release, bytes, files)
	if ok {
		return nil
	}
	q.mu.Lock()
	q.held += release
	q.pending += reserved
	q.mu.Unlock()
	if err != nil {
		return err
	}
	return ErrQuota
}

// adjust changes the usage by bytes and files, which free (a delete, an
// upload undone): never refused. A shared Quota whose ledger cannot be
// asked leaves the usage higher than it is, which only errs on the safe
// side; it returns the error.
func (q *Quota) adjust(bytes, files int64) error {
	if q.ledger == nil {
		q.take(bytes, files)
		return nil
	}
	_, err := q.settleLedger(0, bytes, files)
	return err
}

// settleLedger is the ledger's Settle with q's limits, keeping the tally.
func (q *Quota) settleLedger(release, bytes, files int64) (bool, error) {
	q.mu.Lock()
	lb, lf := q.bytes, q.files
	q.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), ledgerTimeout)
	defer cancel()
	ok, t, err := q.ledger.Settle(ctx, release, bytes, files, lb, lf)
	if err != nil {
		return false, unavailable(err)
	}
	q.mu.Lock()
	q.see(t)
	q.mu.Unlock()
	return ok, nil
}

// free is the bytes left under the limit (MaxInt64 with none): a hint
// for how much an upload may take in one step, which reserve confirms.
func (q *Quota) free() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.bytes <= 0 {
		return math.MaxInt64
	}
	if q.ledger != nil {
		return max(0, q.bytes-q.usedBytes-q.heldAll) + max(0, q.held-q.pending)
	}
	return max(0, q.bytes-q.usedBytes)
}

// filesFull reports whether no file more fits (a shared Quota: as last
// seen; the commit checks again).
func (q *Quota) filesFull() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.files > 0 && q.usedFiles >= q.files
}

// quotaErr is err, from a Quota, as the failure of op on p: ErrQuota's
// 552, or ErrQuotaUnavailable's 451.
func quotaErr(op, p string, err error) error {
	if errors.Is(err, ErrQuotaUnavailable) {
		return PathError(op, p, ErrQuotaUnavailable, err)
	}
	return PathError(op, p, ErrQuota, nil)
}
