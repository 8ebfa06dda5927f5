package reactor_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/reactor"
)

// The FTP idle-timeout pattern: 100,000 armed timers, one reset per
// received line. BenchmarkTimerReset compares the runtime timers behind
// RealClock (time.AfterFunc + Reset, wrapped in the reactor's DelayedCall)
// with a hashed timer wheel driven by one ticker, the alternative a gnet
// server could use (gnet's only timer is the engine-wide OnTick).
const armedTimers = 100_000

func BenchmarkTimerReset(b *testing.B) {
	exec := func(fn func()) bool { return true } // expiry never due in the run
	b.Run("AfterFunc", func(b *testing.B) {
		calls := make([]protocol.DelayedCall, armedTimers)
		before := heapInUse()
		for i := range calls {
			calls[i] = reactor.NewDelayedCall(reactor.RealClock{}, exec, 10*time.Minute, func() {})
		}
		perTimer := float64(heapInUse()-before) / armedTimers
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			calls[i%armedTimers].Reset(10 * time.Minute)
		}
		b.StopTimer()
		b.ReportMetric(perTimer, "B/timer")
		for _, c := range calls {
			c.Cancel()
		}
	})
	b.Run("Wheel", func(b *testing.B) {
		w := newWheel(time.Second, 1024)
		timers := make([]*wheelTimer, armedTimers)
		before := heapInUse()
		for i := range timers {
			timers[i] = w.add(10*time.Minute, func() {})
		}
		perTimer := float64(heapInUse()-before) / armedTimers
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			w.reset(timers[i%armedTimers], 10*time.Minute)
		}
		b.ReportMetric(perTimer, "B/timer")
	})
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// wheel is a minimal hashed timer wheel (slot = tick, intrusive doubly
// linked lists), as one ticker goroutine would drive it. Only what the
// benchmark needs: add and reset.
type wheel struct {
	tick  time.Duration
	slots []wheelTimer // sentinels
	start time.Time
}

type wheelTimer struct {
	prev, next *wheelTimer
	deadline   time.Time
	fn         func()
}

func newWheel(tick time.Duration, n int) *wheel {
	w := &wheel{tick: tick, slots: make([]wheelTimer, n), start: time.Now()}
	for i := range w.slots {
		w.slots[i].prev, w.slots[i].next = &w.slots[i], &w.slots[i]
	}
	return w
}

func (w *wheel) insert(t *wheelTimer) {
	s := &w.slots[int(t.deadline.Sub(w.start)/w.tick)%len(w.slots)]
	t.prev, t.next = s.prev, s
	s.prev.next = t
	s.prev = t
}

func (w *wheel) add(d time.Duration, fn func()) *wheelTimer {
	t := &wheelTimer{deadline: time.Now().Add(d), fn: fn}
	w.insert(t)
	return t
}

func (w *wheel) reset(t *wheelTimer, d time.Duration) {
	t.prev.next, t.next.prev = t.next, t.prev
	t.deadline = time.Now().Add(d)
	w.insert(t)
}
