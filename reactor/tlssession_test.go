package reactor

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/clock"
	"github.com/gnetftp/gnetftp/internal/testcert"
	"github.com/gnetftp/gnetftp/protocol"
)

// The session's record path, driven without sockets: a fakeHost plays the
// transport (the test goroutine is its loop), and a real crypto/tls client
// talks to the session through an in-memory pipe.

// memPipe is one direction of an in-memory connection; writes never
// block, reads wait for data or close.
type memPipe struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte
	closed bool
}

func newMemPipe() *memPipe {
	p := &memPipe{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *memPipe) write(b []byte) {
	p.mu.Lock()
	p.buf = append(p.buf, b...)
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (p *memPipe) read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 && !p.closed {
		p.cond.Wait()
	}
	if len(p.buf) == 0 {
		return 0, net.ErrClosed
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	return n, nil
}

// take returns and clears what was written so far.
func (p *memPipe) take() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.buf
	p.buf = nil
	return b
}

func (p *memPipe) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cond.Broadcast()
}

// peerConn is the client's end: it reads what the session sent and
// writes what the test feeds the session.
type peerConn struct{ fromServer, toServer *memPipe }

func (c *peerConn) Read(b []byte) (int, error)       { return c.fromServer.read(b) }
func (c *peerConn) Write(b []byte) (int, error)      { c.toServer.write(b); return len(b), nil }
func (c *peerConn) Close() error                     { c.fromServer.close(); return nil }
func (c *peerConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *peerConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *peerConn) SetDeadline(time.Time) error      { return nil }
func (c *peerConn) SetReadDeadline(time.Time) error  { return nil }
func (c *peerConn) SetWriteDeadline(time.Time) error { return nil }

// fakeHost is a tlsHost whose loop is the test goroutine (run).
type fakeHost struct {
	clock *clock.ManualClock
	wire  *memPipe // sendRaw's bytes, read by the peer

	mu     sync.Mutex
	queue  []func()
	closed bool // the "connection" is gone: CallFromThread refuses

	// loop-owned
	plain         bytes.Buffer
	paused        bool
	pauseNext     bool // pause on the next delivery, as a protocol might
	disconnecting bool
	closes        int
	budget        *loopBudget // nil: every handshake inline
}

func (h *fakeHost) Disconnecting() bool { return h.disconnecting }
func (h *fakeHost) LoseConnection()     { h.disconnecting = true }
func (h *fakeHost) CallFromThread(fn func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.queue = append(h.queue, fn)
	return true
}
func (h *fakeHost) CallLater(d time.Duration, fn func()) protocol.DelayedCall {
	return clock.NewDelayedCall(h.clock, h.CallFromThread, d, fn)
}
func (h *fakeHost) sendRaw(p []byte) { h.wire.write(p) }
func (h *fakeHost) deliver(p []byte) {
	h.plain.Write(p)
	if h.pauseNext {
		h.pauseNext, h.paused = false, true
	}
}
func (h *fakeHost) producing() bool { return !h.paused }
func (h *fakeHost) closeForTLS()    { h.disconnecting = true; h.closes++ }
func (h *fakeHost) loopBudget() *loopBudget {
	return h.budget
}

// run runs what was posted to the loop; it reports how many ran.
func (h *fakeHost) run() int {
	n := 0
	for {
		h.mu.Lock()
		q := h.queue
		h.queue = nil
		h.mu.Unlock()
		if len(q) == 0 {
			return n
		}
		for _, fn := range q {
			fn()
			n++
		}
	}
}

// sessionRig is a server session, its host, and a crypto/tls client.
type sessionRig struct {
	host    *fakeHost
	s       *tlsSession
	pool    *handshakePool
	toSrv   *memPipe
	client  *tls.Conn
	results []error // what ready got
}

var rigPair = sync.OnceValue(func() *testcert.Pair { return testcert.MustNew() })

// handshakeModes are the two ways a handshake runs: on a goroutine of its
// own, and as a coroutine of the loop.
var handshakeModes = []struct {
	name   string
	inline bool
}{{"goroutine", false}, {"inline", true}}

func newSessionRig() *sessionRig { return newSessionRigMode(false) }

func newSessionRigMode(inline bool) *sessionRig {
	pair := rigPair()
	wire, toSrv := newMemPipe(), newMemPipe()
	rig := &sessionRig{host: &fakeHost{clock: clock.NewManualClock(), wire: wire}, toSrv: toSrv, pool: newHandshakePool(8, 1)}
	if !inline {
		rig.host.budget = &loopBudget{} // share 0: never inline
	}
	bufs := &sync.Pool{New: func() any { b := make([]byte, tlsBufferSize); return &b }}
	rig.s = newTLSSession(rig.host, pair.ServerConfig(), false, rig.pool, bufs, time.Minute,
		&net.TCPAddr{}, &net.TCPAddr{}, func(_ tls.ConnectionState, err error) { rig.results = append(rig.results, err) })
	rig.client = tls.Client(&peerConn{fromServer: wire, toServer: toSrv}, pair.ClientConfig("localhost"))
	return rig
}

// handshake runs the client's handshake against the session.
func (rig *sessionRig) handshake(tb testing.TB) {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- rig.client.Handshake() }()
	deadline := time.Now().Add(20 * time.Second)
	var clientErr error
	clientDone := false
	for !clientDone || rig.s.phase == tlsHandshaking {
		if time.Now().After(deadline) {
			tb.Fatal("the handshake did not complete")
		}
		if b := rig.toSrv.take(); len(b) > 0 {
			rig.s.input(b)
		}
		if rig.host.run() == 0 {
			time.Sleep(50 * time.Microsecond) // the handshake goroutines are at work
		}
		if !clientDone {
			select {
			case clientErr = <-done:
				clientDone = true
			default:
			}
		}
	}
	require.NoError(tb, clientErr)
	require.Equal(tb, tlsEstablished, rig.s.phase)
	require.Equal(tb, []error{nil}, rig.results)
}

// feed gives stream to the session in chunks whose sizes come from splits
// (a byte's low 6 bits + 1; bit 6: the host pauses at the next delivery),
// resuming a paused host before each chunk, as a transport would.
func (rig *sessionRig) feed(stream, splits []byte) {
	h := rig.host
	for i := 0; len(stream) > 0; i++ {
		size, pause := len(stream), false
		if len(splits) > 0 {
			b := splits[i%len(splits)]
			size, pause = int(b&0x3f)+1, b&0x40 != 0
		}
		size = min(size, len(stream))
		if h.paused {
			h.paused = false
			rig.s.input(nil)
		}
		h.pauseNext = pause
		rig.s.input(stream[:size])
		stream = stream[size:]
		h.run()
	}
	for range 1 << 16 {
		if !h.paused {
			break
		}
		h.paused = false
		rig.s.input(nil)
		h.run()
	}
}

// close ends the session as a lost connection does, and waits for its
// handshake goroutine.
func (rig *sessionRig) close(tb testing.TB) {
	tb.Helper()
	rig.host.mu.Lock()
	rig.host.closed = true
	rig.host.mu.Unlock()
	_ = rig.s.lost(nil)
	rig.toSrv.close()
	rig.host.wire.close()
	require.True(tb, rig.pool.wait(20*time.Second), "the handshake goroutine ends")
}

// clientRecords returns the ciphertext of data written by the client in
// pieces (sizes from pieces: each byte * 128 + 1).
func (rig *sessionRig) clientRecords(tb testing.TB, data, pieces []byte) []byte {
	tb.Helper()
	for i := 0; len(data) > 0; i++ {
		n := len(data)
		if len(pieces) > 0 {
			n = min(n, int(pieces[i%len(pieces)])*128+1)
		}
		_, err := rig.client.Write(data[:n])
		require.NoError(tb, err)
		data = data[n:]
	}
	return rig.toSrv.take()
}

func TestTLSRecordsSplitAnywhereArriveIntact(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 2000) // 32 KB: whole and partial records
	for _, m := range handshakeModes {
		for _, splits := range [][]byte{{0}, {4}, {1, 0x42, 63, 7}, {0x7f}} {
			rig := newSessionRigMode(m.inline)
			rig.handshake(t)
			stream := rig.clientRecords(t, data, []byte{3, 200, 0, 17})
			rig.feed(stream, splits)
			assert.Equal(t, data, rig.host.plain.Bytes(), "%s, splits %v", m.name, splits)
			assert.Equal(t, tlsEstablished, rig.s.phase)
			rig.close(t)
		}
	}
}

func TestTLSSessionReportsOnceAndTimesOut(t *testing.T) {
	for _, m := range handshakeModes {
		t.Run(m.name, func(t *testing.T) {
			rig := newSessionRigMode(m.inline)
			rig.s.input([]byte("\x16\x03\x01\x02\x00")) // a header, then nothing
			rig.host.run()
			assert.Equal(t, m.inline, rig.s.next != nil, "an inline handshake waits as a coroutine")
			rig.host.clock.Advance(time.Minute)
			rig.host.run()
			require.Len(t, rig.results, 1)
			assert.ErrorIs(t, rig.results[0], protocol.ErrTLSHandshakeTimeout)
			assert.Equal(t, 1, rig.host.closes)
			require.True(t, rig.pool.wait(20*time.Second), "the goroutine woke and ended")
			assert.Nil(t, rig.s.next, "the coroutine was stopped")
			assert.Zero(t, rig.pool.inFlight(), "its slot is free again")
			rig.host.run() // its finish: ignored
			rig.close(t)
			assert.Len(t, rig.results, 1, "ready is called once")
		})
	}
}

// A loop runs handshakes itself up to its share of the time: a burst of
// tlsInlineBurst at first, then share of what passed; each step's time is
// charged; a share of 0 never.
func TestLoopBudget(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := &loopBudget{share: 0.5}
	require.True(t, b.allow(t0), "a fresh loop has its burst")
	b.spend(tlsInlineBurst + time.Millisecond)
	assert.False(t, b.allow(t0), "burst spent, and 1 ms more")
	assert.False(t, b.allow(t0.Add(2*time.Millisecond)), "2 ms at half share pays the 1 ms back, no more")
	assert.True(t, b.allow(t0.Add(3*time.Millisecond)))
	assert.True(t, b.allow(t0.Add(time.Hour)))
	b.spend(tlsInlineBurst)
	assert.False(t, b.allow(t0.Add(time.Hour)), "an hour idle fills only the burst")
	assert.False(t, (&loopBudget{}).allow(t0), "share 0: never")
	assert.True(t, (*loopBudget)(nil).allow(t0), "no budget: always (a ConnTransport)")
}

// FuzzTLSRecords drives the record path on the loop after a real
// handshake: valid records from a crypto/tls client, written in pieces,
// possibly with one byte flipped and garbage appended, fed in arbitrary
// splits with pauses. Whatever arrives is a prefix of what was sent, all
// of it when nothing was damaged, and nothing panics, blocks or leaks.
func FuzzTLSRecords(f *testing.F) {
	f.Add([]byte("USER anonymous\r\nPASS x\r\n"), []byte{5}, uint16(0), []byte(nil))
	f.Add(bytes.Repeat([]byte("x"), 20000), []byte{0x3f, 0x41, 2}, uint16(0), []byte("\x17\x03\x03\x00\x05hello"))
	f.Add([]byte("NOOP\r\n"), []byte{0}, uint16(3), []byte(nil))
	f.Add([]byte("LIST\r\n"), []byte{1, 2, 3}, uint16(9), []byte("\x15\x03\x03\x00\x02\x01\x00"))
	f.Add([]byte("QUIT\r\n"), []byte{}, uint16(0), []byte("\x16\x03\x03\x40\x00"))
	f.Fuzz(func(t *testing.T, data, splits []byte, flip uint16, garbage []byte) {
		if len(data) > 20000 || len(garbage) > 1<<12 {
			return
		}
		rig := newSessionRig()
		rig.handshake(t)
		stream := rig.clientRecords(t, data, splits)
		damaged := false
		if flip != 0 && len(stream) > 0 {
			stream[int(flip)%len(stream)] ^= byte(flip>>8) | 1
			damaged = true
		}
		stream = append(stream, garbage...)
		rig.feed(stream, splits)
		got := rig.host.plain.Bytes()
		require.True(t, bytes.HasPrefix(data, got), "delivered plaintext is a prefix of what was sent")
		if !damaged {
			require.Equal(t, len(data), len(got), "undamaged records all arrive")
		}
		if rig.s.phase == tlsFailed {
			assert.Error(t, rig.s.err)
			assert.Equal(t, 1, rig.host.closes)
		}
		rig.close(t)
	})
}

// FuzzTLSHandshakeInput feeds arbitrary bytes, in arbitrary splits, to a
// server handshake, on a goroutine and inline: it fails or waits, reports
// once, and its goroutine (or coroutine) ends when the connection does.
func FuzzTLSHandshakeInput(f *testing.F) {
	f.Add(clientHello(f), []byte{7})
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []byte{0})
	f.Add([]byte("\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10"), []byte{1})
	f.Add([]byte("\x16\x03\x01\x00\x04\x01\x00\x00\x00"), []byte{})
	f.Add([]byte("\x16\x03\x01\xff\xff"), []byte{2})
	f.Add([]byte("\x15\x03\x01\x00\x02\x02\x28"), []byte{3})
	f.Fuzz(func(t *testing.T, input, splits []byte) {
		if len(input) > 1<<16 {
			return
		}
		for _, m := range handshakeModes {
			rig := newSessionRigMode(m.inline)
			rig.feed(input, splits)
			// Let the goroutine take what it was given (bounded: it may
			// also just be waiting for more).
			for i := 0; i < 2000 && rig.s.phase == tlsHandshaking; i++ {
				rig.s.mc.mu.Lock()
				waiting := len(rig.s.mc.pending)
				rig.s.mc.mu.Unlock()
				if rig.host.run() == 0 && waiting == 0 {
					break
				}
				time.Sleep(50 * time.Microsecond)
			}
			rig.close(t)
			rig.host.run()
			require.Len(t, rig.results, 1, "%s: ready is called exactly once", m.name)
			require.Error(t, rig.results[0])
			require.Nil(t, rig.s.next, "%s: no coroutine is left", m.name)
			require.Zero(t, rig.pool.inFlight())
		}
	})
}

// clientHello is a real ClientHello from crypto/tls.
func clientHello(tb testing.TB) []byte {
	tb.Helper()
	toSrv := newMemPipe()
	wire := newMemPipe()
	c := tls.Client(&peerConn{fromServer: wire, toServer: toSrv}, rigPair().ClientConfig("localhost"))
	done := make(chan struct{})
	go func() { _ = c.Handshake(); close(done) }()
	var hello []byte
	for deadline := time.Now().Add(10 * time.Second); len(hello) == 0 && time.Now().Before(deadline); {
		hello = toSrv.take()
		time.Sleep(time.Millisecond)
	}
	wire.close()
	<-done
	return hello
}

// BenchmarkTLSRecordsOnTheLoop is the loop's cost per record: small
// records (an FTP command each) decrypted by the session and delivered.
func BenchmarkTLSRecordsOnTheLoop(b *testing.B) {
	rig := newSessionRig()
	rig.handshake(b)
	defer rig.close(b)
	const batch = 256
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		b.StopTimer()
		for range batch {
			_, _ = rig.client.Write([]byte("RETR some/file/name.bin\r\n"))
		}
		stream := rig.toSrv.take()
		rig.host.plain.Reset()
		b.StartTimer()
		rig.s.input(stream)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkTLSWriteOnTheLoop is the loop's cost per reply record.
func BenchmarkTLSWriteOnTheLoop(b *testing.B) {
	rig := newSessionRig()
	rig.handshake(b)
	defer rig.close(b)
	reply := [][]byte{[]byte("226 Transfer complete."), []byte("\r\n")}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		_ = rig.s.writev(reply)
		if i%1024 == 0 {
			rig.host.wire.take()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// The idle-memory figures depend on trimming crypto/tls's buffers; if a Go
// release changes the fields it reaches, this fails so that someone looks.
func TestTLSBuffersAreTrimmedWhenIdle(t *testing.T) {
	require.True(t, tlsTrimSupported(), "crypto/tls's Conn no longer has rawInput/hand/input as expected")
	rig := newSessionRig()
	rig.handshake(t)
	defer rig.close(t)
	raw, hand, _ := tlsBuffers(rig.s.conn)
	assert.Zero(t, hand.Cap(), "the handshake's bytes are released")
	assert.LessOrEqual(t, raw.Cap(), trimKeepRaw)

	big := bytes.Repeat([]byte("y"), 40000)
	rig.feed(rig.clientRecords(t, big, nil), nil)
	assert.Equal(t, big, rig.host.plain.Bytes())
	assert.LessOrEqual(t, raw.Cap(), trimKeepRaw, "a 16 KiB record does not pin 17 KiB")

	rig.host.plain.Reset()
	stream := rig.clientRecords(t, []byte("NOOP\r\n"), nil)
	rig.s.input(stream[:len(stream)-3]) // a partial record stays
	assert.Equal(t, len(stream)-3, raw.Len())
	rig.s.input(stream[len(stream)-3:])
	assert.Equal(t, "NOOP\r\n", rig.host.plain.String())
	assert.Zero(t, raw.Len())
	assert.Zero(t, raw.Cap(), "nothing is kept for the next record (trimKeepRaw: an idle session's memory first)")
}

// Where a server handshake runs, seen from its tls.Config's callback: on
// the loop's coroutine with a share, on a pool goroutine without one, and
// on a goroutine again once a loop has spent its share (a flood).
func TestHandshakesRunInlineWithinTheLoopsShare(t *testing.T) {
	for _, c := range []struct {
		name    string
		share   float64
		spent   bool // the loop's budget is drained first
		coro    bool
		message string
	}{
		{"share", 0.5, false, true, "a handshake within the share runs as the loop's coroutine"},
		{"no share", 0, false, false, "share 0: on a goroutine"},
		{"share spent", 0.5, true, false, "a loop over its share hands handshakes to goroutines"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pair := rigPair()
			stacks := make(chan string, 1)
			scfg := pair.ServerConfig()
			scfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
				buf := make([]byte, 16<<10)
				stacks <- string(buf[:runtime.Stack(buf, false)])
				return nil, nil
			}
			r := New(Config{Loops: 1, TLSHandshakeLoopShare: c.share, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, r.ListenTLS("127.0.0.1:0", scfg, protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
				return &protocol.BaseProtocol{}
			})))
			require.NoError(t, r.Start())
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				require.NoError(t, r.Shutdown(ctx))
			}()
			if c.spent {
				// A first handshake makes the loop's budget; then it is
				// drained, as a flood of handshakes would leave it.
				first, err := tls.Dial("tcp", r.Addrs()[0].String(), pair.ClientConfig("localhost"))
				require.NoError(t, err)
				<-stacks
				require.NoError(t, first.Close())
				drained := make(chan struct{})
				r.budgets.Range(func(l, v any) bool {
					require.True(t, l.(gnet.EventLoop).Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
						v.(*loopBudget).tokens = -time.Hour // on the loop: the budget is loop-only
						close(drained)
						return nil
					})) == nil)
					return false
				})
				<-drained
			}
			conn, err := tls.Dial("tcp", r.Addrs()[0].String(), pair.ClientConfig("localhost"))
			require.NoError(t, err)
			defer conn.Close()
			stack := <-stacks
			assert.Equal(t, c.coro, strings.Contains(stack, "iter.Pull"), "%s:\n%s", c.message, stack)
			assert.Equal(t, !c.coro, strings.Contains(stack, "(*handshakePool).start"), "%s:\n%s", c.message, stack)
		})
	}
}
