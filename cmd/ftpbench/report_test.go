package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/bench/ftpbench"
)

func writeRun(t *testing.T, dir, server, name string, v any) {
	require.NoError(t, os.MkdirAll(filepath.Join(dir, server), 0o755))
	b, err := json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, server, name), b, 0o644))
}

func TestReportMediansRatiosAndChart(t *testing.T) {
	dir := t.TempDir()
	for i, rate := range []float64{900, 1000, 1100} { // median 1000
		writeRun(t, dir, "gnetftp", "logins-"+string(rune('1'+i))+".json", ftpbench.RateResult{Ops: 10, PerSecond: rate, ServerCPUPerOp: 50 * time.Microsecond})
	}
	writeRun(t, dir, "peer", "logins-1.json", ftpbench.RateResult{Ops: 10, PerSecond: 500, ServerCPUPerOp: 150 * time.Microsecond})
	writeRun(t, dir, "peer", "logins-2.json", ftpbench.RateResult{Ops: 10, Errors: 1, PerSecond: 99999}) // failed runs do not count
	writeRun(t, dir, "gnetftp", "idle-1.json", []idleRow{{N: 10, LoggedIn: 10, PSSPerSession: 1000}})
	writeRun(t, dir, "peer", "idle-1.json", []idleRow{{N: 10, LoggedIn: 10, PSSPerSession: 4000}})
	writeRun(t, dir, "gnetftp", "list-1.json", ftpbench.RateResult{Ops: 1, Latency: ftpbench.Latencies{P50: 20 * time.Millisecond, First: 30 * time.Millisecond}})
	writeRun(t, dir, "peer", "list-1.json", ftpbench.RateResult{Ops: 1, Latency: ftpbench.Latencies{P50: 10 * time.Millisecond, First: 60 * time.Millisecond}})
	var out, errOut bytes.Buffer
	svg := filepath.Join(dir, "r.svg")
	require.NoError(t, report([]string{"--dir", dir, "--svg", svg}, &out, &errOut))
	md := out.String()
	assert.Contains(t, md, "| logins/s, 50 clients (/s) | 1000 (900-1100, n=3) | 500 (500-500, n=1) | **2.00x** vs peer |")
	assert.Contains(t, md, "**4.00x** vs peer", "memory: lower is better")
	assert.Contains(t, md, "| server CPU per login (µs) | 50.0 (50.0-50.0, n=3) | 150 (150-150, n=1) | **3.00x** vs peer |", "CPU: lower is better")
	assert.Contains(t, md, "**0.50x** vs peer", "LIST time: lower is better")
	assert.Contains(t, md, "| LIST of 10,000 entries, first of the run (ms) | 30.0 (30.0-30.0, n=1) | 60.0 (60.0-60.0, n=1) | **2.00x** vs peer |")
	assert.Contains(t, md, "| RETR 1 GiB (MB/s) | failed | failed | - |")
	b, err := os.ReadFile(svg)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), "<svg"))
	assert.Equal(t, 5, strings.Count(string(b), "<rect"), "one bar per compared figure")
}

// TestTLSReport: plain -> TLS per server, the idle session against the
// reference server, the ratio to the best peer (tlsref is no peer), and
// the fraction of the cipher's speed.
func TestTLSReport(t *testing.T) {
	plain, dir := t.TempDir(), t.TempDir()
	writeRun(t, plain, "gnetftp", "retr-1.json", ftpbench.RateResult{Ops: 1, MBps: 2000})
	writeRun(t, dir, "gnetftp", "retr-1.json", ftpbench.RateResult{Ops: 1, MBps: 1000, TLS: "TLS 1.3 TLS_AES_128_GCM_SHA256"})
	writeRun(t, dir, "peer", "retr-1.json", ftpbench.RateResult{Ops: 1, MBps: 500})
	writeRun(t, dir, "tlsref", "retr-1.json", ftpbench.RateResult{Ops: 1, MBps: 4000})
	writeRun(t, dir, "gnetftp", "idle-1.json", []idleRow{{N: 10, LoggedIn: 10, PSSPerSession: 6 << 10}})
	writeRun(t, dir, "tlsref", "idle-1.json", []idleRow{{N: 10, LoggedIn: 10, PSSPerSession: 24 << 10, TLS: "TLS 1.3 TLS_AES_128_GCM_SHA256"}})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cipher.json"), []byte(`{"MBps": 4000}`), 0o644))
	var out, errOut bytes.Buffer
	require.NoError(t, report([]string{"--tls", "--dir", dir, "--plain", plain}, &out, &errOut))
	md := out.String()
	assert.Contains(t, md, "| gnetftp | - -> **6.00** (6.00-6.00, n=1) |")
	assert.Contains(t, md, " 2000 -> **1000** (1000-1000, n=1) |", "plain beside TLS")
	assert.Contains(t, md, "| TLS 1.3 TLS_AES_128_GCM_SHA256 |\n")
	assert.Contains(t, md, "gnetftp uses 0.25 of the goroutine-per-connection crypto/tls server's memory")
	assert.Contains(t, md, "RETR 1 GiB PROT P MB/s: gnetftp **2.00x** the best peer (peer, 500 MB/s)", "tlsref is no peer")
	assert.Contains(t, md, "gnetftp RETR 0.25;")
}
