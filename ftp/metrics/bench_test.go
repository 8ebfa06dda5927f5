package metrics_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/metrics"
	"github.com/gnetftp/gnetftp/internal/ftptest"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

// BenchmarkCommand is one NOOP through a logged-in session's whole
// command path (parse, table, reply), with no Events and with the
// metrics: the difference is what counting costs an event loop per
// command (go test -bench Command ./ftp/metrics).
func BenchmarkCommand(b *testing.B) {
	for _, c := range []struct {
		name   string
		events func() ftp.Events
	}{
		{"no-events", func() ftp.Events { return nil }},
		{"metrics", func() ftp.Events { return metrics.New(metrics.Config{NoRuntime: true}) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			f, _ := ftptest.Factory(b, func(cfg *ftp.Config) { cfg.Events = c.events() })
			b.Cleanup(f.StopFactory)
			tr := prototest.NewTransport()
			p := f.BuildProtocol(tr.Remote)
			prototest.Connect(p, tr)
			p.DataReceived([]byte("USER anonymous\r\nPASS x\r\n"))
			for !strings.Contains(tr.Take(), "230 ") {
				tr.FakeLoop.RunPending()
			}
			line := []byte("NOOP\r\n")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				p.DataReceived(line)
				tr.Out.Reset()
			}
			b.StopTimer()
			p.ConnectionLost(nil)
		})
	}
}

// BenchmarkScrape is one scrape of /metrics, with the Go runtime and
// process collectors and without (go test -bench Scrape ./ftp/metrics).
func BenchmarkScrape(b *testing.B) {
	for _, noRuntime := range []bool{false, true} {
		b.Run(map[bool]string{false: "runtime", true: "ftpd-only"}[noRuntime], func(b *testing.B) {
			m := metrics.New(metrics.Config{NoRuntime: noRuntime})
			h := m.Handler()
			b.ReportAllocs()
			for range b.N {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/metrics", nil))
			}
		})
	}
}
