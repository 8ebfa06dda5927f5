package auth

import (
	"errors"
	"net/netip"
	"runtime"
	"sync"
)

var (
	// ErrBusy is the failure of a password check submitted while the
	// queue is full: the server answers 421 instead of letting the login
	// wait without end.
	ErrBusy = errors.New("auth: too many password checks waiting")
	// ErrClosed is the failure of a check submitted after Close.
	ErrClosed = errors.New("auth: hash pool is closed")
)

// HashPoolConfig sizes a HashPool. Zero values get the defaults listed.
type HashPoolConfig struct {
	// Workers is how many checks run at once; default one per CPU: bcrypt
	// is CPU work, so more workers only queue in the scheduler, and fewer
	// would cut the rate of honest logins that miss the cache (measured
	// on 2 cores, 8 clients logging in distinct users: 1 worker 675-790
	// logins/s, 2 workers 1,050-1,070, the shared 8-worker pool before
	// 955-1,125). One address gets at most half of them (PerClient), so a
	// flood from one address leaves the other CPUs to everything else.
	Workers int
	// Queue bounds the checks waiting for a worker, all clients together;
	// past it Submit fails with ErrBusy. Default 1024: about a minute of
	// bcrypt at cost 10 for one worker, what a login timeout allows
	// anyway. One client's waiting checks do not delay the others' (see
	// PerClient), so no share of the queue is reserved per client: a
	// burst of logins from one address (an office behind NAT, a test
	// suite) must fit.
	Queue int
	// PerClient is how many checks of one client run at once; its other
	// checks wait in its own queue, and workers take the waiting clients
	// in turn, so a client with a thousand connections gets no more
	// hashing than one with a single connection. Default half the
	// workers (at least 1): one address never holds every worker.
	PerClient int
}

func (c HashPoolConfig) withDefaults() HashPoolConfig {
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.Queue <= 0 {
		c.Queue = 1024
	}
	if c.PerClient <= 0 {
		c.PerClient = max(1, c.Workers/2)
	}
	return c
}

// HashPool runs password checks (bcrypt: tens of milliseconds of CPU
// each) apart from the worker pool that serves filesystem calls, with
// bounded concurrency, a bounded queue and fairness between clients, so
// that a password-guessing flood can neither starve logged-in users'
// commands nor keep other clients' logins waiting behind its own.
//
// Workers start with the pool and stop at Close. Submit never blocks:
// it is called on event loops.
type HashPool struct {
	cfg HashPoolConfig
	wg  sync.WaitGroup

	mu      sync.Mutex
	cond    sync.Cond
	closed  bool
	waiting int                       // checks queued, all clients
	clients map[netip.Addr]*hashQueue // clients with checks queued or running
	ready   []*hashQueue              // clients with a check to start, in turn
}

// hashQueue is one client's checks.
type hashQueue struct {
	key     netip.Addr
	queue   []func()
	running int
	ready   bool // on the ready list
}

// NewHashPool starts the workers.
func NewHashPool(cfg HashPoolConfig) *HashPool {
	p := &HashPool{cfg: cfg.withDefaults(), clients: map[netip.Addr]*hashQueue{}}
	p.cond.L = &p.mu
	p.wg.Add(p.cfg.Workers)
	for range p.cfg.Workers {
		go p.work()
	}
	return p
}

// Submit queues fn, a check for the client at addr; it fails at once with
// ErrBusy when the queue is full, ErrClosed after Close. Safe from any goroutine; it never blocks.
func (p *HashPool) Submit(addr netip.Addr, fn func()) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.waiting >= p.cfg.Queue {
		return ErrBusy
	}
	q := p.clients[addr]
	if q == nil {
		q = &hashQueue{key: addr}
		p.clients[addr] = q
	}
	q.queue = append(q.queue, fn)
	p.waiting++
	p.schedule(q)
	return nil
}

// schedule puts q on the ready list if it has a check it may start.
func (p *HashPool) schedule(q *hashQueue) {
	if !q.ready && len(q.queue) > 0 && q.running < p.cfg.PerClient {
		q.ready = true
		p.ready = append(p.ready, q)
		p.cond.Signal()
	}
}

func (p *HashPool) work() {
	defer p.wg.Done()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for len(p.ready) == 0 && !p.closed {
			p.cond.Wait()
		}
		if len(p.ready) == 0 {
			return // closed and drained
		}
		q := p.ready[0]
		p.ready[0] = nil
		p.ready = p.ready[1:]
		q.ready = false
		fn := q.queue[0]
		q.queue[0] = nil
		q.queue = q.queue[1:]
		p.waiting--
		q.running++
		p.schedule(q) // its next check, after the other clients' (PerClient > 1)
		p.mu.Unlock()
		fn()
		p.mu.Lock()
		q.running--
		p.schedule(q)
		if q.running == 0 && len(q.queue) == 0 {
			delete(p.clients, q.key)
		}
	}
}

// Waiting reports how many checks are queued (tests, metrics).
func (p *HashPool) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting
}

// Close stops accepting checks, lets the queued and running ones finish
// and returns when every worker has exited. Safe to call more than once,
// not from inside a check.
func (p *HashPool) Close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
}

// For returns a Submitter-shaped view of the pool for one client: its
// Submit(fn) is p.Submit(addr, fn) (deferred.Defer and
// linereceiver.Blocking take one).
func (p *HashPool) For(addr netip.Addr) ClientHashPool {
	return ClientHashPool{p: p, addr: addr}
}

// ClientHashPool is a HashPool seen by one client (HashPool.For).
type ClientHashPool struct {
	p    *HashPool
	addr netip.Addr
}

// Submit queues fn for the client (HashPool.Submit).
func (c ClientHashPool) Submit(fn func()) error { return c.p.Submit(c.addr, fn) }
