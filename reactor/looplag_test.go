package reactor_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/reactor"
)

// stalling blocks its loop for 300 ms on "stall" (what a protocol must
// never do, and what LoopLag is there to show).
type stalling struct{ protocol.BaseProtocol }

func (p *stalling) DataReceived(b []byte) {
	time.Sleep(300 * time.Millisecond)
	_ = p.Transport.Write(b)
}

// LoopLag is small on an idle loop, and shows a loop that a callback
// holds: its probe waits behind the callback.
func TestLoopLagShowsABlockedLoop(t *testing.T) {
	r := startReactor(t, reactor.Config{Loops: 1},
		map[string]protocol.Factory{"127.0.0.1:0": protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &stalling{} })},
		[]string{"127.0.0.1:0"})
	assert.Zero(t, r.LoopLag(time.Second), "no loop known before a connection")
	c := dial(t, r.Addrs()[0])
	require.Eventually(t, func() bool { return r.LoopLag(time.Second) > 0 }, 10*time.Second, 10*time.Millisecond, "the loop is known once it served a connection")
	idle := r.LoopLag(time.Second)

	c.send(t, "stall\n")
	time.Sleep(50 * time.Millisecond) // the callback is running
	lag := r.LoopLag(time.Second)
	// Lower bounds only (a loaded machine makes lags longer, not
	// shorter): the probe waits out most of the 300 ms callback.
	assert.Greater(t, lag, 150*time.Millisecond)
	assert.Greater(t, lag, idle, "a blocked loop lags more than the idle one did")
	assert.LessOrEqual(t, lag, time.Second)
	assert.Equal(t, "stall", c.line(t))
	assert.Equal(t, 20*time.Millisecond, func() time.Duration {
		c.send(t, "stall\n")
		time.Sleep(50 * time.Millisecond)
		return r.LoopLag(20 * time.Millisecond)
	}(), "a probe still waiting at the timeout counts as the timeout")
	assert.Equal(t, "stall", c.line(t))
}
