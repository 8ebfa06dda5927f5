// Package pgstore keeps what a fleet of ftpd nodes shares in PostgreSQL
// (github.com/jackc/pgx/v5): failed logins and bans, users, and each
// user's quota usage and sessions across the fleet (Accounts). Every query runs off the
// event loops, with a timeout; what the loops ask (is this address
// banned?) is answered from a local copy that the database keeps current
// through LISTEN/NOTIFY, with a periodic resync as the safety net, so a
// slow or stopped database never blocks a session and a node recovers by
// itself when it returns.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is a connection pool with the schema in place. Safe for concurrent
// use.
type DB struct {
	pool   *pgxpool.Pool
	dsn    string
	logger *slog.Logger
	// Timeout bounds each query; default DefaultTimeout.
	timeout time.Duration
}

// DefaultTimeout bounds each query the stores make.
const DefaultTimeout = 5 * time.Second

// Options tune Open. Zero values get the defaults.
type Options struct {
	// Timeout bounds each query and the start; default DefaultTimeout.
	Timeout time.Duration
	// Logger gets the stores' warnings; default slog.Default().
	Logger *slog.Logger
}

// Open connects to dsn (any DSN pgx accepts: postgres://user@host/db,
// or "host=... dbname=...") and creates or migrates the schema.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	cfg.ConnConfig.ConnectTimeout = opts.Timeout
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	db := &DB{pool: pool, dsn: dsn, logger: opts.Logger, timeout: opts.Timeout}
	mctx, cancel := context.WithTimeout(ctx, 4*opts.Timeout)
	defer cancel()
	if err := db.migrate(mctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the pool.
func (db *DB) Close() { db.pool.Close() }

// migrations are the schema's versions, applied in order, each once, in
// a transaction: version i+1 is migrations[i]. Never edit one that has
// shipped; append.
// SchemaVersion is the schema version this code writes.
var SchemaVersion = len(migrations)

var migrations = []string{
	// 1: failed logins and bans, by address or IPv6 prefix (text, as
	// netip.Prefix prints it).
	`CREATE TABLE ftpd_login_failures (
		prefix text NOT NULL,
		at timestamptz NOT NULL DEFAULT now()
	);
	CREATE INDEX ftpd_login_failures_prefix_at ON ftpd_login_failures (prefix, at);
	CREATE TABLE ftpd_bans (
		prefix text PRIMARY KEY,
		until timestamptz NOT NULL,
		failures integer NOT NULL,
		node text NOT NULL DEFAULT ''
	);`,
	// 2: users, with the limits of a users file's key=value fields.
	`CREATE TABLE ftpd_users (
		name text PRIMARY KEY,
		hash text NOT NULL,
		home text NOT NULL DEFAULT '',
		perm text NOT NULL DEFAULT '',
		quota bigint NOT NULL DEFAULT 0,
		quota_files bigint NOT NULL DEFAULT 0,
		max_sessions integer NOT NULL DEFAULT 0,
		rate_down bigint NOT NULL DEFAULT 0,
		rate_up bigint NOT NULL DEFAULT 0,
		updated_at timestamptz NOT NULL DEFAULT now()
	);`,
	// 3: the fleet's per-user accounting (Accounts): nodes and their
	// leases; each user's committed quota usage; the bytes each node holds
	// for its uploads in progress, and the sessions it has open, which
	// count only while the node's lease is live and go with its row.
	`CREATE TABLE ftpd_nodes (
		id text PRIMARY KEY,
		started timestamptz NOT NULL DEFAULT now(),
		expires timestamptz NOT NULL
	);
	CREATE TABLE ftpd_usage (
		name text PRIMARY KEY,
		bytes bigint NOT NULL,
		files bigint NOT NULL
	);
	CREATE TABLE ftpd_holds (
		node text NOT NULL REFERENCES ftpd_nodes (id) ON DELETE CASCADE,
		name text NOT NULL,
		bytes bigint NOT NULL,
		PRIMARY KEY (node, name)
	);
	CREATE INDEX ftpd_holds_name ON ftpd_holds (name);
	CREATE TABLE ftpd_sessions (
		node text NOT NULL REFERENCES ftpd_nodes (id) ON DELETE CASCADE,
		name text NOT NULL,
		sessions integer NOT NULL,
		PRIMARY KEY (node, name)
	);
	CREATE INDEX ftpd_sessions_name ON ftpd_sessions (name);`,
}

// schemaLock is the advisory lock under which nodes starting at once
// migrate one after the other.
const schemaLock = 0x6674706473636865 // "ftpdsche"

// migrate brings the schema to the newest version (idempotent).
func (db *DB) migrate(ctx context.Context) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(schemaLock)); err != nil {
		return fmt.Errorf("pgstore: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS ftpd_schema (version integer NOT NULL)"); err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	var version int
	err = tx.QueryRow(ctx, "SELECT version FROM ftpd_schema").Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := tx.Exec(ctx, "INSERT INTO ftpd_schema VALUES (0)"); err != nil {
			return fmt.Errorf("pgstore: migrate: %w", err)
		}
	case err != nil:
		return fmt.Errorf("pgstore: migrate: schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("pgstore: the database's schema is version %d, newer than this ftpd's %d: upgrade ftpd", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return fmt.Errorf("pgstore: migrate to version %d: %w", v+1, err)
		}
	}
	if _, err := tx.Exec(ctx, "UPDATE ftpd_schema SET version = $1", len(migrations)); err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: migrate: commit: %w", err)
	}
	return nil
}

// SchemaVersion reports the schema's version in the database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.pool.QueryRow(ctx, "SELECT version FROM ftpd_schema").Scan(&v)
	return v, err
}

// query runs fn with a context bounded by the query timeout.
func (db *DB) query(fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), db.timeout)
	defer cancel()
	return fn(ctx)
}

// listener is what keepListening does with one LISTEN connection:
// Listened runs after each LISTEN (a new connection, perhaps after
// notifications were missed), Notified for each notification, Idle after
// every Idle without one (never when Every is 0). An error from one of
// them drops the connection, and a new one is made.
type listener struct {
	Channel  string
	Every    time.Duration
	Listened func(ctx context.Context, conn *pgx.Conn) error
	Notified func(ctx context.Context, conn *pgx.Conn, payload string) error
	Idle     func(ctx context.Context, conn *pgx.Conn) error
	// Lost is told why a connection was dropped (not when ctx ended).
	Lost func(err error)
}

// keepListening runs l until ctx ends, reconnecting a second after a
// failure. Call it on a goroutine of its own.
func (db *DB) keepListening(ctx context.Context, l listener) {
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, l)
		if ctx.Err() != nil {
			return
		}
		l.Lost(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (db *DB) listenOnce(ctx context.Context, l listener) error {
	cctx, cancel := context.WithTimeout(ctx, db.timeout)
	conn, err := pgx.Connect(cctx, db.dsn)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+l.Channel); err != nil {
		return err
	}
	if err := l.Listened(ctx, conn); err != nil {
		return err
	}
	for {
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if l.Every > 0 {
			wctx, cancel = context.WithTimeout(ctx, l.Every)
		}
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			err = l.Notified(ctx, conn, n.Payload)
		case errors.Is(err, context.DeadlineExceeded):
			err = l.Idle(ctx, conn)
		}
		if err != nil {
			return err
		}
	}
}
