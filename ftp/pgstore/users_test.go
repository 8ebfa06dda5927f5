package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/pgstore"
	"github.com/gnetftp/gnetftp/internal/pgtest"
)

func hash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	require.NoError(t, err)
	return string(h)
}

func users(t *testing.T, db *pgstore.DB) *pgstore.Users {
	t.Helper()
	u, err := db.Users(pgstore.UsersOptions{})
	require.NoError(t, err)
	t.Cleanup(u.Close)
	return u
}

func TestUsersAuthenticate(t *testing.T) {
	db := open(t, pgtest.DSN(t))
	ctx := context.Background()
	require.NoError(t, db.PutUser(ctx, auth.User{Name: "alice", Hash: hash(t, "secret"), Home: "/alice",
		Limits: auth.Limits{Perm: "elr", Quota: 1 << 30, MaxSessions: 3, RateDown: 2 << 20}}))
	u := users(t, db)
	home, err := u.Authenticate("alice", "secret")
	require.NoError(t, err)
	assert.Equal(t, "/alice", home)
	l, ok := u.UserLimits("alice")
	require.True(t, ok)
	assert.Equal(t, auth.Limits{Perm: "elr", Quota: 1 << 30, MaxSessions: 3, RateDown: 2 << 20}, l)
	home, ok = u.AuthenticateCached("alice", "secret")
	assert.True(t, ok, "the second login is answered from the cache")
	assert.Equal(t, "/alice", home)
	_, err = u.Authenticate("alice", "wrong")
	assert.ErrorIs(t, err, auth.ErrBadCredentials)
	_, err = u.Authenticate("bob", "secret")
	assert.ErrorIs(t, err, auth.ErrBadCredentials, "an unknown user looks like a wrong password")

	assert.Error(t, db.PutUser(ctx, auth.User{Name: "ftp", Hash: hash(t, "x")}), "anonymous names are refused")
	assert.Error(t, db.PutUser(ctx, auth.User{Name: "carol", Hash: "plaintext"}), "not a bcrypt hash")
	list, err := db.ListUsers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "alice", list[0].Name)
}

// A user deleted, or given a new password, through one node cannot log
// in with the old credentials on another, cache or not.
func TestUserChangesReachEveryNodesCache(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	admin := open(t, dsn)
	require.NoError(t, admin.PutUser(ctx, auth.User{Name: "alice", Hash: hash(t, "secret")}))
	require.NoError(t, admin.PutUser(ctx, auth.User{Name: "bob", Hash: hash(t, "pw")}))
	n1, n2 := users(t, open(t, dsn)), users(t, open(t, dsn))
	for _, n := range []*pgstore.Users{n1, n2} {
		_, err := n.Authenticate("alice", "secret")
		require.NoError(t, err)
		_, err = n.Authenticate("bob", "pw")
		require.NoError(t, err)
	}
	start := time.Now()
	deleted, err := admin.DeleteUser(ctx, "alice")
	require.NoError(t, err)
	require.True(t, deleted)
	require.NoError(t, admin.PutUser(ctx, auth.User{Name: "bob", Hash: hash(t, "new")}))
	for _, n := range []*pgstore.Users{n1, n2} {
		require.True(t, eventually(5*time.Second, func() bool {
			_, a := n.AuthenticateCached("alice", "secret")
			_, b := n.AuthenticateCached("bob", "pw")
			return !a && !b
		}))
		_, err := n.Authenticate("alice", "secret")
		assert.ErrorIs(t, err, auth.ErrBadCredentials)
		_, err = n.Authenticate("bob", "pw")
		assert.ErrorIs(t, err, auth.ErrBadCredentials)
		_, err = n.Authenticate("bob", "new")
		assert.NoError(t, err)
	}
	t.Logf("changes reached both nodes' caches in %v (bcrypt and the checks included)", time.Since(start))
}

// The database down: logins fail as unavailable (421 at the PI), not as
// bad credentials, within the query timeout; back: logins work again.
func TestUsersDatabaseDown(t *testing.T) {
	dsn := pgtest.DSN(t)
	db := open(t, dsn)
	require.NoError(t, db.PutUser(context.Background(), auth.User{Name: "alice", Hash: hash(t, "secret")}))
	u := users(t, db)
	pgtest.Stop(t)
	start := time.Now()
	_, err := u.Authenticate("alice", "secret")
	assert.ErrorIs(t, err, auth.ErrUnavailable)
	assert.NotErrorIs(t, err, auth.ErrBadCredentials)
	t.Logf("refused as unavailable after %v (query timeout 2 s)", time.Since(start))
	pgtest.Restart(t)
	require.True(t, eventually(20*time.Second, func() bool {
		_, err := u.Authenticate("alice", "secret")
		return err == nil
	}), "the node recovers by itself")
}

// A login whose check overlaps a change to some other user (which moves
// the cache's generation) still has its limits: they are what it read,
// and UserLimits finds them, so a read-only user stays read-only. Its
// password is not cached (the generation moved), and a change to the
// user itself drops its cached logins but not the limits the last login
// read, which the next login replaces.
func TestLoginRacingAChangeKeepsItsLimits(t *testing.T) {
	db := open(t, pgtest.DSN(t))
	ctx := context.Background()
	ro := auth.Limits{Perm: "elr", MaxSessions: 1}
	require.NoError(t, db.PutUser(ctx, auth.User{Name: "ro", Hash: hash(t, "secret"), Limits: ro}))
	require.NoError(t, db.PutUser(ctx, auth.User{Name: "other", Hash: hash(t, "x")}))
	// Compare runs between the query and the store: a change to another
	// user lands there, heard by the node's listener before the login
	// finishes.
	var u *pgstore.Users
	changed := false
	u, err := db.Users(pgstore.UsersOptions{Compare: func(h, pw []byte) error {
		if !changed {
			changed = true
			gen := u.CacheGen()
			require.NoError(t, db.PutUser(ctx, auth.User{Name: "other", Hash: hash(t, "y")}))
			require.True(t, eventually(10*time.Second, func() bool { return u.CacheGen() != gen }), "the node hears of the change")
		}
		return bcrypt.CompareHashAndPassword(h, pw)
	}})
	require.NoError(t, err)
	defer u.Close()
	_, err = u.Authenticate("ro", "secret")
	require.NoError(t, err)
	l, ok := u.UserLimits("ro")
	require.True(t, ok, "the limits of the login that raced a change are known")
	assert.Equal(t, ro, l)
	_, cached := u.AuthenticateCached("ro", "secret")
	assert.False(t, cached, "a check that raced a change is not cached")

	// A change to ro itself: its cached logins go, its last limits stay
	// until its next login reads the new ones.
	_, err = u.Authenticate("ro", "secret")
	require.NoError(t, err)
	require.NoError(t, db.PutUser(ctx, auth.User{Name: "ro", Hash: hash(t, "secret"), Limits: auth.Limits{Perm: "elrw"}}))
	require.True(t, eventually(10*time.Second, func() bool { _, c := u.AuthenticateCached("ro", "secret"); return !c }))
	l, ok = u.UserLimits("ro")
	require.True(t, ok)
	assert.Equal(t, ro, l)
	_, err = u.Authenticate("ro", "secret")
	require.NoError(t, err)
	l, _ = u.UserLimits("ro")
	assert.Equal(t, "elrw", l.Perm, "the next login reads the new limits")
}
