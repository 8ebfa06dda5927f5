package dtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Transfer buffers: an ASCII conversion or a copy that cannot use
// sendfile/splice takes one from the pool for the whole transfer (no
// allocation per chunk, none per transfer in steady state). The pool only
// caches memory; it holds no state that changes behaviour.
const (
	chunkSize = 32 << 10                // bytes read per step
	bufSize   = chunkSize + 2*chunkSize // chunk + worst-case LF->CRLF output
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// bulkSize is the buffer of a binary download from a source sendfile
// cannot take (an object store's response body): 256 KiB per read and per
// write, a quarter of the system calls of chunkSize, for 256 KiB held per
// such download while it runs.
const bulkSize = 256 << 10

var bulkPool = sync.Pool{New: func() any { b := make([]byte, bulkSize); return &b }}

// side says which end of a copy failed, when the copy loop knows it.
type side int

const (
	sideUnknown side = iota // io.Copy: decide from the errno
	sideNet                 // the data connection
	sideLocal               // the file (source or destination)
)

// netErrnos are the errors of a connection that the network or the
// client ended: they make a transfer error ErrPeerClosed (426) when the
// copy cannot tell the sides apart (sendfile and splice report the
// socket's and the file's errors alike).
var netErrnos = []syscall.Errno{
	syscall.ECONNRESET, syscall.EPIPE, syscall.ETIMEDOUT, syscall.ECONNABORTED,
	syscall.ECONNREFUSED, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN,
	syscall.ENETRESET, syscall.EHOSTDOWN, syscall.ENOTCONN, syscall.ESHUTDOWN,
}

func isNetErr(err error) bool {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		for _, e := range netErrnos {
			if errno == e {
				return true
			}
		}
		return false
	}
	// Deadlines are set on connections only, never on files.
	var op *net.OpError
	return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &op)
}

// transferErr wraps a failed copy: ctx's error when the transfer was
// cancelled (ABOR), else ErrPeerClosed or ErrLocalIO. The original error
// stays reachable with errors.Is/As (ENOSPC -> 452).
func transferErr(ctx context.Context, err error, s side) error {
	if ctx.Err() != nil {
		return fmt.Errorf("dtp: transfer aborted: %w: %w", ctx.Err(), err)
	}
	if s == sideUnknown {
		s = sideLocal
		if isNetErr(err) {
			s = sideNet
		}
	}
	if s == sideNet {
		return fmt.Errorf("%w: %w", ErrPeerClosed, err)
	}
	return fmt.Errorf("%w: %w", ErrLocalIO, err)
}

// abort closes conn with an RST: on ABOR, and after a failed Send, so the
// client sees an error instead of an end of file after a truncated file.
func abort(conn *net.TCPConn) {
	_ = conn.SetLinger(0)
	_ = conn.Close()
}

// writerOnly and readerOnly hide ReadFrom/WriteTo so io.CopyBuffer uses
// the buffer it is given.
type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

// Send copies src to the data connection (RETR, LIST) and closes it. The
// result n counts bytes read from src. Binary transfers from an *os.File
// (or an io.WriterTo such as *bytes.Reader) go through io.Copy, which is
// sendfile(2) for a file on Linux; other sources and ASCII (LF -> CRLF,
// see CRLFWriter) use a pooled buffer.
//
// On success the write side is shut down first (FIN after the last byte),
// anything the client sent is discarded so the close cannot turn into an
// RST that would drop unsent data, then the socket is closed. On failure
// the connection is reset. Errors: ctx.Err() when ctx was cancelled (ABOR;
// cancelling closes the connection, which unblocks the copy),
// ErrPeerClosed when the client went away or no data could be written
// for idle (when idle > 0), ErrLocalIO when src failed.
func Send(ctx context.Context, conn *net.TCPConn, src io.Reader, ascii bool, idle time.Duration) (n int64, err error) {
	stop := context.AfterFunc(ctx, func() { abort(conn) })
	var s side
	switch {
	case !ascii && zeroCopySource(src):
		n, err = sendZeroCopy(conn, src, idle)
	case !ascii:
		bp := bulkPool.Get().(*[]byte)
		n, s, err = copyBuf(withIdle(conn, idle), sideNet, src, *bp)
		bulkPool.Put(bp)
	default:
		n, s, err = copyLoop(withIdle(conn, idle), src, func(w io.Writer, scratch []byte) io.Writer {
			return NewCRLFWriter(w, scratch)
		})
	}
	if err := copyEnded(ctx, stop, conn, err, s); err != nil {
		return n, err
	}
	_ = conn.CloseWrite()
	discardUnread(conn)
	if err := conn.Close(); err != nil {
		return n, transferErr(ctx, err, sideNet)
	}
	return n, nil
}

// idleStep is how much data one idle deadline covers: a client slower
// than idleStep per idle timeout (870 B/s at the default 300 s) is taken
// for a stalled one. Each step costs one deadline update and one more
// sendfile/splice call: 4,096 per GiB, nothing next to the copy.
const idleStep = 256 << 10

// idleConn is a data connection whose every read and write of at most
// idleStep bytes must make progress within idle: the deadline moves
// forward with the data, so only a stall times out, not a long transfer.
// It has only Read and Write: no SyscallConn through which an
// (*os.File).WriteTo could sendfile past the deadlines.
type idleConn struct {
	conn *net.TCPConn
	idle time.Duration
}

// withIdle is conn, wrapped in an idleConn when idle > 0.
func withIdle(conn *net.TCPConn, idle time.Duration) io.ReadWriter {
	if idle <= 0 {
		return conn
	}
	return &idleConn{conn: conn, idle: idle}
}

func (c *idleConn) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		step := min(len(p), idleStep)
		_ = c.conn.SetWriteDeadline(time.Now().Add(c.idle))
		m, err := c.conn.Write(p[:step])
		n += m
		if err != nil {
			return n, err
		}
		p = p[step:]
	}
	return n, nil
}

func (c *idleConn) Read(p []byte) (int, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(c.idle))
	return c.conn.Read(p)
}

// sendZeroCopy is io.Copy(conn, src) (sendfile for a file), in idleStep
// pieces each with a fresh write deadline when idle > 0.
func sendZeroCopy(conn *net.TCPConn, src io.Reader, idle time.Duration) (int64, error) {
	if idle <= 0 {
		return io.Copy(conn, src)
	}
	// A range of a file: step through the file itself (sendfile does not
	// look through two LimitedReaders) and keep the limit here.
	limit := int64(-1)
	if lr, ok := src.(*io.LimitedReader); ok {
		if _, isFile := lr.R.(*os.File); isFile {
			src, limit = lr.R, lr.N
			defer func() { lr.N = limit }()
		}
	}
	if _, isFile := src.(*os.File); !isFile {
		// In memory (a WriterTo such as *bytes.Reader): idleConn.Write
		// splits it in steps.
		return io.Copy(&idleConn{conn: conn, idle: idle}, src)
	}
	var n int64
	lr := &io.LimitedReader{R: src}
	for limit != 0 {
		lr.N = idleStep
		if limit > 0 {
			lr.N = min(lr.N, limit)
		}
		step := lr.N
		_ = conn.SetWriteDeadline(time.Now().Add(idle))
		m, err := conn.ReadFrom(lr) // sendfile of up to step bytes
		n += m
		if limit > 0 {
			limit -= m
		}
		if err != nil || m < step {
			return n, err // m < step without error: end of file
		}
	}
	return n, nil
}

// receiveZeroCopy is io.Copy(dst, conn) (splice into a file), in idleStep
// pieces each with a fresh read deadline when idle > 0.
func receiveZeroCopy(dst io.ReaderFrom, conn *net.TCPConn, idle time.Duration) (int64, error) {
	if idle <= 0 {
		return dst.ReadFrom(conn)
	}
	var n int64
	lr := &io.LimitedReader{R: conn}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(idle))
		lr.N = idleStep
		m, err := dst.ReadFrom(lr) // splice of up to idleStep bytes
		n += m
		if err != nil || m < idleStep {
			return n, err // m < idleStep without error: end of data
		}
	}
}

// zeroCopySource reports whether io.Copy into a *net.TCPConn does no
// per-transfer allocation for src: a file (sendfile), a limited file
// (sendfile of a range) or a WriterTo.
func zeroCopySource(src io.Reader) bool {
	switch r := src.(type) {
	case *os.File, io.WriterTo:
		return true
	case *io.LimitedReader:
		_, ok := r.R.(*os.File)
		return ok
	}
	return false
}

// Receive copies the data connection into dst until the client closes it
// (STOR, APPE), then closes the connection. The result n counts bytes
// written to dst. Binary transfers into an io.ReaderFrom (an *os.File, or
// a type embedding one) go through io.Copy, which is splice(2) on Linux;
// other destinations and ASCII (CRLF -> LF, see LFWriter) use a pooled
// buffer. Errors as for Send, with ErrLocalIO when dst failed and
// ErrPeerClosed also when no data arrived for idle (when idle > 0).
func Receive(ctx context.Context, conn *net.TCPConn, dst io.Writer, ascii bool, idle time.Duration) (n int64, err error) {
	stop := context.AfterFunc(ctx, func() { abort(conn) })
	var s side
	var lf *LFWriter
	if rf, ok := dst.(io.ReaderFrom); ok && !ascii {
		n, err = receiveZeroCopy(rf, conn, idle)
	} else if !ascii {
		n, s, err = copyLoop(dst, withIdle(conn, idle), nil)
	} else {
		_, s, err = copyLoop(dst, withIdle(conn, idle), func(w io.Writer, scratch []byte) io.Writer {
			lf = NewLFWriter(w, scratch)
			return lf
		})
		if err == nil {
			err, s = lf.Flush(), sideLocal
		}
		n = lf.Written()
	}
	if err := copyEnded(ctx, stop, conn, err, s); err != nil {
		return n, err
	}
	_ = conn.Close()
	return n, nil
}

// copyEnded judges the end of a transfer's copy: ctx's error when the
// transfer was cancelled (stop reports false: the connection is being
// closed), the copy's error with the connection reset (a truncated file
// must not look complete to the client; unread data: the client learns at
// once), or nil.
func copyEnded(ctx context.Context, stop func() bool, conn *net.TCPConn, err error, s side) error {
	if !stop() {
		if err == nil {
			err = net.ErrClosed
		}
		return transferErr(ctx, err, sideNet)
	}
	if err != nil {
		abort(conn)
		return transferErr(ctx, err, s)
	}
	return nil
}

// copyLoop copies src to dst (through a converter when newConv is not
// nil) with a pooled buffer, and says which side failed. n counts bytes
// read from src and handed on.
func copyLoop(dst io.Writer, src io.Reader, newConv func(w io.Writer, scratch []byte) io.Writer) (n int64, s side, err error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	in, scratch := (*bp)[:chunkSize], (*bp)[chunkSize:]
	w := dst
	if newConv != nil {
		w = newConv(dst, scratch)
	}
	return copyBuf(w, sideOf(dst), src, in)
}

// copyBuf copies src to w through in, saying which side failed (wSide:
// w's, as the caller knows it).
func copyBuf(w io.Writer, wSide side, src io.Reader, in []byte) (n int64, s side, err error) {
	for {
		nr, rerr := src.Read(in)
		if nr > 0 {
			nw, werr := w.Write(in[:nr])
			n += int64(nw)
			if werr == nil && nw < nr {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return n, wSide, werr
			}
		}
		if rerr == io.EOF {
			return n, sideUnknown, nil
		}
		if rerr != nil {
			return n, sideOf(src), rerr
		}
	}
}

// sideOf says whether a copy end is the data connection.
func sideOf(end any) side {
	switch end.(type) {
	case *net.TCPConn, *idleConn, tlsIdle, fillReader:
		return sideNet
	}
	return sideLocal
}
