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
