package dtp_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

var (
	loopback = net.IPv4(127, 0, 0, 1).To4()
	stranger = net.IPv4(127, 0, 0, 2).To4()
)

// safety bounds waits that only a bug would make long.
const safety = 20 * time.Second

// pair returns a passive data connection (server side) and the client.
func pair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	p, err := dtp.Listen(dtp.Config{AcceptTimeout: safety}, nil, loopback)
	require.NoError(t, err)
	cli, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port())))
	require.NoError(t, err)
	srv, err := p.Accept(context.Background(), loopback)
	require.NoError(t, err)
	require.NoError(t, cli.SetDeadline(time.Now().Add(safety)))
	require.NoError(t, srv.SetDeadline(time.Now().Add(safety)))
	return srv, cli.(*net.TCPConn)
}

// freePorts returns n consecutive ports that were free a moment ago.
func freePorts(t testing.TB, n int) int {
	t.Helper()
	for attempt := 0; attempt < 50; attempt++ {
		probe, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		base := probe.Addr().(*net.TCPAddr).Port
		probe.Close()
		if base+n-1 > 65535 {
			continue
		}
		ok := true
		var held []net.Listener
		for p := base; p < base+n; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no run of free ports")
	return 0
}
