package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/bench/procstat"
)

// flooder is a client that pipelines commands answered at once and never
// reads: with a 4 KiB receive window the kernel takes little of the
// replies, and whatever the server queues beyond that is its memory.
// When the server closes it, it connects again, until ctx ends.
func flooder(ctx context.Context, addr string, cmds []byte, closed *atomic.Int64, sent *atomic.Int64) {
	chunk := bytes.Repeat(cmds, (32<<10)/len(cmds)+1)
	d := net.Dialer{Timeout: 2 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	for ctx.Err() == nil {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return
		}
		for ctx.Err() == nil {
			_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			n, err := c.Write(chunk)
			sent.Add(int64(n))
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue // the server stopped reading us: keep pushing
			}
			if err != nil {
				closed.Add(1)
				break
			}
		}
		c.Close()
	}
}

// Three clients that pipeline HELP, NOOP, and USER/PASS before logging in
// and never read: the server's memory stays bounded (each connection's
// outbound backlog is capped, its inbound too, and a flooder that keeps
// going is closed), and the other sessions are served meanwhile. On main
// the same flood queued hundreds of megabytes.
func TestNonReadingFloodersStayBounded(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to read the server's memory")
	}
	p := startFTPDProcess(t, 0, "--log-level", "warn")
	bystander := login(t, p.Addr)
	before, err := procstat.RSS(p.Pid)
	require.NoError(t, err)

	const duration = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var closed, sent atomic.Int64
	var wg sync.WaitGroup
	for _, cmds := range []string{"HELP\r\n", "NOOP\r\n", "USER flood\r\nPASS flood\r\nPWD\r\n"} {
		wg.Add(1)
		go func() { defer wg.Done(); flooder(ctx, p.Addr, []byte(cmds), &closed, &sent) }()
	}
	peak := before
	for ctx.Err() == nil {
		if rss, err := procstat.RSS(p.Pid); err == nil {
			peak = max(peak, rss)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("RSS %d MiB before, peak %d MiB under 3 flooders for %v (they sent %d MiB, were closed %d times)",
		before>>20, peak>>20, duration, sent.Load()>>20, closed.Load())
	assert.Less(t, peak-before, int64(48<<20), "the flood does not grow the server's memory without bound")
	assert.Greater(t, sent.Load(), int64(1<<20), "the flooders did send")
	assert.Equal(t, "200 Command OK", bystander.cmd(t, "NOOP"), "the others are still served")
}
