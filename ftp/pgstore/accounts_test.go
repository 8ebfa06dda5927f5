package pgstore_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/pgstore"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/local"
	"github.com/gnetftp/gnetftp/internal/pgtest"
)

// node is one ftpd node's view of the fleet: its Accounts in the shared
// database, and a shell over the shared storage (here one directory).
func node(t *testing.T, dsn string, lease time.Duration) *pgstore.Accounts {
	t.Helper()
	a, err := open(t, dsn).Accounts(pgstore.AccountsOptions{Lease: lease})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	return a
}

func sharedDir(t *testing.T) (shell.Shell, string) {
	t.Helper()
	dir := t.TempDir()
	sh, err := local.New(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sh.Close() })
	return sh, dir
}

// upload stores size bytes at p through sh in 64 KiB writes, as a STOR
// does, and commits.
func upload(sh shell.Shell, p string, size int) error {
	w, err := sh.OpenForWriting(p, 0, false)
	if err != nil {
		return err
	}
	chunk := make([]byte, 64<<10)
	for left := size; left > 0; left -= len(chunk) {
		if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
			_ = w.Abort()
			return err
		}
	}
	return w.Commit()
}

// diskUsage adds up the regular files in dir.
func diskUsage(t *testing.T, dir string) (bytes, files int64) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		fi, err := e.Info()
		require.NoError(t, err)
		if fi.Mode().IsRegular() {
			bytes += fi.Size()
			files++
		}
	}
	return bytes, files
}

// Two nodes uploading for one user at once, each with its own Quota (as
// two ftpd processes have) over the shared ledger: the quota is never
// exceeded, uploads past it are refused with ErrQuota and leave nothing,
// and the usage recorded is what is on disk.
func TestQuotaHoldsAcrossNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	n1, n2 := node(t, dsn, 0), node(t, dsn, 0)
	sh, dir := sharedDir(t)
	const quota = 5 << 20
	require.NoError(t, os.WriteFile(filepath.Join(dir, "old"), make([]byte, 1<<20), 0o644))
	q1 := shell.NewSharedQuota(quota, 0, n1.Ledger("alice"))
	q2 := shell.NewSharedQuota(quota, 0, n2.Ledger("alice"))
	shells := []shell.Shell{shell.Limit(sh, "", q1), shell.Limit(sh, "", q2)}

	var wg sync.WaitGroup
	var mu sync.Mutex
	stored, refused := 0, 0
	for i := range 8 { // 8 x 700 KiB on 4 MiB left: at most 5 fit
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := upload(shells[i%2], fmt.Sprintf("/up%d", i), 700<<10)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				stored++
				return
			}
			refused++
			assert.ErrorIs(t, err, shell.ErrQuota)
		}()
	}
	wg.Wait()
	b, files := diskUsage(t, dir)
	assert.LessOrEqual(t, b, int64(quota), "the quota is never exceeded on disk")
	assert.Equal(t, int64(1<<20)+int64(stored)*(700<<10), b, "refused uploads left nothing")
	// 5 x 700 KiB fit; how many did depends on the interleaving (a hold
	// of one node's uploads in progress refuses the other's).
	assert.GreaterOrEqual(t, stored, 1)
	assert.LessOrEqual(t, stored, 5)
	assert.Equal(t, 8, stored+refused)

	t1, known, err := n1.Ledger("alice").Usage(context.Background())
	require.NoError(t, err)
	require.True(t, known)
	assert.Equal(t, b, t1.Bytes, "the ledger's usage is what is on disk")
	assert.Equal(t, files, t1.Files)
	assert.Zero(t, t1.Held, "nothing held once every upload ended")

	// A delete through one node frees the quota for the other.
	require.NoError(t, shells[0].RemoveFile("/old"))
	assert.NoError(t, upload(shells[1], "/after-delete", 1<<20))
}

// Uploads through the nodes in turn: a node keeps no hold between its
// uploads, so the two together store exactly what the quota allows, and
// the next is refused whichever node takes it.
func TestQuotaFilledInTurnsThroughTwoNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	n1, n2 := node(t, dsn, 0), node(t, dsn, 0)
	sh, dir := sharedDir(t)
	const quota = 4 << 20
	shells := []shell.Shell{
		shell.Limit(sh, "", shell.NewSharedQuota(quota, 0, n1.Ledger("gina"))),
		shell.Limit(sh, "", shell.NewSharedQuota(quota, 0, n2.Ledger("gina"))),
	}
	for i := range 5 { // 5 x 800 KiB = 4,000 KiB of 4,096
		require.NoError(t, upload(shells[i%2], fmt.Sprintf("/f%d", i), 800<<10), "upload %d", i)
	}
	for i := range 2 {
		assert.ErrorIs(t, upload(shells[i], "/more", 800<<10), shell.ErrQuota, "node %d", i+1)
	}
	b, files := diskUsage(t, dir)
	assert.Equal(t, int64(5*800<<10), b)
	assert.Equal(t, int64(5), files)
	// Replacing a file counts only the difference, on either node.
	require.NoError(t, upload(shells[1], "/f0", 896<<10))
	assert.ErrorIs(t, upload(shells[0], "/f1", 1<<20), shell.ErrQuota)
}

// A file limit holds across nodes too: commits are checked against the
// shared count.
func TestFileQuotaAcrossNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	n1, n2 := node(t, dsn, 0), node(t, dsn, 0)
	sh, dir := sharedDir(t)
	s1 := shell.Limit(sh, "", shell.NewSharedQuota(0, 3, n1.Ledger("bob")))
	s2 := shell.Limit(sh, "", shell.NewSharedQuota(0, 3, n2.Ledger("bob")))
	var errs [6]error
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = upload([]shell.Shell{s1, s2}[i%2], fmt.Sprintf("/f%d", i), 1000)
		}()
	}
	wg.Wait()
	_, files := diskUsage(t, dir)
	assert.Equal(t, int64(3), files, "3 files, whichever node stored them: %v", errs)
}

// A node that dies mid-upload (no Close: SIGKILL) holds its reservation
// only until its lease lapses; then another node can use the quota.
func TestDeadNodesHoldLapses(t *testing.T) {
	dsn := pgtest.DSN(t)
	lease := time.Second
	n1, n2 := node(t, dsn, lease), node(t, dsn, lease)
	sh, _ := sharedDir(t)
	const quota = 8 << 20
	s1 := shell.Limit(sh, "", shell.NewSharedQuota(quota, 0, n1.Ledger("carol")))
	s2 := shell.Limit(sh, "", shell.NewSharedQuota(quota, 0, n2.Ledger("carol")))

	w, err := s1.OpenForWriting("/big", 0, false)
	require.NoError(t, err)
	_, err = w.Write(make([]byte, 6<<20)) // held: 6 MiB of node 1's uploads in progress
	require.NoError(t, err)
	assert.ErrorIs(t, upload(s2, "/other", 4<<20), shell.ErrQuota, "node 1's hold counts while it lives")

	n1.Die()
	assert.True(t, eventually(10*lease, func() bool { return upload(s2, "/other", 4<<20) == nil }),
		"after node 1's lease lapsed its hold no longer counts")
	_ = w.Abort() // the dead node's upload: its ledger no longer has a live lease to give back
}

// max-sessions across nodes: the sessions of every live node count; a
// release is seen by the others; a dead node's sessions lapse.
func TestSessionsAcrossNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	lease := time.Second
	n1, n2 := node(t, dsn, lease), node(t, dsn, lease)
	take := func(a *pgstore.Accounts) bool {
		ok, err := a.TakeSession("dave", 2)
		require.NoError(t, err)
		return ok
	}
	require.True(t, take(n1))
	require.True(t, take(n2))
	assert.False(t, take(n1), "two open on the fleet")
	assert.False(t, take(n2))
	n, err := n2.Sessions(context.Background(), "dave")
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	n1.ReleaseSession("dave")
	assert.True(t, eventually(5*time.Second, func() bool { return take(n2) }), "node 1's release reaches node 2")
	assert.False(t, take(n1))

	ok, err := n1.TakeSession("erin", 1)
	require.NoError(t, err)
	require.True(t, ok)
	n1.Die()
	assert.True(t, eventually(10*lease, func() bool {
		ok, err := n2.TakeSession("erin", 1)
		return err == nil && ok
	}), "a dead node's sessions lapse with its lease")
}

// The database stopped: a session count or an upload under a quota
// cannot be checked, so they fail (an error, not a wait past the query
// timeout, and not a pass); after the restart both work again by
// themselves.
func TestAccountsDatabaseDownAndBack(t *testing.T) {
	dsn := pgtest.DSN(t)
	n1 := node(t, dsn, 0)
	sh, dir := sharedDir(t)
	s1 := shell.Limit(sh, "", shell.NewSharedQuota(1<<20, 0, n1.Ledger("frank")))
	require.NoError(t, upload(s1, "/before", 1000))

	pgtest.Stop(t)
	_, err := n1.TakeSession("frank", 1)
	assert.Error(t, err)
	err = upload(s1, "/during", 1000)
	assert.ErrorIs(t, err, shell.ErrQuotaUnavailable)
	pgtest.Restart(t)

	require.True(t, eventually(20*time.Second, func() bool { return upload(s1, "/after", 1000) == nil }))
	ok, err := n1.TakeSession("frank", 1)
	require.NoError(t, err)
	assert.True(t, ok)
	got, err := os.ReadFile(filepath.Join(dir, "during"))
	assert.True(t, os.IsNotExist(err), "the refused upload left nothing: %q", got)
}

// A rescan sets the usage to its walk's figures, and an upload that
// commits while the walk runs waits for it and adds to the new figure
// rather than being overwritten by it.
func TestRescanUsageHoldsUploadsUntilItEnds(t *testing.T) {
	dsn := pgtest.DSN(t)
	n1 := node(t, dsn, 0)
	sh, _ := sharedDir(t)
	limited := shell.Limit(sh, "", shell.NewSharedQuota(10<<20, 0, n1.Ledger("alice")))
	require.NoError(t, upload(limited, "/a", 10))

	started, release := make(chan struct{}), make(chan struct{})
	type result struct {
		before, after shell.Tally
		err           error
	}
	rescanned := make(chan result, 1)
	go func() {
		var r result
		r.before, r.after, r.err = open(t, dsn).RescanUsage(context.Background(), "alice", func() (int64, int64, error) {
			close(started)
			<-release
			return 1000, 3, nil
		})
		rescanned <- r
	}()
	<-started
	uploaded := make(chan error, 1)
	go func() { uploaded <- upload(limited, "/b", 100<<10) }()
	select {
	case err := <-uploaded:
		close(release)
		<-rescanned
		t.Fatalf("the upload ended (%v) while the rescan held alice's usage", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	r := <-rescanned
	require.NoError(t, r.err)
	assert.Equal(t, shell.Tally{Bytes: 10, Files: 1}, r.before)
	assert.Equal(t, shell.Tally{Bytes: 1000, Files: 3}, r.after)
	require.NoError(t, <-uploaded)

	got, known, err := n1.Ledger("alice").Usage(context.Background())
	require.NoError(t, err)
	require.True(t, known)
	assert.Equal(t, int64(1000+100<<10), got.Bytes, "the upload added to the rescan's figure")
	assert.Equal(t, int64(4), got.Files)

	// A rescan of a user no node has counted records the walk.
	_, after, err := open(t, dsn).RescanUsage(context.Background(), "bob", func() (int64, int64, error) { return 7, 1, nil })
	require.NoError(t, err)
	assert.Equal(t, shell.Tally{Bytes: 7, Files: 1}, after)
	bob, known, err := n1.Ledger("bob").Usage(context.Background())
	require.NoError(t, err)
	assert.True(t, known)
	assert.Equal(t, int64(7), bob.Bytes)

	// A failing walk changes nothing.
	_, _, err = open(t, dsn).RescanUsage(context.Background(), "bob", func() (int64, int64, error) { return 0, 0, fs.ErrPermission })
	require.ErrorIs(t, err, fs.ErrPermission)
	bob, _, err = n1.Ledger("bob").Usage(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(7), bob.Bytes)
}
