package reactor

import (
	"errors"
	"runtime"
	"sync"

	"github.com/gnetftp/gnetftp/protocol"
)

var (
	// ErrPoolFull is the failure of work submitted while the queue is
	// full: event loops must never block on the pool.
	ErrPoolFull = errors.New("reactor: worker pool queue is full")
	// ErrPoolClosed is the failure of work submitted after Close.
	ErrPoolClosed = errors.New("reactor: worker pool is closed")
)

// PoolConfig sizes a Pool. The zero value is usable.
type PoolConfig struct {
	// Workers is how many functions run at once; default 4 x NumCPU, at
	// least 8 (filesystem calls block in the kernel, not on the CPU).
	Workers int
	// Queue is how many functions may wait; default 65536.
	Queue int
}

// Pool runs blocking work (filesystem calls, password hashing) with
// bounded concurrency, off the event loops: Twisted's deferToThread.
type Pool struct {
	mu     sync.RWMutex
	closed bool
	tasks  chan func()
	wg     sync.WaitGroup
}

// NewPool starts the workers.
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

// Submit queues fn without blocking.
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
// returns when every worker has exited.
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
// callbacks run on loop. A panic in fn becomes a *PanicError.
//
// If the loop's connection is gone when the result is ready, the
// callbacks never run and dropped (if not nil) is called with the value on
// the worker, so resources it holds (an open file) are released. A result
// whose delivery the loop accepted but then discarded because the
// connection closed in between is not seen by dropped; values holding an
// *os.File are still closed by its finalizer.
func Defer[T any](p *Pool, loop protocol.Loop, fn func() (T, error), dropped func(T)) *Deferred[T] {
	d := NewDeferred[T](loop)
	err := p.Submit(func() {
		v, err := safeCall(fn)
		if !loop.CallFromThread(func() { _ = d.Resolve(v, err) }) && dropped != nil && err == nil {
			dropped(v)
		}
	})
	if err != nil {
		_ = d.Resolve(*new(T), err)
	}
	return d
}
