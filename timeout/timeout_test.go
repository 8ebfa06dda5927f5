package timeout_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/protocol/prototest"
	"github.com/gnetftp/gnetftp/timeout"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func setup() (*timeout.Mixin, *prototest.Transport) {
	tr := prototest.NewTransport()
	m := &timeout.Mixin{}
	m.Init(tr, nil)
	return m, tr
}

func TestExpiresAfterThePeriod(t *testing.T) {
	m, tr := setup()
	assert.Equal(t, time.Duration(0), m.SetTimeout(10*time.Second))
	tr.FakeLoop.Advance(9 * time.Second)
	assert.False(t, tr.Lost)
	tr.FakeLoop.Advance(time.Second)
	assert.True(t, tr.Lost, "the default action closes the connection")
}

func TestResetPostponesExpiry(t *testing.T) {
	m, tr := setup()
	m.SetTimeout(10 * time.Second)
	for i := 0; i < 5; i++ {
		tr.FakeLoop.Advance(9 * time.Second)
		m.ResetTimeout()
	}
	assert.False(t, tr.Lost)
	tr.FakeLoop.Advance(10 * time.Second)
	assert.True(t, tr.Lost)
}

func TestCancelAndDisable(t *testing.T) {
	m, tr := setup()
	m.SetTimeout(time.Second)
	m.CancelTimeout()
	tr.FakeLoop.Advance(time.Hour)
	assert.False(t, tr.Lost)

	m.SetTimeout(time.Second)
	assert.Equal(t, time.Second, m.SetTimeout(0), "SetTimeout returns the previous period")
	m.ResetTimeout() // a reset while disabled does not re-arm
	tr.FakeLoop.Advance(time.Hour)
	assert.False(t, tr.Lost)
	assert.Zero(t, tr.FakeLoop.Clock.Pending())
}

func TestChangingThePeriodRestarts(t *testing.T) {
	m, tr := setup()
	m.SetTimeout(10 * time.Second)
	tr.FakeLoop.Advance(8 * time.Second)
	assert.Equal(t, 10*time.Second, m.SetTimeout(5*time.Second))
	tr.FakeLoop.Advance(4 * time.Second)
	assert.False(t, tr.Lost, "the new period counts from the change")
	tr.FakeLoop.Advance(time.Second)
	assert.True(t, tr.Lost)
}

func TestCustomActionAndRearm(t *testing.T) {
	tr := prototest.NewTransport()
	m := &timeout.Mixin{}
	fired := 0
	m.Init(tr, func() { fired++ })
	m.SetTimeout(time.Second)
	tr.FakeLoop.Advance(time.Second)
	assert.Equal(t, 1, fired)
	assert.False(t, tr.Lost, "a handler replaces the default close")
	tr.FakeLoop.Advance(time.Hour)
	assert.Equal(t, 1, fired, "fires once per arming")
	m.ResetTimeout() // as in Twisted, a reset after expiry does not re-arm
	tr.FakeLoop.Advance(time.Hour)
	assert.Equal(t, 1, fired)
	m.SetTimeout(time.Second) // SetTimeout does
	tr.FakeLoop.Advance(time.Second)
	assert.Equal(t, 2, fired)
}

// The expiry races with an arriving line: the clock's timer fired and
// queued the expiry on the loop, then the line's ResetTimeout ran on the
// loop first. The stale expiry must do nothing.
func TestExpiryRacingWithActivity(t *testing.T) {
	m, tr := setup()
	m.SetTimeout(10 * time.Second)
	tr.FakeLoop.Clock.Advance(10 * time.Second) // fires, queues onto the loop
	m.ResetTimeout()                            // the line arrived first
	require.Equal(t, 1, tr.FakeLoop.RunPending(), "the stale expiry ran")
	assert.False(t, tr.Lost, "and did nothing")
	tr.FakeLoop.Advance(9 * time.Second)
	assert.False(t, tr.Lost)
	tr.FakeLoop.Advance(time.Second)
	assert.True(t, tr.Lost, "the re-armed timer fires at the new deadline")
}

func BenchmarkResetTimeout(b *testing.B) {
	m, _ := setup()
	m.SetTimeout(time.Minute)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m.ResetTimeout()
	}
}
