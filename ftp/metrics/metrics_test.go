package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/metrics"
)

func text(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(b)
}

// Two servers in one process have their own registries (no global
// state): the same names register twice, and count apart.
func TestRegistryPerServer(t *testing.T) {
	a, b := metrics.New(metrics.Config{NoRuntime: true}), metrics.New(metrics.Config{NoRuntime: true})
	a.Login(ftp.LoginEvent{OK: true})
	a.Login(ftp.LoginEvent{Reason: "a reason from elsewhere"})
	a.SessionOpened(ftp.SessionInfo{})
	a.Refused(ftp.RefusalEvent{Reason: ftp.RefusedMaxConnectionsPerIP})
	a.FileChanged(ftp.FileEvent{Command: "MKD"})
	a.TransferDone(ftp.TransferEvent{Command: "MLSD", Bytes: 300, Complete: true})
	out := text(t, a)
	for _, line := range []string{
		`ftpd_logins_total{result="ok"} 1`, `ftpd_logins_total{result="other"} 1`, `ftpd_sessions 1`,
		`ftpd_refusals_total{reason="max connections per ip"} 1`, `ftpd_file_changes_total{command="MKD"} 1`,
		`ftpd_transfer_bytes_total{direction="listing"} 300`, `ftpd_transfers_total{command="MLSD",result="complete"} 1`,
	} {
		assert.Contains(t, out, line+"\n")
	}
	assert.Contains(t, text(t, b), `ftpd_logins_total{result="ok"} 0`+"\n")
	assert.NotContains(t, out, "go_goroutines", "NoRuntime")
}

// The events called on every command and transfer allocate nothing once
// their label children exist.
func TestHotEventsDoNotAllocate(t *testing.T) {
	m := metrics.New(metrics.Config{NoRuntime: true})
	cmd := ftp.CommandEvent{Command: "RETR", Code: 226, Duration: time.Millisecond}
	xfer := ftp.TransferEvent{Command: "RETR", Bytes: 4096, Complete: true}
	login := ftp.LoginEvent{OK: true}
	m.CommandDone(cmd)
	m.TransferDone(xfer)
	allocs := testing.AllocsPerRun(1000, func() {
		m.CommandDone(cmd)
		m.TransferDone(xfer)
		m.Login(login)
		m.SessionOpened(ftp.SessionInfo{})
		m.SessionClosed(ftp.SessionInfo{})
	})
	assert.Zero(t, allocs)
	assert.True(t, strings.Contains(text(t, m), `ftpd_command_duration_seconds_count{command="RETR"} 1002`))
}

// The loop lag sampler runs until its context ends.
func TestLoopLagSampled(t *testing.T) {
	m := metrics.New(metrics.Config{NoRuntime: true, LoopLagEvery: 5 * time.Millisecond,
		LoopLag: func(time.Duration) time.Duration { return 3 * time.Millisecond }})
	ctx, cancel := contextWithCancel()
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	require.Eventually(t, func() bool {
		return strings.Contains(text(t, m), `ftpd_event_loop_lag_seconds_bucket{le="0.005"}`) &&
			!strings.Contains(text(t, m), "ftpd_event_loop_lag_seconds_count 0\n")
	}, 10*time.Second, 5*time.Millisecond)
	cancel()
	<-done
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
