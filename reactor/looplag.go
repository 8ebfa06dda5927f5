package reactor

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// loopSet remembers the server engine's event loops as connections show
// them (gnet does not list its loops): after the first connection on each
// loop, note costs one atomic load.
type loopSet struct {
	want  int // Config.Loops
	full  atomic.Bool
	mu    sync.Mutex
	loops []gnet.EventLoop
}

// note records l; on the loop (OnOpen).
func (s *loopSet) note(l gnet.EventLoop) {
	if s.full.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.loops, l) {
		s.loops = append(s.loops, l)
		if len(s.loops) >= s.want {
			s.full.Store(true)
		}
	}
}

func (s *loopSet) list() []gnet.EventLoop {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.loops)
}

// LoopLag measures each server event loop's lag: how long a function
// queued on the loop waits for its turn, which is how long every
// connection on that loop waits for its next callback. It queues one
// probe on each loop that has served a connection (loops that never did
// are not known yet), all at once, and returns the largest wait; a probe
// still waiting at timeout counts as timeout. It reports 0 before any
// connection, or after Shutdown. Any goroutine but a loop's (a loop
// waiting for its own probe would wait the whole timeout).
func (r *Reactor) LoopLag(timeout time.Duration) time.Duration {
	if !r.started.Load() || r.closing.Load() {
		return 0
	}
	loops := r.loops.list()
	if len(loops) == 0 {
		return 0
	}
	done := make(chan time.Duration, len(loops))
	start := time.Now()
	queued := 0
	for _, l := range loops {
		err := l.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			done <- time.Since(start)
			return nil
		}))
		if err == nil {
			queued++
		}
	}
	var worst time.Duration
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for ; queued > 0; queued-- {
		select {
		case d := <-done:
			worst = max(worst, d)
		case <-deadline.C:
			return timeout
		}
	}
	return worst
}
