package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/pgstore"
	"github.com/gnetftp/gnetftp/internal/ftptest"
	"github.com/gnetftp/gnetftp/internal/pgtest"
)

// fleetNode is one ftpd process of a fleet sharing a PostgreSQL database.
type fleetNode struct {
	*ftptest.Process
}

func startFleetNode(t *testing.T, dsn, listen, root string, extra ...string) *fleetNode {
	t.Helper()
	args := append([]string{"--listen", listen, "--root", root, "--users", dsn, "--ban-after", "3", "--login-timeout", "20s"}, extra...)
	return &fleetNode{ftptest.Start(t, nil, args...)}
}

// login runs USER/PASS on a new connection and returns the replies'
// codes: the greeting's, and PASS's (0 when the greeting refused).
func fleetLogin(t *testing.T, addr, user, pass string) (greeting, pass_ int) {
	t.Helper()
	return fleetLoginFrom(t, "127.0.0.1", addr, user, pass)
}

// fleetLoginFrom is fleetLogin from another loopback source address (a
// client of its own for the bans).
func fleetLoginFrom(t *testing.T, from, addr, user, pass string) (greeting, pass_ int) {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	k := &tlsClient{t: t, raw: c, c: c, rd: bufio.NewReader(c)}
	r, err := k.reply()
	require.NoError(t, err)
	if r.Code != 220 {
		return r.Code, 0
	}
	k.cmd("USER "+user, "331")
	_, err = fmt.Fprintf(c, "PASS %s\r\n", pass)
	require.NoError(t, err)
	r, err = k.reply()
	require.NoError(t, err)
	return 220, r.Code
}

// TestFleetSharesUsersAndBans: two ftpd nodes (127.0.0.1 and 127.0.0.2)
// on one PostgreSQL: a user added in the database logs in on both; a user
// deleted cannot log in anywhere a moment later, though both nodes had it
// cached; failed logins on one node ban the address on the other; the
// database stopped makes logins fail with 421, and the nodes recover by
// themselves when it returns.
func TestFleetSharesUsersAndBans(t *testing.T) {
	dsn := pgtest.DSN(t)
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "alice"), 0o755))
	admin, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
	require.NoError(t, err)
	defer admin.Close()
	h, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	require.NoError(t, err)
	require.NoError(t, admin.PutUser(context.Background(), auth.User{Name: "alice", Hash: string(h)}))
	require.NoError(t, admin.PutUser(context.Background(), auth.User{Name: "bob", Hash: string(h)}))

	n1 := startFleetNode(t, dsn, "127.0.0.1:0", root)
	n2 := startFleetNode(t, dsn, "127.0.0.2:0", root)
	assert.NotContains(t, n1.Log.String(), "postgres://", "the DSN is never printed")
	for _, n := range []*fleetNode{n1, n2} {
		for range 2 { // the second from the node's cache
			_, code := fleetLogin(t, n.Addr, "alice", "secret")
			assert.Equal(t, 230, code, n.Addr)
		}
	}

	deleted, err := admin.DeleteUser(context.Background(), "alice")
	require.NoError(t, err)
	require.True(t, deleted)
	for _, n := range []*fleetNode{n1, n2} {
		require.True(t, waitFor(10*time.Second, func() bool {
			_, code := fleetLogin(t, n.Addr, "alice", "secret")
			return code == 530
		}), "a deleted user cannot log in on %s", n.Addr)
	}

	// Failed logins from 127.0.0.9: two on node 1, one on node 2.
	const attacker = "127.0.0.9"
	for _, a := range []string{n1.Addr, n1.Addr, n2.Addr} {
		_, code := fleetLoginFrom(t, attacker, a, "bob", "wrong")
		assert.Equal(t, 530, code)
	}
	for _, n := range []*fleetNode{n1, n2} {
		require.True(t, waitFor(15*time.Second, func() bool {
			g, _ := fleetLoginFrom(t, attacker, n.Addr, "bob", "secret")
			return g == 421
		}), "the address is banned on %s too", n.Addr)
	}
	g, code := fleetLoginFrom(t, "127.0.0.10", n2.Addr, "bob", "secret")
	assert.Equal(t, [2]int{220, 230}, [2]int{g, code}, "another address is not banned")
}

func TestFleetDatabaseDownAnswers421(t *testing.T) {
	dsn := pgtest.DSN(t)
	admin, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
	require.NoError(t, err)
	defer admin.Close()
	h, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	require.NoError(t, err)
	require.NoError(t, admin.PutUser(context.Background(), auth.User{Name: "carol", Hash: string(h)}))
	n := startFleetNode(t, dsn, "127.0.0.1:0", t.TempDir())

	pgtest.Stop(t)
	_, code := fleetLogin(t, n.Addr, "carol", "secret")
	assert.Equal(t, 421, code, "the database down: service not available, not bad credentials")
	pgtest.Restart(t)
	require.True(t, waitFor(30*time.Second, func() bool {
		_, code := fleetLogin(t, n.Addr, "carol", "secret")
		return code == 230
	}), "the node recovers by itself: %s", n.Log.String())
	assert.True(t, strings.Contains(n.Log.String(), "user store unavailable"), "the outage is logged")
}
