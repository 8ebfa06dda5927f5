package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/hooks"
	"github.com/gnetftp/gnetftp/ftp/metrics"
	"github.com/gnetftp/gnetftp/ftp/xferlog"
	"github.com/gnetftp/gnetftp/reactor"
)

// observeOptions are the flags of metrics, the xferlog and hooks.
type observeOptions struct {
	metricsListen                  string
	xferlog                        string
	onUpload, onDownload, onDelete string
	hookTimeout                    time.Duration
	hookMaxRunning                 int
}

// addObserveFlags declares them on fs.
func addObserveFlags(fs *flag.FlagSet, o *observeOptions) {
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics on http://ADDR/metrics, e.g. 127.0.0.1:9121 (default: off)")
	fs.StringVar(&o.xferlog, "xferlog", "", "append one line per file transfer, complete or not, to this file in the wu-ftpd xferlog format (reopened on SIGHUP) (default: off)")
	fs.StringVar(&o.onUpload, "on-upload", "", "after each upload (STOR, APPE, STOU), run this command line with /bin/sh -c; FTPD_USER, FTPD_PATH (on the server), FTPD_SIZE, FTPD_PEER, FTPD_RESULT (ok or failed) are in its environment")
	fs.StringVar(&o.onDownload, "on-download", "", "after each download (RETR), run this command line, as --on-upload")
	fs.StringVar(&o.onDelete, "on-delete", "", "after each DELE that removed a file, run this command line, as --on-upload (FTPD_SIZE empty)")
	fs.DurationVar(&o.hookTimeout, "hook-timeout", 60*time.Second, "kill (SIGKILL, the whole process group) an --on-* program still running after this long; 0 = never")
	fs.IntVar(&o.hookMaxRunning, "hook-max-running", 4, "--on-* programs running at once; events beyond wait (up to 1024, then are logged and skipped)")
}

// observability is what the flags turned on, around one server.
type observability struct {
	metrics *metrics.Metrics
	xlog    *xferlog.Log
	hooks   *hooks.Runner
	ln      net.Listener
	http    *http.Server
	stop    context.CancelFunc
	done    chan struct{}

	// The sources of the gauges read at scrape time; set by start,
	// before the metrics are served.
	factory *ftp.Factory
	pool    *deferred.Pool
	reactor *reactor.Reactor
}

// newObservability opens the xferlog, binds the metrics address (so that
// a bad one fails before serving, naming it) and starts the hooks'
// workers.
func newObservability(o observeOptions, logger *slog.Logger) (*observability, error) {
	x := &observability{}
	if o.xferlog != "" {
		l, err := xferlog.Open(o.xferlog, xferlog.Config{Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("--xferlog %s: %w", o.xferlog, err)
		}
		x.xlog = l
	}
	if o.metricsListen != "" {
		ln, err := net.Listen("tcp", o.metricsListen)
		if err != nil {
			x.close(logger)
			return nil, fmt.Errorf("--metrics-listen %s: %w", o.metricsListen, err)
		}
		x.ln = ln
		x.metrics = metrics.New(metrics.Config{
			Bans: func() int64 { return x.factory.Stats().Bans },
			Queues: map[string]func() int{
				"files":     func() int { return x.pool.Queued() },
				"passwords": func() int { return x.factory.PasswordChecksWaiting() },
			},
			LoopLag: func(timeout time.Duration) time.Duration { return x.reactor.LoopLag(timeout) },
		})
	}
	if o.onUpload != "" || o.onDownload != "" || o.onDelete != "" {
		timeout := o.hookTimeout
		if timeout <= 0 {
			timeout = -1
		}
		x.hooks = hooks.New(hooks.Config{OnUpload: o.onUpload, OnDownload: o.onDownload, OnDelete: o.onDelete,
			MaxRunning: o.hookMaxRunning, Timeout: timeout, Logger: logger})
	}
	return x, nil
}

// events is what the server tells: nil when nothing is on.
func (x *observability) events() ftp.Events {
	var evs []ftp.Events
	if x.metrics != nil {
		evs = append(evs, x.metrics)
	}
	if x.xlog != nil {
		evs = append(evs, x.xlog)
	}
	if x.hooks != nil {
		evs = append(evs, x.hooks)
	}
	return ftp.MultiEvents(evs...)
}

// start serves the metrics, once the server's parts exist.
func (x *observability) start(f *ftp.Factory, pool *deferred.Pool, r *reactor.Reactor, stdout io.Writer, logger *slog.Logger) {
	x.factory, x.pool, x.reactor = f, pool, r
	if x.metrics == nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", x.metrics.Handler())
	x.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	ctx, stop := context.WithCancel(context.Background())
	x.stop, x.done = stop, make(chan struct{}, 2)
	ln := x.ln
	go func() {
		if err := x.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server", "addr", ln.Addr().String(), "err", err)
		}
		x.done <- struct{}{}
	}()
	go func() { x.metrics.Run(ctx); x.done <- struct{}{} }()
	fmt.Fprintf(stdout, "ftpd: metrics on http://%s/metrics\n", ln.Addr())
}

// reopen reopens the xferlog (SIGHUP, after logrotate).
func (x *observability) reopen(logger *slog.Logger) {
	if x.xlog != nil {
		if err := x.xlog.Reopen(); err != nil {
			logger.Error("reopening the xferlog", "err", err)
		}
	}
}

// close stops the metrics, waits for the hooks running and flushes the
// xferlog; after the server has stopped (no more events).
func (x *observability) close(logger *slog.Logger) {
	if x.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = x.http.Shutdown(ctx)
		cancel()
		x.stop()
		<-x.done
		<-x.done
	} else if x.ln != nil {
		_ = x.ln.Close()
	}
	if x.hooks != nil {
		x.hooks.Close()
	}
	if x.xlog != nil {
		if err := x.xlog.Close(); err != nil {
			logger.Error("closing the xferlog", "err", err)
		}
	}
}
