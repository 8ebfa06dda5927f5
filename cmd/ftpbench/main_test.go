package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/bench/ftpbench"
	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/internal/ftptest"
	"github.com/gnetftp/gnetftp/internal/leaktest"
)

// TestMain doubles as ftpbench's idle worker process (it re-executes
// itself with "idle-worker").
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "idle-worker" || os.Args[1] == "bulk-worker") {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt) // as main does
		defer stop()
		if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	leaktest.Main(func() int {
		code := m.Run()
		weed.Stop()
		return code
	})
}

func startServer(t *testing.T) string {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "s.bin"), make([]byte, 4096), 0o644))
	f, _ := ftptest.Factory(t, func(c *ftp.Config) { c.Root = root })
	return ftptest.Serve(t, f, "127.0.0.1:0").String()
}

func TestScenariosFromTheCommandLine(t *testing.T) {
	addr := startServer(t)
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	js := filepath.Join(dir, "idle.json")
	require.NoError(t, run(context.Background(), []string{"idle", "--addr", addr, "--n", "50,100", "--pid", strconv.Itoa(os.Getpid()), "--quiet", "--json", js}, nil, &out, &errOut), errOut.String())
	var rows []idleRow
	b, err := os.ReadFile(js)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rows))
	require.Len(t, rows, 2)
	assert.Equal(t, 50, rows[0].LoggedIn, rows[0].FirstError)
	assert.Equal(t, 100, rows[1].LoggedIn, rows[1].FirstError)
	assert.Positive(t, rows[1].RSS, "the server's memory was read (here: this process)")
	assert.Contains(t, out.String(), "| 100 | 100 | 1 |")

	out.Reset()
	require.NoError(t, run(context.Background(), []string{"small", "--addr", addr, "--file", "s.bin", "-c", "2", "--count", "20", "--quiet"}, nil, &out, &errOut))
	assert.Regexp(t, `\| small s.bin, 2 streams \| \d+ ops \| 0 errors`, out.String())
	out.Reset()
	js = filepath.Join(dir, "logins.json")
	require.NoError(t, run(context.Background(), []string{"logins", "--addr", addr, "-c", "2", "--count", "200", "--quiet",
		"--pid", strconv.Itoa(os.Getpid()), "--json", js}, nil, &out, &errOut))
	assert.Regexp(t, `\| logins, 2 clients \| \d+ ops \| 0 errors .* server CPU \S+/op \|`, out.String())
	var logins ftpbench.RateResult
	b, err = os.ReadFile(js)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &logins))
	assert.GreaterOrEqual(t, logins.Ops, 200)
	assert.Positive(t, logins.ServerCPU, "the server (here: this process) used CPU for 200 logins")
	out.Reset()
	js = filepath.Join(dir, "latency.json")
	require.NoError(t, run(context.Background(), []string{"latency", "--addr", addr, "--file", "s.bin", "-m", "2", "-k", "2", "--duration", "1s", "--quiet", "--json", js}, nil, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "| NOOP on 2 sessions while 2 transfers run |")
	assert.NotContains(t, out.String(), "first error")
	var lat ftpbench.LatencyResult
	b, err = os.ReadFile(js)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &lat))
	assert.Positive(t, lat.NOOP.N)
	assert.Positive(t, lat.Bulk_.Ops, "the bulk-worker process downloaded meanwhile")
	assert.Equal(t, int64(lat.Bulk_.Ops)*4096, lat.Bulk_.Bytes)
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"guess", "--addr", addr, "--user", ftptest.User, "--pass", ftptest.Password,
		"-c", "5", "--duration", "3s", "--quiet"}, nil, &out, &errOut), errOut.String())
	assert.Regexp(t, `\| 5 guessing connections from 1 addresses \| [1-9]\d* guesses .* \(n=[1-9]\d*, 0 errors\) \|`, out.String())
	assert.NotContains(t, out.String(), "first error")
	assert.Error(t, run(context.Background(), []string{"nope"}, nil, &out, &errOut))
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "4KiB": 4096, "10": 10, "3MiB": 3 << 20} {
		got, err := parseSize(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	for _, bad := range []string{"", "x", "-1", "0KiB"} {
		_, err := parseSize(bad)
		assert.Error(t, err, bad)
	}
}
