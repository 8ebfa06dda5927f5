package echo_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/bench/echo"
	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func TestBothServersSpeakTheSameProtocol(t *testing.T) {
	for _, impl := range echo.Impls {
		t.Run(impl, func(t *testing.T) {
			s, err := echo.Start(impl)
			require.NoError(t, err)
			defer s.Close()
			conns, err := echo.Dial(s.Addr(), 50, 10*time.Second)
			require.NoError(t, err)
			defer echo.CloseAll(conns)
			res := echo.RoundTrips(conns, 20, 10*time.Second)
			assert.Zero(t, res.Errors)
			assert.Equal(t, 50, res.Conns)
			assert.Greater(t, res.PerSecond, 0.0)
			assert.LessOrEqual(t, res.P50, res.P99)
		})
	}
	_, err := echo.Start("nope")
	assert.Error(t, err)
}

// BenchmarkEchoRoundTrip: 1,000 connections doing round trips against each
// server in this process; compare the rt/s metrics of the two.
func BenchmarkEchoRoundTrip(b *testing.B) {
	for _, impl := range echo.Impls {
		b.Run(impl, func(b *testing.B) {
			s, err := echo.Start(impl)
			require.NoError(b, err)
			defer s.Close()
			conns, err := echo.Dial(s.Addr(), 1000, 10*time.Second)
			require.NoError(b, err)
			defer echo.CloseAll(conns)
			b.ResetTimer()
			rounds := max(1, b.N/len(conns))
			res := echo.RoundTrips(conns, rounds, 30*time.Second)
			b.ReportMetric(res.PerSecond, "rt/s")
			b.ReportMetric(float64(res.P99.Microseconds()), "p99-µs")
			if res.Errors > 0 {
				b.Fatalf("%d errors", res.Errors)
			}
		})
	}
}
