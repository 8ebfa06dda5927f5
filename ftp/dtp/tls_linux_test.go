package dtp_test

import (
	"bytes"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestTLSSendOfASmallFileIsOneWrite: a file that fits in one chunk goes
// out with its close_notify in one write(2), so the client wakes once.
// The kernel counts it: one segment with data reaches the client
// (TCP_INFO's data_segs_in; on loopback a write of a few records is one
// segment), where separate writes of the records and the alert
// were two.
func TestTLSSendOfASmallFileIsOneWrite(t *testing.T) {
	for _, size := range []int{1, 4096, 20000} {
		p, payload := randomFile(t, size)
		f, err := os.Open(p)
		require.NoError(t, err)
		c, tc, err := tlsHandshake(t, nil)
		require.NoError(t, err)
		require.NoError(t, tc.Handshake())
		cli := tc.NetConn().(*net.TCPConn)
		before := dataSegmentsIn(t, cli)
		got, _ := sendTLSAll(t, c, tc, f)
		assert.True(t, bytes.Equal(payload, got))
		assert.Equal(t, uint32(1), dataSegmentsIn(t, cli)-before, "%d bytes: the records and the close_notify in one write", size)
		f.Close()
	}
}

// dataSegmentsIn is how many segments with data conn has received.
func dataSegmentsIn(t *testing.T, conn *net.TCPConn) uint32 {
	t.Helper()
	rc, err := conn.SyscallConn()
	require.NoError(t, err)
	var info *unix.TCPInfo
	var ierr error
	require.NoError(t, rc.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }))
	require.NoError(t, ierr)
	return info.Data_segs_in
}
