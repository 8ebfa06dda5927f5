package deferred_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

// safety is the bound on waits that should end at once: a guard against
// hangs, not an expected delay.
const safety = 10 * time.Second

func TestDeferOnPool(t *testing.T) {
	pool := deferred.NewPool(deferred.PoolConfig{})
	defer pool.Close()
	loop := prototest.NewLoop()
	d := deferred.Defer(pool, loop, func() (string, error) { return "from worker", nil }, nil)
	var got string
	d.AddBoth(func(v string, err error) { got = v })
	require.Equal(t, 1, loop.WaitPending(safety), "one hop delivers and runs the callbacks")
	assert.Equal(t, "from worker", got)

	p := deferred.Defer(pool, loop, func() (int, error) { panic("worker panic") }, nil)
	var err error
	p.AddBoth(func(_ int, e error) { err = e })
	require.NotZero(t, loop.WaitPending(safety))
	var pe *deferred.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "worker panic", pe.Value)
}

func TestDeferToAGoneLoopReleasesTheResult(t *testing.T) {
	pool := deferred.NewPool(deferred.PoolConfig{Workers: 1})
	defer pool.Close()
	loop := prototest.NewLoop()
	loop.Stop() // the connection was lost
	released := make(chan string, 1)
	d := deferred.Defer(pool, loop, func() (string, error) { return "file handle", nil },
		func(v string) { released <- v })
	d.AddBoth(func(string, error) { t.Error("no callback on a dead loop") })
	select {
	case v := <-released:
		assert.Equal(t, "file handle", v)
	case <-time.After(safety):
		t.Fatal("dropped was not called")
	}
}

func TestDeferFailureIsNotDropped(t *testing.T) {
	pool := deferred.NewPool(deferred.PoolConfig{Workers: 1})
	loop := prototest.NewLoop()
	loop.Stop()
	var dropped atomic.Int32
	deferred.Defer(pool, loop, func() (int, error) { return 0, errors.New("open failed") },
		func(int) { dropped.Add(1) })
	pool.Close() // the work has run when Close returns
	assert.Zero(t, dropped.Load(), "a failed call owns nothing to release")
}

func TestDeferResolvedByTheCallerFirstReleasesTheResult(t *testing.T) {
	pool := deferred.NewPool(deferred.PoolConfig{Workers: 1})
	defer pool.Close()
	loop := prototest.NewLoop()
	release := make(chan struct{})
	var dropped []string // on the loop
	d := deferred.Defer(pool, loop, func() (string, error) { <-release; return "late file", nil },
		func(v string) { dropped = append(dropped, v) })
	var got error
	d.AddBoth(func(_ string, err error) { got = err })
	gaveUp := errors.New("gave up")
	require.NoError(t, d.Errback(gaveUp)) // e.g. ABOR while the call blocks
	loop.RunPending()
	assert.ErrorIs(t, got, gaveUp)
	close(release)
	require.Equal(t, 1, loop.WaitPending(safety))
	assert.Equal(t, []string{"late file"}, dropped)
}

// droppingLoop is a fake loop that implements protocol.DropNotifier: Stop
// discards accepted deliveries and reports them, as a loop whose
// connection is lost before their turn.
type droppingLoop struct {
	*prototest.Loop
	mu      sync.Mutex
	pending []*delivery
}

type delivery struct {
	ran     atomic.Bool
	dropped func()
}

func (l *droppingLoop) CallFromThreadOrDrop(fn, dropped func()) bool {
	dl := &delivery{dropped: dropped}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.CallFromThread(func() { dl.ran.Store(true); fn() }) {
		return false
	}
	l.pending = append(l.pending, dl)
	return true
}

func (l *droppingLoop) Stop() {
	l.Loop.Stop()
	l.mu.Lock()
	p := l.pending
	l.pending = nil
	l.mu.Unlock()
	for _, dl := range p {
		if !dl.ran.Load() {
			dl.dropped()
		}
	}
}

func TestDeferAcceptedThenDiscardedReleasesTheResult(t *testing.T) {
	pool := deferred.NewPool(deferred.PoolConfig{Workers: 1})
	defer pool.Close()
	loop := &droppingLoop{Loop: prototest.NewLoop()}
	var released atomic.Value
	d := deferred.Defer(pool, loop, func() (string, error) { return "file", nil },
		func(v string) { released.Store(v) })
	d.AddBoth(func(string, error) { t.Error("no callback after the connection was lost") })
	deadline := time.Now().Add(safety)
	for {
		loop.mu.Lock()
		n := len(loop.pending)
		loop.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	loop.Stop() // the connection is lost before the delivery's turn
	assert.Zero(t, loop.RunPending())
	assert.Equal(t, "file", released.Load())
}

func TestPoolFullNeverBlocks(t *testing.T) {
	pool := deferred.NewPool(deferred.PoolConfig{Workers: 1, Queue: 1})
	defer pool.Close()
	block := make(chan struct{})
	started := make(chan struct{})
	require.NoError(t, pool.Submit(func() { close(started); <-block }))
	<-started
	require.NoError(t, pool.Submit(func() {})) // fills the queue
	assert.ErrorIs(t, pool.Submit(func() {}), deferred.ErrPoolFull, "never blocks the caller")

	loop := prototest.NewLoop()
	var err error
	deferred.Defer(pool, loop, func() (int, error) { return 1, nil }, nil).AddBoth(func(_ int, e error) { err = e })
	loop.RunPending()
	assert.ErrorIs(t, err, deferred.ErrPoolFull, "the Deferred fails instead")
	close(block)
}

func TestPoolCloseRunsQueuedWorkThenRefuses(t *testing.T) {
	pool := deferred.NewPool(deferred.PoolConfig{Workers: 2, Queue: 100})
	block := make(chan struct{})
	var ran atomic.Int32
	for i := 0; i < 50; i++ {
		require.NoError(t, pool.Submit(func() { <-block; ran.Add(1) }))
	}
	closed := make(chan struct{})
	go func() { pool.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while work was still running")
	case <-time.After(50 * time.Millisecond): // no positive claim rests on this wait
	}
	close(block)
	select {
	case <-closed:
	case <-time.After(safety):
		t.Fatal("Close did not return")
	}
	assert.Equal(t, int32(50), ran.Load(), "queued work ran before Close returned")
	assert.ErrorIs(t, pool.Submit(func() {}), deferred.ErrPoolClosed)
	pool.Close() // twice is fine

	loop := prototest.NewLoop()
	var err error
	deferred.Defer(pool, loop, func() (int, error) { return 1, nil }, nil).AddBoth(func(_ int, e error) { err = e })
	loop.RunPending()
	assert.ErrorIs(t, err, deferred.ErrPoolClosed)
}

func TestPoolBoundsConcurrency(t *testing.T) {
	const workers = 3
	pool := deferred.NewPool(deferred.PoolConfig{Workers: workers, Queue: 64})
	var running, peak atomic.Int32
	release := make(chan struct{})
	for i := 0; i < 30; i++ {
		require.NoError(t, pool.Submit(func() {
			r := running.Add(1)
			for {
				p := peak.Load()
				if r <= p || peak.CompareAndSwap(p, r) {
					break
				}
			}
			<-release
			running.Add(-1)
		}))
	}
	deadline := time.Now().Add(safety)
	for running.Load() < workers && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	pool.Close()
	assert.Equal(t, int32(workers), peak.Load())
}

// BenchmarkDefer measures a pooled call's round trip to a loop against the
// reference of a goroutine per call delivering with CallFromThread.
func BenchmarkDefer(b *testing.B) {
	b.Run("Pool", func(b *testing.B) {
		pool := deferred.NewPool(deferred.PoolConfig{})
		defer pool.Close()
		loop := prototest.NewLoop()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			done := false
			deferred.Defer(pool, loop, func() (int, error) { return i, nil }, nil).
				AddBoth(func(int, error) { done = true })
			for !done {
				loop.WaitPending(safety)
			}
		}
	})
	b.Run("GoroutinePerCall", func(b *testing.B) {
		loop := prototest.NewLoop()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			done := false
			go func() { v := i; loop.CallFromThread(func() { _ = v; done = true }) }()
			for !done {
				loop.WaitPending(safety)
			}
		}
	})
}
