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
	writeRun(t, dir, "peer", "retr-1.json", ftpbench.RateResult{Ops: 0, Errors: 1}) // ran and failed: shown
	var out, errOut bytes.Buffer
	svg := filepath.Join(dir, "r.svg")
	require.NoError(t, report([]string{"--dir", dir, "--svg", svg}, &out, &errOut))
	md := out.String()
	assert.Contains(t, md, "| logins/s, 50 clients (/s) | 1000 (900-1100, n=3) | 500 (500-500, n=1) | **2.00x** vs peer |")
	assert.Contains(t, md, "**4.00x** vs peer", "memory: lower is better")
	assert.Contains(t, md, "| server CPU per login (µs) | 50.0 (50.0-50.0, n=3) | 150 (150-150, n=1) | **3.00x** vs peer |", "CPU: lower is better")
	assert.Contains(t, md, "**0.50x** vs peer", "LIST time: lower is better")
	assert.Contains(t, md, "| LIST of 10,000 entries, first of the run (ms) | 30.0 (30.0-30.0, n=1) | 60.0 (60.0-60.0, n=1) | **2.00x** vs peer |")
	assert.Contains(t, md, "| RETR 1 GiB (MB/s) | - | failed | - |", "failed where it ran, - where it did not")
	assert.NotContains(t, md, "loopback copy next to it", "no loopback copies beside the runs")
	assert.NotContains(t, md, "4 KiB EPSV+RETR", "a scenario no server ran has no row")
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
	assert.NotContains(t, md, "logins/s", "a scenario no server ran is no column")
	assert.Contains(t, md, "| peer | - | - -> **500**", "idle not run on peer")
	assert.NotContains(t, md, "failed")
}

// TestReportFloorAndLoopback: the floor servers are no peers and get a
// column of their own (self over the best floor), and a bulk run is
// divided by the mean of the loopback copies measured before and after it.
func TestReportFloorAndLoopback(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, "gnetftp", "logins-1.json", ftpbench.RateResult{Ops: 10, PerSecond: 1000, ServerCPUPerOp: 60 * time.Microsecond})
	writeRun(t, dir, "peer", "logins-1.json", ftpbench.RateResult{Ops: 10, PerSecond: 500, ServerCPUPerOp: 120 * time.Microsecond})
	writeRun(t, dir, "floor", "logins-1.json", ftpbench.RateResult{Ops: 10, PerSecond: 4000, ServerCPUPerOp: 20 * time.Microsecond})
	writeRun(t, dir, "floor", "list-1.json", ftpbench.RateResult{Ops: 1, Latency: ftpbench.Latencies{P50: 8 * time.Millisecond, First: 8 * time.Millisecond}})
	writeRun(t, dir, "floor-parallel", "list-1.json", ftpbench.RateResult{Ops: 1, Latency: ftpbench.Latencies{P50: 5 * time.Millisecond, First: 5 * time.Millisecond}})
	writeRun(t, dir, "gnetftp", "list-1.json", ftpbench.RateResult{Ops: 1, Latency: ftpbench.Latencies{P50: 2 * time.Millisecond, First: 10 * time.Millisecond}})
	writeRun(t, dir, "gnetftp", "retr-1.json", ftpbench.RateResult{Ops: 1, MBps: 1500})
	writeRun(t, dir, "gnetftp", "loopback-1.json", map[string]float64{"MBps": 1000})
	writeRun(t, dir, "gnetftp", "loopback-after-1.json", map[string]float64{"MBps": 2000})
	writeRun(t, filepath.Join(dir, "other-results"), "gnetftp", "logins-1.json", ftpbench.RateResult{Ops: 1})
	var out, errOut bytes.Buffer
	require.NoError(t, report([]string{"--dir", dir}, &out, &errOut))
	md := out.String()
	assert.Contains(t, md, "| figure | floor | floor-parallel | gnetftp | peer | ratio gnetftp / best peer | gnetftp / floor |\n", "a directory of other results is no server")
	assert.Contains(t, md, "| logins/s, 50 clients (/s) | 4000 (4000-4000, n=1) | - | 1000 (1000-1000, n=1) | 500 (500-500, n=1) | **2.00x** vs peer | **0.25** (floor) |", "the floor is no peer")
	assert.Contains(t, md, "| server CPU per login (µs) | 20.0 (20.0-20.0, n=1) | - | 60.0 (60.0-60.0, n=1) | 120 (120-120, n=1) | **2.00x** vs peer | **3.00** (floor) |")
	assert.Contains(t, md, "first of the run (ms) | 8.00 (8.00-8.00, n=1) | 5.00 (5.00-5.00, n=1) | 10.0 (10.0-10.0, n=1) | - | - | **2.00** (floor-parallel) |", "the best floor")
	assert.Contains(t, md, "| RETR 1 GiB / loopback copy next to it (x) | - | - | 1.00 (1.00-1.00, n=1) | - | - | - |", "1500 over the mean of 1000 and 2000")
	writeRun(t, dir, "peer", "loopback-1.json", map[string]float64{"MBps": 500})
	writeRun(t, dir, "floor", "loopback-1.json", map[string]float64{"MBps": 500})
	out.Reset()
	require.NoError(t, report([]string{"--dir", dir}, &out, &errOut))
	md = out.String()
	assert.Contains(t, md, "| loopback sendfile copy next to each run (MB/s) | 500 (500-500, n=1) | - | 2000 (1000-2000, n=2) | 500 (500-500, n=1) | - | - |", "the machine's drift, no ratio")
}
