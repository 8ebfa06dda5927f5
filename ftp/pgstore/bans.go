package pgstore

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gnetftp/gnetftp/ftp/ban"
)

// BanOptions tune a fleet ban store. Zero values get the defaults.
type BanOptions struct {
	// Node names this node in the bans it decides (logs, the table);
	// default none.
	Node string
	// Resync is how often the bans are read again whatever the
	// notifications said (a notification lost while this node's
	// listening connection was down); default DefaultResync.
	Resync time.Duration
	// Queue bounds the failed logins waiting to be written; past it they
	// are counted only here (Dropped). Default 4096.
	Queue int
}

// DefaultResync is BanOptions.Resync's default.
const DefaultResync = 5 * time.Second

// banChannel is the LISTEN/NOTIFY channel of new bans.
const banChannel = "ftpd_bans"

// Bans is a ban.Store shared by every node on the same database: a failed
// login is counted here at once (a local ban.Memory, so a node bans on
// its own count without the database) and written behind to the
// database, where the fleet's failures for the address are counted; the
// node whose write reaches the limit records the ban and notifies the
// others, which refuse the address from then on (within a round trip of
// the notification, or Resync at worst). Check and Failed never wait for
// the database: they are called on event loops.
type Bans struct {
	db    *DB
	local *ban.Memory
	cfg   ban.Config
	opts  BanOptions

	queue   chan failure
	dropped atomic.Int64
	imposed atomic.Int64
	down    atomic.Bool // the last database call failed (logged once per outage)

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type failure struct {
	prefix netip.Prefix
	local  *ban.Ban // set when this node's own count banned it
}

// Bans starts a fleet ban store with cfg's limits (ban.Config: After,
// Window, For, Allow, IPv6Prefix; Clock is ignored: the database's clock
// counts the fleet's failures). Close stops it.
func (db *DB) Bans(cfg ban.Config, opts BanOptions) *Bans {
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if opts.Queue <= 0 {
		opts.Queue = 4096
	}
	local := ban.NewMemory(cfg)
	cfg = local.Config()
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bans{db: db, local: local, cfg: cfg, opts: opts, queue: make(chan failure, opts.Queue), cancel: cancel}
	b.wg.Add(2)
	go b.writer(ctx)
	go b.listener(ctx)
	return b
}

// Close stops the store's goroutines; failures still queued are not
// written.
func (b *Bans) Close() {
	b.cancel()
	b.wg.Wait()
}

// Check implements ban.Store from the local copy.
func (b *Bans) Check(addr netip.Addr) (ban.Ban, bool) { return b.local.Check(addr) }

// Failed implements ban.Store: counted here at once, written behind.
func (b *Bans) Failed(addr netip.Addr) (ban.Ban, bool) {
	if !addr.IsValid() || b.local.Allowed(addr) {
		return ban.Ban{}, false
	}
	bn, banned := b.local.Failed(addr)
	f := failure{prefix: b.local.Key(addr)}
	if banned {
		f.local = &bn
	}
	select {
	case b.queue <- f:
	default:
		b.dropped.Add(1)
	}
	return bn, banned
}

// Dropped counts failed logins not written to the database because the
// queue was full (the database slow or down during a flood).
func (b *Bans) Dropped() int64 { return b.dropped.Load() }

// Imposed counts bans this node learnt from the database.
func (b *Bans) Imposed() int64 { return b.imposed.Load() }

// writer writes failed logins, one at a time, and bans the address
// fleet-wide when the fleet's count reaches After.
func (b *Bans) writer(ctx context.Context) {
	defer b.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-b.queue:
			err := b.db.query(func(qctx context.Context) error { return b.record(qctx, f) })
			b.health(err, "writing a failed login")
		}
	}
}

func (b *Bans) record(ctx context.Context, f failure) error {
	prefix := f.prefix.String()
	// Under an advisory lock of the prefix, so that every node's count
	// sees the failures the others have just written: two nodes writing
	// one at once could each count without the other's row (a statement
	// sees what was committed before it began) and neither ban at the
	// fleet's After-th failure. The three statements go out in one round
	// trip; each takes its own snapshot, the count after the lock.
	var count int
	err := pgx.BeginFunc(ctx, b.db.pool, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		batch.Queue("SELECT pg_advisory_xact_lock(hashtextextended('ftpd_login_failures:' || $1, 0))", prefix)
		batch.Queue("INSERT INTO ftpd_login_failures (prefix) VALUES ($1)", prefix)
		batch.Queue(`SELECT count(*) FROM ftpd_login_failures WHERE prefix = $1 AND at > now() - make_interval(secs => $2)`,
			prefix, b.cfg.Window.Seconds()).QueryRow(func(row pgx.Row) error { return row.Scan(&count) })
		return tx.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return err
	}
	if f.local == nil && count < b.cfg.After {
		return nil
	}
	failures := max(count, b.cfg.After)
	var left float64
	err = b.db.pool.QueryRow(ctx, `INSERT INTO ftpd_bans (prefix, until, failures, node)
		VALUES ($1, now() + make_interval(secs => $2), $3, $4)
		ON CONFLICT (prefix) DO UPDATE SET until = EXCLUDED.until, failures = EXCLUDED.failures, node = EXCLUDED.node
		WHERE ftpd_bans.until <= now()
		RETURNING extract(epoch FROM until - now())::float8`,
		prefix, b.cfg.For.Seconds(), failures, b.opts.Node).Scan(&left)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // banned already, by another node
	}
	if err != nil {
		return err
	}
	if _, err := b.db.pool.Exec(ctx, "DELETE FROM ftpd_login_failures WHERE prefix = $1", prefix); err != nil {
		return err
	}
	if _, err := b.db.pool.Exec(ctx, "SELECT pg_notify($1, $2)", banChannel, prefix); err != nil {
		return err
	}
	if b.local.Impose(f.prefix, time.Now().Add(time.Duration(left*float64(time.Second))), failures) {
		b.imposed.Add(1)
		b.db.logger.Warn("ftp address banned across the fleet", "addr", prefix, "failures", failures, "node", b.opts.Node)
	}
	return nil
}

// listener keeps a connection LISTENing for new bans and reads the bans
// in force on every notification and every Resync; it reconnects by
// itself after the database went away.
func (b *Bans) listener(ctx context.Context) {
	defer b.wg.Done()
	resync := func(ctx context.Context, conn *pgx.Conn) error {
		err := b.resync(ctx, conn)
		if err == nil {
			b.health(nil, "")
		}
		return err
	}
	b.db.keepListening(ctx, listener{
		Channel: banChannel, Every: b.opts.Resync, Listened: resync, Idle: resync,
		Notified: func(ctx context.Context, conn *pgx.Conn, _ string) error { return resync(ctx, conn) },
		Lost:     func(err error) { b.health(err, "listening for bans") },
	})
}

// resync imposes every ban in force, and clears what has lapsed.
func (b *Bans) resync(ctx context.Context, conn *pgx.Conn) error {
	qctx, cancel := context.WithTimeout(ctx, b.db.timeout)
	defer cancel()
	rows, err := conn.Query(qctx, `SELECT prefix, failures, extract(epoch FROM until - now())::float8
		FROM ftpd_bans WHERE until > now()`)
	if err != nil {
		return err
	}
	now := time.Now()
	for rows.Next() {
		var prefix string
		var failures int
		var left float64
		if err := rows.Scan(&prefix, &failures, &left); err != nil {
			rows.Close()
			return err
		}
		p, err := netip.ParsePrefix(prefix)
		if err != nil {
			continue // not written by this code
		}
		if b.local.Impose(p, now.Add(time.Duration(left*float64(time.Second))), failures) {
			b.imposed.Add(1)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	_, err = conn.Exec(qctx, `DELETE FROM ftpd_login_failures WHERE at < now() - make_interval(secs => $1);
		`, b.cfg.Window.Seconds())
	if err != nil {
		return err
	}
	_, err = conn.Exec(qctx, "DELETE FROM ftpd_bans WHERE until < now() - interval '1 day'")
	return err
}

// health logs the database going away once, and its return once.
func (b *Bans) health(err error, doing string) {
	if err == nil {
		if b.down.CompareAndSwap(true, false) {
			b.db.logger.Info("ftp ban store: database reachable again")
		}
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	if b.down.CompareAndSwap(false, true) {
		b.db.logger.Warn("ftp ban store: database unreachable; bans are counted on this node meanwhile", "doing", doing, "err", err)
	}
}
