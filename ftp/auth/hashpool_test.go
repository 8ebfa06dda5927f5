package auth_test

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/auth"
)

var (
	guesser = netip.MustParseAddr("192.0.2.66")
	honest  = netip.MustParseAddr("198.51.100.7")
)

// gate is a check that blocks until opened, recording that it started.
type gate struct {
	started chan string
	open    chan struct{}
}

func newGate() *gate { return &gate{started: make(chan string, 1000), open: make(chan struct{})} }

func (g *gate) check(name string) func() {
	return func() { g.started <- name; <-g.open }
}

func (g *gate) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-g.started:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no check started")
		return ""
	}
}

func (g *gate) none(t *testing.T) {
	t.Helper()
	select {
	case s := <-g.started:
		t.Fatalf("check %s started", s)
	case <-time.After(20 * time.Millisecond):
	}
}

func TestHashPoolServesClientsInTurn(t *testing.T) {
	p := auth.NewHashPool(auth.HashPoolConfig{Workers: 1})
	defer p.Close()
	g := newGate()
	for range 100 {
		require.NoError(t, p.Submit(guesser, g.check("guess")))
	}
	require.NoError(t, p.Submit(honest, g.check("honest")))
	assert.Equal(t, "guess", g.next(t))
	g.none(t) // one worker
	g.open <- struct{}{}
	assert.Equal(t, "honest", g.next(t), "the other client goes next, not after the 99 other guesses")
	close(g.open)
}

func TestHashPoolLetsNoClientHoldEveryWorker(t *testing.T) {
	p := auth.NewHashPool(auth.HashPoolConfig{Workers: 4})
	defer p.Close()
	g := newGate()
	for range 50 {
		require.NoError(t, p.Submit(guesser, g.check("guess")))
	}
	g.next(t)
	g.next(t)
	g.none(t) // PerClient defaults to half the workers
	require.NoError(t, p.Submit(honest, g.check("honest")))
	assert.Equal(t, "honest", g.next(t), "a free worker serves another client at once")
	assert.Equal(t, 48, p.Waiting())
	close(g.open)
}

func TestHashPoolQueueIsBounded(t *testing.T) {
	p := auth.NewHashPool(auth.HashPoolConfig{Workers: 1, Queue: 3})
	defer p.Close()
	g := newGate()
	require.NoError(t, p.Submit(guesser, g.check("running")))
	g.next(t)
	for range 3 {
		require.NoError(t, p.Submit(guesser, g.check("queued")))
	}
	assert.ErrorIs(t, p.Submit(guesser, g.check("over")), auth.ErrBusy)
	assert.ErrorIs(t, p.Submit(honest, g.check("over")), auth.ErrBusy, "the queue is shared")
	close(g.open)
}

func TestHashPoolBoundsConcurrencyAndDrainsOnClose(t *testing.T) {
	p := auth.NewHashPool(auth.HashPoolConfig{Workers: 3, PerClient: 3})
	var running, peak, done atomic.Int32
	var mu sync.Mutex
	for i := range 200 {
		addr := netip.AddrFrom4([4]byte{10, 0, 0, byte(i % 7)})
		require.NoError(t, p.Submit(addr, func() {
			n := running.Add(1)
			mu.Lock()
			if n > peak.Load() {
				peak.Store(n)
			}
			mu.Unlock()
			time.Sleep(100 * time.Microsecond)
			running.Add(-1)
			done.Add(1)
		}))
	}
	p.Close()
	assert.Equal(t, int32(200), done.Load(), "Close lets queued checks finish")
	assert.LessOrEqual(t, peak.Load(), int32(3))
	assert.ErrorIs(t, p.Submit(honest, func() {}), auth.ErrClosed)
	p.Close()
}

func TestClientHashPoolSubmits(t *testing.T) {
	p := auth.NewHashPool(auth.HashPoolConfig{})
	defer p.Close()
	ran := make(chan struct{})
	require.NoError(t, p.For(honest).Submit(func() { close(ran) }))
	<-ran
}
