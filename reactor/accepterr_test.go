package reactor

import (
	"bytes"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gnetftp/gnetftp/clock"
)

func TestAcceptErrorsLogOncePerInterval(t *testing.T) {
	var logs bytes.Buffer
	mc := clock.NewManualClock()
	a := &acceptErrors{clock: mc, logger: slog.New(slog.NewTextHandler(&logs, nil)), every: 10 * time.Second}
	lines := func() []string { return strings.Split(strings.TrimSpace(logs.String()), "\n") }

	for range 1000 {
		a.report(syscall.EMFILE, true)
	}
	a.report(syscall.EPERM, false)
	assert.Len(t, lines(), 1, "a thousand shed connections: one line now")
	assert.Contains(t, logs.String(), "too many open files")
	assert.Equal(t, int64(1000), a.shedTotal.Load())

	mc.Advance(10 * time.Second)
	assert.Len(t, lines(), 2, "then one line per interval")
	assert.Contains(t, lines()[1], "shed=999")
	assert.Contains(t, lines()[1], "failed=1")

	mc.Advance(10 * time.Second)
	assert.Len(t, lines(), 3)
	assert.Contains(t, lines()[2], "accepting again", "a quiet interval ends the episode")
	mc.Advance(time.Minute)
	assert.Len(t, lines(), 3, "and nothing more is logged")

	a.report(syscall.ENFILE, true)
	assert.Len(t, lines(), 4, "a new episode is logged at once")
	a.stop()
	mc.Advance(time.Minute)
	assert.Len(t, lines(), 4, "nothing after stop")
	assert.Zero(t, mc.Pending())
}
