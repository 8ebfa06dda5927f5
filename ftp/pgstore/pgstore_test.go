package pgstore_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/ban"
	"github.com/gnetftp/gnetftp/ftp/pgstore"
	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/internal/pgtest"
)

func TestMain(m *testing.M) { leaktest.Main(func() int { return pgtest.Main(m.Run) }) }

func open(t *testing.T, dsn string) *pgstore.DB {
	t.Helper()
	db, err := pgstore.Open(context.Background(), dsn, pgstore.Options{Timeout: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	return db
}

// banNodes are two nodes' ban stores on dsn, n1 and n2, each on a pool
// of its own and reading the bans in force every 200 ms; closed at the
// test's end, before their pools.
func banNodes(t *testing.T, dsn string, cfg ban.Config) (*pgstore.Bans, *pgstore.Bans) {
	t.Helper()
	var nodes [2]*pgstore.Bans
	for i := range nodes {
		b := open(t, dsn).Bans(cfg, pgstore.BanOptions{Node: fmt.Sprintf("n%d", i+1), Resync: 200 * time.Millisecond})
		t.Cleanup(b.Close)
		nodes[i] = b
	}
	return nodes[0], nodes[1]
}

// eventually polls cond every 20 ms for at most limit (a bound against
// hangs, not an expected delay).
func eventually(limit time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(limit); !cond(); {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// The schema is created once and opening again (another node, a
// restart) is a no-op; nodes starting at once migrate one at a time.
func TestSchemaMigratesOnceAndIdempotently(t *testing.T) {
	dsn := pgtest.DSN(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			db, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	for range 3 {
		require.NoError(t, <-errs)
	}
	db := open(t, dsn)
	v, err := db.SchemaVersion(context.Background())
	require.NoError(t, err)
	assert.Equal(t, pgstore.SchemaVersion, v)
}

// Failed logins spread over two nodes ban the address on both.
func TestBansAreSharedByTheFleet(t *testing.T) {
	dsn := pgtest.DSN(t)
	cfg := ban.Config{After: 4, Window: time.Minute, For: time.Hour}
	n1, n2 := banNodes(t, dsn, cfg)
	attacker := netip.MustParseAddr("198.51.100.7")
	bystander := netip.MustParseAddr("198.51.100.8")
	for i := range 3 {
		_, banned := []func(netip.Addr) (ban.Ban, bool){n1.Failed, n2.Failed}[i%2](attacker)
		assert.False(t, banned, "no node alone has seen 4")
	}
	_, _ = n2.Failed(bystander)
	_, banned := n1.Failed(attacker) // the fleet's fourth
	assert.False(t, banned, "n1 has seen only 2 itself: the fleet's count bans, behind")
	for _, n := range []*pgstore.Bans{n1, n2} {
		require.True(t, eventually(10*time.Second, func() bool { _, b := n.Check(attacker); return b }), "the fleet's ban reaches every node")
		_, b := n.Check(bystander)
		assert.False(t, b)
	}
	// A third node started later learns the ban from the table.
	n3 := open(t, dsn).Bans(cfg, pgstore.BanOptions{Node: "n3"})
	defer n3.Close()
	require.True(t, eventually(10*time.Second, func() bool { _, b := n3.Check(attacker); return b }))
	bn, _ := n3.Check(attacker)
	assert.Equal(t, "198.51.100.7/32", bn.Prefix.String())
	assert.InDelta(t, float64(time.Hour), float64(time.Until(bn.Until)), float64(time.Minute))
}

// Two nodes writing the fleet's last failures at the same moment still
// ban at the fleet's After-th: each count sees the other's. (They did
// not: a statement saw only what was committed before it began, so two
// writes at once each counted After-1 and neither banned: CI's
// TestBansAreSharedByTheFleet, a failure slow to write on one node.)
// Made deterministic: a trigger of the test holds each write 300 ms
// after its insert, so that the two nodes' writes overlap.
func TestSimultaneousFailuresOnTwoNodesBan(t *testing.T) {
	dsn := pgtest.DSN(t)
	cfg := ban.Config{After: 2, Window: time.Minute, For: time.Hour}
	n1, n2 := banNodes(t, dsn, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, `CREATE FUNCTION slow_failure() RETURNS trigger LANGUAGE plpgsql AS
		'BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END';
		CREATE TRIGGER slow_failure AFTER INSERT ON ftpd_login_failures FOR EACH ROW EXECUTE FUNCTION slow_failure()`)
	require.NoError(t, err)

	a := netip.MustParseAddr("198.51.100.30")
	n1.Failed(a)
	n2.Failed(a)
	for _, n := range []*pgstore.Bans{n1, n2} {
		assert.True(t, eventually(10*time.Second, func() bool { _, b := n.Check(a); return b }),
			"2 failures across the fleet, written at once, ban it everywhere")
	}
}

// A node's own count bans at once, without the database; the ban is
// then written for the others.
func TestLocalBanIsPublished(t *testing.T) {
	dsn := pgtest.DSN(t)
	cfg := ban.Config{After: 2, Window: time.Minute, For: time.Hour}
	n1, n2 := banNodes(t, dsn, cfg)
	a := netip.MustParseAddr("2001:db8:1::5")
	n1.Failed(a)
	_, banned := n1.Failed(a)
	assert.True(t, banned, "n1 banned it on its own count")
	require.True(t, eventually(10*time.Second, func() bool {
		_, b := n2.Check(netip.MustParseAddr("2001:db8:1::77"))
		return b
	}), "n2 refuses the same /64")
}

// The database stopped: nothing blocks, the node counts and bans on its
// own; restarted: the node reconnects by itself and shares bans again.
func TestDatabaseDownAndBack(t *testing.T) {
	dsn := pgtest.DSN(t)
	cfg := ban.Config{After: 3, Window: time.Minute, For: time.Hour}
	n1, n2 := banNodes(t, dsn, cfg)

	pgtest.Stop(t)
	a := netip.MustParseAddr("203.0.113.9")
	start := time.Now()
	for range 3 {
		n1.Failed(a)
	}
	_, banned := n1.Check(a)
	assert.True(t, banned, "the local count still bans")
	assert.Less(t, time.Since(start), time.Second, "Failed never waits for the database")
	pgtest.Restart(t)
	probe, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
	require.NoError(t, err, "the restarted database answers")
	probe.Close()

	b := netip.MustParseAddr("203.0.113.10")
	require.True(t, eventually(20*time.Second, func() bool {
		n2.Failed(b) // keeps failing until the fleet count, written again, bans it
		_, banned := n1.Check(b)
		return banned
	}), "after the restart the nodes share bans again")
}
