package reactor_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/clock"
	"github.com/gnetftp/gnetftp/internal/testcert"
	"github.com/gnetftp/gnetftp/linereceiver"
	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/reactor"
)

// answerer answers every line at once with a reply of replySize bytes,
// like an FTP server answering pipelined NOOPs or HELPs, and records the
// largest backlog its transport reported after a write.
type answerer struct {
	protocol.BaseProtocol
	linereceiver.LineReceiver
	maxQueued *atomic.Int64
	answered  *atomic.Int64
	lost      chan error
	reply     []byte
}

func (a *answerer) ConnectionMade()          { a.Init(a.Transport, a) }
func (a *answerer) DataReceived(data []byte) { a.LineReceiver.DataReceived(data) }
func (a *answerer) ConnectionLost(err error) { a.lost <- err }

func (a *answerer) LineReceived([]byte) {
	_ = a.Transport.Write(a.reply)
	a.answered.Add(1)
	q := int64(a.Transport.(protocol.Backpressure).Queued())
	for {
		m := a.maxQueued.Load()
		if q <= m || a.maxQueued.CompareAndSwap(m, q) {
			return
		}
	}
}

type answererServer struct {
	r         *reactor.Reactor
	maxQueued atomic.Int64
	answered  atomic.Int64
	lost      chan error
}

func startAnswerer(t *testing.T, cfg reactor.Config, replySize int) *answererServer {
	t.Helper()
	s := &answererServer{lost: make(chan error, 4)}
	reply := append(bytes.Repeat([]byte("r"), replySize-1), '\n')
	f := protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		a := &answerer{maxQueued: &s.maxQueued, answered: &s.answered, lost: s.lost, reply: reply}
		a.MaxQueued = cfg.MaxOutbound
		return a
	})
	s.r = startReactor(t, cfg, map[string]protocol.Factory{"127.0.0.1:0": f}, []string{"127.0.0.1:0"})
	return s
}

// dialSmallWindow connects with a small receive buffer, so that the
// kernel takes little of what the server sends to a client that does not
// read and the rest stays in the server's outbound backlog.
func dialSmallWindow(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr.String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// The line receiver looks at the backlog every 8 lines, the reactor after
// every read: the backlog may pass the bound by that many replies.
const linesBetweenChecks = 8

func TestNonReadingClientIsBoundedThenAborted(t *testing.T) {
	mc := clock.NewManualClock()
	const bound, replySize, lines = 16 << 10, 1 << 10, 20000
	s := startAnswerer(t, reactor.Config{Clock: mc, Loops: 1, MaxOutbound: bound, StallTimeout: 30 * time.Second}, replySize)
	c := dialSmallWindow(t, s.r.Addrs()[0])
	// 20,000 pipelined lines ask for 20 MiB of replies: far more than
	// the kernel's socket buffers hold.
	_, err := c.Write(bytes.Repeat([]byte("x\r\n"), lines))
	require.NoError(t, err)

	// Blocked: the backlog poll is armed on the (manual) clock, and the
	// protocol stopped answering.
	require.Eventually(t, func() bool { return mc.Pending() > 0 }, 10*time.Second, time.Millisecond)
	start := mc.Now()
	answered := s.answered.Load()
	assert.Less(t, answered, int64(lines), "the server stopped taking lines")
	assert.LessOrEqual(t, s.maxQueued.Load(), int64(bound+linesBetweenChecks*replySize),
		"the backlog stays under the bound plus the replies between two checks")

	// Nothing is taken by the peer: aborted once StallTimeout has passed
	// on the manual clock, not before.
	advanceWhilePolling := func(total time.Duration) {
		for step := 500 * time.Millisecond; total > 0; total -= step {
			require.Eventually(t, func() bool { return mc.Pending() > 0 }, 10*time.Second, time.Millisecond)
			mc.Advance(step)
		}
	}
	advanceWhilePolling(29 * time.Second)
	select {
	case err := <-s.lost:
		t.Fatalf("aborted before the stall timeout: %v", err)
	default:
	}
	assert.Equal(t, answered, s.answered.Load(), "still nothing taken while stalled")
	// The stall counts from the peer's last progress, which the kernel may
	// have made during the first polls: allow a few seconds more.
	var lostErr error
	require.Eventually(t, func() bool {
		select {
		case lostErr = <-s.lost:
			return true
		default:
		}
		if mc.Pending() > 0 && mc.Now().Sub(start) < 35*time.Second {
			mc.Advance(500 * time.Millisecond)
		}
		return false
	}, 10*time.Second, time.Millisecond, "a client that never reads is aborted after the stall timeout")
	assert.NoError(t, lostErr, "an abort is a clean loss for the protocol")
	_, rerr := io.Copy(io.Discard, c)
	assert.Error(t, rerr, "the client sees a reset")
}

func TestReadingClientIsUnaffectedByTheBound(t *testing.T) {
	const bound, replySize, lines = 16 << 10, 1 << 10, 4000
	s := startAnswerer(t, reactor.Config{Loops: 1, MaxOutbound: bound}, replySize)
	c := dialSmallWindow(t, s.r.Addrs()[0])
	got := make(chan error, 1)
	go func() {
		rd := bufio.NewReaderSize(c, 4096)
		for i := 0; i < lines; i++ {
			l, err := rd.ReadSlice('\n')
			if err != nil || len(l) != replySize {
				got <- fmt.Errorf("reply %d: %d bytes, %v", i, len(l), err)
				return
			}
		}
		got <- nil
	}()
	// 4 MiB of replies through a 4 KiB receive window: the server hits the
	// bound again and again and must always resume.
	_, err := c.Write(bytes.Repeat([]byte("x\r\n"), lines))
	require.NoError(t, err)
	require.NoError(t, <-got, "every reply arrives, in order")
	assert.Equal(t, int64(lines), s.answered.Load())
	assert.LessOrEqual(t, s.maxQueued.Load(), int64(bound+linesBetweenChecks*replySize))
}

// streamer writes total bytes on its own, a chunk at a time, each next
// chunk when WhenDrained says the backlog went down: a long listing over
// a control connection.
type streamer struct {
	protocol.BaseProtocol
	total, sent int
	chunk       []byte
	maxQueued   *atomic.Int64
}

func (s *streamer) ConnectionMade() { s.more() }

func (s *streamer) more() {
	bp := s.Transport.(protocol.Backpressure)
	for s.sent < s.total {
		_ = s.Transport.Write(s.chunk)
		s.sent += len(s.chunk)
		if q := int64(bp.Queued()); q > s.maxQueued.Load() {
			s.maxQueued.Store(q)
		}
		if bp.Queued() > 0 {
			bp.WhenDrained(s.more)
			return
		}
	}
	s.Transport.LoseConnection()
}

func TestWhenDrainedStreamsInBoundedPieces(t *testing.T) {
	var maxQueued atomic.Int64
	const chunk, total = 8 << 10, 8 << 20
	f := protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		return &streamer{total: total, chunk: bytes.Repeat([]byte("s"), chunk), maxQueued: &maxQueued}
	})
	r := startReactor(t, reactor.Config{Loops: 1}, map[string]protocol.Factory{"127.0.0.1:0": f}, []string{"127.0.0.1:0"})
	c := dialSmallWindow(t, r.Addrs()[0])
	n, err := io.Copy(io.Discard, c)
	require.NoError(t, err)
	assert.Equal(t, int64(total), n, "every byte arrives")
	assert.LessOrEqual(t, maxQueued.Load(), int64(reactor.DefaultMaxOutbound/4+chunk),
		"each piece is written once the backlog is at the low-water mark")
}

func TestConnTransportBackpressureIsSynchronous(t *testing.T) {
	cl, sv := loopbackPair(t)
	defer cl.Close()
	ran := make(chan int, 1)
	p := &drainProbe{ran: ran}
	tr := reactor.ServeConn(sv, p, reactor.ConnConfig{})
	select {
	case q := <-ran:
		assert.Equal(t, 0, q, "nothing is ever queued: writes are synchronous")
	case <-time.After(10 * time.Second):
		t.Fatal("WhenDrained's function never ran")
	}
	cl.Close()
	select {
	case <-tr.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the transport did not end")
	}
}

type drainProbe struct {
	protocol.BaseProtocol
	ran    chan int
	inTurn bool
}

func (p *drainProbe) ConnectionMade() {
	bp := p.Transport.(protocol.Backpressure)
	_ = p.Transport.Write([]byte("hello\n"))
	p.inTurn = true
	bp.WhenDrained(func() {
		if p.inTurn {
			panic("WhenDrained ran fn inside the current turn")
		}
		p.ran <- bp.Queued()
	})
	p.inTurn = false
}

// The bound holds on a TLS connection too: replies are records queued in
// the same outbound buffer, and a client that stops reading after the
// handshake stops the server taking its lines.
func TestNonReadingTLSClientIsBounded(t *testing.T) {
	const bound, replySize, lines = 16 << 10, 1 << 10, 20000
	pair := testcert.MustNew()
	s := &answererServer{lost: make(chan error, 4)}
	reply := append(bytes.Repeat([]byte("r"), replySize-1), '\n')
	r := reactor.New(reactor.Config{Loops: 1, MaxOutbound: bound, Logger: quietLogger()})
	require.NoError(t, r.ListenTLS("127.0.0.1:0", pair.ServerConfig(), protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		a := &answerer{maxQueued: &s.maxQueued, answered: &s.answered, lost: s.lost, reply: reply}
		a.MaxQueued = bound
		return a
	})))
	require.NoError(t, r.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	})
	c := tls.Client(dialSmallWindow(t, r.Addrs()[0]), pair.ClientConfig("localhost"))
	require.NoError(t, c.Handshake())
	_, err := c.Write(bytes.Repeat([]byte("x\r\n"), lines))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return s.answered.Load() > 0 }, 10*time.Second, time.Millisecond)
	time.Sleep(200 * time.Millisecond) // let it run into the bound (a bound, not a timing assertion)
	assert.Less(t, s.answered.Load(), int64(lines), "the server stopped taking lines")
	assert.LessOrEqual(t, s.maxQueued.Load(), int64(bound+2*linesBetweenChecks*replySize),
		"the backlog stays under the bound plus the records between two checks")
}
