package dtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
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

// Handshake makes conn a TLS server connection with t, or closes conn
// and returns an error: ErrDataTLS wrapping the handshake's, Verify's
// error, or ctx's when the transfer was aborted. On the transfer's
// goroutine.
func Handshake(ctx context.Context, conn *net.TCPConn, t TLS) (*tls.Conn, error) {
	timeout := t.Timeout
	if timeout == 0 {
		timeout = DefaultAcceptTimeout
	}
	if timeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(timeout))
	}
	tc := tls.Server(conn, t.Config)
	if err := tc.HandshakeContext(ctx); err != nil {
		abort(conn)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dtp: transfer aborted during the TLS handshake: %w", ctx.Err())
		}
		return nil, fmt.Errorf("%w: %w", ErrDataTLS, err)
	}
	if t.Verify != nil {
		if err := t.Verify(tc.ConnectionState()); err != nil {
			abort(conn)
			return nil, err
		}
	}
	_ = conn.SetDeadline(time.Time{})
	return tc, nil
}

// SendTLS is Send on a TLS data connection tc over conn: src is copied in
// full 16 KiB records (ASCII converted as in Send) with a pooled buffer,
// then a close_notify alert is sent (Python's ftplib waits for it in
// unwrap) before the FIN. Errors as for Send; an alert from the client
// or a record that does not decrypt is ErrPeerClosed.
func SendTLS(ctx context.Context, tc *tls.Conn, conn *net.TCPConn, src io.Reader, ascii bool, idle time.Duration) (n int64, err error) {
	stop := context.AfterFunc(ctx, func() { abort(conn) })
	var s side
	w := tlsIdle{tc: tc, idle: idle}
	if ascii {
		n, s, err = copyLoop(w, src, func(w io.Writer, scratch []byte) io.Writer { return NewCRLFWriter(w, scratch) })
	} else {
		n, s, err = copyLoop(w, readerOnly{src}, nil)
	}
	if !stop() {
		if err == nil {
			err = net.ErrClosed
		}
		return n, transferErr(ctx, err, sideNet)
	}
	if err != nil {
		abort(conn)
		return n, transferErr(ctx, err, s)
	}
	if idle > 0 {
		_ = conn.SetWriteDeadline(time.Now().Add(idle))
	}
	if err := tc.CloseWrite(); err != nil { // close_notify
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
// ErrPeerClosed, and the upload is not committed.
func ReceiveTLS(ctx context.Context, tc *tls.Conn, conn *net.TCPConn, dst io.Writer, ascii bool, idle time.Duration) (n int64, err error) {
	stop := context.AfterFunc(ctx, func() { abort(conn) })
	var s side
	r := tlsIdle{tc: tc, idle: idle}
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
		n, s, err = copyLoop(writerOnly{dst}, r, nil)
	}
	if !stop() {
		if err == nil {
			err = net.ErrClosed
		}
		return n, transferErr(ctx, err, sideNet)
	}
	if err != nil {
		abort(conn)
		return n, transferErr(ctx, err, s)
	}
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second)) // the close_notify must not block the end
	_ = tc.CloseWrite()
	_ = conn.Close()
	return n, nil
}

// tlsIdle is a TLS data connection whose reads and writes must make
// progress within idle (when idle > 0), as idleConn for TCP. A TLS
// write that timed out leaves the connection unusable; the transfer is
// over then anyway.
type tlsIdle struct {
	tc   *tls.Conn
	idle time.Duration
}

func (c tlsIdle) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		step := min(len(p), idleStep)
		if c.idle > 0 {
			_ = c.tc.SetWriteDeadline(time.Now().Add(c.idle))
		}
		m, err := c.tc.Write(p[:step])
		n += m
		if err != nil {
			return n, err
		}
		p = p[step:]
	}
	return n, nil
}

func (c tlsIdle) Read(p []byte) (int, error) {
	if c.idle > 0 {
		_ = c.tc.SetReadDeadline(time.Now().Add(c.idle))
	}
	return c.tc.Read(p)
}
