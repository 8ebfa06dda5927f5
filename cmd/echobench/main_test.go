package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/internal/leaktest"
)

// TestMain doubles as the child server: echobench re-executes itself with
// "serve", which here means this test binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := serve(os.Args[2:]); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	leaktest.VerifyTestMain(m)
}

func TestIdleAndRTTRunEndToEnd(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, idle([]string{"--n", "20", "--json", filepath.Join(dir, "idle.json")}))
	var rows []idleRow
	b, err := os.ReadFile(filepath.Join(dir, "idle.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rows))
	require.Len(t, rows, 2)
	assert.Equal(t, "gnet", rows[0].Impl)
	assert.Equal(t, 20, rows[0].Connected)
	assert.Positive(t, rows[0].RSS)

	require.NoError(t, rtt([]string{"--conns", "10", "--rounds", "5", "--runs", "1", "--json", filepath.Join(dir, "rtt.json")}))
	var rr []rttRow
	b, err = os.ReadFile(filepath.Join(dir, "rtt.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rr))
	require.Len(t, rr, 2)
	for _, r := range rr {
		assert.Zero(t, r.Errors)
		assert.Positive(t, r.PerSecond)
	}
}

func TestTLSScenariosRunEndToEnd(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, idle([]string{"--tls", "--n", "10", "--json", filepath.Join(dir, "idle.json")}))
	var rows []idleRow
	b, err := os.ReadFile(filepath.Join(dir, "idle.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rows))
	require.Len(t, rows, 2)
	assert.Equal(t, "gnet-tls", rows[0].Impl)
	assert.Equal(t, "goroutine-tls", rows[1].Impl)
	assert.Equal(t, 10, rows[1].Connected)

	require.NoError(t, rtt([]string{"--tls", "--conns", "4", "--rounds", "5", "--runs", "1"}))
	require.NoError(t, handshakes([]string{"--conc", "2", "--duration", "10s", "--max", "6", "--runs", "1",
		"--json", filepath.Join(dir, "hs.json")}))
	var hs []handshakeRow
	b, err = os.ReadFile(filepath.Join(dir, "hs.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &hs))
	require.Len(t, hs, 2)
	for _, r := range hs {
		assert.Zero(t, r.Errors)
		assert.Equal(t, 6, r.Handshakes)
		assert.Positive(t, r.CPUPerOpMicro)
	}
}
