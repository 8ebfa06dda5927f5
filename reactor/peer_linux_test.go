package reactor

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// pair returns the two ends of a loopback TCP connection and the
// server end's descriptor.
func pair(t *testing.T) (client, server *net.TCPConn, fd int) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer ln.Close()
	c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	require.NoError(t, err)
	s, err := ln.AcceptTCP()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); s.Close() })
	rc, err := s.SyscallConn()
	require.NoError(t, err)
	require.NoError(t, rc.Control(func(f uintptr) { fd = int(f) }))
	return c, s, fd
}

// eventually polls cond for up to 5 s: loopback delivers a FIN or RST at
// once, but on another goroutine's time.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func TestPeerClosedSeesFINAndRSTWithoutReading(t *testing.T) {
	t.Run("open", func(t *testing.T) {
		_, _, fd := pair(t)
		assert.False(t, peerClosedFD(fd))
	})
	t.Run("data pending", func(t *testing.T) {
		c, s, fd := pair(t)
		_, err := c.Write([]byte("NOOP\r\n"))
		require.NoError(t, err)
		require.True(t, eventually(func() bool { n, err := unix.IoctlGetInt(fd, unix.SIOCINQ); return err == nil && n == 6 }))
		assert.False(t, peerClosedFD(fd), "data is no close")
		b := make([]byte, 6)
		_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = s.Read(b)
		require.NoError(t, err)
		assert.Equal(t, "NOOP\r\n", string(b), "nothing was consumed by the check")
	})
	t.Run("FIN", func(t *testing.T) {
		c, _, fd := pair(t)
		require.NoError(t, c.Close())
		assert.True(t, eventually(func() bool { return peerClosedFD(fd) }))
	})
	t.Run("FIN behind data", func(t *testing.T) {
		c, _, fd := pair(t)
		_, err := c.Write([]byte("QUIT\r\n"))
		require.NoError(t, err)
		require.NoError(t, c.Close())
		assert.True(t, eventually(func() bool { return peerClosedFD(fd) }), "TCP_INFO sees the FIN the peek cannot")
	})
	t.Run("RST", func(t *testing.T) {
		c, _, fd := pair(t)
		require.NoError(t, c.SetLinger(0))
		require.NoError(t, c.Close())
		assert.True(t, eventually(func() bool { return peerClosedFD(fd) }))
	})
}
