//go:build linux

package reactor_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/reactor"
)

// listening counts the sockets in LISTEN state on 127.0.0.1:port
// (/proc/net/tcp).
func listening(t *testing.T, port int) int {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	require.NoError(t, err)
	defer f.Close()
	local := fmt.Sprintf("0100007F:%04X", port)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 3 && fields[1] == local && fields[3] == "0A" {
			n++
		}
	}
	require.NoError(t, sc.Err())
	return n
}

// madeTeller tells when each connection is made.
type madeTeller struct {
	protocol.BaseProtocol
	made chan<- struct{}
}

func (p *madeTeller) ConnectionMade() { p.made <- struct{}{} }

// By default every loop has its own SO_REUSEPORT listener, all on the
// one port even when it was asked as port 0, and connections to that
// port are served on every loop, each listener there as Start returns;
// with NoReusePort one socket listens and
// the connections are handed to every loop all the same.
func TestEveryLoopAcceptsOnTheOnePort(t *testing.T) {
	for _, tc := range []struct {
		name      string
		noReuse   bool
		listeners int
	}{{"reuseport", false, 2}, {"one acceptor", true, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			made := make(chan struct{}, 1)
			r := startReactor(t, reactor.Config{Loops: 2, NoReusePort: tc.noReuse}, map[string]protocol.Factory{
				"127.0.0.1:0": protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return &madeTeller{made: made} }),
			}, []string{"127.0.0.1:0"})
			addr := r.Addrs()[0]
			port := addr.(*net.TCPAddr).Port
			// Every loop's copy is bound and listening when Start returns
			// (gnet patch 3): "serving" means every descriptor is there.
			require.Equal(t, tc.listeners, listening(t, port), "listening when Start returns")
			for range 64 { // distinct source ports: the kernel's hash spreads them
				c := dial(t, addr)
				<-made
				c.Close()
			}
			assert.Equal(t, 2, reactor.LoopsServing(r), "connections served on both loops")
			time.Sleep(50 * time.Millisecond)
			assert.Equal(t, tc.listeners, listening(t, port), "no other listener appeared")
		})
	}
}

// SO_REUSEPORT would let a second server of the same user bind a port in
// use and take a share of its connections: Start refuses instead, as
// without the option, whether the port's holder is another reactor or
// any other listener.
func TestStartRefusesAPortInUse(t *testing.T) {
	r1 := startReactor(t, reactor.Config{Loops: 2}, map[string]protocol.Factory{"127.0.0.1:0": factory("one")}, []string{"127.0.0.1:0"})
	taken := r1.Addrs()[0].String()
	r2 := reactor.New(reactor.Config{Loops: 2, Logger: quietLogger()})
	require.NoError(t, r2.Listen(taken, factory("two")))
	err := r2.Start()
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.Contains(t, err.Error(), taken)

	c := dial(t, r1.Addrs()[0])
	assert.Equal(t, "hello one", c.line(t), "the first keeps its connections")
}
