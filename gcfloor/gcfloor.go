// Package gcfloor keeps a Go server's garbage collector from running many
// times a second while its heap is small: no collection starts before the
// heap holds what the process allocates in Spacing (200 ms), up to Floor
// bytes, and above that the collector paces as GOGC says.
//
// Go starts a collection when the heap has grown by GOGC percent over the
// live bytes of the last one, but never below 4 MiB times GOGC/100. A
// server whose live heap is a few MiB but which allocates fast (a TLS
// handshake makes about 50 KiB of garbage) then collects dozens of times a
// second: at 2,300 TLS logins a second ftpd ran 57 collections a second
// with a 4 MiB goal, and its CPU per login fell by 16% with an 8 MiB goal
// and by 21% with 16 MiB (interleaved A/B rounds, README "FTPS"). Raising
// GOGC for good would buy that at large heaps too, where each percent
// costs real memory. A fixed floor costs memory of its own: the objects
// that outlive a burst (sessions) are spread over all the spans the
// burst's garbage filled, so a server that opened 400 FTPS sessions one
// after another kept 15.8 KiB each with a fixed 16 MiB floor against 6.1
// without, even after memtrim gave the free pages back. So the floor
// follows the allocation rate: only a process that would otherwise
// collect more often than every Spacing gets a larger goal, and those 400
// sessions kept 8.8-9.1 KiB each (ftp/e2e, TestIdleFTPSMemoryIsTrimmed-
// AfterTheBurst), at the fixed floor's CPU per TLS login (0.97x, 6
// interleaved rounds). A 100 ms spacing kept 7.0 KiB but cost 4% more CPU
// per login (a 10.7 MB floor at 2,100 logins/s instead of 16 MiB).
//
// After every collection a cleanup measures the allocation rate since the
// last one (smoothed), and sets the GC percent to the smallest value at or
// above the base (the GOGC the process started with) whose goal reaches
// rate*Spacing, at most Floor, given the live heap, stacks and globals
// just measured; once twice the live heap is past that, it is the base.
// The percent never exceeds Floor/4 MiB*100 (400 for 16 MiB), so a stale
// value between a collection and its cleanup can at most make that goal.
//
//	stop := gcfloor.Start(gcfloor.Config{Floor: 16 << 20})
//	defer stop()
package gcfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gnetftp/gnetftp/internal/rtmetrics"
)

// DefaultFloor is the largest floor when Config.Floor is zero: 16 MiB,
// where the A/B rounds above stopped gaining (64 MiB was no faster).
const DefaultFloor = 16 << 20

// DefaultSpacing is the least time between collections the floor aims at
// when Config.Spacing is zero.
const DefaultSpacing = 200 * time.Millisecond

// runtimeMinimum is Go's own smallest goal at GOGC=100 (heapMinimum in
// runtime/mgcpacer.go, scaled by GOGC/100 there).
const runtimeMinimum = 4 << 20

// Config sets a floor. A zero field takes its default.
type Config struct {
	// Floor is the largest heap size under which no collection starts
	// (default DefaultFloor). At or under Go's own 4 MiB, Start does
	// nothing.
	Floor int64
	// Spacing is the least time between collections the floor aims at
	// (default DefaultSpacing): the floor is what the process allocates
	// in Spacing, between Go's 4 MiB and Floor.
	Spacing time.Duration
	// Base is the GC percent above the floor (default: the process's
	// current one, GOGC's or 100). A negative one (GOGC=off) makes Start
	// do nothing.
	Base int
}

// Heap is what a collection left: the live heap and the stacks and
// globals the collector scans, in bytes.
type Heap struct {
	Live, Stacks, Globals int64
}

// Percent is the GC percent that makes the next goal at least floor for h,
// never below base: the smaller of the percent that lifts Go's minimum
// goal (4 MiB*percent/100) to floor and the one that lifts live plus the
// scanned bytes times percent/100 to it.
func Percent(floor int64, base int, h Heap) int {
	if floor <= runtimeMinimum || base < 0 {
		return base
	}
	byMinimum := ceilDiv(floor*100, runtimeMinimum)
	p := byMinimum
	if scan := h.Live + h.Stacks + h.Globals; scan > 0 {
		if h.Live >= floor {
			return base
		}
		p = min(p, ceilDiv((floor-h.Live)*100, scan))
	}
	if p > math.MaxInt32 {
		p = math.MaxInt32
	}
	return max(base, int(p))
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// FloorFor is the floor for an allocation rate (bytes per second): what
// is allocated in spacing, between Go's own 4 MiB and max.
func FloorFor(rate float64, spacing time.Duration, max int64) int64 {
	f := rate * spacing.Seconds()
	if f <= runtimeMinimum {
		return runtimeMinimum
	}
	if f >= float64(max) {
		return max
	}
	return int64(f)
}

// Start sets the floor for the process and keeps it after every collection
// until stop, which restores the base percent. One floor per process: the
// GC percent is the process's.
func Start(cfg Config) (stop func()) {
	if cfg.Floor == 0 {
		cfg.Floor = DefaultFloor
	}
	if cfg.Spacing <= 0 {
		cfg.Spacing = DefaultSpacing
	}
	if cfg.Base == 0 {
		cfg.Base = currentPercent()
	}
	if cfg.Floor <= runtimeMinimum || cfg.Base < 0 {
		return func() {}
	}
	f := &floor{cfg: cfg, samples: newReader(), last: time.Now()}
	f.mu.Lock()
	f.adjustLocked()
	f.arm()
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.stopped {
			f.stopped = true
			debug.SetGCPercent(f.cfg.Base)
		}
	}
}

// floor is Start's state; its cleanup runs on the runtime's cleanup
// goroutine, stop on the caller's.
type floor struct {
	cfg     Config
	mu      sync.Mutex
	stopped bool
	samples *reader
	percent int // last set

	last   time.Time // of the last collection seen
	allocs int64     // bytes allocated by then
	rate   float64   // smoothed allocation rate, bytes/s
}

// arm registers the cleanup of a new sentinel, which the next collection
// frees; the cleanup adjusts the percent and arms again.
func (f *floor) arm() {
	s := new(sentinel)
	runtime.AddCleanup(s, func(f *floor) { f.afterGC() }, f)
}

// sentinel is large enough not to share a tiny-allocator block, whose
// objects are freed together.
type sentinel struct{ _ [32]byte }

func (f *floor) afterGC() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	f.adjustLocked()
	f.arm()
}

func (f *floor) adjustLocked() {
	h, allocs := f.samples.read()
	now := time.Now()
	if dt := now.Sub(f.last).Seconds(); dt > 0 && f.allocs > 0 {
		r := float64(allocs-f.allocs) / dt
		f.rate = (f.rate + r) / 2
	}
	f.last, f.allocs = now, allocs
	p := Percent(FloorFor(f.rate, f.cfg.Spacing, f.cfg.Floor), f.cfg.Base, h)
	if p != f.percent {
		debug.SetGCPercent(p)
		f.percent = p
	}
}

// currentPercent is the process's GC percent (GOGC's, or 100; -1: off).
func currentPercent() int {
	r := rtmetrics.New("/gc/gogc:percent")
	r.Read()
	if v := r.Int64(0); v <= math.MaxInt32 {
		return int(v)
	}
	return -1 // off: the runtime reports -1 as a uint64
}

// reader reads a Heap from runtime/metrics.
type reader struct{ r *rtmetrics.Reader }

func newReader() *reader {
	return &reader{rtmetrics.New("/gc/heap/live:bytes", "/gc/scan/stack:bytes", "/gc/scan/globals:bytes", "/gc/heap/allocs:bytes")}
}

// read returns the heap and the bytes allocated so far.
func (r *reader) read() (Heap, int64) {
	r.r.Read()
	v := r.r.Int64
	return Heap{Live: v(0), Stacks: v(1), Globals: v(2)}, v(3)
}
