package echo_test

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/bench/echo"
	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func TestBothServersSpeakTheSameProtocol(t *testing.T) {
	for _, impl := range append(append([]string(nil), echo.Impls...), echo.TLSImpls...) {
		t.Run(impl, func(t *testing.T) {
			s, err := echo.Start(impl)
			require.NoError(t, err)
			defer s.Close()
			var cfg *tls.Config
			if echo.IsTLS(impl) {
				cfg = echo.ClientTLS(nil)
			}
			conns, err := echo.DialTLS(s.Addr(), 50, 10*time.Second, cfg)
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

func TestHandshakesFullAndResumed(t *testing.T) {
	for _, impl := range echo.TLSImpls {
		s, err := echo.Start(impl)
		require.NoError(t, err)
		full := echo.Handshakes(s.Addr(), 2, 10*time.Second, 10, false, 10*time.Second)
		assert.Zero(t, full.Errors, impl)
		assert.Equal(t, 10, full.Handshakes, impl)
		assert.Zero(t, full.Resumed, impl)
		resumed := echo.Handshakes(s.Addr(), 2, 10*time.Second, 10, true, 10*time.Second)
		assert.Zero(t, resumed.Errors, impl)
		assert.Equal(t, 8, resumed.Resumed, "%s: every connection but each client's first resumes", impl)
		require.NoError(t, s.Close())
	}
	s, err := echo.Start("gnet")
	require.NoError(t, err)
	defer s.Close()
	_, err = echo.DialTLS(s.Addr(), 1, 2*time.Second, echo.ClientTLS(nil))
	assert.Error(t, err, "a plaintext server fails the handshake")
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
