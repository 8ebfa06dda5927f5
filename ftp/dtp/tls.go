package dtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// TLS is what a data connection under PROT P (RFC 4217 section 9) gets:
// the server side of a TLS handshake on the accepted (or dialled)
// connection, in both passive and active mode, then records in the
// transfer's buffer (no sendfile: this kernel has no kTLS; with kTLS the
// file could be spliced into a socket whose records the kernel encrypts,
// and SendTLS is where that would plug in).
type TLS struct {
	// Config is the server config of this data connection
	// (ftptls.Server.Data: it resumes only its control session).
	Config *tls.Config
	// Verify, when set, checks the handshake's outcome (ftptls.CheckResumed
	// when session reuse is required); its error refuses the transfer.
	Verify func(tls.ConnectionState) error
	// Timeout bounds the handshake; 0: DefaultAcceptTimeout, negative:
	// none (until the transfer is aborted).
	Timeout time.Duration
}

// ErrDataTLS is the failure of a data connection's TLS handshake: the
// client sent no TLS (a plaintext connection under PROT P), an alert, or
// nothing in time. The PI answers 522 (RFC 4217 section 10.2).
var ErrDataTLS = errors.New("dtp: TLS negotiation on the data connection failed")

// TLSConn is a data connection after its TLS handshake: the TLS
// connection and, under it, the TCP one with this package's batching
// (TLS's records written a chunk at a time, read through a large buffer:
// one system call per chunk instead of one per 16 KiB record). Its
// buffers come from pools and go back when SendTLS or ReceiveTLS ends.
type TLSConn struct {
	TLS *tls.Conn
	tcp *net.TCPConn
	b   *batchConn
}

// ConnectionState is the handshake's outcome.
func (c *TLSConn) ConnectionState() tls.ConnectionState { return c.TLS.ConnectionState() }

// Handshake makes conn a TLS server connection with t, or closes conn
// and returns an error: ErrDataTLS wrapping the handshake's, Verify's
// error, or ctx's when the transfer was aborted. On the transfer's
// goroutine.
func Handshake(ctx context.Context, conn *net.TCPConn, t TLS) (*TLSConn, error) {
	timeout := t.Timeout
	if timeout == 0 {
		timeout = DefaultAcceptTimeout
	}
	if timeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(timeout))
	}
	b := newBatchConn(conn)
	tc := tls.Server(b, t.Config)
	if err := tc.HandshakeContext(ctx); err != nil {
		abort(conn)
		b.release()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dtp: transfer aborted during the TLS handshake: %w", ctx.Err())
		}
		return nil, fmt.Errorf("%w: %w", ErrDataTLS, err)
	}
	if t.Verify != nil {
		if err := t.Verify(tc.ConnectionState()); err != nil {
			abort(conn)
			b.release()
			return nil, err
		}
	}
	_ = conn.SetDeadline(time.Time{})
	return &TLSConn{TLS: tc, tcp: conn, b: b}, nil
}

// Close resets the connection and releases its buffers (a transfer that
// did not run).
func (c *TLSConn) Close() {
	abort(c.tcp)
	c.b.release()
}

// tlsChunk is how much of the source one TLS write takes (8 records),
// and the size of the batching buffers.
const tlsChunk = 128 << 10

// tlsChunkPool holds SendTLS's read buffers; batchPool the batchConns'
// write and read buffers.
var (
	tlsChunkPool = sync.Pool{New: func() any { b := make([]byte, tlsChunk); return &b }}
	batchPool    = sync.Pool{New: func() any { b := make([]byte, 0, tlsChunk+16*tlsRecordOverhead); return &b }}
	readerPool   = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, tlsChunk) }}
)

// closeNotifyWait bounds the write of a close_notify (and the records
// sent with it) when the transfer has no idle timeout: crypto/tls's own
// bound for the alert.
const closeNotifyWait = 5 * time.Second

// tlsRecordOverhead bounds what TLS adds to a record (header, tag,
// content type, padding none).
const tlsRecordOverhead = 64

// batchConn is the TCP connection under a data connection's TLS: while
// batching, the records tls.Conn writes are gathered and sent in one
// write by flush; reads go through a large buffer.
type batchConn struct {
	*net.TCPConn
	rd       *bufio.Reader
	wb       *[]byte
	batching bool
}

func newBatchConn(conn *net.TCPConn) *batchConn {
	rd := readerPool.Get().(*bufio.Reader)
	rd.Reset(conn)
	return &batchConn{TCPConn: conn, rd: rd}
}

func (b *batchConn) Read(p []byte) (int, error) { return b.rd.Read(p) }

func (b *batchConn) Write(p []byte) (int, error) {
	if !b.batching {
		return b.TCPConn.Write(p)
	}
	if b.wb == nil {
		b.wb = batchPool.Get().(*[]byte)
	}
	if len(*b.wb)+len(p) > cap(*b.wb) {
		if err := b.flush(); err != nil {
			return 0, err
		}
	}
	*b.wb = append(*b.wb, p...)
	return len(p), nil
}

// flush sends what was gathered.
func (b *batchConn) flush() error {
	if b.wb == nil || len(*b.wb) == 0 {
		return nil
	}
	_, err := b.TCPConn.Write(*b.wb)
	*b.wb = (*b.wb)[:0]
	return err
}

// release gives the buffers back; the connection is not used after.
func (b *batchConn) release() {
	if b.rd != nil {
		b.rd.Reset(nil)
		readerPool.Put(b.rd)
		b.rd = nil
	}
	if b.wb != nil {
		*b.wb = (*b.wb)[:0]
		batchPool.Put(b.wb)
		b.wb = nil
	}
}

// SendTLS is Send on a TLS data connection: src is copied in 128 KiB
// chunks, each written as full 16 KiB records in one system call (ASCII
// converted as in Send), then a close_notify alert is sent (Python's
// ftplib waits for it in unwrap) before the FIN. Errors as for Send; an
// alert from the client or a record that does not decrypt is
// ErrPeerClosed. The connection's buffers are released.
func SendTLS(ctx context.Context, c *TLSConn, src io.Reader, ascii bool, idle time.Duration) (n int64, err error) {
	defer c.b.release()
	conn := c.tcp
	stop := context.AfterFunc(ctx, func() { abort(conn) })
	var s side
	w := tlsIdle{tc: c.TLS, b: c.b, idle: idle}
	held := false
	if ascii {
		n, s, err = copyLoop(w, src, func(w io.Writer, scratch []byte) io.Writer { return NewCRLFWriter(w, scratch) })
	} else if f, ok := src.(*os.File); ok {
		bp := tlsChunkPool.Get().(*[]byte)
		n, s, held, err = copyFileTLS(w, f, *bp)
		tlsChunkPool.Put(bp)
	} else {
		bp := tlsChunkPool.Get().(*[]byte)
		n, s, err = copyBuf(w, sideNet, readerOnly{src}, *bp)
		tlsChunkPool.Put(bp)
	}
	if err := copyEnded(ctx, stop, conn, err, s); err != nil {
		return n, err
	}
	if idle > 0 {
		_ = conn.SetWriteDeadline(time.Now().Add(idle))
	}
	// The close_notify joins the records a file's last read left in the
	// batch: one write (and one wake-up of the client) for both.
	c.b.batching = held
	err = c.TLS.CloseWrite() // close_notify
	c.b.batching = false
	if err == nil && held {
		// crypto/tls ends the close_notify by setting the write deadline
		// to now (no writes after it): the batch gets one of its own,
		// idle or, as crypto/tls gives the alert, 5 seconds.
		wait := idle
		if wait <= 0 {
			wait = closeNotifyWait
		}
		_ = conn.SetWriteDeadline(time.Now().Add(wait))
		err = c.b.flush()
	}
	if err != nil {
		abort(conn)
		return n, transferErr(ctx, err, sideNet)
	}
	_ = conn.CloseWrite()
	discardUnread(conn)
	if err := conn.Close(); err != nil {
		return n, transferErr(ctx, err, sideNet)
	}
	return n, nil
}

// ReceiveTLS is Receive on a TLS data connection: records are decrypted
// into a pooled buffer and written to dst until the client's close_notify
// or its FIN at a record boundary; then this side's close_notify goes
// out and the connection is closed. A connection cut inside a record is
// ErrPeerClosed, and the upload is not committed. The connection's
// buffers are released.
func ReceiveTLS(ctx context.Context, c *TLSConn, dst io.Writer, ascii bool, idle time.Duration) (n int64, err error) {
	defer c.b.release()
	conn := c.tcp
	stop := context.AfterFunc(ctx, func() { abort(conn) })
	var s side
	r := tlsIdle{tc: c.TLS, b: c.b, idle: idle}
	if ascii {
		var lf *LFWriter
		_, s, err = copyLoop(writerOnly{dst}, r, func(w io.Writer, scratch []byte) io.Writer {
			lf = NewLFWriter(w, scratch)
			return lf
		})
		if err == nil {
			err, s = lf.Flush(), sideLocal
		}
		n = lf.Written()
	} else {
		// Records are 16 KiB; the file gets 128 KiB writes.
		bp := tlsChunkPool.Get().(*[]byte)
		n, s, err = copyBuf(writerOnly{dst}, sideLocal, fillReader{r}, *bp)
		tlsChunkPool.Put(bp)
	}
	if err := copyEnded(ctx, stop, conn, err, s); err != nil {
		return n, err
	}
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second)) // the close_notify must not block the end
	_ = c.TLS.CloseWrite()
	_ = conn.Close()
	return n, nil
}

// copyFileTLS is copyBuf from a regular file to w, except that the
// records of a short read (the file's last, unless it grows meanwhile)
// are left in w's batch, and held says so: the caller sends them with
// the close_notify in one write. A regular file's next read does not
// wait for the network, so holding them delays nothing (a pipe's may
// wait for its writer: the held records then go out once it writes or
// closes; ftpd serves regular files only). Other sources (an object
// store's body, a paced reader) go through copyBuf: there a short read
// says nothing about the end, and the next read may wait.
func copyFileTLS(w tlsIdle, f *os.File, buf []byte) (n int64, s side, held bool, err error) {
	for {
		nr, rerr := f.Read(buf)
		if nr > 0 {
			if held {
				// The file grew after a short read: what was held goes first.
				w.b.batching = false
				if err := w.b.flush(); err != nil {
					return n, sideNet, false, err
				}
			}
			short := nr < len(buf) && rerr == nil
			var nw int
			var werr error
			if short {
				nw, werr = w.hold(buf[:nr])
			} else {
				nw, werr = w.Write(buf[:nr])
			}
			n += int64(nw)
			if werr != nil {
				w.b.batching = false
				return n, sideNet, false, werr
			}
			held = short
		}
		if rerr == io.EOF {
			return n, sideUnknown, held, nil
		}
		if rerr != nil {
			w.b.batching = false
			return n, sideLocal, false, rerr
		}
	}
}

// tlsIdle is a TLS data connection whose reads and writes must make
// progress within idle (when idle > 0), as idleConn for TCP; each Write
// goes out in one system call (batchConn). A TLS write that timed out
// leaves the connection unusable; the transfer is over then anyway.
type tlsIdle struct {
	tc   *tls.Conn
	b    *batchConn
	idle time.Duration
}

func (c tlsIdle) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		step := min(len(p), tlsChunk)
		if c.idle > 0 {
			_ = c.b.SetWriteDeadline(time.Now().Add(c.idle))
		}
		c.b.batching = true
		m, err := c.tc.Write(p[:step])
		c.b.batching = false
		if err == nil {
			err = c.b.flush()
		}
		n += m
		if err != nil {
			return n, err
		}
		p = p[step:]
	}
	return n, nil
}

// hold encrypts p (at most tlsChunk bytes) into the batch and leaves it
// there, batching still on, for the next write to take along.
func (c tlsIdle) hold(p []byte) (int, error) {
	if c.idle > 0 {
		_ = c.b.SetWriteDeadline(time.Now().Add(c.idle))
	}
	c.b.batching = true
	return c.tc.Write(p)
}

func (c tlsIdle) Read(p []byte) (int, error) {
	if c.idle > 0 {
		_ = c.b.SetReadDeadline(time.Now().Add(c.idle))
	}
	return c.tc.Read(p)
}

// fillReader reads until p is full or the source fails (or ends): a
// TLS connection returns a record per Read, this gathers several.
type fillReader struct{ r io.Reader }

func (f fillReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := f.r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
