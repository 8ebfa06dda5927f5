package clock_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/clock"
	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

// The FTP idle-timeout pattern: 100,000 armed timers, one reset per
// received line. BenchmarkTimerReset compares the runtime timers behind
// RealClock (time.AfterFunc + Reset, wrapped in the reactor's DelayedCall)
// with a hashed timer wheel driven by one ticker, the alternative a gnet
// server could use (gnet's only timer is the engine-wide OnTick). Both are
// measured as a DelayedCall a loop resets: the AfterFunc one reads the
// clock and moves a runtime timer; the wheel one takes the wheel's lock
// (every loop arms it) and relinks a node, with no clock read.
const (
	armedTimers = 100_000
	idle        = 10 * time.Minute // never due during the run
)

func BenchmarkTimerReset(b *testing.B) {
	exec := func(fn func()) bool { return true }
	impls := []struct {
		name string
		arm  func(b *testing.B) (calls []protocol.DelayedCall, stop func())
	}{
		{"AfterFunc", func(b *testing.B) ([]protocol.DelayedCall, func()) {
			calls := make([]protocol.DelayedCall, armedTimers)
			for i := range calls {
				calls[i] = clock.NewDelayedCall(clock.RealClock{}, exec, idle, func() {})
			}
			return calls, func() {}
		}},
		// The runtime timer alone, without the DelayedCall around it: the
		// floor of any AfterFunc-based design.
		{"RawTimer", func(b *testing.B) ([]protocol.DelayedCall, func()) {
			calls := make([]protocol.DelayedCall, armedTimers)
			for i := range calls {
				calls[i] = rawTimer{time.AfterFunc(idle, func() {})}
			}
			return calls, func() {}
		}},
		// A DelayedCall on the runtime timer that needs no clock read per
		// Reset (staleCall below): the proposal for loopCall.
		{"AfterFuncNoNow", func(b *testing.B) ([]protocol.DelayedCall, func()) {
			calls := make([]protocol.DelayedCall, armedTimers)
			for i := range calls {
				calls[i] = newStaleCall(clock.RealClock{}, exec, idle, func() {})
			}
			return calls, func() {}
		}},
		{"Wheel", func(b *testing.B) ([]protocol.DelayedCall, func()) {
			w := newWheel(100*time.Millisecond, 4096)
			calls := make([]protocol.DelayedCall, armedTimers)
			for i := range calls {
				calls[i] = w.callLater(exec, idle, func() {})
			}
			return calls, w.stop
		}},
	}
	for _, impl := range impls {
		// arm arms the timers and returns a func that reports the memory
		// per armed timer (after the timed loop: ResetTimer clears metrics)
		// and disarms them.
		arm := func(b *testing.B) ([]protocol.DelayedCall, func()) {
			before := heapInUse()
			calls, stop := impl.arm(b)
			// The slice of interfaces is the benchmark's, not the timers'.
			perTimer := (float64(heapInUse()-before) - 16*armedTimers) / armedTimers
			return calls, func() {
				b.ReportMetric(perTimer, "B/timer")
				for _, c := range calls {
					c.Cancel()
				}
				stop()
			}
		}
		b.Run(impl.name, func(b *testing.B) {
			calls, done := arm(b)
			defer done()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				calls[i%armedTimers].Reset(idle)
			}
			b.StopTimer()
		})
		// Every loop resets its own connections' timers at once.
		b.Run(impl.name+"/parallel", func(b *testing.B) {
			calls, done := arm(b)
			defer done()
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine owns a disjoint stripe, as each loop owns
				// its connections (DelayedCall is loop-only).
				base := int(next.Add(1)-1) * 10_000
				i := 0
				for pb.Next() {
					calls[(base+i%10_000)%armedTimers].Reset(idle)
					i++
				}
			})
			b.StopTimer()
		})
	}
}

// staleCall is loopCall without the clock read in Reset. Instead of
// re-checking the deadline on the loop, it counts expiries that are stale:
// a Timer's Reset reports false exactly when the timer already fired, that
// is when an expiry is queued or about to be queued for the loop; that one
// expiry must be ignored when it arrives. Loop-only except expired.
type staleCall struct {
	timer  clock.Timer
	fn     func()
	exec   func(func()) bool
	onLoop func()
	stale  int
	active bool
}

func newStaleCall(clock clock.Clock, exec func(func()) bool, d time.Duration, fn func()) *staleCall {
	c := &staleCall{fn: fn, exec: exec, active: true}
	c.onLoop = c.expiredOnLoop
	c.timer = clock.AfterFunc(d, c.expired)
	return c
}

func (c *staleCall) expired() { c.exec(c.onLoop) }

func (c *staleCall) expiredOnLoop() {
	if c.stale > 0 {
		c.stale--
		return
	}
	if !c.active {
		return
	}
	c.active = false
	c.fn()
}

func (c *staleCall) Reset(d time.Duration) bool {
	if !c.active {
		return false
	}
	if !c.timer.Reset(d) {
		c.stale++ // it fired meanwhile: its expiry is on the way
	}
	return true
}

func (c *staleCall) Cancel() bool {
	if !c.active {
		return false
	}
	c.active = false
	c.timer.Stop()
	return true
}

func (c *staleCall) Active() bool { return c.active }

// The proposal keeps loopCall's semantics, the racing Reset included.
func TestStaleCallSemantics(t *testing.T) {
	loop := prototest.NewLoop()
	fired := 0
	dc := newStaleCall(loop.Clock, loop.CallFromThread, time.Second, func() { fired++ })
	loop.Clock.Advance(time.Second) // fired: the expiry is queued on the loop
	require.True(t, dc.Reset(time.Second))
	require.True(t, dc.Reset(2*time.Second)) // a second Reset must not count it twice
	loop.RunPending()
	assert.Zero(t, fired, "the stale expiry does nothing")
	assert.True(t, dc.Active())
	loop.Advance(time.Second)
	assert.Zero(t, fired)
	loop.Advance(time.Second)
	assert.Equal(t, 1, fired, "fires at the new deadline")
	assert.False(t, dc.Active())
	assert.False(t, dc.Reset(time.Second))

	c := newStaleCall(loop.Clock, loop.CallFromThread, time.Second, func() { t.Error("cancelled call ran") })
	assert.True(t, c.Cancel())
	loop.Advance(time.Hour)
}

type rawTimer struct{ t *time.Timer }

func (r rawTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }
func (r rawTimer) Cancel() bool               { return r.t.Stop() }
func (r rawTimer) Active() bool               { return true }

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// wheel is a hashed timer wheel: slot = deadline tick mod len(slots),
// intrusive doubly linked lists, one ticker goroutine that advances the
// current tick and hands due timers to their loops. Timers further away
// than one revolution wait in their slot for later rounds. A lock guards
// it because every event loop arms timers in it.
type wheel struct {
	tick  time.Duration
	mu    sync.Mutex
	cur   uint64        // ticks elapsed; guarded by mu
	slots []wheelTimer  // list sentinels
	quit  chan struct{} // closed by stop
	done  chan struct{} // closed when the ticker goroutine has exited
}

// wheelTimer is a DelayedCall on the wheel. gen changes on every Reset and
// Cancel, so an expiry already handed to the loop before a Reset finds a
// different generation there and does nothing (the racing-Reset case that
// loopCall handles with its deadline re-check).
type wheelTimer struct {
	w          *wheel
	prev, next *wheelTimer
	at         uint64 // tick at which it is due
	gen        uint64
	active     bool
	fn         func()
	exec       func(func()) bool
}

func newWheel(tick time.Duration, slots int) *wheel {
	w := &wheel{tick: tick, slots: make([]wheelTimer, slots), quit: make(chan struct{}), done: make(chan struct{})}
	for i := range w.slots {
		w.slots[i].prev, w.slots[i].next = &w.slots[i], &w.slots[i]
	}
	go w.run()
	return w
}

func (w *wheel) run() {
	defer close(w.done)
	t := time.NewTicker(w.tick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.advance()
		case <-w.quit:
			return
		}
	}
}

func (w *wheel) stop() {
	close(w.quit)
	<-w.done
}

// advance moves one tick and hands the timers due to their loops.
func (w *wheel) advance() {
	type due struct {
		t   *wheelTimer
		gen uint64
	}
	var fire []due
	w.mu.Lock()
	w.cur++
	s := &w.slots[w.cur%uint64(len(w.slots))]
	for t := s.next; t != s; {
		next := t.next
		if t.at <= w.cur {
			w.unlink(t)
			fire = append(fire, due{t, t.gen})
		}
		t = next
	}
	w.mu.Unlock()
	for _, f := range fire {
		t, gen := f.t, f.gen
		t.exec(func() {
			w.mu.Lock()
			ok := t.active && t.gen == gen
			if ok {
				t.active = false
			}
			w.mu.Unlock()
			if ok {
				t.fn()
			}
		})
	}
}

func (w *wheel) unlink(t *wheelTimer) {
	if t.prev != nil {
		t.prev.next, t.next.prev = t.next, t.prev
		t.prev, t.next = nil, nil
	}
}

// insertLocked links t into the slot of the tick d from now (rounded up).
func (w *wheel) insertLocked(t *wheelTimer, d time.Duration) {
	ticks := uint64((d + w.tick - 1) / w.tick)
	t.at = w.cur + max(ticks, 1)
	s := &w.slots[t.at%uint64(len(w.slots))]
	t.prev, t.next = s.prev, s
	s.prev.next = t
	s.prev = t
}

func (w *wheel) callLater(exec func(func()) bool, d time.Duration, fn func()) *wheelTimer {
	t := &wheelTimer{w: w, fn: fn, exec: exec, active: true}
	w.mu.Lock()
	w.insertLocked(t, d)
	w.mu.Unlock()
	return t
}

func (t *wheelTimer) Reset(d time.Duration) bool {
	w := t.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if !t.active {
		return false
	}
	t.gen++
	w.unlink(t)
	w.insertLocked(t, d)
	return true
}

func (t *wheelTimer) Cancel() bool {
	w := t.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if !t.active {
		return false
	}
	t.active = false
	t.gen++
	w.unlink(t)
	return true
}

func (t *wheelTimer) Active() bool {
	t.w.mu.Lock()
	defer t.w.mu.Unlock()
	return t.active
}

// The benchmark's wheel must be a correct DelayedCall, or the comparison
// means nothing: it fires once at (or one tick after) its deadline, not
// after Cancel, and a Reset that wins against a queued expiry postpones it.
func TestBenchWheelIsADelayedCall(t *testing.T) {
	const tick = time.Millisecond
	w := newWheel(tick, 64)
	defer w.stop()
	loop := prototest.NewLoop()
	waitFor := func(cond func() bool) {
		deadline := time.Now().Add(safety)
		for !cond() && time.Now().Before(deadline) {
			loop.WaitPending(10 * time.Millisecond)
		}
	}

	fired := 0
	dc := w.callLater(loop.CallFromThread, 200*tick, func() { fired++ }) // more than one revolution
	assert.True(t, dc.Active())
	waitFor(func() bool { return fired > 0 })
	assert.Equal(t, 1, fired)
	assert.False(t, dc.Active())
	assert.False(t, dc.Reset(tick), "a fired call is not revived")

	cancelled := w.callLater(loop.CallFromThread, tick, func() { t.Error("cancelled call ran") })
	assert.True(t, cancelled.Cancel())
	assert.False(t, cancelled.Cancel())

	// Expiry racing with Reset: let the wheel queue the expiry, then reset
	// before the loop runs it.
	raced := 0
	rc := w.callLater(loop.CallFromThread, tick, func() { raced++ })
	for deadline := time.Now().Add(safety); time.Now().Before(deadline); time.Sleep(tick) {
		w.mu.Lock()
		queued := rc.prev == nil // unlinked: handed to the loop, which is not run meanwhile
		w.mu.Unlock()
		if queued {
			break
		}
	}
	require.True(t, rc.Reset(5*tick))
	loop.RunPending()
	assert.Zero(t, raced, "the stale expiry does nothing")
	waitFor(func() bool { return raced > 0 })
	assert.Equal(t, 1, raced, "it fires at the new deadline")
}
