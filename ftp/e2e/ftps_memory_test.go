package e2e_test

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Idle FTPS sessions (TLS 1.3 control connection, logged in, PROT P)
// stay on the event loops, with no goroutine each: the server's memory
// grows by a few KiB per session (the target is 8 KiB; a
// goroutine-per-connection crypto/tls server holds about 20 KiB idle,
// ftpbench's tls-reference measures it in the same run).
func TestIdleFTPSSessionsStayLight(t *testing.T) {
	const warm, sessions = 50, 600
	s := startFTPS(t, "--max-connections-per-ip", "0", "--max-connections", "0")
	cfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}
	open := func(n int) []*tlsClient {
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
	open(warm) // the first sessions grow the heap's and the loops' fixed parts
	before := settledRSS(t, s.ftpdProc)
	ks := open(sessions)
	after := settledRSS(t, s.ftpdProc)
	per := float64(after-before) / sessions / 1024
	t.Logf("server RSS %.1f MiB with %d idle FTPS sessions, %.1f MiB with %d more: %.1f KiB per session",
		float64(before)/(1<<20), warm, float64(after)/(1<<20), sessions, per)
	assert.Less(t, per, 16.0, "KiB per idle FTPS session")
	for _, k := range ks[:5] {
		k.cmd("NOOP", "200") // still served
	}
}
