// Package deferred is Twisted's twisted.internet.defer and deferToThread
// for this project: Deferred[T], a result that arrives later and whose
// callbacks run on a protocol's loop, and Pool, the bounded worker pool
// that runs blocking work (filesystem calls, password hashing) off the
// event loops and hands its result back as a Deferred.
//
// It knows only the protocol.Loop interface, never the reactor that
// implements it: protocols and their tests use it without linking gnet.
package deferred

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/gnetftp/gnetftp/protocol"
)

// ErrAlreadyCalled is returned when a Deferred is resolved twice.
var ErrAlreadyCalled = errors.New("deferred: already resolved")

// ErrNilDeferred is the failure of a ThenDeferred whose function returned a
// nil *Deferred (instead of hanging the chain forever).
var ErrNilDeferred = errors.New("deferred: ThenDeferred function returned a nil Deferred")

// PanicError is the error a callback's (or a pooled function's) panic
// becomes, so it travels down the chain like any other failure and the
// errback that receives it can log where it happened.
type PanicError struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the panicking goroutine's stack (nil when unknown).
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Deferred is a result that arrives later (Twisted's Deferred), typed.
//
// Whoever produces the result calls Resolve once, from any goroutine. The
// callbacks always run on the owning protocol.Loop, never concurrently
// with the protocol, so they may touch protocol state without locks. They
// never run inside Resolve or AddBoth/AddCallbacks, even when those are
// called on the loop with the result already known: the run is queued
// with Loop.CallFromThread and happens after the current loop callback
// returns (so a protocol can add all its callbacks first, and no callback
// re-enters the code that added it). Callbacks run in the order they were
// added; each step sees the result left by the one before (a callback may
// turn a value into an error and an errback may recover), as in Twisted.
// Then and ThenDeferred change the type and feed a new Deferred.
//
// A panic in a callback is recovered and becomes a *PanicError result for
// the rest of the chain.
//
// If the loop's connection is gone, the callbacks never run (a Loop never
// runs anything after ConnectionLost).
//
// Unhandled errors: Twisted logs "Unhandled error in Deferred" when a
// failed Deferred is garbage-collected. Here there is no global logger:
// set a hook with OnUnhandled; it is called on the loop with an error that
// is still the result once every step added so far has run and no AddBoth,
// Then or ThenDeferred has seen it. Without a hook such an error is
// dropped.
type Deferred[T any] struct {
	loop protocol.Loop

	mu        sync.Mutex
	fired     bool // the result is known
	running   bool // steps are being run on the loop
	scheduled bool // a run is queued on the loop
	v         T
	err       error
	unhandled bool // err has not been seen by an observing step yet
	steps     []step[T]
	hook      func(error)
	// watchers see the result as resolved, on the goroutine that
	// resolves it, loop or not (Wait and Call: a goroutine waiting for a
	// Deferred must learn its result even if the loop is gone by then).
	watchers []func(T, error)
	rv       T // the result as resolved, before any step
	rerr     error
}

// step is one callback. An observing step (AddBoth, the forwarders of
// Then and ThenDeferred) handles an error by seeing it.
type step[T any] struct {
	fn       func(T, error) (T, error)
	observes bool
}

// NewDeferred returns an unresolved Deferred whose callbacks run on loop.
func NewDeferred[T any](loop protocol.Loop) *Deferred[T] {
	return &Deferred[T]{loop: loop}
}

// Succeed returns a Deferred already resolved with v.
func Succeed[T any](loop protocol.Loop, v T) *Deferred[T] {
	d := NewDeferred[T](loop)
	_ = d.Resolve(v, nil)
	return d
}

// Fail returns a Deferred already resolved with err.
func Fail[T any](loop protocol.Loop, err error) *Deferred[T] {
	d := NewDeferred[T](loop)
	var zero T
	_ = d.Resolve(zero, err)
	return d
}

// Resolve sets the result, once; later calls return ErrAlreadyCalled. Safe
// from any goroutine; the callbacks run later on the loop.
func (d *Deferred[T]) Resolve(v T, err error) error {
	if !d.fire(v, err) {
		return ErrAlreadyCalled
	}
	d.mu.Lock()
	schedule := d.needsRunLocked()
	d.mu.Unlock()
	if schedule {
		d.schedule()
	}
	return nil
}

// fire sets the result and tells the watchers; it reports false if d was
// resolved already.
func (d *Deferred[T]) fire(v T, err error) bool {
	d.mu.Lock()
	if d.fired {
		d.mu.Unlock()
		return false
	}
	d.fired, d.v, d.err, d.unhandled = true, v, err, err != nil
	d.rv, d.rerr = v, err
	watchers := d.watchers
	d.watchers = nil
	d.mu.Unlock()
	notify(watchers, v, err)
	return true
}

func notify[T any](watchers []func(T, error), v T, err error) {
	for _, w := range watchers {
		w(v, err)
	}
}

// watch calls fn once with the result d is resolved with, on the
// resolving goroutine (at once if d is resolved already). fn must not
// block. The steps' changes to the result are not seen.
func (d *Deferred[T]) watch(fn func(T, error)) {
	d.mu.Lock()
	if !d.fired {
		d.watchers = append(d.watchers, fn)
		d.mu.Unlock()
		return
	}
	v, err := d.rv, d.rerr
	d.mu.Unlock()
	fn(v, err)
}

// Callback resolves with a value.
func (d *Deferred[T]) Callback(v T) error { return d.Resolve(v, nil) }

// Errback resolves with an error.
func (d *Deferred[T]) Errback(err error) error {
	var zero T
	return d.Resolve(zero, err)
}

// OnUnhandled sets the function told about an error no callback handled
// (see Deferred). Then and ThenDeferred pass it on to the Deferreds they
// create, so set it before them. It returns d.
func (d *Deferred[T]) OnUnhandled(fn func(error)) *Deferred[T] {
	d.mu.Lock()
	d.hook = fn
	schedule := d.needsRunLocked()
	d.mu.Unlock()
	if schedule {
		d.schedule()
	}
	return d
}

// AddCallbacks adds a step: cb runs on success, eb on failure (either may
// be nil to pass the result through). Their results replace the current
// result for later steps; an error an errback returns is still unhandled.
// It returns d.
func (d *Deferred[T]) AddCallbacks(cb func(T) (T, error), eb func(error) (T, error)) *Deferred[T] {
	return d.addStep(step[T]{fn: func(v T, err error) (T, error) {
		if err != nil {
			if eb == nil {
				return v, err
			}
			return eb(err)
		}
		if cb == nil {
			return v, nil
		}
		return cb(v)
	}})
}

// AddBoth adds fn, which sees the current result and leaves it unchanged
// (an error it sees counts as handled). It returns d.
func (d *Deferred[T]) AddBoth(fn func(v T, err error)) *Deferred[T] {
	return d.addStep(step[T]{observes: true, fn: func(v T, err error) (T, error) {
		fn(v, err)
		return v, err
	}})
}

func (d *Deferred[T]) addStep(s step[T]) *Deferred[T] {
	d.mu.Lock()
	d.steps = append(d.steps, s)
	schedule := d.needsRunLocked()
	d.mu.Unlock()
	if schedule {
		d.schedule()
	}
	return d
}

// needsRunLocked reports whether a run must be queued now, and marks it
// queued.
func (d *Deferred[T]) needsRunLocked() bool {
	if !d.fired || d.running || d.scheduled {
		return false
	}
	if len(d.steps) == 0 && !(d.unhandled && d.hook != nil) {
		return false
	}
	d.scheduled = true
	return true
}

func (d *Deferred[T]) schedule() {
	if !d.loop.CallFromThread(d.run) {
		// The loop is gone (connection lost): the callbacks never run.
		d.mu.Lock()
		d.scheduled = false
		d.steps = nil
		d.mu.Unlock()
	}
}

// ResolveNow sets the result and runs the callbacks added so far before
// it returns, saving the loop turn Resolve waits for (callbacks added
// later run on a later turn, as usual). Loop-only: call it on d's loop,
// from code the loop is running (a protocol method, a delivered function
// or another Deferred's step), never from inside one of d's own
// callbacks. It is how a protocol answers a request at once, for example
// a client resolving a command's Deferred with the reply it just read.
// It reports false (and changes nothing) if d was already resolved.
func (d *Deferred[T]) ResolveNow(v T, err error) bool { return d.resolveOnLoop(v, err) }

// resolveOnLoop is ResolveNow.
func (d *Deferred[T]) resolveOnLoop(v T, err error) bool {
	if !d.fire(v, err) {
		return false
	}
	d.run() // on the loop: any run queued meanwhile comes after this one
	return true
}

// run executes pending steps on the loop, then reports an unhandled error.
func (d *Deferred[T]) run() {
	d.mu.Lock()
	d.scheduled = false
	d.running = true
	for len(d.steps) > 0 {
		s := d.steps[0]
		d.steps[0] = step[T]{}
		d.steps = d.steps[1:]
		v, err := d.v, d.err
		d.mu.Unlock()
		v, err, panicked := callStep(s.fn, v, err)
		d.mu.Lock()
		d.v, d.err = v, err
		d.unhandled = err != nil && (panicked || !s.observes)
	}
	d.steps = nil
	d.running = false
	var report error
	hook := d.hook
	if d.unhandled && hook != nil {
		report, d.unhandled = d.err, false
	}
	d.mu.Unlock()
	if report != nil {
		hook(report)
	}
}

func callStep[T any](fn func(T, error) (T, error), v T, err error) (rv T, rerr error, panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			var zero T
			rv, rerr, panicked = zero, &PanicError{Value: p, Stack: debug.Stack()}, true
		}
	}()
	rv, rerr = fn(v, err)
	return rv, rerr, false
}

// safeCall runs fn, turning a panic into a *PanicError.
func safeCall[U any](fn func() (U, error)) (rv U, rerr error) {
	defer func() {
		if p := recover(); p != nil {
			var zero U
			rv, rerr = zero, &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return fn()
}

// derive returns a new Deferred on d's loop that inherits d's hook.
func derive[T, U any](d *Deferred[T]) *Deferred[U] {
	nd := NewDeferred[U](d.loop)
	d.mu.Lock()
	nd.hook = d.hook
	d.mu.Unlock()
	return nd
}

// Then returns a Deferred of fn's result: fn runs on the loop with d's
// value; an error (from d or from fn) skips to the new Deferred. The new
// Deferred's callbacks run in the same loop turn as d's step (no extra
// hop). d's own result is not changed: steps added to d later still see it.
func Then[T, U any](d *Deferred[T], fn func(T) (U, error)) *Deferred[U] {
	nd := derive[T, U](d)
	d.addStep(step[T]{observes: true, fn: func(v T, err error) (T, error) {
		if err != nil {
			var zero U
			nd.resolveOnLoop(zero, err)
			return v, err
		}
		nd.resolveOnLoop(safeCall(func() (U, error) { return fn(v) }))
		return v, err
	}})
	return nd
}

// ThenDeferred is Then for a function that itself returns a Deferred: the
// new Deferred waits for that inner one (Twisted's callback returning a
// Deferred) and takes its result. If the inner Deferred belongs to another
// loop, its result still reaches the new Deferred's callbacks on d's loop.
func ThenDeferred[T, U any](d *Deferred[T], fn func(T) *Deferred[U]) *Deferred[U] {
	nd := derive[T, U](d)
	d.addStep(step[T]{observes: true, fn: func(v T, err error) (T, error) {
		var zero U
		if err != nil {
			nd.resolveOnLoop(zero, err)
			return v, err
		}
		inner, ierr := safeCall(func() (*Deferred[U], error) { return fn(v), nil })
		if ierr == nil && inner == nil {
			ierr = ErrNilDeferred
		}
		if ierr != nil {
			nd.resolveOnLoop(zero, ierr)
			return v, err
		}
		inner.AddBoth(func(u U, err error) { _ = nd.Resolve(u, err) })
		return v, err
	}})
	return nd
}

// Wait blocks until d is resolved, or ctx ends (then ctx.Err()), and
// returns the result d was resolved with (what its callbacks make of it
// is theirs). It is for goroutines that are not d's loop (a test, a
// program's main): it does not need the loop, so it returns even when
// the loop's connection is gone, but on the loop it would wait for itself.
func Wait[T any](ctx context.Context, d *Deferred[T]) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	d.watch(func(v T, err error) { ch <- result{v, err} })
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// ErrLoopGone is the failure of Call when the loop no longer runs
// anything (its connection was lost) before fn could run.
var ErrLoopGone = errors.New("deferred: the loop is gone")

// Call runs fn on loop and waits for the Deferred it returns (see Wait):
// the bridge from an ordinary goroutine to loop-only operations, such as
// those of ftp/client's Client:
//
//	n, err := deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[int64] {
//		return c.Retrieve("file", w)
//	})
//
// Not for use on loop itself.
func Call[T any](ctx context.Context, loop protocol.Loop, fn func() *Deferred[T]) (T, error) {
	got := make(chan *Deferred[T], 1)
	run := func() {
		d, err := safeCall(func() (*Deferred[T], error) { return fn(), nil })
		switch {
		case err != nil:
			d = Fail[T](loop, err)
		case d == nil:
			d = Fail[T](loop, ErrNilDeferred)
		}
		got <- d
	}
	dropped := make(chan struct{})
	var accepted bool
	if dn, ok := loop.(protocol.DropNotifier); ok {
		accepted = dn.CallFromThreadOrDrop(run, func() { close(dropped) })
	} else {
		accepted = loop.CallFromThread(run)
	}
	var zero T
	if !accepted {
		return zero, ErrLoopGone
	}
	select {
	case d := <-got:
		return Wait(ctx, d)
	case <-dropped:
		return zero, ErrLoopGone
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}
