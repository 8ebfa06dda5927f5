//go:build linux

package dtp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/dtp"
)

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

// quickListener is a kept passive listener and a file of size bytes.
func quickListener(t *testing.T, size int) (*dtp.Passive, *os.File, []byte) {
	t.Helper()
	p, err := dtp.Listen(dtp.Config{AcceptTimeout: safety}, nil, loopback)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	path, data := randomFile(t, size)
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return p, f, data
}

// dialQueued connects to p from the address d binds to and waits until
// the connection is in p's queue.
func dialQueued(t *testing.T, p *dtp.Passive, d *net.Dialer) *net.TCPConn {
	t.Helper()
	c, err := d.Dial("tcp", p.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.Eventually(t, p.Ready, safety, time.Millisecond, "the connection waits in the queue")
	require.NoError(t, c.SetDeadline(time.Now().Add(safety)))
	return c.(*net.TCPConn)
}

// With nobody connected, QuickSend does nothing: the listener still
// accepts the connection that comes later, as the usual path would.
func TestQuickSendWithNobodyQueued(t *testing.T) {
	p, f, _ := quickListener(t, 4096)
	q := p.QuickSend(loopback, f, 0, 4096)
	assert.Equal(t, dtp.Quick{}, q)

	c := dialQueued(t, p, &net.Dialer{})
	srv, err := p.AcceptKeep(context.Background(), loopback)
	require.NoError(t, err)
	srv.Close()
	c.Close()
}

// A download from an offset: the client reads exactly the file's bytes
// from there, then an end of file (a FIN, not an RST), and the listener
// stays open for the next transfer; no descriptor is left behind.
func TestQuickSendSendsTheRestOfTheFileAndCloses(t *testing.T) {
	p, f, data := quickListener(t, dtp.QuickMax)
	base := openFDs(t)
	c := dialQueued(t, p, &net.Dialer{})
	const offset = 1000
	q := p.QuickSend(loopback, f, offset, int64(len(data)-offset))
	require.NoError(t, q.Err)
	assert.True(t, q.Taken)
	assert.Nil(t, q.Rest)
	assert.Equal(t, int64(len(data)-offset), q.Sent)
	got, err := io.ReadAll(c)
	require.NoError(t, err, "a clean end of file, not a reset")
	assert.Equal(t, data[offset:], got)
	c.Close()
	assert.Equal(t, base, openFDs(t), "the server's side of the connection is closed")
	pos, err := f.Seek(0, io.SeekCurrent)
	require.NoError(t, err)
	assert.Zero(t, pos, "sendfile with an offset leaves the file's position alone")

	// The next transfer on the same listener.
	c2 := dialQueued(t, p, &net.Dialer{})
	q = p.QuickSend(loopback, f, 0, 10)
	require.NoError(t, q.Err)
	got, err = io.ReadAll(c2)
	require.NoError(t, err)
	assert.Equal(t, data[:10], got)
}

// A stranger's connection ahead of the client's is reset and counted
// (RFC 2577), and the client's gets the data; a stranger alone gets
// nothing and QuickSend reports nothing taken.
func TestQuickSendRefusesStrangers(t *testing.T) {
	var foreign []*net.TCPAddr
	p, err := dtp.Listen(dtp.Config{AcceptTimeout: safety, OnForeignPeer: func(a *net.TCPAddr) { foreign = append(foreign, a) }}, nil, loopback)
	require.NoError(t, err)
	defer p.Close()
	path, data := randomFile(t, 4096)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()

	s := dialQueued(t, p, &net.Dialer{LocalAddr: &net.TCPAddr{IP: stranger}})
	c, err := net.Dial("tcp", p.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(safety)))
	time.Sleep(50 * time.Millisecond) // both in the queue, the stranger's first

	q := p.QuickSend(loopback, f, 0, 4096)
	require.NoError(t, q.Err)
	require.True(t, q.Taken)
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Equal(t, data, got)
	_, err = s.Read(make([]byte, 1))
	assert.True(t, errors.Is(err, syscall.ECONNRESET), "the stranger is reset, got %v", err)
	assert.Equal(t, int64(1), p.Rejected())
	require.Len(t, foreign, 1)
	assert.True(t, foreign[0].IP.Equal(stranger))

	s2 := dialQueued(t, p, &net.Dialer{LocalAddr: &net.TCPAddr{IP: stranger}})
	assert.False(t, p.QuickSend(loopback, f, 0, 4096).Taken, "only a stranger waited")
	_, err = s2.Read(make([]byte, 1))
	assert.True(t, errors.Is(err, syscall.ECONNRESET), "got %v", err)
	assert.Equal(t, int64(2), p.Rejected())
}

// When the socket's buffer fills before the end (a client that reads
// nothing yet, a small receive buffer, more than QuickMax asked for),
// QuickSend hands the connection over with the file positioned after
// what it sent, and Send finishes it: the client reads every byte once.
func TestQuickSendHandsOverWhenTheBufferFills(t *testing.T) {
	const size = 8 << 20
	p, f, data := quickListener(t, size)
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	c := dialQueued(t, p, d)
	q := p.QuickSend(loopback, f, 0, size)
	require.NoError(t, q.Err)
	require.True(t, q.Taken)
	require.NotNil(t, q.Rest, "8 MiB do not fit a socket's buffers")
	assert.Less(t, q.Sent, int64(size))

	done := make(chan error, 1)
	var n int64
	go func() {
		var err error
		n, err = dtp.Send(context.Background(), q.Rest, &io.LimitedReader{R: f, N: size - q.Sent}, false, safety)
		done <- err
	}()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.NoError(t, <-done)
	assert.Equal(t, int64(size)-q.Sent, n)
	assert.Equal(t, len(data), len(got))
	assert.True(t, string(data) == string(got), "byte for byte")
}

// A client that reset its connection while it waited in the queue: the
// transfer fails as the client's doing (ErrPeerClosed), without a crash
// or a descriptor left open.
func TestQuickSendToAResetConnection(t *testing.T) {
	p, f, _ := quickListener(t, 4096)
	base := openFDs(t)
	c := dialQueued(t, p, &net.Dialer{})
	require.NoError(t, c.SetLinger(0))
	require.NoError(t, c.Close())
	time.Sleep(20 * time.Millisecond) // the RST reaches the queued socket
	q := p.QuickSend(loopback, f, 0, 4096)
	// Linux keeps a reset connection in the queue: accept4 returns it and
	// the sendfile fails.
	require.True(t, q.Taken)
	assert.ErrorIs(t, q.Err, dtp.ErrPeerClosed)
	assert.Nil(t, q.Rest)
	assert.Equal(t, base, openFDs(t))
}
