package dtp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/internal/testcert"
)

var tlsPair = testcert.MustNew("localhost")

// tlsTransfer runs the server side of a handshake on one end of a TCP
// pair; the client end comes back as TLS (nil if its handshake failed).
func tlsHandshake(t *testing.T, verify func(tls.ConnectionState) error) (*dtp.TLSConn, *tls.Conn, error) {
	t.Helper()
	srv, cli := pair(t)
	tc := tls.Client(cli, tlsPair.ClientConfig("localhost"))
	go func() { _ = tc.Handshake() }()
	c, err := dtp.Handshake(context.Background(), srv, dtp.TLS{Config: tlsPair.ServerConfig(), Verify: verify})
	return c, tc, err
}

func TestTLSSendAndReceiveByteForByte(t *testing.T) {
	_, payload := randomFile(t, 3<<20+7)
	for _, ascii := range []bool{false, true} {
		c, tc, err := tlsHandshake(t, nil)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() {
			_, err := dtp.SendTLS(context.Background(), c, bytes.NewReader(payload), ascii, 0)
			done <- err
		}()
		got, err := io.ReadAll(tc)
		require.NoError(t, err, "the server's close_notify ends the data")
		require.NoError(t, <-done)
		if ascii {
			_, want := sendAll(t, bytes.NewReader(payload), true)
			assert.True(t, bytes.Equal(want, got), "ASCII converted as Send does")
		} else {
			assert.True(t, bytes.Equal(payload, got))
		}
	}

	c, tc, err := tlsHandshake(t, nil)
	require.NoError(t, err)
	go func() { _, _ = tc.Write(payload); _ = tc.Close() }()
	var dst bytes.Buffer
	n, err := dtp.ReceiveTLS(context.Background(), c, writerOnly{&dst}, false, 0)
	require.NoError(t, err)
	assert.Equal(t, int64(len(payload)), n)
	assert.True(t, bytes.Equal(payload, dst.Bytes()))
}

// TestTLSSendFromAFileByteForByte covers SendTLS's file path, where the
// last short read's records wait for the close_notify: empty, small, a
// whole number of chunks (the close_notify alone at the end), several
// chunks and a tail, and a file read from an offset (REST).
func TestTLSSendFromAFileByteForByte(t *testing.T) {
	const chunk = 128 << 10
	for _, size := range []int{0, 1, 4096, chunk, 2 * chunk, 2*chunk + 7, 3<<20 + 11} {
		for _, offset := range []int64{0, 5} {
			if int64(size) < offset {
				continue
			}
			p, payload := randomFile(t, size)
			f, err := os.Open(p)
			require.NoError(t, err)
			_, err = f.Seek(offset, io.SeekStart)
			require.NoError(t, err)
			c, tc, err := tlsHandshake(t, nil)
			require.NoError(t, err)
			got, n := sendTLSAll(t, c, tc, f)
			assert.Equal(t, int64(size)-offset, n)
			assert.True(t, bytes.Equal(payload[offset:], got), "size %d offset %d: byte for byte", size, offset)
			f.Close()
		}
	}
}

// TestTLSSendFromAPipeInPieces drives SendTLS's file path where a short
// read is not the end: what was held goes out before the next piece.
func TestTLSSendFromAPipeInPieces(t *testing.T) {
	_, payload := randomFile(t, 300<<10+3)
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	c, tc, err := tlsHandshake(t, nil)
	require.NoError(t, err)
	go func() {
		defer pw.Close()
		for rest := payload; len(rest) > 0; {
			k := min(len(rest), 70<<10)
			if _, err := pw.Write(rest[:k]); err != nil {
				return
			}
			rest = rest[k:]
			time.Sleep(time.Millisecond) // the reader's next read finds nothing yet
		}
	}()
	got, _ := sendTLSAll(t, c, tc, pr)
	assert.True(t, bytes.Equal(payload, got), "byte for byte, in order")
}

// sendTLSAll runs a binary SendTLS from src on c and returns what the
// client end tc read until the server's close_notify, and SendTLS's count.
func sendTLSAll(t *testing.T, c *dtp.TLSConn, tc *tls.Conn, src io.Reader) ([]byte, int64) {
	t.Helper()
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := dtp.SendTLS(context.Background(), c, src, false, time.Minute)
		done <- result{n, err}
	}()
	got, err := io.ReadAll(tc)
	require.NoError(t, err, "the server's close_notify ends the data")
	r := <-done
	require.NoError(t, r.err)
	return got, r.n
}

func TestTLSHandshakeFailures(t *testing.T) {
	srv, cli := pair(t)
	go func() { _, _ = cli.Write([]byte("USER plaintext\r\n")) }()
	_, err := dtp.Handshake(context.Background(), srv, dtp.TLS{Config: tlsPair.ServerConfig()})
	assert.ErrorIs(t, err, dtp.ErrDataTLS, "plaintext under PROT P")

	refused := errors.New("not resumed")
	_, _, err = tlsHandshake(t, func(tls.ConnectionState) error { return refused })
	assert.ErrorIs(t, err, refused, "Verify's error refuses the connection")
}

// A connection cut inside a record is the client's failure, never a
// complete upload.
func TestTLSReceiveCutMidRecordIsPeerClosed(t *testing.T) {
	srv, cli := pair(t)
	tc := tls.Client(cli, tlsPair.ClientConfig("localhost"))
	go func() {
		if tc.Handshake() != nil {
			return
		}
		_, _ = tc.Write(bytes.Repeat([]byte("x"), 100000))
		_, _ = cli.Write([]byte{23, 3, 3, 0x40, 0}) // a record header, then the end
		_ = cli.CloseWrite()
	}()
	c, err := dtp.Handshake(context.Background(), srv, dtp.TLS{Config: tlsPair.ServerConfig()})
	require.NoError(t, err)
	_, err = dtp.ReceiveTLS(context.Background(), c, io.Discard, false, 0)
	assert.ErrorIs(t, err, dtp.ErrPeerClosed)
}
