package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/pgstore"
	"github.com/gnetftp/gnetftp/internal/ftptest"
	"github.com/gnetftp/gnetftp/internal/pgtest"
)

// putFleetUser writes a user with password "secret" into the fleet's
// database.
func putFleetUser(t *testing.T, dsn string, u auth.User) {
	t.Helper()
	admin, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
	require.NoError(t, err)
	defer admin.Close()
	h, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	require.NoError(t, err)
	u.Hash = string(h)
	require.NoError(t, admin.PutUser(context.Background(), u))
}

// fleetClient logs in with jlaffaye/ftp (EPSV), or returns the error.
func fleetClient(addr, user string) (*ftp.ServerConn, error) {
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(20*time.Second))
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, "secret"); err != nil {
		_ = c.Quit()
		return nil, err
	}
	return c, nil
}

// TestFleetQuotaAcrossNodes: a user with a 3 MiB quota uploads through
// two nodes at once (shared storage, shared PostgreSQL): the files on
// disk never pass the quota, the uploads refused get 552 and leave
// nothing, and after a delete through one node the other accepts again.
func TestFleetQuotaAcrossNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	root := t.TempDir()
	home := filepath.Join(root, "quser")
	require.NoError(t, os.MkdirAll(home, 0o755))
	putFleetUser(t, dsn, auth.User{Name: "quser", Home: "quser", Limits: auth.Limits{Quota: 3 << 20}})
	nodes := []*fleetNode{
		startFleetNode(t, dsn, "127.0.0.1:0", root),
		startFleetNode(t, dsn, "127.0.0.2:0", root),
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), (700<<10)/16)

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := fleetClient(nodes[i%2].Addr, "quser")
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Quit()
			errs[i] = c.Stor(fmt.Sprintf("f%d.bin", i), bytes.NewReader(data))
		}()
	}
	wg.Wait()
	stored := 0
	for i, err := range errs {
		if err == nil {
			stored++
			continue
		}
		assert.Contains(t, err.Error(), "552", "upload %d: refused for the quota, nothing else", i)
	}
	var onDisk int64
	entries, err := os.ReadDir(home)
	require.NoError(t, err)
	for _, e := range entries {
		fi, err := e.Info()
		require.NoError(t, err)
		onDisk += fi.Size()
		assert.Equal(t, int64(len(data)), fi.Size(), "%s: whole, never part of an upload", e.Name())
	}
	assert.LessOrEqual(t, onDisk, int64(3<<20), "the quota holds across the nodes")
	assert.Equal(t, int64(stored*len(data)), onDisk, "what was refused left nothing")
	assert.GreaterOrEqual(t, stored, 1)
	assert.Less(t, stored, 8, "8 x 700 KiB do not fit 3 MiB")

	// Fill what is left in turns through both nodes, then a delete through
	// node 1 makes room for node 2.
	for i := 0; ; i++ {
		c, err := fleetClient(nodes[i%2].Addr, "quser")
		require.NoError(t, err)
		err = c.Stor(fmt.Sprintf("g%d.bin", i), bytes.NewReader(data))
		_ = c.Quit()
		if err != nil {
			assert.Contains(t, err.Error(), "552")
			break
		}
		require.Less(t, i, 8, "the quota must refuse at last")
	}
	entries, err = os.ReadDir(home)
	require.NoError(t, err)
	assert.Len(t, entries, 4, "4 x 700 KiB fit 3 MiB, a fifth does not")
	c1, err := fleetClient(nodes[0].Addr, "quser")
	require.NoError(t, err)
	require.NoError(t, c1.Delete(entries[0].Name()))
	_ = c1.Quit()
	c2, err := fleetClient(nodes[1].Addr, "quser")
	require.NoError(t, err)
	assert.NoError(t, c2.Stor("after-delete.bin", bytes.NewReader(data)), "the delete on node 1 freed room on node 2")
	_ = c2.Quit()

	// The operator's view: `ftpd user list` shows the fleet's count.
	out, err := exec.Command(ftptest.Binary(t), "user", "list", "--users", dsn).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "USED")
	assert.Regexp(t, `(?m)^quser\s.*\s`+regexp.QuoteMeta(auth.FormatSize(4*int64(len(data))))+`/4\s+0$`, string(out),
		"4 files of 700 KiB, no session open")
}

// TestFleetMaxSessionsAcrossNodes: a user with max-sessions 2 has one
// session on each node; a third anywhere gets 421; logging out on one
// node lets a login in on the other; a node killed with SIGKILL gives
// its sessions back when its lease lapses.
func TestFleetMaxSessionsAcrossNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "muser"), 0o755))
	putFleetUser(t, dsn, auth.User{Name: "muser", Home: "muser", Limits: auth.Limits{MaxSessions: 2}})
	n1 := startFleetNode(t, dsn, "127.0.0.1:0", root, "--fleet-lease", "2s")
	n2 := startFleetNode(t, dsn, "127.0.0.2:0", root, "--fleet-lease", "2s")

	a, err := fleetClient(n1.Addr, "muser")
	require.NoError(t, err)
	b, err := fleetClient(n2.Addr, "muser")
	require.NoError(t, err)
	for _, n := range []*fleetNode{n1, n2} {
		_, err := fleetClient(n.Addr, "muser")
		require.Error(t, err, "a third session on %s", n.Addr)
		assert.Contains(t, err.Error(), "421", "too many sessions: service not available")
	}
	_, err = b.List("/")
	assert.NoError(t, err, "the sessions in are not disturbed")

	require.NoError(t, a.Quit())
	var c *ftp.ServerConn
	require.True(t, waitFor(10*time.Second, func() bool {
		c, err = fleetClient(n2.Addr, "muser")
		return err == nil
	}), "node 1's logout lets a second session in on node 2: %v", err)
	_ = c.Quit()

	// Both of muser's sessions on node 3, which is then killed.
	n3 := startFleetNode(t, dsn, "127.0.0.3:0", root, "--fleet-lease", "2s")
	_ = b.Quit()
	require.True(t, waitFor(10*time.Second, func() bool {
		c, err = fleetClient(n3.Addr, "muser")
		return err == nil
	}))
	// Node 2's two logouts are written a moment after each: the second
	// session on node 3 may have to wait for the later one.
	var d *ftp.ServerConn
	require.True(t, waitFor(10*time.Second, func() bool {
		d, err = fleetClient(n3.Addr, "muser")
		return err == nil
	}), "node 2's second logout lets a second session in on node 3: %v", err)
	_, err = fleetClient(n1.Addr, "muser")
	require.Error(t, err, "node 3 has both")
	n3.Kill(t) // c and d die with it, never logged out
	_ = d
	assert.True(t, waitFor(20*time.Second, func() bool {
		c, err = fleetClient(n1.Addr, "muser")
		return err == nil
	}), "the dead node's sessions lapse with its lease: %v", err)
	if c != nil {
		_ = c.Quit()
	}
}
