package clock_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/clock"
	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

func TestManualClockOrderAndNestedTimers(t *testing.T) {
	c := clock.NewManualClock()
	start := c.Now()
	var got []string
	c.AfterFunc(3*time.Second, func() { got = append(got, "3s") })
	c.AfterFunc(time.Second, func() {
		got = append(got, "1s")
		c.AfterFunc(time.Second, func() { got = append(got, "1s+1s") }) // armed by a callback
	})
	c.AfterFunc(time.Second, func() { got = append(got, "1s-second") }) // same deadline: FIFO
	stopped := c.AfterFunc(2*time.Second, func() { got = append(got, "stopped") })
	assert.True(t, stopped.Stop())
	assert.False(t, stopped.Stop())
	c.Advance(5 * time.Second)
	assert.Equal(t, []string{"1s", "1s-second", "1s+1s", "3s"}, got)
	assert.Equal(t, start.Add(5*time.Second), c.Now())
	assert.Zero(t, c.Pending())

	r := c.AfterFunc(time.Second, func() { got = append(got, "reset") })
	c.Advance(900 * time.Millisecond)
	assert.True(t, r.Reset(time.Second))
	c.Advance(900 * time.Millisecond)
	assert.Len(t, got, 4, "reset postponed it")
	c.Advance(100 * time.Millisecond)
	assert.Equal(t, "reset", got[4])
}

func TestDelayedCallCancelResetActive(t *testing.T) {
	loop := prototest.NewLoop()
	fired := 0
	dc := loop.CallLater(time.Second, func() { fired++ })
	assert.True(t, dc.Active())
	assert.True(t, dc.Reset(2*time.Second))
	loop.Advance(time.Second)
	assert.Zero(t, fired)
	loop.Advance(time.Second)
	assert.Equal(t, 1, fired)
	assert.False(t, dc.Active())
	assert.False(t, dc.Reset(time.Second), "a fired call is not revived")
	assert.False(t, dc.Cancel())

	dc = loop.CallLater(time.Second, func() { fired++ })
	assert.True(t, dc.Cancel())
	loop.Advance(time.Hour)
	assert.Equal(t, 1, fired)
}

// The timer fired on its goroutine and queued the expiry; a Reset on the
// loop got there first: the stale expiry must do nothing, and the call
// fires at its new deadline.
func TestDelayedCallExpiryRacingWithReset(t *testing.T) {
	loop := prototest.NewLoop()
	fired := 0
	dc := loop.CallLater(time.Second, func() { fired++ })
	loop.Clock.Advance(time.Second) // fires, queues onto the loop
	dc.Reset(time.Second)           // the loop runs the reset first
	loop.RunPending()
	assert.Zero(t, fired)
	assert.True(t, dc.Active())
	loop.Advance(time.Second)
	assert.Equal(t, 1, fired)
}

func TestManualTimerStopAndResetAfterFiring(t *testing.T) {
	c := clock.NewManualClock()
	fired := 0
	tm := c.AfterFunc(0, func() { fired++ })
	c.Advance(0)
	assert.Equal(t, 1, fired, "a zero delay is due at once")
	assert.False(t, tm.Stop(), "nothing pending after firing")
	assert.False(t, tm.Reset(time.Second), "Reset reports it was not pending...")
	assert.Equal(t, 1, c.Pending(), "...and re-arms it, like time.Timer")
	c.Advance(time.Second)
	assert.Equal(t, 2, fired)

	stopped := c.AfterFunc(time.Second, func() { fired++ })
	require.True(t, stopped.Stop())
	assert.False(t, stopped.Reset(time.Second))
	c.Advance(time.Second)
	assert.Equal(t, 3, fired, "a stopped timer can be re-armed with Reset")
}

func TestDelayedCallExpiryRacingWithCancel(t *testing.T) {
	loop := prototest.NewLoop()
	dc := loop.CallLater(time.Second, func() { t.Error("cancelled call ran") })
	loop.Clock.Advance(time.Second) // fired, expiry queued
	assert.True(t, dc.Cancel(), "still pending as far as the loop knows")
	loop.RunPending()
	assert.False(t, dc.Active())
	assert.False(t, dc.Reset(time.Second), "a cancelled call is not revived")
}

func TestDelayedCallResetFromItsOwnCallbackIsNotRevived(t *testing.T) {
	loop := prototest.NewLoop()
	var dc protocol.DelayedCall
	fired := 0
	dc = loop.CallLater(time.Second, func() {
		fired++
		assert.False(t, dc.Active(), "not pending while it runs")
		assert.False(t, dc.Reset(time.Second))
	})
	loop.Advance(time.Hour)
	assert.Equal(t, 1, fired)
}

func TestDelayedCallOnAStoppedLoopNeverRuns(t *testing.T) {
	loop := prototest.NewLoop()
	loop.CallLater(time.Second, func() { t.Error("ran after the connection was lost") })
	loop.Stop()
	loop.Advance(time.Hour)
	assert.Zero(t, loop.Clock.Pending())
}
