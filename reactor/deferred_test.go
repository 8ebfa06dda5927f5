package reactor_test

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/protocol/prototest"
	"github.com/gnetftp/gnetftp/reactor"
)

func TestDeferredCallbacksRunOnTheLoopInOrder(t *testing.T) {
	loop := prototest.NewLoop()
	d := reactor.NewDeferred[int](loop)
	var got []string
	d.AddBoth(func(v int, err error) { got = append(got, "a"+strconv.Itoa(v)) })
	d.AddCallbacks(func(v int) (int, error) { return v * 10, nil }, nil)
	d.AddBoth(func(v int, err error) { got = append(got, "b"+strconv.Itoa(v)) })
	require.NoError(t, d.Callback(4))
	assert.Empty(t, got, "callbacks run on the loop, not inside Resolve")
	loop.RunPending()
	assert.Equal(t, []string{"a4", "b40"}, got)

	d.AddBoth(func(v int, err error) { got = append(got, "late"+strconv.Itoa(v)) })
	assert.Len(t, got, 2, "a callback added after the result still waits for the loop")
	loop.RunPending()
	assert.Equal(t, "late40", got[2], "it sees the result left by earlier steps")
	assert.ErrorIs(t, d.Callback(5), reactor.ErrAlreadyCalled)
}

func TestDeferredErrorsSkipToErrbacksAndCanRecover(t *testing.T) {
	loop := prototest.NewLoop()
	boom := errors.New("boom")
	d := reactor.NewDeferred[string](loop)
	calls := 0
	d.AddCallbacks(func(s string) (string, error) { calls++; return s, nil }, nil)
	d.AddCallbacks(nil, func(err error) (string, error) {
		assert.ErrorIs(t, err, boom)
		return "recovered", nil
	})
	var final string
	var finalErr error
	d.AddBoth(func(v string, err error) { final, finalErr = v, err })
	require.NoError(t, d.Errback(boom))
	loop.RunPending()
	assert.Zero(t, calls, "the success callback is skipped")
	assert.Equal(t, "recovered", final)
	assert.NoError(t, finalErr)
}

func TestDeferredPanicBecomesError(t *testing.T) {
	loop := prototest.NewLoop()
	d := reactor.Succeed(loop, 1)
	d.AddCallbacks(func(int) (int, error) { panic("bad callback") }, nil)
	var err error
	d.AddBoth(func(_ int, e error) { err = e })
	loop.RunPending()
	var pe *reactor.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "bad callback", pe.Value)
}

func TestThenChangesTypeAndThenDeferredWaits(t *testing.T) {
	loop := prototest.NewLoop()
	d := reactor.NewDeferred[int](loop)
	s := reactor.Then(d, func(v int) (string, error) { return strconv.Itoa(v), nil })
	inner := reactor.NewDeferred[float64](loop)
	f := reactor.ThenDeferred(s, func(v string) *reactor.Deferred[float64] { return inner })
	var got float64
	var done bool
	f.AddBoth(func(v float64, err error) { got, done = v, true })
	_ = d.Callback(7)
	loop.RunPending()
	assert.False(t, done, "waits for the inner Deferred")
	_ = inner.Callback(2.5)
	loop.RunPending()
	assert.True(t, done)
	assert.Equal(t, 2.5, got)

	e := reactor.Fail[int](loop, errors.New("nope"))
	var gotErr error
	reactor.Then(e, func(int) (string, error) { t.Error("must not run"); return "", nil }).
		AddBoth(func(_ string, err error) { gotErr = err })
	loop.RunPending()
	assert.EqualError(t, gotErr, "nope")
}

func TestResolveFromAnotherGoroutineNeverConcurrent(t *testing.T) {
	loop := prototest.NewLoop()
	const n = 200
	var running, maxRunning int32
	counter := 0 // touched only by callbacks: the race detector checks they are serial
	for i := 0; i < n; i++ {
		d := reactor.NewDeferred[int](loop)
		d.AddBoth(func(v int, err error) {
			r := atomic.AddInt32(&running, 1)
			if r > atomic.LoadInt32(&maxRunning) {
				atomic.StoreInt32(&maxRunning, r)
			}
			counter += v
			atomic.AddInt32(&running, -1)
		})
		go func() { _ = d.Callback(1) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for counter < n && time.Now().Before(deadline) {
		loop.WaitPending(100 * time.Millisecond)
	}
	assert.Equal(t, n, counter)
	assert.Equal(t, int32(1), maxRunning)
}

func TestDeferOnPool(t *testing.T) {
	pool := reactor.NewPool(reactor.PoolConfig{Workers: 2})
	defer pool.Close()
	loop := prototest.NewLoop()
	d := reactor.Defer(pool, loop, func() (string, error) { return "from worker", nil }, nil)
	var got string
	d.AddBoth(func(v string, err error) { got = v })
	for got == "" {
		require.NotZero(t, loop.WaitPending(10*time.Second), "result delivered")
	}
	assert.Equal(t, "from worker", got)

	p := reactor.Defer(pool, loop, func() (int, error) { panic("worker panic") }, nil)
	var err error
	p.AddBoth(func(_ int, e error) { err = e })
	for err == nil {
		require.NotZero(t, loop.WaitPending(10*time.Second))
	}
	var pe *reactor.PanicError
	assert.ErrorAs(t, err, &pe)
}

func TestDeferToAGoneLoopReleasesTheResult(t *testing.T) {
	pool := reactor.NewPool(reactor.PoolConfig{Workers: 1})
	defer pool.Close()
	loop := prototest.NewLoop()
	loop.Stop() // the connection was lost
	released := make(chan string, 1)
	d := reactor.Defer(pool, loop, func() (string, error) { return "file handle", nil },
		func(v string) { released <- v })
	d.AddBoth(func(string, error) { t.Error("no callback on a dead loop") })
	select {
	case v := <-released:
		assert.Equal(t, "file handle", v)
	case <-time.After(10 * time.Second):
		t.Fatal("dropped was not called")
	}
}

func TestPoolFullAndClosed(t *testing.T) {
	pool := reactor.NewPool(reactor.PoolConfig{Workers: 1, Queue: 1})
	block := make(chan struct{})
	started := make(chan struct{})
	require.NoError(t, pool.Submit(func() { close(started); <-block }))
	<-started
	require.NoError(t, pool.Submit(func() {})) // fills the queue
	assert.ErrorIs(t, pool.Submit(func() {}), reactor.ErrPoolFull, "never blocks the caller")

	loop := prototest.NewLoop()
	var err error
	reactor.Defer(pool, loop, func() (int, error) { return 1, nil }, nil).AddBoth(func(_ int, e error) { err = e })
	loop.RunPending()
	assert.ErrorIs(t, err, reactor.ErrPoolFull, "the Deferred fails instead")

	close(block)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); pool.Close() }()
	wg.Wait()
	assert.ErrorIs(t, pool.Submit(func() {}), reactor.ErrPoolClosed)
}
