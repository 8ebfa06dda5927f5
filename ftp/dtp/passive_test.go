package dtp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
)

type acceptResult struct {
	c   *net.TCPConn
	err error
}

func acceptAsync(p *dtp.Passive, ctx context.Context, peer net.IP) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		c, err := p.Accept(ctx, peer)
		ch <- acceptResult{c, err}
	}()
	return ch
}

func TestPassiveAcceptsOnlyThePeer(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	cfg := dtp.Config{AcceptTimeout: safety, OnForeignPeer: func(a *net.TCPAddr) {
		mu.Lock()
		seen = append(seen, a.IP.String())
		mu.Unlock()
	}}
	p, err := dtp.Listen(cfg, nil, loopback)
	require.NoError(t, err)
	addr := p.Addr().String()
	got := acceptAsync(p, context.Background(), loopback)

	// A third party (another source address) connects first: it is reset
	// and gets no data; the listener keeps waiting.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: stranger}}
	other, err := d.Dial("tcp", addr)
	if err != nil {
		// The reset can beat connect(2)'s return.
		assert.ErrorIs(t, err, syscall.ECONNRESET)
	} else {
		require.NoError(t, other.SetDeadline(time.Now().Add(safety)))
		b, err := io.ReadAll(other)
		assert.Empty(t, b)
		assert.ErrorIs(t, err, syscall.ECONNRESET, "reset, not a clean end of file")
		other.Close()
	}

	good, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer good.Close()
	r := <-got
	require.NoError(t, r.err)
	defer r.c.Close()
	assert.Equal(t, good.LocalAddr().String(), r.c.RemoteAddr().String())
	assert.Equal(t, int64(1), p.Rejected())
	mu.Lock()
	assert.Equal(t, []string{"127.0.0.2"}, seen)
	mu.Unlock()

	// One connection per Passive: the listener is gone.
	_, err = net.DialTimeout("tcp", addr, safety)
	assert.Error(t, err)
}

func TestPassiveAllowForeignPeers(t *testing.T) {
	p, err := dtp.Listen(dtp.Config{AcceptTimeout: safety, AllowForeignPeers: true}, nil, loopback)
	require.NoError(t, err)
	got := acceptAsync(p, context.Background(), loopback)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: stranger}}
	c, err := d.Dial("tcp", p.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	r := <-got
	require.NoError(t, r.err)
	defer r.c.Close()
	assert.Equal(t, c.LocalAddr().String(), r.c.RemoteAddr().String())
	assert.Zero(t, p.Rejected())
}

func TestPassiveIPv6EPSV(t *testing.T) {
	probe, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback in this kernel: %v", err)
	}
	probe.Close()
	p, err := dtp.Listen(dtp.Config{AcceptTimeout: safety}, nil, net.IPv6loopback)
	require.NoError(t, err)
	assert.Equal(t, "::1", p.Addr().IP.String())
	reply := "229 Entering Extended Passive Mode " + ftpwire.FormatEPSV(p.Port())
	var port int
	_, err = fmt.Sscanf(reply, "229 Entering Extended Passive Mode (|||%d|)", &port)
	require.NoError(t, err)
	got := acceptAsync(p, context.Background(), net.IPv6loopback)
	c, err := net.Dial("tcp6", net.JoinHostPort("::1", strconv.Itoa(port)))
	require.NoError(t, err)
	defer c.Close()
	r := <-got
	require.NoError(t, r.err)
	defer r.c.Close()
	_, err = r.c.Write([]byte("v6"))
	require.NoError(t, err)
	buf := make([]byte, 2)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	assert.Equal(t, "v6", string(buf))
}

func TestPassiveMappedIPv4ListensOnIPv4(t *testing.T) {
	p, err := dtp.Listen(dtp.Config{}, nil, net.ParseIP("::ffff:127.0.0.1"))
	require.NoError(t, err)
	defer p.Close()
	assert.Equal(t, "127.0.0.1", p.Addr().IP.String())
}

func TestPassiveAcceptTimeout(t *testing.T) {
	p, err := dtp.Listen(dtp.Config{AcceptTimeout: 50 * time.Millisecond}, nil, loopback)
	require.NoError(t, err)
	_, err = p.Accept(context.Background(), loopback)
	assert.ErrorIs(t, err, dtp.ErrAcceptTimeout)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	_, err = net.DialTimeout("tcp", p.Addr().String(), safety)
	assert.Error(t, err, "the listener is closed after the timeout")
}

func TestPassiveCancelUnblocksAccept(t *testing.T) {
	p, err := dtp.Listen(dtp.Config{AcceptTimeout: time.Hour}, nil, loopback)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	got := acceptAsync(p, ctx, loopback)
	cancel()
	select {
	case r := <-got:
		assert.ErrorIs(t, r.err, context.Canceled)
		assert.NotErrorIs(t, r.err, dtp.ErrAcceptTimeout)
	case <-time.After(safety):
		t.Fatal("cancel did not unblock Accept")
	}

	p, err = dtp.Listen(dtp.Config{AcceptTimeout: time.Hour}, nil, loopback)
	require.NoError(t, err)
	got = acceptAsync(p, context.Background(), loopback)
	require.NoError(t, p.Close(), "Close from another goroutine also unblocks it")
	r := <-got
	assert.ErrorIs(t, r.err, net.ErrClosed)
}

func TestPortRangeExhaustionAndRelease(t *testing.T) {
	base := freePorts(t, 2)
	ports := dtp.NewPorts(base, base+1)
	require.NoError(t, ports.Err())
	a, err := dtp.Listen(dtp.Config{}, ports, loopback)
	require.NoError(t, err)
	b, err := dtp.Listen(dtp.Config{}, ports, loopback)
	require.NoError(t, err)
	assert.ElementsMatch(t, []int{base, base + 1}, []int{a.Port(), b.Port()})
	assert.Equal(t, 2, ports.InUse())

	_, err = dtp.Listen(dtp.Config{}, ports, loopback)
	assert.ErrorIs(t, err, dtp.ErrNoPort)
	assert.Contains(t, err.Error(), fmt.Sprintf("%d-%d", base, base+1), "the error names the range")

	require.NoError(t, a.Close())
	require.NoError(t, a.Close(), "twice is harmless")
	c, err := dtp.Listen(dtp.Config{}, ports, loopback)
	require.NoError(t, err, "a released port is handed out again")
	assert.Equal(t, a.Port(), c.Port())
	require.NoError(t, b.Close())
	require.NoError(t, c.Close())
	assert.Zero(t, ports.InUse())
}

func TestPortRangeSkipsPortsBoundElsewhere(t *testing.T) {
	base := freePorts(t, 3)
	taken, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+1)))
	require.NoError(t, err)
	defer taken.Close()
	ports := dtp.NewPorts(base, base+2)
	var got []int
	for i := 0; i < 2; i++ {
		p, err := dtp.Listen(dtp.Config{}, ports, loopback)
		require.NoError(t, err)
		defer p.Close()
		got = append(got, p.Port())
	}
	assert.ElementsMatch(t, []int{base, base + 2}, got, "the port bound by someone else is skipped")
	_, err = dtp.Listen(dtp.Config{}, ports, loopback)
	assert.ErrorIs(t, err, dtp.ErrNoPort)
	assert.Equal(t, 2, ports.InUse(), "the skipped port is not held")
}

func TestPortRangeRoundRobin(t *testing.T) {
	base := freePorts(t, 4)
	ports := dtp.NewPorts(base, base+3)
	var seq []int
	for i := 0; i < 8; i++ {
		p, err := dtp.Listen(dtp.Config{}, ports, loopback)
		require.NoError(t, err)
		seq = append(seq, p.Port())
		require.NoError(t, p.Close())
	}
	for i := 1; i < len(seq); i++ {
		want := seq[i-1] + 1
		if want > base+3 {
			want = base
		}
		assert.Equal(t, want, seq[i], "ports follow each other round-robin even when released: %v", seq)
	}
}

func TestPortRangeConcurrentListens(t *testing.T) {
	const n = 16
	base := freePorts(t, n)
	ports := dtp.NewPorts(base, base+n-1)
	var wg sync.WaitGroup
	got := make(chan *dtp.Passive, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := dtp.Listen(dtp.Config{}, ports, loopback)
			if assert.NoError(t, err) {
				got <- p
			}
		}()
	}
	wg.Wait()
	close(got)
	seen := map[int]bool{}
	for p := range got {
		assert.False(t, seen[p.Port()], "port %d handed out twice", p.Port())
		seen[p.Port()] = true
		p.Close()
	}
	assert.Len(t, seen, n)
	assert.Zero(t, ports.InUse())
}

func TestBadPortRange(t *testing.T) {
	for _, r := range [][2]int{{0, 10}, {10, 5}, {-1, 5}, {60000, 70000}} {
		ports := dtp.NewPorts(r[0], r[1])
		assert.ErrorIs(t, ports.Err(), dtp.ErrBadRange, "%v", r)
		_, err := dtp.Listen(dtp.Config{}, ports, loopback)
		assert.ErrorIs(t, err, dtp.ErrBadRange, "%v", r)
	}
	assert.NoError(t, dtp.NewPorts(0, 0).Err())
	var none *dtp.Ports
	assert.NoError(t, none.Err())
}

func TestListenOnForeignIPFailsAtOnce(t *testing.T) {
	base := freePorts(t, 2)
	ports := dtp.NewPorts(base, base+1)
	_, err := dtp.Listen(dtp.Config{}, ports, net.IPv4(192, 0, 2, 1)) // TEST-NET-1: not local
	require.Error(t, err)
	assert.False(t, errors.Is(err, dtp.ErrNoPort), "the real cause, not 'all busy': %v", err)
	assert.Zero(t, ports.InUse())
}

func TestDefaultPassiveRangeAvoidsTheEphemeralRange(t *testing.T) {
	lo, hi := dtp.DefaultPassiveRange()
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		assert.Equal(t, [2]int{0, 0}, [2]int{lo, hi})
		return
	}
	var start int
	_, _ = fmt.Sscan(string(b), &start)
	if start-1 < 2048 {
		assert.Equal(t, [2]int{0, 0}, [2]int{lo, hi})
		return
	}
	assert.Equal(t, 1024, lo)
	assert.Equal(t, start-1, hi)
	p, err := dtp.Listen(dtp.Config{}, dtp.NewPorts(lo, hi), loopback)
	require.NoError(t, err)
	assert.Less(t, p.Port(), start)
	p.Close()
}

// Data connections carry one transfer: no TCP keep-alive (Go turns it on
// by default, at four setsockopt calls per connection).
func TestPassiveDataConnectionHasNoKeepAlive(t *testing.T) {
	p, err := dtp.Listen(dtp.Config{AcceptTimeout: safety}, nil, loopback)
	require.NoError(t, err)
	got := acceptAsync(p, context.Background(), loopback)
	c, err := net.Dial("tcp", p.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	r := <-got
	require.NoError(t, r.err)
	defer r.c.Close()
	rc, err := r.c.SyscallConn()
	require.NoError(t, err)
	var ka int
	var kerr error
	require.NoError(t, rc.Control(func(fd uintptr) { ka, kerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) }))
	require.NoError(t, kerr)
	assert.Zero(t, ka, "SO_KEEPALIVE off on the accepted data connection")
}

// A listener kept across transfers (AcceptKeep) stays open after its
// connection; Ready tells whether a connection waits without taking it;
// Drain resets every waiting connection, the client's stale one as much
// as a stranger's, and leaves the listener to accept the next one.
func TestKeptListenerDrainAndReady(t *testing.T) {
	p, err := dtp.Listen(dtp.Config{AcceptTimeout: safety}, nil, loopback)
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.SetSmallBacklog())
	addr := p.Addr().String()
	assert.False(t, p.Ready(), "nobody connected yet")

	c1, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c1.Close()
	require.Eventually(t, p.Ready, safety, time.Millisecond, "a connection waits")
	s1, err := p.AcceptKeep(context.Background(), loopback)
	require.NoError(t, err)
	s1.Close()
	assert.False(t, p.Ready())

	// Two connections made while no transfer waits: both reset by Drain.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: stranger}}
	var waiting []net.Conn
	for _, dial := range []func() (net.Conn, error){
		func() (net.Conn, error) { return d.Dial("tcp", addr) },
		func() (net.Conn, error) { return net.Dial("tcp", addr) },
	} {
		c, err := dial()
		require.NoError(t, err, "the kept listener takes connections into its queue")
		defer c.Close()
		waiting = append(waiting, c)
	}
	require.Eventually(t, p.Ready, safety, time.Millisecond)
	n := 0
	require.Eventually(t, func() bool {
		m, err := p.Drain()
		require.NoError(t, err)
		n += m
		return n == 2
	}, safety, time.Millisecond, "both drained")
	for _, c := range waiting {
		require.NoError(t, c.SetDeadline(time.Now().Add(safety)))
		b, err := io.ReadAll(c)
		assert.Empty(t, b)
		assert.ErrorIs(t, err, syscall.ECONNRESET)
	}
	m, err := p.Drain()
	require.NoError(t, err)
	assert.Zero(t, m, "nothing left; Drain does not block")

	// The next connection is accepted as usual.
	c3, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c3.Close()
	s3, err := p.AcceptKeep(context.Background(), loopback)
	require.NoError(t, err)
	assert.Equal(t, c3.LocalAddr().String(), s3.RemoteAddr().String())
	s3.Close()
}
