//go:build linux

package dtp

import (
	"context"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// splicePipe is the pipe's capacity (F_SETPIPE_SZ; Go's own splice asks
// the same): one splice(2) each way moves up to this much.
const splicePipe = 1 << 20

// spliceConn moves n bytes from src to dst with splice(2) through a pipe
// of this transfer's, waiting on Go's netpoller for either side (so
// deadlines and a close from another goroutine end it; ctx's end, ABOR,
// ends a wait on src at once). Each read from
// src must bring a byte within stall and each write to dst take one
// within idle (0: no bound). It returns the bytes written to dst and,
// on failure, the side that failed: src is the local side (the store),
// dst the client's. It returns early without error only when src ended
// before n.
func spliceConn(ctx context.Context, dst, src *net.TCPConn, n int64, idle, stall time.Duration) (int64, side, error) {
	ended := wakeOnEnd(ctx, src)
	defer ended.stop()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return 0, sideLocal, fmt.Errorf("splice pipe: %w", err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	_, _ = unix.FcntlInt(uintptr(p[0]), unix.F_SETPIPE_SZ, splicePipe) // the default 64 KiB if refused
	rc, err := src.SyscallConn()
	if err != nil {
		return 0, sideLocal, err
	}
	wc, err := dst.SyscallConn()
	if err != nil {
		return 0, sideNet, err
	}
	if stall > 0 {
		defer src.SetReadDeadline(time.Time{}) // src may serve another request
	}
	var total int64
	for total < n {
		if stall > 0 {
			_ = src.SetReadDeadline(time.Now().Add(stall))
		}
		if ended.done.Load() {
			return total, sideNet, ctx.Err()
		}
		var got int64
		var serr error
		if err := rc.Read(func(fd uintptr) bool {
			for {
				got, serr = unix.Splice(int(fd), nil, p[1], nil, int(min(n-total, splicePipe)), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
				if serr != unix.EINTR {
					return serr != unix.EAGAIN // EAGAIN: the pipe is empty, so the socket has nothing yet
				}
			}
		}); err != nil {
			return total, sideLocal, fmt.Errorf("reading the source: %w", err)
		}
		if serr != nil {
			return total, sideLocal, fmt.Errorf("reading the source: splice: %w", serr)
		}
		if got == 0 {
			return total, sideLocal, nil // the source's end
		}
		for got > 0 {
			if idle > 0 {
				_ = dst.SetWriteDeadline(time.Now().Add(idle))
			}
			var put int64
			if err := wc.Write(func(fd uintptr) bool {
				for {
					put, serr = unix.Splice(p[0], nil, int(fd), nil, int(got), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
					if serr != unix.EINTR {
						return serr != unix.EAGAIN // EAGAIN: the socket's buffer is full
					}
				}
			}); err != nil {
				return total, sideNet, err
			}
			if serr != nil {
				return total, sideNet, fmt.Errorf("splice: %w", serr)
			}
			got -= put
			total += put
		}
	}
	return total, sideUnknown, nil
}
