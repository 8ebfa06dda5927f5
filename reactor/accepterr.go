package reactor

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gnetftp/gnetftp/clock"
)

// acceptErrors is told of every failed accept (third_party/gnet's
// AcceptErrorHandler, on the accepting loop). When the process is out of
// descriptors every newcomer fails, so logging each would flood the log:
// the first failure is logged at once, then one line per interval with
// the counts, until an interval passes without failures.
type acceptErrors struct {
	clock  clock.Clock
	logger *slog.Logger
	every  time.Duration

	shedTotal atomic.Int64 // every shed connection since start

	mu      sync.Mutex
	shed    int   // shed since the last line
	failed  int   // other failures since the last line
	last    error // the latest error
	pending bool  // a summary line is scheduled
	timer   clock.Timer
	stopped bool
}

// report counts one failure; shed says a pending connection was accepted
// and closed. It must not block: gnet's accepting loop calls it.
func (a *acceptErrors) report(err error, shed bool) {
	if shed {
		a.shedTotal.Add(1)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if shed {
		a.shed++
	} else {
		a.failed++
	}
	a.last = err
	if a.pending || a.stopped {
		return
	}
	a.pending = true
	a.logger.Warn("reactor: accept failing; new connections are shed while it lasts",
		"err", err, "shed", shed, "next_report", a.every.String())
	a.shed, a.failed = 0, 0
	a.timer = a.clock.AfterFunc(a.every, a.summary)
}

// summary logs what happened during the interval, and keeps reporting
// while failures go on.
func (a *acceptErrors) summary() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return
	}
	if a.shed == 0 && a.failed == 0 {
		a.pending = false
		a.logger.Info("reactor: accepting again", "interval", a.every.String())
		return
	}
	a.logger.Warn("reactor: accept still failing",
		"shed", a.shed, "failed", a.failed, "err", a.last, "interval", a.every.String())
	a.shed, a.failed = 0, 0
	a.timer = a.clock.AfterFunc(a.every, a.summary)
}

// stop cancels a pending summary (Shutdown).
func (a *acceptErrors) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = true
	if a.timer != nil {
		a.timer.Stop()
	}
}
