package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"io/fs"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/s3"
)

// dataPair is a data connection: the server's side (Send's) and the
// client's.
func dataPair(t *testing.T) (server, client *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer ln.Close()
	c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	require.NoError(t, err)
	s, err := ln.AcceptTCP()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); s.Close() })
	// Small buffers: what the client does not read stays with the
	// server, so that a client that goes away fails the transfer.
	require.NoError(t, s.SetWriteBuffer(32<<10))
	require.NoError(t, c.SetReadBuffer(32<<10))
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return s, c
}

// sendObject downloads p from offset through dtp.Send, as RETR does,
// and returns what the client read and Send's result.
func sendObject(t *testing.T, sh shell.Shell, p string, offset int64, readMax int) ([]byte, int64, error) {
	t.Helper()
	r, err := sh.OpenForReading(p, offset)
	require.NoError(t, err)
	defer r.Close()
	server, client := dataPair(t)
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := dtp.Send(context.Background(), server, r, false, 10*time.Second)
		done <- result{n, err}
	}()
	var got []byte
	if readMax > 0 {
		got = make([]byte, readMax)
		_, err = io.ReadFull(client, got)
		require.NoError(t, err)
		require.NoError(t, client.SetLinger(0))
		client.Close() // the client goes away mid-transfer
	} else {
		got, err = io.ReadAll(client)
		require.NoError(t, err)
	}
	res := <-done
	return got, res.n, res.err
}

// A download from the store over http:// is spliced from the store's
// socket to the data connection, whole or from an offset, byte for byte;
// a body read to its end leaves its connection for the next GET. A
// client that goes away mid-transfer fails it on the client's side
// (426), and the store's connection, not read to its end, is closed, not
// reused. Small objects are read as any body.
func TestDownloadSplicedFromTheStoresSocket(t *testing.T) {
	st, c := store(t)
	sh := st.Shell("")
	data := make([]byte, 3<<20+777)
	_, _ = rand.Read(data)
	put(t, sh, "/big", data)
	put(t, sh, "/small", []byte("small object"))
	dials := s3.GetDials(c)

	r, err := sh.OpenForReading("/big", 0)
	require.NoError(t, err)
	cs, ok := r.(dtp.ConnSource)
	require.True(t, ok)
	sc, ok := cs.SourceConn()
	require.True(t, ok, "a whole object with its length over http://: spliceable")
	assert.NotNil(t, sc.Conn)
	assert.Equal(t, int64(len(data)), int64(len(sc.Head))+sc.N, "the head and the rest are the object")
	assert.Positive(t, sc.Stall, "the stall watchdog bounds the splice")
	require.NoError(t, r.Close())
	assert.Equal(t, dials+1, s3.GetDials(c))

	got, n, err := sendObject(t, sh, "/big", 0, 0)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), n)
	assert.True(t, bytes.Equal(data, got), "byte for byte")
	got, n, err = sendObject(t, sh, "/big", 12345, 0)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)-12345), n)
	assert.True(t, bytes.Equal(data[12345:], got), "a ranged GET, byte for byte")
	assert.Equal(t, dials+2, s3.GetDials(c), "the closed-early body's connection was closed; the later ones reused the one after it")

	_, _, err = sendObject(t, sh, "/big", 0, 1<<20)
	assert.ErrorIs(t, err, dtp.ErrPeerClosed, "the client's side failed")
	got, _, err = sendObject(t, sh, "/big", 0, 0)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got))
	assert.Equal(t, dials+3, s3.GetDials(c), "the connection of the aborted download was not reused")

	r, err = sh.OpenForReading("/small", 0)
	require.NoError(t, err)
	_, ok = r.(dtp.ConnSource).SourceConn()
	assert.False(t, ok, "below dtp.SpliceMin: read")
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "small object", string(b))
	require.NoError(t, r.Close())
	assert.Equal(t, "small object", string(get(t, sh, "/small", 0)))
	assert.Equal(t, dials+3, s3.GetDials(c), "small bodies read to the end keep the connection too")

	_, err = sh.OpenForReading("/missing", 0)
	assert.ErrorIs(t, err, fs.ErrNotExist, "an error response through the same transport")
	assert.Equal(t, "small object", string(get(t, sh, "/small", 0)))
}
