package reactor

import (
	"errors"
	"fmt"
	"sync"

	"github.com/gnetftp/gnetftp/protocol"
)

// ErrAlreadyCalled is returned when a Deferred is resolved twice.
var ErrAlreadyCalled = errors.New("reactor: deferred already resolved")

// PanicError is the error a callback's (or a pooled function's) panic
// becomes, so it travels down the chain like any other failure.
type PanicError struct{ Value any }

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Deferred is a result that arrives later (Twisted's Deferred), typed.
//
// Whoever produces the result calls Resolve once, from any goroutine. The
// callbacks always run on the owning protocol.Loop, never concurrently
// with the protocol, so they may touch protocol state without locks. They
// run in the order they were added; each step sees the result left by the
// one before (a callback may turn a value into an error and an errback may
// recover), as in Twisted. Then and ThenDeferred change the type and start
// a new Deferred.
//
// An error still unhandled at the end of the chain is dropped; end chains
// with AddBoth where a failure matters.
type Deferred[T any] struct {
	loop protocol.Loop

	mu        sync.Mutex
	fired     bool // result known
	running   bool // steps are being run (or are scheduled) on the loop
	v         T
	err       error
	steps     []func(T, error) (T, error)
	scheduled bool
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

// Resolve sets the result, once. Safe from any goroutine; callbacks run
// later on the loop.
func (d *Deferred[T]) Resolve(v T, err error) error {
	d.mu.Lock()
	if d.fired {
		d.mu.Unlock()
		return ErrAlreadyCalled
	}
	d.fired, d.v, d.err = true, v, err
	schedule := d.needsRunLocked()
	d.mu.Unlock()
	if schedule {
		d.schedule()
	}
	return nil
}

// Callback resolves with a value.
func (d *Deferred[T]) Callback(v T) error { return d.Resolve(v, nil) }

// Errback resolves with an error.
func (d *Deferred[T]) Errback(err error) error {
	var zero T
	return d.Resolve(zero, err)
}

// AddCallbacks adds a step: cb runs on success, eb on failure (either may
// be nil to pass the result through). Their results replace the current
// result for later steps. It returns d.
func (d *Deferred[T]) AddCallbacks(cb func(T) (T, error), eb func(error) (T, error)) *Deferred[T] {
	return d.addStep(func(v T, err error) (T, error) {
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
	})
}

// AddBoth adds fn, which sees the current result and leaves it unchanged.
// It returns d.
func (d *Deferred[T]) AddBoth(fn func(v T, err error)) *Deferred[T] {
	return d.addStep(func(v T, err error) (T, error) {
		fn(v, err)
		return v, err
	})
}

func (d *Deferred[T]) addStep(step func(T, error) (T, error)) *Deferred[T] {
	d.mu.Lock()
	d.steps = append(d.steps, step)
	schedule := d.needsRunLocked()
	d.mu.Unlock()
	if schedule {
		d.schedule()
	}
	return d
}

// needsRunLocked reports whether steps must be scheduled now, and marks
// them scheduled.
func (d *Deferred[T]) needsRunLocked() bool {
	if !d.fired || d.running || d.scheduled || len(d.steps) == 0 {
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

// run executes pending steps on the loop.
func (d *Deferred[T]) run() {
	d.mu.Lock()
	d.scheduled = false
	d.running = true
	for len(d.steps) > 0 {
		step := d.steps[0]
		d.steps = d.steps[1:]
		v, err := d.v, d.err
		d.mu.Unlock()
		v, err = callStep(step, v, err)
		d.mu.Lock()
		d.v, d.err = v, err
	}
	d.steps = nil
	d.running = false
	d.mu.Unlock()
}

func callStep[T any](step func(T, error) (T, error), v T, err error) (rv T, rerr error) {
	defer func() {
		if p := recover(); p != nil {
			var zero T
			rv, rerr = zero, &PanicError{Value: p}
		}
	}()
	return step(v, err)
}

// safeCall runs fn, turning a panic into a *PanicError.
func safeCall[U any](fn func() (U, error)) (rv U, rerr error) {
	defer func() {
		if p := recover(); p != nil {
			var zero U
			rv, rerr = zero, &PanicError{Value: p}
		}
	}()
	return fn()
}

// Then returns a Deferred of fn's result: fn runs on the loop with d's
// value; an error (from d or from fn) skips to the new Deferred.
func Then[T, U any](d *Deferred[T], fn func(T) (U, error)) *Deferred[U] {
	nd := NewDeferred[U](d.loop)
	d.AddBoth(func(v T, err error) {
		var zero U
		if err != nil {
			_ = nd.Resolve(zero, err)
			return
		}
		u, err := safeCall(func() (U, error) { return fn(v) })
		_ = nd.Resolve(u, err)
	})
	return nd
}

// ThenDeferred is Then for a function that itself returns a Deferred: the
// chain waits for it (Twisted's callback returning a Deferred).
func ThenDeferred[T, U any](d *Deferred[T], fn func(T) *Deferred[U]) *Deferred[U] {
	nd := NewDeferred[U](d.loop)
	d.AddBoth(func(v T, err error) {
		var zero U
		if err != nil {
			_ = nd.Resolve(zero, err)
			return
		}
		inner, perr := safeCall(func() (*Deferred[U], error) { return fn(v), nil })
		if perr != nil {
			_ = nd.Resolve(zero, perr)
			return
		}
		inner.AddBoth(func(u U, err error) { _ = nd.Resolve(u, err) })
	})
	return nd
}
