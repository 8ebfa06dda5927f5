package dtp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/dtp"
)

// connSource is a dtp.ConnSource on a TCP connection from a fake store
// (the other end of a pair): head, then n bytes of conn.
type connSource struct {
	head    []byte
	conn    *net.TCPConn
	n       int64
	stall   time.Duration
	spliced int64
	calls   int
}

func (s *connSource) Read(p []byte) (int, error) { return 0, io.ErrUnexpectedEOF } // Send must not read it

func (s *connSource) SourceConn() (dtp.SourceConn, bool) {
	return dtp.SourceConn{Head: s.head, Conn: s.conn, N: s.n, Stall: s.stall}, true
}

func (s *connSource) Spliced(n int64) { s.spliced += n; s.calls++ }

// storePair is a fake store's connection (its end, and the source's),
// both closed with the test so that its writer ends.
func storePair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	a, b := pair(t)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// Send splices a ConnSource's rest from its connection, after its head,
// byte for byte, and tells the source how much it took. A store that
// stops sending (past the stall bound) or ends early fails the transfer
// on the local side (451); a client that goes away fails it on the
// client's (426).
func TestSendSplicesAConnSource(t *testing.T) {
	payload := make([]byte, 5<<20+3)
	_, _ = rand.Read(payload)
	head := []byte("head:")

	t.Run("whole", func(t *testing.T) {
		storeSrv, storeCli := storePair(t) // storeSrv: the store's end
		go func() { _, _ = storeSrv.Write(payload) }()
		srv, cli := pair(t)
		src := &connSource{head: head, conn: storeCli, n: int64(len(payload)), stall: safety}
		done := make(chan error, 1)
		var n int64
		go func() {
			var err error
			n, err = dtp.Send(context.Background(), srv, src, false, safety)
			done <- err
		}()
		got, err := io.ReadAll(cli)
		require.NoError(t, err)
		require.NoError(t, <-done)
		assert.True(t, bytes.Equal(append(append([]byte{}, head...), payload...), got), "head, then the connection's bytes")
		assert.Equal(t, int64(len(head)+len(payload)), n)
		assert.Equal(t, n, src.spliced)
		assert.Equal(t, 1, src.calls)
		// The store's connection is still usable: nothing past n was read.
		go func() { _, _ = storeSrv.Write([]byte("next")) }()
		b := make([]byte, 4)
		_, err = io.ReadFull(storeCli, b)
		require.NoError(t, err)
		assert.Equal(t, "next", string(b))
	})

	t.Run("store stalls", func(t *testing.T) {
		storeSrv, storeCli := storePair(t)
		go func() { _, _ = storeSrv.Write(payload[:100<<10]) }() // then nothing
		srv, cli := pair(t)
		go func() { _, _ = io.Copy(io.Discard, cli) }()
		src := &connSource{conn: storeCli, n: int64(len(payload)), stall: 200 * time.Millisecond}
		n, err := dtp.Send(context.Background(), srv, src, false, safety)
		assert.ErrorIs(t, err, dtp.ErrLocalIO, "the store's side")
		assert.Equal(t, int64(100<<10), n)
		assert.Equal(t, n, src.spliced)
	})

	t.Run("store ends early", func(t *testing.T) {
		storeSrv, storeCli := storePair(t)
		go func() { _, _ = storeSrv.Write(payload[:300<<10]); storeSrv.Close() }()
		srv, cli := pair(t)
		go func() { _, _ = io.Copy(io.Discard, cli) }()
		src := &connSource{conn: storeCli, n: int64(len(payload)), stall: safety}
		n, err := dtp.Send(context.Background(), srv, src, false, safety)
		assert.ErrorIs(t, err, dtp.ErrLocalIO)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Equal(t, int64(300<<10), n)
	})

	t.Run("client goes away", func(t *testing.T) {
		storeSrv, storeCli := storePair(t)
		go func() { _, _ = storeSrv.Write(payload) }()
		srv, cli := pair(t)
		require.NoError(t, srv.SetWriteBuffer(32<<10))
		require.NoError(t, cli.SetReadBuffer(32<<10))
		go func() {
			b := make([]byte, 64<<10)
			_, _ = io.ReadFull(cli, b)
			_ = cli.SetLinger(0)
			cli.Close()
		}()
		src := &connSource{conn: storeCli, n: int64(len(payload)), stall: safety}
		n, err := dtp.Send(context.Background(), srv, src, false, safety)
		assert.ErrorIs(t, err, dtp.ErrPeerClosed, "the client's side")
		assert.Less(t, n, int64(len(payload)))
		assert.Equal(t, n, src.spliced)
	})

	t.Run("abort", func(t *testing.T) {
		storeSrv, storeCli := storePair(t)
		go func() { _, _ = storeSrv.Write(payload[:1<<10]) }() // then the store waits
		srv, cli := pair(t)
		go func() { _, _ = io.Copy(io.Discard, cli) }()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel) // ABOR while the splice waits on the store
		src := &connSource{conn: storeCli, n: int64(len(payload)), stall: safety}
		_, err := dtp.Send(ctx, srv, src, false, safety)
		assert.ErrorIs(t, err, context.Canceled)
	})
}
