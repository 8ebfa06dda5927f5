package deferred_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

func TestDeferredCallbacksRunOnTheLoopInOrder(t *testing.T) {
	loop := prototest.NewLoop()
	d := deferred.NewDeferred[int](loop)
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
	assert.ErrorIs(t, d.Callback(5), deferred.ErrAlreadyCalled)
}

func TestDeferredErrorsSkipToErrbacksAndCanRecover(t *testing.T) {
	loop := prototest.NewLoop()
	boom := errors.New("boom")
	d := deferred.NewDeferred[string](loop)
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
	d := deferred.Succeed(loop, 1)
	d.AddCallbacks(func(int) (int, error) { panic("bad callback") }, nil)
	var err error
	d.AddBoth(func(_ int, e error) { err = e })
	loop.RunPending()
	var pe *deferred.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "bad callback", pe.Value)
}

func TestThenChangesTypeAndThenDeferredWaits(t *testing.T) {
	loop := prototest.NewLoop()
	d := deferred.NewDeferred[int](loop)
	s := deferred.Then(d, func(v int) (string, error) { return strconv.Itoa(v), nil })
	inner := deferred.NewDeferred[float64](loop)
	f := deferred.ThenDeferred(s, func(v string) *deferred.Deferred[float64] { return inner })
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

	e := deferred.Fail[int](loop, errors.New("nope"))
	var gotErr error
	deferred.Then(e, func(int) (string, error) { t.Error("must not run"); return "", nil }).
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
		d := deferred.NewDeferred[int](loop)
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

func TestDeferredStepsAddedByACallbackRunInTheSameTurn(t *testing.T) {
	loop := prototest.NewLoop()
	d := deferred.NewDeferred[int](loop)
	var got []string
	d.AddBoth(func(v int, err error) {
		got = append(got, "first")
		d.AddBoth(func(int, error) { got = append(got, "added by first") })
	})
	d.AddBoth(func(int, error) { got = append(got, "second") })
	require.NoError(t, d.Callback(1))
	assert.Equal(t, 1, loop.RunPending(), "one loop turn runs the whole chain")
	assert.Equal(t, []string{"first", "second", "added by first"}, got)
}

func TestDeferredPanicCarriesItsStack(t *testing.T) {
	loop := prototest.NewLoop()
	var err error
	deferred.Then(deferred.Succeed(loop, 1), func(int) (int, error) { panic("in Then") }).
		AddBoth(func(_ int, e error) { err = e })
	loop.RunPending()
	var pe *deferred.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "in Then", pe.Value)
	assert.Contains(t, string(pe.Stack), "deferred_test.go", "the stack names the panicking code")
}

func TestThenRunsTheNextStageInTheSameTurn(t *testing.T) {
	loop := prototest.NewLoop()
	d := deferred.NewDeferred[int](loop)
	var got string
	deferred.Then(deferred.Then(d, func(v int) (int, error) { return v + 1, nil }),
		func(v int) (string, error) { return strconv.Itoa(v), nil }).
		AddBoth(func(v string, _ error) { got = v })
	require.NoError(t, d.Callback(41))
	assert.Equal(t, 1, loop.RunPending())
	assert.Equal(t, "42", got)
}

func TestThenDeferredErrors(t *testing.T) {
	loop := prototest.NewLoop()
	boom := errors.New("inner failed")
	cases := []struct {
		name  string
		inner func(loop *prototest.Loop) *deferred.Deferred[int]
		check func(t *testing.T, err error)
	}{
		{"inner fails", func(l *prototest.Loop) *deferred.Deferred[int] { return deferred.Fail[int](l, boom) },
			func(t *testing.T, err error) { assert.ErrorIs(t, err, boom) }},
		{"nil inner", func(*prototest.Loop) *deferred.Deferred[int] { return nil },
			func(t *testing.T, err error) { assert.ErrorIs(t, err, deferred.ErrNilDeferred) }},
		{"fn panics", func(*prototest.Loop) *deferred.Deferred[int] { panic("no inner") },
			func(t *testing.T, err error) {
				var pe *deferred.PanicError
				assert.ErrorAs(t, err, &pe)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			done := false
			deferred.ThenDeferred(deferred.Succeed(loop, "x"), func(string) *deferred.Deferred[int] { return tc.inner(loop) }).
				AddBoth(func(_ int, e error) { err, done = e, true })
			loop.RunPending()
			require.True(t, done, "the chain does not hang")
			tc.check(t, err)
		})
	}
}

func TestThenDeferredOnAnotherLoopComesBackToTheOwner(t *testing.T) {
	owner, other := prototest.NewLoop(), prototest.NewLoop()
	inner := deferred.NewDeferred[int](other)
	var got int
	deferred.ThenDeferred(deferred.Succeed(owner, 0), func(int) *deferred.Deferred[int] { return inner }).
		AddBoth(func(v int, _ error) { got = v })
	owner.RunPending()
	require.NoError(t, inner.Callback(9))
	owner.RunPending()
	assert.Zero(t, got, "the inner result must first pass the other loop")
	other.RunPending()
	assert.Zero(t, got, "then hop back to the owner")
	owner.RunPending()
	assert.Equal(t, 9, got)
}

func TestDeferredOnUnhandled(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name  string
		build func(d *deferred.Deferred[int], l *prototest.Loop)
		want  []error
	}{
		{"no steps", func(*deferred.Deferred[int], *prototest.Loop) {}, []error{boom}},
		{"seen by AddBoth", func(d *deferred.Deferred[int], _ *prototest.Loop) { d.AddBoth(func(int, error) {}) }, nil},
		{"passed through a callback", func(d *deferred.Deferred[int], _ *prototest.Loop) {
			d.AddCallbacks(func(v int) (int, error) { return v, nil }, nil)
		}, []error{boom}},
		{"recovered by an errback", func(d *deferred.Deferred[int], _ *prototest.Loop) {
			d.AddCallbacks(nil, func(error) (int, error) { return 0, nil })
		}, nil},
		{"errback fails again", func(d *deferred.Deferred[int], _ *prototest.Loop) {
			d.AddCallbacks(nil, func(err error) (int, error) { return 0, fmt.Errorf("again: %w", err) })
		}, []error{boom}},
		{"AddBoth panics", func(d *deferred.Deferred[int], _ *prototest.Loop) {
			d.AddBoth(func(int, error) { panic("in AddBoth") })
		}, []error{&deferred.PanicError{Value: "in AddBoth"}}},
		{"forwarded by Then, unhandled there, reported once", func(d *deferred.Deferred[int], _ *prototest.Loop) {
			deferred.Then(d, func(v int) (int, error) { return v, nil })
		}, []error{boom}},
		{"forwarded by Then and handled there", func(d *deferred.Deferred[int], _ *prototest.Loop) {
			deferred.Then(d, func(v int) (int, error) { return v, nil }).AddBoth(func(int, error) {})
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			loop := prototest.NewLoop()
			var got []error
			d := deferred.NewDeferred[int](loop).OnUnhandled(func(err error) { got = append(got, err) })
			tc.build(d, loop)
			require.NoError(t, d.Errback(boom))
			loop.RunPending()
			require.Len(t, got, len(tc.want))
			for i, want := range tc.want {
				if pe, ok := want.(*deferred.PanicError); ok {
					var gotPE *deferred.PanicError
					require.ErrorAs(t, got[i], &gotPE)
					assert.Equal(t, pe.Value, gotPE.Value)
					continue
				}
				assert.ErrorIs(t, got[i], want)
			}
		})
	}

	t.Run("success is never reported", func(t *testing.T) {
		loop := prototest.NewLoop()
		reported := false
		deferred.Succeed(loop, 1).OnUnhandled(func(error) { reported = true })
		loop.RunPending()
		assert.False(t, reported)
	})
}

func TestDeferredOnAStoppedLoopNeverRunsCallbacks(t *testing.T) {
	loop := prototest.NewLoop()
	d := deferred.NewDeferred[int](loop)
	ran := false
	d.AddBoth(func(int, error) { ran = true })
	loop.Stop()
	assert.NoError(t, d.Callback(1), "resolving still works")
	assert.Zero(t, loop.RunPending())
	assert.False(t, ran)
}

func TestResolveNowRunsCallbacksBeforeItReturns(t *testing.T) {
	loop := prototest.NewLoop()
	d := deferred.NewDeferred[int](loop)
	var got int
	d.AddBoth(func(v int, _ error) { got = v })
	require.True(t, d.ResolveNow(7, nil))
	assert.Equal(t, 7, got, "no loop turn needed")
	assert.False(t, d.ResolveNow(8, nil), "once only")
	var later int
	d.AddBoth(func(v int, _ error) { later = v })
	assert.Zero(t, later, "a callback added afterwards waits for the loop's turn")
	loop.RunPending()
	assert.Equal(t, 7, later)
}

func TestCallAndWaitBridgeAGoroutineToTheLoop(t *testing.T) {
	loop := prototest.NewLoop()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // the loop's goroutine
		for {
			select {
			case <-stop:
				return
			default:
				loop.WaitPending(10 * time.Millisecond)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := deferred.Call(ctx, loop, func() *deferred.Deferred[string] {
		d := deferred.NewDeferred[string](loop)
		loop.CallFromThread(func() { _ = d.Callback("done") })
		return d
	})
	require.NoError(t, err)
	assert.Equal(t, "done", v)

	_, err = deferred.Call(ctx, loop, func() *deferred.Deferred[string] { panic("in fn") })
	var pe *deferred.PanicError
	assert.ErrorAs(t, err, &pe)
	_, err = deferred.Call(ctx, loop, func() *deferred.Deferred[string] { return nil })
	assert.ErrorIs(t, err, deferred.ErrNilDeferred)

	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	_, err = deferred.Wait(short, deferred.NewDeferred[int](loop))
	assert.ErrorIs(t, err, context.DeadlineExceeded, "an unresolved Deferred waits for ctx")

	gone := prototest.NewLoop()
	d := deferred.NewDeferred[int](gone)
	gone.Stop()
	go func() { _ = d.Callback(42) }()
	n, err := deferred.Wait(ctx, d)
	require.NoError(t, err)
	assert.Equal(t, 42, n, "Wait needs no loop: the result reaches it though the loop is gone")

	stopped := prototest.NewLoop()
	stopped.Stop()
	_, err = deferred.Call(ctx, stopped, func() *deferred.Deferred[int] { return nil })
	assert.ErrorIs(t, err, deferred.ErrLoopGone)
}
