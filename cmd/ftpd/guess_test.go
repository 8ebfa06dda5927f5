package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/bench/ftpbench"
	"github.com/gnetftp/gnetftp/ftp/auth"
)

// startFTPD runs this test binary as a real ftpd process with args and
// returns its address; it is stopped (SIGTERM, by its pid) at cleanup.
func startFTPD(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = nil
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill() // the process this test started
			<-done
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "ftpd did not start")
	f := strings.Fields(line)
	require.GreaterOrEqual(t, len(f), 5, line)
	return strings.TrimPrefix(f[4], "ftp://")
}

// TestGuessingFloodDoesNotStarveALoggedInUser is the password-guessing
// flood against a real ftpd process: 200 connections from one address
// send wrong passwords (bcrypt, cost 8) while a logged-in
// user runs CWD and NOOP. The user keeps being answered, with bans off
// (the isolation of the password checks' pool) and on (the address is
// banned after 3 failures, so that the ban comes within the run even
// under the race detector, and is refused at connect). The
// latency is logged, not asserted (2 shared cores).
func TestGuessingFloodDoesNotStarveALoggedInUser(t *testing.T) {
	if testing.Short() {
		t.Skip("a 2 x 5 s load run")
	}
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	// Cost 8: a quarter of the default's work, so that guesses complete within
	// the run even under the race detector on a busy machine (at cost 10
	// none did there); the checks are still the pool's whole work.
	require.NoError(t, auth.SetPassword(users, "alice", "secret", 8))
	for name, flags := range map[string][]string{"bans off": {"--ban-after", "0"}, "bans on": {"--ban-after", "3"}} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"--listen", "127.0.0.1:0", "--root", filepath.Join(dir, "root"), "--users", users,
				"--log-level", "error", "--max-connections-per-ip", "0"}, flags...) // the whole flood reaches the password checks
			addr := startFTPD(t, args...)
			ru := ftpbench.NewRunner(ftpbench.Config{Addr: addr, User: "alice", Pass: "secret", Timeout: 20 * time.Second})
			defer ru.Close()
			r := ru.Guess(context.Background(), 200, 1, 5*time.Second, 100*time.Millisecond, nil)
			t.Logf("%s: %d guesses (%.1f/s), %d refused; logged-in user CWD/NOOP p50 %v p99 %v over %d commands",
				name, r.Guesses, r.GuessesPerSecond, r.Refused, r.Probe.P50, r.Probe.P99, r.Probe.N)
			assert.Zero(t, r.ProbeErrors, r.FirstErr)
			assert.Positive(t, r.Guesses, "the flood ran: %s", r.FirstErr)
			// Liveness, not latency: on a shared pool the first CWD
			// waited behind every queued bcrypt (one command in 10 s).
			assert.GreaterOrEqual(t, r.Probe.N, 10, "the logged-in user kept being answered")
			if name == "bans on" {
				assert.Positive(t, r.Refused, "the address was banned")
			}
		})
	}
}
