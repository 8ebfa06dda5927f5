package dtp

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// SpliceMin is the smallest rest of a ConnSource that Send splices: below
// it the pipe (two descriptors, two system calls) costs more than the
// copy it saves, and the source is read as any reader.
const SpliceMin = 64 << 10

// SourceConn is where a ConnSource's bytes are: Head first (already read
// from Conn), then the next N bytes of Conn.
type SourceConn struct {
	Head []byte
	Conn *net.TCPConn
	N    int64
	// Stall bounds the wait for the next byte from Conn (0: none): a
	// source that stops sending fails the transfer (ErrLocalIO).
	Stall time.Duration
}

// A ConnSource is a download whose bytes arrive on another TCP connection,
// such as an object store's response to a GET: Send moves them from that
// connection to the data connection with splice(2), through a pipe,
// without a copy through the process. Its methods are called on the
// transfer's goroutine.
type ConnSource interface {
	io.Reader
	// SourceConn is where the rest of the source is; ok false (a small
	// or framed body, another system): Send reads it as any reader.
	SourceConn() (sc SourceConn, ok bool)
	// Spliced tells the source how many bytes of Head and then of Conn
	// Send took (whether or not it failed), so that it knows where it
	// stands (a connection read to the end may serve another request).
	Spliced(n int64)
}

// sendSpliced writes cs's head and then splices the rest from its
// connection to conn. The side says which failed.
func sendSpliced(ctx context.Context, conn *net.TCPConn, cs ConnSource, sc SourceConn, idle time.Duration) (int64, side, error) {
	var n int64
	defer func() { cs.Spliced(n) }()
	if len(sc.Head) > 0 {
		m, err := withIdle(conn, idle).Write(sc.Head)
		n += int64(m)
		if err != nil {
			return n, sideNet, err
		}
	}
	m, s, err := spliceConn(ctx, conn, sc.Conn, sc.N, idle, sc.Stall)
	n += m
	if err == nil && m < sc.N {
		return n, sideLocal, fmt.Errorf("the source ended after %d of %d bytes: %w", m, sc.N, io.ErrUnexpectedEOF)
	}
	return n, s, err
}

// srcWake ends a wait on a source connection when the transfer's context
// ends: done is set and the read deadline put in the past, so that the
// splice loop, which sets the stall deadline before each wait and checks
// done after, never waits past an ABOR for the store's next byte.
type srcWake struct {
	done atomic.Bool
	stop func() bool
}

func wakeOnEnd(ctx context.Context, src *net.TCPConn) *srcWake {
	w := &srcWake{}
	w.stop = context.AfterFunc(ctx, func() {
		w.done.Store(true)
		_ = src.SetReadDeadline(time.Unix(1, 0))
	})
	return w
}
