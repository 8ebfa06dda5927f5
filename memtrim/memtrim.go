// Package memtrim returns a Go server's free heap memory to the operating
// system once the server goes quiet after a burst.
//
// A burst of connections (TLS handshakes, logins) leaves garbage that the
// Go heap keeps as headroom: with GOGC=100 the heap may hold up to twice
// its live bytes, and the runtime's scavenger gives back only what lies
// beyond its goal. A server that holds many idle sessions after the burst
// then shows about twice the memory its sessions use. When the process
// has been allocating almost nothing for an interval and the heap retains
// much more than its live bytes, a Trimmer runs a collection and returns
// the free pages (runtime/debug.FreeOSMemory). Under steady load the
// process is never quiet and nothing is done; each trim's own cost
// bounds how soon the next may come (Config.MaxShare of the wall time).
//
//	stop := memtrim.Start(memtrim.Config{Logger: logger})
//	defer stop()
package memtrim

import (
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/gnetftp/gnetftp/internal/rtmetrics"
)

// Config tunes a Trimmer. A zero field takes its default.
type Config struct {
	// Interval is how often the heap is looked at (default 250 ms): the
	// process counts as quiet after one interval of little allocation.
	Interval time.Duration
	// QuietAlloc is the allocation in one Interval under which the
	// process is quiet (default 256 KiB).
	QuietAlloc int64
	// MinGain is the least memory worth a trim: bytes the heap retains
	// beyond its live bytes (default 4 MiB), which must also be at least
	// a quarter of the live bytes.
	MinGain int64
	// MaxShare bounds the share of wall time trims take (default 0.01):
	// after a trim that took d, the next waits at least d/MaxShare.
	MaxShare float64
	// Logger gets one Debug line per trim (nil: none).
	Logger *slog.Logger
}

// WithDefaults is c with its zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = 250 * time.Millisecond
	}
	if c.QuietAlloc <= 0 {
		c.QuietAlloc = 256 << 10
	}
	if c.MinGain <= 0 {
		c.MinGain = 4 << 20
	}
	if c.MaxShare <= 0 || c.MaxShare > 1 {
		c.MaxShare = 0.01
	}
	return c
}

// Sample is what a Trimmer looks at: the bytes allocated so far (a
// running total), the live heap as of the last collection, and the heap
// memory the process holds (objects, dead or alive, and free spans not
// yet returned).
type Sample struct {
	Allocated, Live, Retained int64
}

// Trimmer decides, from one Sample per interval, when to trim. Its
// methods are for one goroutine (Start's).
type Trimmer struct {
	cfg       Config
	last      Sample
	started   bool
	notBefore time.Time
}

// New is a Trimmer for cfg (defaults applied).
func New(cfg Config) *Trimmer { return &Trimmer{cfg: cfg.WithDefaults()} }

// Due reports whether the process should be trimmed now, given s: it was
// quiet since the last sample, it retains at least MinGain (and a
// quarter of its live heap) beyond its live bytes, and the last trim's
// cost allows another.
func (t *Trimmer) Due(now time.Time, s Sample) bool {
	prev, started := t.last, t.started
	t.last, t.started = s, true
	if !started || now.Before(t.notBefore) {
		return false
	}
	gain := s.Retained - s.Live
	return s.Allocated-prev.Allocated < t.cfg.QuietAlloc && gain >= t.cfg.MinGain && gain >= s.Live/4
}

// Trimmed records a trim that ended at now after took, and the sample
// after it (the allocation it did itself is not the process's).
func (t *Trimmer) Trimmed(now time.Time, took time.Duration, after Sample) {
	t.last = after
	t.notBefore = now.Add(time.Duration(float64(took) / t.cfg.MaxShare))
}

// Start looks at the process's heap every Interval, on a goroutine of its
// own, and trims it when a Trimmer says so, until stop is called (stop
// waits for that goroutine).
func Start(cfg Config) (stop func()) {
	t := New(cfg)
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		tick := time.NewTicker(t.cfg.Interval)
		defer tick.Stop()
		samples := newReader()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			s := samples.read()
			if !t.Due(time.Now(), s) {
				continue
			}
			start := time.Now()
			debug.FreeOSMemory()
			end := time.Now()
			after := samples.read()
			t.Trimmed(end, end.Sub(start), after)
			if t.cfg.Logger != nil {
				t.cfg.Logger.Debug("memory trimmed", "retained_before", s.Retained, "retained_after", after.Retained,
					"live", after.Live, "duration_ms", float64(end.Sub(start).Microseconds())/1000)
			}
		}
	}()
	return func() { close(done); <-ended }
}

// reader reads Samples from runtime/metrics.
type reader struct{ r *rtmetrics.Reader }

func newReader() *reader {
	return &reader{rtmetrics.New(
		"/gc/heap/allocs:bytes",
		"/gc/heap/live:bytes",
		"/memory/classes/heap/objects:bytes",
		"/memory/classes/heap/unused:bytes",
		"/memory/classes/heap/free:bytes",
	)}
}

func (r *reader) read() Sample {
	r.r.Read()
	v := r.r.Int64
	return Sample{Allocated: v(0), Live: v(1), Retained: v(2) + v(3) + v(4)}
}
