//go:build !linux

package dtp

import (
	"context"
	"io"
	"net"
	"time"
)

// spliceConn is, without splice(2), a copy through a pooled buffer, with
// the same bounds and sides as on Linux.
func spliceConn(ctx context.Context, dst, src *net.TCPConn, n int64, idle, stall time.Duration) (int64, side, error) {
	ended := wakeOnEnd(ctx, src)
	defer ended.stop()
	if stall > 0 {
		defer src.SetReadDeadline(time.Time{})
	}
	bp := bulkPool.Get().(*[]byte)
	defer bulkPool.Put(bp)
	w := withIdle(dst, idle)
	var total int64
	for total < n {
		if stall > 0 {
			_ = src.SetReadDeadline(time.Now().Add(stall))
		}
		if ended.done.Load() {
			return total, sideNet, ctx.Err()
		}
		buf := (*bp)[:min(int64(len(*bp)), n-total)]
		m, rerr := src.Read(buf)
		if m > 0 {
			k, werr := w.Write(buf[:m])
			total += int64(k)
			if werr != nil {
				return total, sideNet, werr
			}
		}
		if rerr == io.EOF {
			return total, sideLocal, nil
		}
		if rerr != nil {
			return total, sideLocal, rerr
		}
	}
	return total, sideUnknown, nil
}
