package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// DefaultLease is how long a node's quota holds and session counts go on
// counting after its last heartbeat: a node that died gives them back by
// itself after this long.
const DefaultLease = 15 * time.Second

// AccountsOptions tune Accounts. Zero values get the defaults.
type AccountsOptions struct {
	// Node names this node in the database; default host:pid:random, new
	// at every start (a restarted node inherits nothing of its previous
	// life, whose leases lapse).
	Node string
	// Lease is how long this node's holds and sessions count after its
	// last heartbeat; it heartbeats every Lease/3. Default DefaultLease.
	Lease time.Duration
}

// Accounts is one node's share of the fleet's per-user accounting in
// PostgreSQL: quota usage (shell.Ledger, through Ledger) and sessions at
// once (TakeSession, for max-sessions), so that both hold across nodes.
//
// What a node holds (the bytes reserved for its uploads in progress, the
// sessions it has open) is written under the node's name and counts only
// while the node's lease is live: the node renews it every Lease/3, and
// a node that dies or loses the database stops counting after Lease.
// Every check and change of one user's figures runs in a transaction
// under a lock of that user's row (usage) or an advisory lock of the
// user's name (sessions), so two nodes cannot both take the last byte or
// the last session.
//
// TakeSession and the Ledger's methods block (round trips): call them
// off the event loops. ReleaseSession does not block: the count is
// written by a goroutine of Accounts' own.
type Accounts struct {
	db    *DB
	node  string
	lease time.Duration

	mu       sync.Mutex
	sessions map[string]int  // this node's open sessions by user
	dirty    map[string]bool // users whose count the database has not seen
	kick     chan struct{}

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Accounts registers this node and starts its heartbeat; Close ends both
// and gives back everything the node held.
func (db *DB) Accounts(opts AccountsOptions) (*Accounts, error) {
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Node == "" {
		host, _ := os.Hostname()
		var r [4]byte
		_, _ = rand.Read(r[:])
		opts.Node = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(r[:]))
	}
	a := &Accounts{db: db, node: opts.Node, lease: opts.Lease,
		sessions: map[string]int{}, dirty: map[string]bool{}, kick: make(chan struct{}, 1)}
	if err := db.query(func(ctx context.Context) error { _, err := a.heartbeat(ctx); return err }); err != nil {
		return nil, fmt.Errorf("pgstore: register node %s: %w", a.node, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(1)
	go a.run(ctx)
	return a, nil
}

// Node is this node's name in the database.
func (a *Accounts) Node() string { return a.node }

// Close stops the heartbeat and deletes this node's row, and with it its
// holds and session counts (best effort: if the database cannot be
// reached they lapse with the lease).
func (a *Accounts) Close() {
	a.cancel()
	a.wg.Wait()
	_ = a.db.query(func(ctx context.Context) error {
		_, err := a.db.pool.Exec(ctx, "DELETE FROM ftpd_nodes WHERE id = $1", a.node)
		return err
	})
}

// heartbeat renews the lease, reporting whether the row had to be made
// again (a lapse long enough for another node to clear it: what it held
// in the database is gone and must be written again).
func (a *Accounts) heartbeat(ctx context.Context) (bool, error) {
	var inserted bool
	err := a.db.pool.QueryRow(ctx, `INSERT INTO ftpd_nodes (id, expires) VALUES ($1, now() + make_interval(secs => $2))
		ON CONFLICT (id) DO UPDATE SET expires = EXCLUDED.expires
		RETURNING xmax = 0`, a.node, a.lease.Seconds()).Scan(&inserted)
	return inserted, err
}

// run heartbeats, writes session counts that changed, and clears the
// rows of nodes long dead, until Close.
func (a *Accounts) run(ctx context.Context) {
	defer a.wg.Done()
	beat := time.NewTicker(a.lease / 3)
	defer beat.Stop()
	down := false
	health := func(err error) {
		switch {
		case err == nil && down:
			down = false
			a.db.logger.Info("ftp fleet accounts: database reachable again", "node", a.node)
		case err != nil && !down && ctx.Err() == nil:
			down = true
			a.db.logger.Warn("ftp fleet accounts: database unreachable; uploads under a quota and logins of users with max-sessions are refused meanwhile",
				"node", a.node, "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
			health(a.flush(ctx))
		case <-beat.C:
			err := a.db.query(func(qctx context.Context) error {
				again, err := a.heartbeat(qctx)
				if err == nil && again {
					a.markAllDirty()
				}
				if err == nil {
					// Rows of nodes dead for a while: their holds and
					// sessions no longer count anyway.
					_, err = a.db.pool.Exec(qctx, "DELETE FROM ftpd_nodes WHERE expires < now() - make_interval(secs => $1)",
						(10 * a.lease).Seconds())
				}
				return err
			})
			if err == nil {
				err = a.flush(ctx)
			}
			health(err)
		}
	}
}

func (a *Accounts) markAllDirty() {
	a.mu.Lock()
	for u := range a.sessions {
		a.dirty[u] = true
	}
	a.mu.Unlock()
}

// flush writes the session counts that changed since the database last
// saw them; what fails stays to be written at the next heartbeat.
func (a *Accounts) flush(ctx context.Context) error {
	a.mu.Lock()
	users := make([]string, 0, len(a.dirty))
	for u := range a.dirty {
		users = append(users, u)
	}
	clear(a.dirty)
	a.mu.Unlock()
	for i, u := range users {
		err := a.db.query(func(qctx context.Context) error {
			return a.sessionTx(qctx, u, func(tx pgx.Tx) error { return a.writeSessions(qctx, tx, u) })
		})
		if err != nil {
			a.mu.Lock()
			for _, v := range users[i:] {
				a.dirty[v] = true
			}
			a.mu.Unlock()
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

// sessionTx runs fn in a transaction holding user's session lock.
func (a *Accounts) sessionTx(ctx context.Context, user string, fn func(pgx.Tx) error) error {
	tx, err := a.db.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('ftpd_sessions:' || $1, 0))", user); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// writeSessions writes this node's count of user's sessions as it is
// now (read under the lock, so the last write is always the newest).
func (a *Accounts) writeSessions(ctx context.Context, tx pgx.Tx, user string) error {
	a.mu.Lock()
	n := a.sessions[user]
	a.mu.Unlock()
	if n <= 0 {
		_, err := tx.Exec(ctx, "DELETE FROM ftpd_sessions WHERE node = $1 AND name = $2", a.node, user)
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO ftpd_sessions (node, name, sessions) VALUES ($1, $2, $3)
		ON CONFLICT (node, name) DO UPDATE SET sessions = EXCLUDED.sessions`, a.node, user, n)
	return err
}

// errSessionsFull ends a TakeSession's transaction without a change.
var errSessionsFull = errors.New("pgstore: max sessions reached")

// TakeSession counts a session of user on this node, unless the fleet
// has max (> 0) of them open already: the live nodes' counts are added
// up under the user's lock. Blocks: call it off the loops. An error
// means the database could not be asked (the login is then refused
// with 421).
func (a *Accounts) TakeSession(user string, max int) (bool, error) {
	a.mu.Lock()
	a.sessions[user]++ // counted now, so that a concurrent write includes it
	a.mu.Unlock()
	err := a.db.query(func(ctx context.Context) error {
		return a.sessionTx(ctx, user, func(tx pgx.Tx) error {
			var others int
			if err := tx.QueryRow(ctx, `SELECT coalesce(sum(s.sessions), 0) FROM ftpd_sessions s
				JOIN ftpd_nodes n ON n.id = s.node
				WHERE s.name = $1 AND s.node <> $2 AND n.expires > now()`, user, a.node).Scan(&others); err != nil {
				return err
			}
			a.mu.Lock()
			mine := a.sessions[user]
			a.mu.Unlock()
			if max > 0 && others+mine > max {
				return errSessionsFull
			}
			return a.writeSessions(ctx, tx, user)
		})
	})
	if err == nil {
		return true, nil
	}
	a.ReleaseSession(user)
	if errors.Is(err, errSessionsFull) {
		return false, nil
	}
	return false, fmt.Errorf("pgstore: take a session of %q: %w", user, err)
}

// ReleaseSession gives back a session TakeSession counted. It does not
// block (any goroutine, the loops included): the new count is written
// soon after by Accounts' goroutine.
func (a *Accounts) ReleaseSession(user string) {
	a.mu.Lock()
	if a.sessions[user]--; a.sessions[user] <= 0 {
		delete(a.sessions, user)
	}
	a.dirty[user] = true
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Sessions reports the sessions of user open on the fleet's live nodes,
// as the database has them (tests, the CLI).
func (a *Accounts) Sessions(ctx context.Context, user string) (int, error) {
	var n int
	err := a.db.pool.QueryRow(ctx, `SELECT coalesce(sum(s.sessions), 0) FROM ftpd_sessions s
		JOIN ftpd_nodes n ON n.id = s.node WHERE s.name = $1 AND n.expires > now()`, user).Scan(&n)
	return n, err
}

// Ledger is user's quota ledger on this node (shell.NewSharedQuota).
func (a *Accounts) Ledger(user string) shell.Ledger { return &ledger{a: a, user: user} }

// QuotaLedger is Ledger, by the name the ftp server looks for.
func (a *Accounts) QuotaLedger(user string) shell.Ledger { return a.Ledger(user) }

// ledger is one user's shell.Ledger over ftpd_usage and ftpd_holds.
type ledger struct {
	a    *Accounts
	user string
}

// liveHolds adds up the holds of user on the live nodes.
const liveHolds = `SELECT coalesce(sum(h.bytes), 0) FROM ftpd_holds h
	JOIN ftpd_nodes n ON n.id = h.node WHERE h.name = $1 AND n.expires > now()`

func (l *ledger) Usage(ctx context.Context) (shell.Tally, bool, error) {
	var t shell.Tally
	err := l.a.db.pool.QueryRow(ctx, `SELECT bytes, files, (`+liveHolds+`) FROM ftpd_usage WHERE name = $1`, l.user).
		Scan(&t.Bytes, &t.Files, &t.Held)
	if errors.Is(err, pgx.ErrNoRows) {
		return shell.Tally{}, false, nil
	}
	if err != nil {
		return t, false, fmt.Errorf("pgstore: usage of %q: %w", l.user, err)
	}
	return t, true, nil
}

func (l *ledger) Record(ctx context.Context, bytes, files int64) (shell.Tally, error) {
	if _, err := l.a.db.pool.Exec(ctx, `INSERT INTO ftpd_usage (name, bytes, files) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`, l.user, bytes, files); err != nil {
		return shell.Tally{}, fmt.Errorf("pgstore: record usage of %q: %w", l.user, err)
	}
	t, _, err := l.Usage(ctx)
	return t, err
}

// locked runs fn in a transaction holding the user's usage row (made if
// missing), with the usage and the live holds read under the lock: each
// statement of a READ COMMITTED transaction sees what committed before
// it, so after the lock every other node's change is visible.
func (l *ledger) locked(ctx context.Context, fn func(tx pgx.Tx, t *shell.Tally) (bool, error)) (bool, shell.Tally, error) {
	var t shell.Tally
	tx, err := l.a.db.pool.Begin(ctx)
	if err != nil {
		return false, t, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO ftpd_usage (name, bytes, files) VALUES ($1, 0, 0)
		ON CONFLICT (name) DO NOTHING`, l.user); err != nil {
		return false, t, err
	}
	if err := tx.QueryRow(ctx, "SELECT bytes, files FROM ftpd_usage WHERE name = $1 FOR UPDATE", l.user).
		Scan(&t.Bytes, &t.Files); err != nil {
		return false, t, err
	}
	if err := tx.QueryRow(ctx, liveHolds, l.user).Scan(&t.Held); err != nil {
		return false, t, err
	}
	ok, err := fn(tx, &t)
	if err != nil || !ok {
		return false, t, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, t, err
	}
	return true, t, nil
}

func (l *ledger) Reserve(ctx context.Context, n, limit int64) (bool, shell.Tally, error) {
	ok, t, err := l.locked(ctx, func(tx pgx.Tx, t *shell.Tally) (bool, error) {
		if limit > 0 && t.Bytes+t.Held+n > limit {
			return false, nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO ftpd_holds (node, name, bytes) VALUES ($1, $2, $3)
			ON CONFLICT (node, name) DO UPDATE SET bytes = ftpd_holds.bytes + EXCLUDED.bytes`, l.a.node, l.user, n); err != nil {
			return false, err
		}
		t.Held += n
		return true, nil
	})
	if err != nil {
		return false, t, fmt.Errorf("pgstore: reserve %d bytes for %q: %w", n, l.user, err)
	}
	return ok, t, nil
}

func (l *ledger) Settle(ctx context.Context, release, bytes, files, limitBytes, limitFiles int64) (bool, shell.Tally, error) {
	ok, t, err := l.locked(ctx, func(tx pgx.Tx, t *shell.Tally) (bool, error) {
		if release > 0 {
			var kept int64
			err := tx.QueryRow(ctx, `UPDATE ftpd_holds SET bytes = bytes - least(bytes, $3)
				WHERE node = $1 AND name = $2 RETURNING bytes`, l.a.node, l.user, release).Scan(&kept)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				// No hold here (cleared after a lapse of the lease).
			case err != nil:
				return false, err
			default:
				if err := tx.QueryRow(ctx, liveHolds, l.user).Scan(&t.Held); err != nil {
					return false, err
				}
			}
		}
		nb, nf := max(0, t.Bytes+bytes), max(0, t.Files+files)
		if (bytes > 0 && limitBytes > 0 && nb+t.Held > limitBytes) || (files > 0 && limitFiles > 0 && nf > limitFiles) {
			return false, nil
		}
		if _, err := tx.Exec(ctx, "UPDATE ftpd_usage SET bytes = $2, files = $3 WHERE name = $1", l.user, nb, nf); err != nil {
			return false, err
		}
		t.Bytes, t.Files = nb, nf
		return true, nil
	})
	if err != nil {
		return false, t, fmt.Errorf("pgstore: settle the usage of %q: %w", l.user, err)
	}
	return ok, t, nil
}

// FleetUsers is a Users store with this node's Accounts: the ftp
// server's Authenticator for a fleet, whose users' quotas and
// max-sessions then hold across every node (ftp.SharedAccounts).
type FleetUsers struct {
	*Users
	*Accounts
}

// UserAccount is what the fleet counts of one user now: the committed
// quota usage (Known false until a node first needed it), the bytes held
// for uploads in progress and the sessions open, on live nodes.
type UserAccount struct {
	Bytes, Files, Held int64
	Known              bool
	Sessions           int
}

// UserAccounts reads every user's UserAccount (ftpd user list), by name;
// a user with nothing counted is absent.
func (db *DB) UserAccounts(ctx context.Context) (map[string]UserAccount, error) {
	rows, err := db.pool.Query(ctx, `SELECT name, bool_or(known), sum(bytes)::bigint, sum(files)::bigint, sum(held)::bigint, sum(sessions)::bigint FROM (
			SELECT name, true AS known, bytes, files, 0 AS held, 0 AS sessions FROM ftpd_usage
			UNION ALL SELECT h.name, false, 0, 0, h.bytes, 0 FROM ftpd_holds h JOIN ftpd_nodes n ON n.id = h.node WHERE n.expires > now()
			UNION ALL SELECT s.name, false, 0, 0, 0, s.sessions FROM ftpd_sessions s JOIN ftpd_nodes n ON n.id = s.node WHERE n.expires > now()
		) AS a GROUP BY name`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: user accounts: %w", err)
	}
	defer rows.Close()
	out := map[string]UserAccount{}
	for rows.Next() {
		var name string
		var a UserAccount
		var sessions int64
		if err := rows.Scan(&name, &a.Known, &a.Bytes, &a.Files, &a.Held, &sessions); err != nil {
			return nil, fmt.Errorf("pgstore: user accounts: %w", err)
		}
		a.Sessions = int(sessions)
		out[name] = a
	}
	return out, rows.Err()
}

// RescanUsage sets user's recorded quota usage to what walk counts now
// (ftpd user rescan: a home moved or changed behind the fleet's back),
// and returns the usage before and after. The user's usage row is
// locked while walk runs, so an upload that commits meanwhile on any
// node waits for the new figure and adds to it instead of being
// overwritten; such an upload gets 451 if the walk outlasts its ledger
// timeout (15 s). What uploads in progress hold is not part of the
// usage and stays as it is. Safe for concurrent use.
func (db *DB) RescanUsage(ctx context.Context, user string, walk func() (bytes, files int64, err error)) (before, after shell.Tally, err error) {
	err = func() error {
		tx, err := db.pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `INSERT INTO ftpd_usage (name, bytes, files) VALUES ($1, 0, 0)
			ON CONFLICT (name) DO NOTHING`, user); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT bytes, files FROM ftpd_usage WHERE name = $1 FOR UPDATE", user).
			Scan(&before.Bytes, &before.Files); err != nil {
			return err
		}
		b, n, err := walk()
		if err != nil {
			return fmt.Errorf("walking the home: %w", err)
		}
		after = shell.Tally{Bytes: b, Files: n}
		if _, err := tx.Exec(ctx, "UPDATE ftpd_usage SET bytes = $2, files = $3 WHERE name = $1", user, b, n); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}()
	if err != nil {
		return before, after, fmt.Errorf("pgstore: rescan usage of %q: %w", user, err)
	}
	return before, after, nil
}
