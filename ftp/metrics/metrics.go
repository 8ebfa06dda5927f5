// Package metrics exports an FTP server's activity to Prometheus: an
// ftp.Events implementation that counts logins, transfers, commands and
// refusals, gauges read at scrape time (queues, bans), and a sampler of
// the event loops' lag, all in a Registry of its own (never the global
// one), served by Handler.
//
// Counting is cheap on purpose, since it runs on the event loops for
// every command: the label children are made once and kept, so an event
// costs a map lookup and an atomic add (a histogram observation for
// commands).
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gnetftp/gnetftp/ftp"
)

// Config says where the gauges read at scrape time come from; a nil
// source leaves its metric out.
type Config struct {
	// Bans counts the bans started since the start
	// (ftp.Factory.Stats().Bans): ftpd_bans_total.
	Bans func() int64
	// Queues are the worker pools' queue depths by pool name ("files":
	// deferred.Pool.Queued, "passwords":
	// ftp.Factory.PasswordChecksWaiting): ftpd_pool_queue_depth{pool}.
	Queues map[string]func() int
	// LoopLag measures the event loops' lag (reactor.Reactor.LoopLag),
	// sampled every LoopLagEvery by Run into
	// ftpd_event_loop_lag_seconds.
	LoopLag func(timeout time.Duration) time.Duration
	// LoopLagEvery spaces the samples of LoopLag; default 1 s. A sample
	// waits at most this long.
	LoopLagEvery time.Duration
	// NoRuntime leaves out the Go runtime and process collectors (go_*,
	// process_*), which are in by default.
	NoRuntime bool
}

// Metrics is the collectors of one server. Its Events methods are called
// on the event loops, concurrently; Handler and Run from any goroutine.
type Metrics struct {
	ftp.BaseEvents
	cfg Config
	reg *prometheus.Registry

	sessions      prometheus.Gauge
	logins        *prometheus.CounterVec
	loginsBy      map[string]prometheus.Counter // by LoginEvent.Reason ("" = ok)
	transferBytes *prometheus.CounterVec
	transfers     *prometheus.CounterVec
	commands      *prometheus.HistogramVec
	refusals      *prometheus.CounterVec
	changes       *prometheus.CounterVec
	loopLag       prometheus.Histogram

	bytesBy map[string]prometheus.Counter // by direction

	// The label children made on first use, by label value: sync.Map's
	// read path takes no lock and, keyed by the event's own string,
	// allocates nothing.
	complete, incomplete, changed, refused, commandsBy sync.Map
}

// loginResults maps a LoginEvent's reason to the result label.
var loginResults = map[string]string{
	"":                       "ok",
	ftp.LoginUnknownUser:     "unknown_user",
	ftp.LoginBadPassword:     "bad_password",
	ftp.LoginBanned:          "banned",
	ftp.LoginTooManySessions: "too_many_sessions",
	ftp.LoginBusy:            "busy",
	ftp.LoginUnavailable:     "unavailable",
	ftp.LoginError:           "error",
}

// directions maps a transfer's command to the direction label.
var directions = map[string]string{
	"RETR": "download", "STOR": "upload", "APPE": "upload", "STOU": "upload",
	"LIST": "listing", "NLST": "listing", "MLSD": "listing",
}

// commandBuckets span a cached reply (tens of microseconds) to a long
// transfer (minutes), in seconds.
var commandBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

// lagBuckets span a healthy loop (microseconds) to a stalled one.
var lagBuckets = []float64{.00001, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

// New makes the collectors and registers them in a new Registry.
func New(cfg Config) *Metrics {
	if cfg.LoopLagEvery <= 0 {
		cfg.LoopLagEvery = time.Second
	}
	m := &Metrics{cfg: cfg, reg: prometheus.NewRegistry(), loginsBy: map[string]prometheus.Counter{},
		bytesBy: map[string]prometheus.Counter{}}
	m.sessions = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ftpd_sessions", Help: "Control connections open (sessions), logged in or not."})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ftpd_logins_total",
		Help: "Logins (PASS) by result: ok, unknown_user, bad_password, banned, too_many_sessions, busy, unavailable, error, other."}, []string{"result"})
	m.transferBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ftpd_transfer_bytes_total",
		Help: "Bytes moved on data connections, by direction: download (RETR), upload (STOR, APPE), listing (LIST, NLST, MLSD)."}, []string{"direction"})
	m.transfers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ftpd_transfers_total",
		Help: "Data transfers ended, by command and result (complete: 226; incomplete: anything else)."}, []string{"command", "result"})
	m.commands = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ftpd_command_duration_seconds",
		Help:    "Time from a command's arrival to its final reply (filesystem work and, for a transfer, the transfer included), by command.",
		Buckets: commandBuckets}, []string{"command"})
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ftpd_refusals_total",
		Help: "Connections, logins and passive listeners refused by a limit or a ban, by reason."}, []string{"reason"})
	m.changes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ftpd_file_changes_total",
		Help: "Changes made by control commands (MKD, RMD, DELE, RNTO, MFMT, SITE CHMOD), by command."}, []string{"command"})
	m.reg.MustRegister(m.sessions, m.logins, m.transferBytes, m.transfers, m.commands, m.refusals, m.changes)
	for reason, result := range loginResults {
		m.loginsBy[reason] = m.logins.WithLabelValues(result) // every result shows, at 0, from the start
	}
	for _, dir := range directions {
		m.bytesBy[dir] = m.transferBytes.WithLabelValues(dir)
	}
	if cfg.Bans != nil {
		bans := cfg.Bans
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ftpd_bans_total",
			Help: "Bans of client addresses started (too many failed logins)."}, func() float64 { return float64(bans()) }))
	}
	for pool, depth := range cfg.Queues {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ftpd_pool_queue_depth",
			Help:        "Work waiting for a worker, by pool (files: filesystem calls; passwords: password checks).",
			ConstLabels: prometheus.Labels{"pool": pool}}, func() float64 { return float64(depth()) }))
	}
	if cfg.LoopLag != nil {
		m.loopLag = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ftpd_event_loop_lag_seconds",
			Help:    "How long a function queued on an event loop waited for its turn (the worst loop, sampled every second).",
			Buckets: lagBuckets})
		m.reg.MustRegister(m.loopLag)
	}
	if !cfg.NoRuntime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry is the registry the collectors are in, for an embedder that
// adds its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the Prometheus text format (mount it on /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Run samples the event loops' lag until ctx ends (nothing to do without
// Config.LoopLag).
func (m *Metrics) Run(ctx context.Context) {
	if m.cfg.LoopLag == nil {
		return
	}
	t := time.NewTicker(m.cfg.LoopLagEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.loopLag.Observe(m.cfg.LoopLag(m.cfg.LoopLagEvery).Seconds())
		}
	}
}

// child returns the cached child of key in cache, making it with mk the
// first time.
func child[T any](cache *sync.Map, key string, mk func(string) T) T {
	if c, ok := cache.Load(key); ok {
		return c.(T)
	}
	c, _ := cache.LoadOrStore(key, mk(key))
	return c.(T)
}

// SessionOpened counts a session.
func (m *Metrics) SessionOpened(ftp.SessionInfo) { m.sessions.Inc() }

// SessionClosed uncounts a session.
func (m *Metrics) SessionClosed(ftp.SessionInfo) { m.sessions.Dec() }

// Login counts a login by result.
func (m *Metrics) Login(e ftp.LoginEvent) {
	c, ok := m.loginsBy[e.Reason]
	if !ok {
		c = m.logins.WithLabelValues("other") // a reason this package does not know
	}
	c.Inc()
}

// TransferDone counts a transfer and its bytes.
func (m *Metrics) TransferDone(e ftp.TransferEvent) {
	cache, result := &m.incomplete, "incomplete"
	if e.Complete {
		cache, result = &m.complete, "complete"
	}
	child(cache, e.Command, func(cmd string) prometheus.Counter { return m.transfers.WithLabelValues(cmd, result) }).Inc()
	if c, ok := m.bytesBy[directions[e.Command]]; ok && e.Bytes > 0 {
		c.Add(float64(e.Bytes))
	}
}

// FileChanged counts a change by command.
func (m *Metrics) FileChanged(e ftp.FileEvent) {
	child(&m.changed, e.Command, func(cmd string) prometheus.Counter { return m.changes.WithLabelValues(cmd) }).Inc()
}

// CommandDone observes a command's duration.
func (m *Metrics) CommandDone(e ftp.CommandEvent) {
	child(&m.commandsBy, e.Command, func(cmd string) prometheus.Observer { return m.commands.WithLabelValues(cmd) }).
		Observe(e.Duration.Seconds())
}

// Refused counts a refusal by reason.
func (m *Metrics) Refused(e ftp.RefusalEvent) {
	child(&m.refused, e.Reason, func(reason string) prometheus.Counter { return m.refusals.WithLabelValues(reason) }).Inc()
}
