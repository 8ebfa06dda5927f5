package deferred

import (
	"errors"
	"runtime"
	"sync"

	"github.com/gnetftp/gnetftp/protocol"
)

var (
	// ErrPoolFull is the failure of work submitted while the queue is
	// full: event loops must never block on the pool.
	ErrPoolFull = errors.New("deferred: worker pool queue is full")
	// ErrPoolClosed is the failure of work submitted after Close.
	ErrPoolClosed = errors.New("deferred: worker pool is closed")
)

// PoolConfig sizes a Pool. The zero value is usable.
type PoolConfig struct {
	// Workers is how many functions run at once; default 4 x NumCPU, at
	// least 8 (filesystem calls block in the kernel, not on the CPU).
	Workers int
	// Queue is how many functions may wait; default 65536.
	Queue int
}

// Submitter is what Defer needs of a pool: a way to queue a function
// that never blocks the caller (an event loop). *Pool implements it;
// ftp.Config and linereceiver.Blocking take one, so an embedder can share
// its own bounded executor.
type Submitter interface {
	// Submit queues fn to run on another goroutine, or fails at once
	// (ErrPoolFull, ErrPoolClosed): it never blocks. Safe from any
	// goroutine.
	Submit(fn func()) error
}

// Pool runs blocking work (filesystem calls, password hashing) with
// bounded concurrency, off the event loops: Twisted's deferToThread.
type Pool struct {
	mu     sync.RWMutex
	closed bool
	tasks  chan func()
	wg     sync.WaitGroup
}

// NewPool starts the workers. They are started up front and live until
// Close: an idle worker costs one parked goroutine (a few KiB of stack),
// so the default 8 cost far less than one session buffer, and a fixed set
// keeps Submit to one channel send (no spawning, no idle timers).
func NewPool(cfg PoolConfig) *Pool {
	if cfg.Workers <= 0 {
		cfg.Workers = max(8, 4*runtime.NumCPU())
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 65536
	}
	p := &Pool{tasks: make(chan func(), cfg.Queue)}
	p.wg.Add(cfg.Workers)
	for i := 0; i < cfg.Workers; i++ {
		go p.work()
	}
	return p
}

func (p *Pool) work() {
	defer p.wg.Done()
	for fn := range p.tasks {
		fn()
	}
}

// Submit queues fn without blocking: it returns ErrPoolFull when the queue
// is full and ErrPoolClosed after Close. A panic in fn is not recovered
// (Defer recovers its own); it crashes the process like any goroutine's.
func (p *Pool) Submit(fn func()) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrPoolClosed
	}
	select {
	case p.tasks <- fn:
		return nil
	default:
		return ErrPoolFull
	}
}

// Close stops accepting work, lets queued and running work finish, and
// returns when every worker has exited. It is safe to call more than once
// and concurrently with Submit, but not from inside pooled work (it would
// wait for itself).
func (p *Pool) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.tasks)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// Defer runs fn on the pool and delivers its result as a Deferred whose
// callbacks run on loop. A panic in fn becomes a *PanicError. If the pool
// is full or closed, the Deferred fails with ErrPoolFull or ErrPoolClosed
// at once (event loops call Defer and must never block).
//
// The result reaches the loop in one hop: the delivered function resolves
// the Deferred and runs its callbacks in the same loop turn, so once the
// loop has accepted the delivery, the callbacks have run by the time the
// loop takes its next task.
//
// Ownership of a successful result (err == nil) passes to the callbacks.
// If they can never run, dropped (if not nil) is called with the value so
// the resources it holds (an open file) are released:
//   - the loop refused the delivery (connection already lost): on the
//     worker;
//   - the Deferred was resolved by someone else first (a caller that gave
//     up waiting): on the loop;
//   - the loop accepted the delivery and discarded it because the
//     connection was lost before its turn: only if loop implements
//     protocol.DropNotifier (on the goroutine that discards it), as the reactor's
//     transports do. With any other Loop this last case is not seen, and
//     the value is left to the garbage collector (an *os.File is still
//     closed by its finalizer).
func Defer[T any](p Submitter, loop protocol.Loop, fn func() (T, error), dropped func(T)) *Deferred[T] {
	d := NewDeferred[T](loop)
	err := p.Submit(func() {
		v, err := safeCall(fn)
		release := func() {
			if dropped != nil && err == nil {
				dropped(v)
			}
		}
		deliver := func() {
			if !d.resolveOnLoop(v, err) {
				release()
			}
		}
		var accepted bool
		if dn, ok := loop.(protocol.DropNotifier); ok {
			accepted = dn.CallFromThreadOrDrop(deliver, release)
		} else {
			accepted = loop.CallFromThread(deliver)
		}
		if !accepted {
			release()
		}
	})
	if err != nil {
		_ = d.Resolve(*new(T), err)
	}
	return d
}

// Queued reports the functions waiting for a worker (not those running):
// the pool's queue depth, for metrics. Safe from any goroutine.
func (p *Pool) Queued() int { return len(p.tasks) }
