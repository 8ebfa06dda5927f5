package reactor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"sync"
	"time"

	"github.com/gnetftp/gnetftp/protocol"
)

// TLS on a loop, with the standard library's crypto/tls
// (shared/research/ftps.md §2 has the source lines behind each point).
//
// crypto/tls cannot resume a handshake after its connection said "would
// block": the handshake's state lives on the stack of Handshake, and any
// error it returns is kept forever. Reading records is another matter: a
// read error whose dynamic type has Temporary() == true is returned but not
// kept, and the part of a record already read stays in the Conn. So:
//
//   - the handshake runs as a coroutine of the loop (iter.Pull) while the
//     loop's budget allows (Config.TLSHandshakeLoopShare): the loop pushes
//     the peer's bytes and resumes it (step); its memConn's Read yields back
//     to the loop when nothing is left, its Write collects the bytes that
//     step then sends. No goroutine is woken and nothing crosses threads;
//     the loop's budget bounds how long its other connections wait;
//   - otherwise it runs on a goroutine of its own, in blocking mode: its
//     memConn's Read waits for the bytes the loop pushes, its Write hands the
//     bytes to the loop, which sends them (a handshake goroutine never
//     touches the socket or the protocol);
//   - once Handshake returns, the goroutine posts the result to the loop
//     and ends (a coroutine's step takes it at once); from then on the loop
//     alone uses the tls.Conn: each chunk read from the socket is offered
//     to tls.Conn.Read, whose memConn returns the chunk's bytes and then
//     errWouldBlock (Temporary), and whose Write appends to the
//     transport's outbound buffer and never fails (crypto/tls keeps every
//     write error forever, so a write must not fail for want of room).
//
// Handshakes cost processor time (an ECDSA P-256 server handshake is a few
// hundred microseconds), so they are bounded: at most MaxTLSHandshakes
// exist, goroutines and coroutines (a server's starts with its peer's
// first bytes, so idle connections cost none; over the bound the
// connection is closed); a loop runs them itself only within its share of
// the time (loopBudget); and of those on goroutines at most
// TLSHandshakeWorkers compute at once (a goroutine waiting for its peer
// gives its turn up), so a flood of ClientHellos queues on the pool
// instead of taking the processors from the event loops. Every handshake
// has a deadline on the loop's clock; missing it closes the connection,
// which also wakes the goroutine (or stops the coroutine).
//
// A tlsSession is driven by its host, the transport: the host feeds it the
// bytes read from the socket (input), routes the protocol's writes through
// it (write), and tells it when the connection is gone (lost). Every
// method is loop-only except where said.

// tlsPhase is a session's state.
type tlsPhase uint8

const (
	tlsHandshaking tlsPhase = iota
	tlsEstablished
	tlsFailed
)

// Bounds of what a session keeps while its handshake runs.
const (
	// maxHandshakeInput bounds the peer's bytes waiting for the handshake
	// goroutine (a ClientHello is a few hundred bytes to a few KiB; the
	// goroutine reads as they come, so only a peer that floods reaches it).
	maxHandshakeInput = 64 << 10
	// maxHandshakeOutput bounds what the protocol may write before the
	// handshake completes (kept, then sent encrypted).
	maxHandshakeOutput = 1 << 20
	// tlsBufferSize is the plaintext read buffer: one record's worth, so a
	// read returns a whole record.
	tlsBufferSize = 16 << 10
)

// errWouldBlock is what memConn.Read returns on the loop when the chunk
// is used up. crypto/tls tests err.(net.Error).Temporary() by a type
// assertion, so it must be this value itself, never wrapped.
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "reactor: tls input would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// tlsHost is the side of a transport that a tlsSession drives. Loop-only,
// except CallFromThread.
type tlsHost interface {
	// Disconnecting is the transport's own.
	Disconnecting() bool
	// LoseConnection is the transport's own (sends close_notify first).
	LoseConnection()
	// CallFromThread runs fn on the loop; any goroutine.
	CallFromThread(fn func()) bool
	// CallLater runs fn on the loop after d, on the transport's clock.
	CallLater(d time.Duration, fn func()) protocol.DelayedCall
	// sendRaw hands bytes to the socket. It never fails: a failed write
	// closes the connection.
	sendRaw(p []byte)
	// deliver hands plaintext to the protocol (recovering its panics).
	deliver(p []byte)
	// producing reports whether the protocol takes data now (not paused).
	producing() bool
	// closeForTLS closes the connection after a TLS failure, flushing
	// what was already written (an alert).
	closeForTLS()
	// loopBudget is what handshakes run inline on this host's loop are
	// charged to; nil: the host's loop is the connection's own, and runs
	// every handshake inline.
	loopBudget() *loopBudget
}

// tlsInlineBurst is how much handshake time a loop may spend at once
// beyond its TLSHandshakeLoopShare: a few full handshakes.
const tlsInlineBurst = 2 * time.Millisecond

// loopBudget is a token bucket of one loop's time for inline handshakes:
// it fills at share of the wall time up to tlsInlineBurst, each step of
// an inline handshake empties it by its duration, and a handshake starts
// inline only while it holds some. A nil budget allows everything. Loop-only.
type loopBudget struct {
	share  float64 // 0: never inline
	tokens time.Duration
	last   time.Time
}

func (b *loopBudget) allow(now time.Time) bool {
	if b == nil {
		return true
	}
	if b.share <= 0 {
		return false
	}
	if b.last.IsZero() {
		b.tokens = tlsInlineBurst
	} else {
		b.tokens = min(b.tokens+time.Duration(float64(now.Sub(b.last))*b.share), tlsInlineBurst)
	}
	b.last = now
	return b.tokens > 0
}

func (b *loopBudget) spend(d time.Duration) {
	if b != nil {
		b.tokens -= d
	}
}

// tlsSession is one connection's TLS.
type tlsSession struct {
	host  tlsHost
	conn  *tls.Conn
	mc    *memConn
	pool  *handshakePool
	bufs  *sync.Pool // *[]byte of tlsBufferSize
	phase tlsPhase

	client    bool
	launched  bool // the handshake goroutine was started
	handshook bool // the handshake completed (TLSState is valid)

	// An inline handshake (a coroutine the loop resumes, see step):
	next     func() (struct{}, bool) // nil once it ended or was stopped
	stop     func()
	stepping bool        // inside next
	hsErr    error       // Handshake's result, once next reports the end
	budget   *loopBudget // what its steps are charged to (nil: nothing)

	// Only while the handshake runs:
	ready func(tls.ConnectionState, error) // called once, with the outcome
	timer protocol.DelayedCall
	out   []byte // plaintext the protocol wrote meanwhile

	err error // why the session failed: what ConnectionLost gets
}

// newTLSSession prepares a handshake; ready gets its outcome (exactly once,
// on the loop, never from here). A server's handshake goroutine starts with
// the peer's first bytes (input); a client's is started on the loop right
// after the current callback. timeout <= 0: no deadline.
func newTLSSession(host tlsHost, cfg *tls.Config, client bool, pool *handshakePool, bufs *sync.Pool,
	timeout time.Duration, local, remote net.Addr, ready func(tls.ConnectionState, error)) *tlsSession {
	s := &tlsSession{host: host, pool: pool, bufs: bufs, client: client, ready: ready}
	s.mc = &memConn{s: s, local: local, remote: remote, wake: make(chan struct{}, 1), closedCh: make(chan struct{})}
	if client {
		s.conn = tls.Client(s.mc, cfg)
	} else {
		s.conn = tls.Server(s.mc, cfg)
	}
	if timeout > 0 {
		s.timer = host.CallLater(timeout, func() {
			s.fail(fmt.Errorf("reactor: %w (%v)", protocol.ErrTLSHandshakeTimeout, timeout))
		})
	}
	if client && !host.CallFromThread(s.launch) {
		// The connection is already gone: lost reports it.
		s.launched = true
	}
	return s
}

// launch starts the handshake: as a coroutine of the loop when the host's
// budget allows (then step runs it), else on a goroutine of its own; or
// fails the session when the pool is full.
func (s *tlsSession) launch() {
	if s.launched || s.phase != tlsHandshaking {
		return
	}
	s.launched = true
	b := s.host.loopBudget()
	if !b.allow(time.Now()) {
		if !s.pool.start(s.handshake) {
			s.fail(fmt.Errorf("reactor: %w", protocol.ErrTooManyTLSHandshakes))
		}
		return
	}
	if !s.pool.take() {
		s.fail(fmt.Errorf("reactor: %w", protocol.ErrTooManyTLSHandshakes))
		return
	}
	s.budget = b
	s.mc.inline = true
	s.next, s.stop = iter.Pull(func(yield func(struct{}) bool) {
		defer s.pool.give()
		s.mc.yield = yield
		s.hsErr = s.conn.HandshakeContext(context.Background())
	})
	s.step()
}

// step resumes an inline handshake until it needs the peer's next bytes
// (its memConn's Read yields) or ends, sends what it wrote meanwhile, and
// takes its outcome if it ended. Loop-only; never from inside the
// coroutine (nothing the coroutine calls reaches the host).
func (s *tlsSession) step() {
	if s.next == nil || s.stepping {
		return
	}
	s.stepping = true
	var more bool
	if s.budget == nil { // the connection's own goroutine: nothing to charge
		_, more = s.next()
	} else {
		start := time.Now()
		_, more = s.next()
		s.budget.spend(time.Since(start))
	}
	s.stepping = false
	out := s.mc.hsOut
	s.mc.hsOut = nil
	if !more {
		s.next, s.stop = nil, nil
	}
	if len(out) > 0 && s.phase == tlsHandshaking {
		s.host.sendRaw(out)
	}
	if !more {
		s.finish(s.hsErr)
	}
}

// endInline ends an inline handshake that waits for input: its Read
// fails, and Handshake returns (what it writes then, an alert, is
// dropped). Loop-only.
func (s *tlsSession) endInline() {
	if s.stop == nil || s.stepping {
		return
	}
	stop := s.stop
	s.next, s.stop = nil, nil
	stop()
	s.mc.hsOut = nil
}

// handshake runs on the handshake goroutine.
func (s *tlsSession) handshake() {
	var err error
	if s.pool.acquireCPU(&s.mc.holdsCPU, s.mc.closedCh) {
		err = s.conn.HandshakeContext(context.Background())
	} else {
		err = net.ErrClosed
	}
	s.pool.releaseCPU(&s.mc.holdsCPU)
	// After the writes it posted (FIFO), so the last flight goes out
	// first. If the connection is gone, lost has already reported it.
	s.host.CallFromThread(func() { s.finish(err) })
}

// finish takes the handshake's outcome on the loop.
func (s *tlsSession) finish(err error) {
	if s.phase != tlsHandshaking {
		return // timed out, or lost, meanwhile
	}
	if err == nil && s.host.Disconnecting() {
		err = net.ErrClosed
	}
	if err != nil {
		s.fail(fmt.Errorf("reactor: tls handshake: %w", err))
		return
	}
	s.stopTimer()
	s.mc.toLoop()
	s.phase = tlsEstablished
	s.handshook = true
	if out := s.out; len(out) > 0 {
		s.out = nil
		_, _ = s.conn.Write(out) // its memConn cannot fail
	}
	ready := s.ready
	s.ready = nil
	ready(s.conn.ConnectionState(), nil)
	// Records that arrived right behind the peer's Finished.
	s.input(nil)
}

// fail ends the session: ready hears of it if the handshake was running,
// then the connection is closed.
func (s *tlsSession) fail(err error) {
	if s.phase == tlsFailed {
		return
	}
	s.phase = tlsFailed
	s.err = err
	s.stopTimer()
	s.mc.close()
	s.endInline()
	s.out = nil
	if ready := s.ready; ready != nil {
		s.ready = nil
		ready(tls.ConnectionState{}, err)
	}
	s.host.closeForTLS()
}

// lost is the host's report that the connection is gone (its OnClose);
// it returns the error ConnectionLost should get (nil: the host's own).
// It never calls into the tls.Conn: a connection can be lost inside one
// of its calls (a write that fails closes the connection at once).
func (s *tlsSession) lost(cause error) error {
	s.mc.close()
	s.endInline()
	s.stopTimer()
	if s.phase == tlsHandshaking {
		s.phase = tlsFailed
		s.out = nil
		if cause == nil {
			cause = net.ErrClosed
		}
		s.err = fmt.Errorf("reactor: connection lost during the tls handshake: %w", cause)
		if ready := s.ready; ready != nil {
			s.ready = nil
			ready(tls.ConnectionState{}, s.err)
		}
	}
	return s.err
}

func (s *tlsSession) stopTimer() {
	if s.timer != nil {
		s.timer.Cancel()
		s.timer = nil
	}
}

// input takes bytes read from the socket. data is only borrowed: what is
// not used before input returns is copied.
func (s *tlsSession) input(data []byte) {
	switch s.phase {
	case tlsHandshaking:
		if len(data) == 0 {
			return
		}
		if !s.mc.push(data) {
			s.fail(fmt.Errorf("reactor: tls handshake: more than %d bytes waiting", maxHandshakeInput))
			return
		}
		if !s.launched {
			s.launch()
		} else {
			s.step()
		}
	case tlsEstablished:
		s.readRecords(data)
	}
}

// readRecords decrypts what data and earlier leftovers hold and delivers
// the plaintext, until the input runs out or the protocol stops taking it.
func (s *tlsSession) readRecords(data []byte) {
	s.mc.setChunk(data)
	buf := s.bufs.Get().(*[]byte)
	for s.phase == tlsEstablished && !s.host.Disconnecting() && s.host.producing() {
		n, err := s.conn.Read(*buf)
		if n > 0 {
			s.host.deliver((*buf)[:n])
		}
		if err == nil {
			continue
		}
		if err == errWouldBlock { // crypto/tls returns it as is, unwrapped
			break
		}
		if errors.Is(err, io.EOF) {
			// close_notify: the peer is done, as with a FIN.
			if !s.host.Disconnecting() {
				s.host.LoseConnection()
			}
			break
		}
		if s.phase == tlsEstablished && !s.mc.isClosed() {
			s.fail(fmt.Errorf("reactor: tls: %w", err))
		}
		break
	}
	s.bufs.Put(buf)
	s.mc.keepChunk()
	if s.phase == tlsEstablished && !s.mc.isClosed() {
		trimTLSBuffers(s.conn) // idle connections keep no record-sized buffers
	}
}

// write encrypts p (kept for later while the handshake runs).
func (s *tlsSession) write(p []byte) error {
	switch s.phase {
	case tlsEstablished:
		if _, err := s.conn.Write(p); err != nil {
			return fmt.Errorf("reactor: tls write: %w", err)
		}
		return nil
	case tlsHandshaking:
		if len(s.out)+len(p) > maxHandshakeOutput {
			return fmt.Errorf("reactor: tls: more than %d bytes written during the handshake", maxHandshakeOutput)
		}
		s.out = append(s.out, p...)
		return nil
	}
	return net.ErrClosed
}

// writev encrypts the buffers as one write (one record for a line and its
// CRLF, not two) when they fit a record.
func (s *tlsSession) writev(bufs [][]byte) error {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if s.phase == tlsEstablished && total <= tlsBufferSize && len(bufs) > 1 {
		bp := s.bufs.Get().(*[]byte)
		b := (*bp)[:0]
		for _, p := range bufs {
			b = append(b, p...)
		}
		err := s.write(b)
		s.bufs.Put(bp)
		return err
	}
	for _, b := range bufs {
		if err := s.write(b); err != nil {
			return err
		}
	}
	return nil
}

// closeNotify sends the close_notify alert, if the handshake is done.
func (s *tlsSession) closeNotify() {
	if s.phase == tlsEstablished && !s.mc.isClosed() {
		_ = s.conn.CloseWrite()
	}
}

// state is TLSState.
func (s *tlsSession) state() (tls.ConnectionState, bool) {
	if !s.handshook {
		return tls.ConnectionState{}, false
	}
	return s.conn.ConnectionState(), true
}

// memConn is the net.Conn under a session's tls.Conn. While the handshake
// runs it is used by the handshake goroutine (blocking reads of what the
// loop pushed; writes posted to the loop); afterwards by the loop alone
// (reads of the current chunk, then errWouldBlock; writes straight to the
// socket).
type memConn struct {
	s             *tlsSession
	local, remote net.Addr

	mu       sync.Mutex
	pending  []byte // pushed by the loop (handshake), or a chunk's unread rest
	chunk    []byte // the chunk being read on the loop (borrowed)
	onLoop   bool
	closed   bool
	wake     chan struct{} // handshake only: pending grew
	closedCh chan struct{} // handshake only: closed

	holdsCPU bool // the handshake goroutine's worker slot (its own)

	// An inline handshake's (loop-only, or its coroutine's while it runs):
	inline bool
	yield  func(struct{}) bool
	hsOut  []byte
}

// push appends bytes for the handshake goroutine; false if over the bound.
func (m *memConn) push(p []byte) bool {
	m.mu.Lock()
	if len(m.pending)+len(p) > maxHandshakeInput {
		m.mu.Unlock()
		return false
	}
	m.pending = append(m.pending, p...)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return true
}

// toLoop switches to the loop's non-blocking mode once the handshake
// goroutine is done with the Conn.
func (m *memConn) toLoop() {
	m.mu.Lock()
	m.onLoop = true
	m.wake = nil
	m.closedCh = nil
	m.mu.Unlock()
}

func (m *memConn) setChunk(p []byte) {
	m.mu.Lock()
	m.chunk = p
	m.mu.Unlock()
}

// keepChunk copies what the tls.Conn did not read of the chunk (the
// protocol paused) and drops the borrowed slice.
func (m *memConn) keepChunk() {
	m.mu.Lock()
	if len(m.chunk) > 0 && !m.closed {
		m.pending = append(m.pending, m.chunk...)
	}
	m.chunk = nil
	m.mu.Unlock()
}

func (m *memConn) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// close wakes a handshake goroutine waiting in Read, which then fails.
// Any goroutine.
func (m *memConn) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	m.pending, m.chunk = nil, nil
	if m.closedCh != nil {
		close(m.closedCh)
	}
}

// Read: see the type. It returns bytes as soon as it has any.
func (m *memConn) Read(p []byte) (int, error) {
	m.mu.Lock()
	for {
		if m.closed {
			m.mu.Unlock()
			return 0, net.ErrClosed
		}
		if len(m.pending) > 0 {
			n := copy(p, m.pending)
			m.pending = m.pending[n:]
			if len(m.pending) == 0 {
				m.pending = nil
			}
			m.mu.Unlock()
			return n, nil
		}
		if m.onLoop {
			n := copy(p, m.chunk)
			m.chunk = m.chunk[n:]
			m.mu.Unlock()
			if n == 0 {
				return 0, errWouldBlock
			}
			return n, nil
		}
		if m.inline {
			m.mu.Unlock()
			if !m.yield(struct{}{}) {
				return 0, net.ErrClosed
			}
			m.mu.Lock()
			continue
		}
		wake, closedCh := m.wake, m.closedCh
		m.mu.Unlock()
		// Waiting for the peer: let another handshake compute meanwhile.
		m.s.pool.releaseCPU(&m.holdsCPU)
		select {
		case <-wake:
		case <-closedCh:
		}
		if !m.s.pool.acquireCPU(&m.holdsCPU, closedCh) {
			return 0, net.ErrClosed
		}
		m.mu.Lock()
	}
}

// Write: see the type. It never fails for want of room.
func (m *memConn) Write(p []byte) (int, error) {
	m.mu.Lock()
	onLoop, closed := m.onLoop, m.closed
	m.mu.Unlock()
	if closed {
		return 0, net.ErrClosed
	}
	if onLoop {
		m.s.host.sendRaw(p)
		return len(p), nil
	}
	if m.inline {
		m.hsOut = append(m.hsOut, p...)
		return len(p), nil
	}
	b := append([]byte(nil), p...)
	s := m.s
	if !s.host.CallFromThread(func() {
		if s.phase == tlsHandshaking {
			s.host.sendRaw(b)
		}
	}) {
		return 0, net.ErrClosed
	}
	return len(p), nil
}

// Close marks the conn closed (crypto/tls calls it only from tls.Conn.Close
// and a cancelled HandshakeContext, neither of which the reactor uses).
func (m *memConn) Close() error { m.close(); return nil }

func (m *memConn) LocalAddr() net.Addr  { return m.local }
func (m *memConn) RemoteAddr() net.Addr { return m.remote }

// Deadlines mean nothing here: the loop's timers bound the handshake, and
// writes never block.
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

// handshakePool bounds handshake goroutines (slots) and how many of them
// compute at once (cpu). A nil channel means no bound.
type handshakePool struct {
	slots chan struct{}
	cpu   chan struct{}
	wg    sync.WaitGroup
}

func newHandshakePool(maxHandshakes, workers int) *handshakePool {
	p := &handshakePool{}
	if maxHandshakes > 0 {
		p.slots = make(chan struct{}, maxHandshakes)
	}
	if workers > 0 {
		p.cpu = make(chan struct{}, workers)
	}
	return p
}

// start runs fn on a new goroutine if a slot is free. Loop-only (the
// WaitGroup must not grow while wait runs, and wait runs once the loops
// have stopped).
func (p *handshakePool) start(fn func()) bool {
	if !p.take() {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.give()
		fn()
	}()
	return true
}

// take counts a handshake against the bound (false: the bound is
// reached); give ends it. start does both around its goroutine, an
// inline handshake around its coroutine.
func (p *handshakePool) take() bool {
	if p.slots != nil {
		select {
		case p.slots <- struct{}{}:
		default:
			return false
		}
	}
	return true
}

func (p *handshakePool) give() {
	if p.slots != nil {
		<-p.slots
	}
}

// inFlight reports the handshakes in progress, goroutines and coroutines.
func (p *handshakePool) inFlight() int { return len(p.slots) }

// acquireCPU takes a worker slot unless cancel closes first.
func (p *handshakePool) acquireCPU(held *bool, cancel <-chan struct{}) bool {
	if *held {
		return true
	}
	if p.cpu == nil {
		*held = true
		return true
	}
	select {
	case p.cpu <- struct{}{}:
		*held = true
		return true
	case <-cancel:
		return false
	}
}

func (p *handshakePool) releaseCPU(held *bool) {
	if !*held {
		return
	}
	*held = false
	if p.cpu != nil {
		<-p.cpu
	}
}

// wait waits up to d for the handshake goroutines to end (they end once
// their connections are closed); it reports whether they did.
func (p *handshakePool) wait(d time.Duration) bool {
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
