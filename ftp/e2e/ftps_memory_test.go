package e2e_test

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openIdleFTPS opens n FTPS sessions to s (AUTH TLS, logged in, PROT P)
// and leaves them idle.
func openIdleFTPS(t *testing.T, s *ftpsProc, n int) []*tlsClient {
	t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}
	out := make([]*tlsClient, 0, n)
	for i := 0; i < n; i++ {
		k := dialTLSClient(t, s.addr, cfg)
		k.auth()
		k.login()
		k.protect()
		_ = k.raw.SetDeadline(time.Time{})
		out = append(out, k)
	}
	return out
}

// Idle FTPS sessions (TLS 1.3 control connection, logged in, PROT P)
// stay on the event loops, with no goroutine each: the server's memory
// grows by a few KiB per session (the target is 8 KiB; a
// goroutine-per-connection crypto/tls server holds about 20 KiB idle,
// ftpbench's tls-reference measures it in the same run).
func TestIdleFTPSSessionsStayLight(t *testing.T) {
	const warm, sessions = 50, 600
	s := startFTPS(t, "--max-connections-per-ip", "0", "--max-connections", "0")
	openIdleFTPS(t, s, warm) // the first sessions grow the heap's and the loops' fixed parts
	// Quiet, not peak: during the handshakes the heap may grow to
	// --gc-heap-floor before it collects, and --trim-memory gives that
	// back once the server is idle.
	before := quietRSS(t, s.ftpdProc)
	ks := openIdleFTPS(t, s, sessions)
	after := quietRSS(t, s.ftpdProc)
	per := float64(after-before) / sessions / 1024
	t.Logf("server RSS %.1f MiB with %d idle FTPS sessions, %.1f MiB with %d more: %.1f KiB per session",
		float64(before)/(1<<20), warm, float64(after)/(1<<20), sessions, per)
	assert.Less(t, per, 16.0, "KiB per idle FTPS session")
	for _, k := range ks[:5] {
		k.cmd("NOOP", "200") // still served
	}
}

// quietRSS is the server's RSS once it has held within 64 KiB for a
// second (bounded: 15 s).
func quietRSS(t *testing.T, p *ftpdProc) int64 {
	t.Helper()
	n, since := p.rss(t), time.Now()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := p.rss(t); m > n+64<<10 || m < n-64<<10 {
			n, since = m, time.Now()
		} else if time.Since(since) >= time.Second {
			break
		}
	}
	return n
}

// After a burst of TLS logins the server returns the burst's garbage to
// the system once it is quiet (--trim-memory, the default: memtrim): its
// memory per idle FTPS session is well below what the same sessions cost
// a server with --trim-memory=false, which keeps the Go heap's headroom.
// The sessions are still served after the trim.
func TestIdleFTPSMemoryIsTrimmedAfterTheBurst(t *testing.T) {
	const warm, sessions = 20, 400
	perSession := func(extra ...string) (float64, *ftpsProc, []*tlsClient) {
		s := startFTPS(t, append([]string{"--max-connections-per-ip", "0", "--max-connections", "0", "--log-level", "debug"}, extra...)...)
		openIdleFTPS(t, s, warm)
		before := quietRSS(t, s.ftpdProc)
		ks := openIdleFTPS(t, s, sessions)
		after := quietRSS(t, s.ftpdProc)
		return float64(after-before) / sessions, s, ks
	}
	untrimmed, plain, _ := perSession("--trim-memory=false")
	trimmed, s, ks := perSession()
	t.Logf("per idle FTPS session: %.0f B trimmed, %.0f B with --trim-memory=false", trimmed, untrimmed)
	assert.Less(t, trimmed, 0.9*untrimmed, "the burst's garbage returned")
	assert.NotEmpty(t, s.logLines("memory trimmed"), "the trim is logged at debug level")
	assert.Empty(t, plain.logLines("memory trimmed"), "--trim-memory=false")
	for _, k := range ks[:5] {
		k.cmd("NOOP", "200")
	}
	require.False(t, strings.Contains(s.Log.String(), "panic"))
}
