package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gnetftp/gnetftp/bench/ftpbench"
)

// tlsColumn is one column of the FTPS table: a metric read from the TLS
// runs and, for "plain -> TLS", the same metric from the plain runs.
type tlsColumn struct {
	title string // the column heading
	m     metric
	scale float64 // the cell shows value*scale (B -> KiB)
	unit  string
}

func metricByTitle(title string) metric {
	for _, m := range metrics {
		if m.title == title {
			return m
		}
	}
	panic("report: no metric " + title)
}

var tlsColumns = []tlsColumn{
	{"idle PSS KiB/session", metricByTitle("PSS per idle session (largest N)"), 1.0 / 1024, "KiB"},
	{"logins/s, C=50", metricByTitle("logins/s, 50 clients"), 1, "/s"},
	{"server CPU/login µs", metricByTitle("server CPU per login"), 1, "µs"},
	{"4 KiB PROT P RETR/s, C=50", metricByTitle("4 KiB EPSV+RETR/s, 50 clients"), 1, "/s"},
	{"server CPU per 4 KiB RETR µs", metricByTitle("server CPU per 4 KiB EPSV+RETR"), 1, "µs"},
	{"RETR 1 GiB PROT P MB/s", metricByTitle("RETR 1 GiB"), 1, "MB/s"},
	{"STOR 1 GiB PROT P MB/s", metricByTitle("STOR 1 GiB"), 1, "MB/s"},
}

// readCell is the median (and spread) of metric m over dir/server's runs.
func readCell(dir, server string, m metric) (cell, bool) {
	files, _ := filepath.Glob(filepath.Join(dir, server, m.scenario+"-*.json"))
	var vals []float64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if v, ok := m.read(b); ok {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return cell{}, false
	}
	sort.Float64s(vals)
	return cell{median: vals[len(vals)/2], lo: vals[0], hi: vals[len(vals)-1], n: len(vals)}, true
}

// negotiated collects the TLS versions and suites the runs of dir/server
// report.
func negotiated(dir, server string) []string {
	files, _ := filepath.Glob(filepath.Join(dir, server, "*.json"))
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var r ftpbench.RateResult
		var rows []idleRow
		switch {
		case json.Unmarshal(b, &r) == nil && r.TLS != "":
			seen[r.TLS] = true
		case json.Unmarshal(b, &rows) == nil:
			for _, row := range rows {
				if row.TLS != "" {
					seen[row.TLS] = true
				}
			}
		}
	}
	var out []string
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// tlsReport writes the FTPS table: one row per server, each cell
// "plain -> TLS" (medians; the TLS spread and run count after it), then
// gnetftp's idle session against the crypto/tls reference server, its
// ratios to the best peer, and the bulk rates as a fraction of the
// cipher's single-core speed.
func tlsReport(dir, plainDir, self, ref, md string, stdout io.Writer) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var servers []string
	for _, e := range entries {
		if e.IsDir() {
			servers = append(servers, e.Name())
		}
	}
	sort.Strings(servers)
	// Only the scenarios some server ran (matrix.sh's SCENARIOS): a
	// scenario left out is no column, not a column of failures.
	var cols []tlsColumn
	for _, c := range tlsColumns {
		if ran(dir, servers, c.m.scenario) {
			cols = append(cols, c)
		}
	}
	tls := map[string]map[string]cell{}
	var b strings.Builder
	b.WriteString("| server |")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s |", c.title)
	}
	fmt.Fprintf(&b, " negotiated |\n|---|%s---|\n", strings.Repeat("---|", len(cols)))
	for _, s := range servers {
		tls[s] = map[string]cell{}
		fmt.Fprintf(&b, "| %s |", s)
		for _, col := range cols {
			t, ok := readCell(dir, s, col.m)
			p, pok := readCell(plainDir, s, col.m)
			plain := "-"
			if pok {
				plain = num(p.median * col.scale)
			}
			if !ok {
				if ran(dir, []string{s}, col.m.scenario) {
					fmt.Fprintf(&b, " %s -> failed |", plain)
				} else {
					b.WriteString(" - |") // not run on this server
				}
				continue
			}
			tls[s][col.title] = t
			fmt.Fprintf(&b, " %s -> **%s** (%s-%s, n=%d) |", plain, num(t.median*col.scale), num(t.lo*col.scale), num(t.hi*col.scale), t.n)
		}
		fmt.Fprintf(&b, " %s |\n", strings.Join(negotiated(dir, s), ", "))
	}
	b.WriteString("\nEach cell: plain -> **TLS**, medians (the TLS runs' range and count in brackets); matrix.sh runs each scenario plain, then as FTPS, against the same server process.\n")
	b.WriteString("Negotiated: the control connections' TLS version and suite (Go's client offers AES-128-GCM first; a server that prefers its own order picks AES-256-GCM).\n")
	idle := tlsColumns[0].title
	if mine, ok := tls[self][idle]; ok {
		if r, ok := tls[ref][idle]; ok && mine.median > 0 {
			fmt.Fprintf(&b, "Idle TLS session: %s %s KiB, %s %s KiB: %s uses %.2f of the goroutine-per-connection crypto/tls server's memory (target <= 0.33, <= 8 KiB).\n",
				self, num(mine.median/1024), ref, num(r.median/1024), self, mine.median/r.median)
		}
	} else if r, ok := tls[ref][idle]; ok {
		fmt.Fprintf(&b, "Idle TLS session of %s (goroutine per connection, crypto/tls): %s KiB; %s has no TLS figures in this run.\n", ref, num(r.median/1024), self)
	}
	for _, col := range cols {
		higher := col.m.higher
		best, bestName := 0.0, ""
		for _, s := range servers {
			c, ok := tls[s][col.title]
			if !ok || s == self || s == ref {
				continue
			}
			if bestName == "" || (higher && c.median > best) || (!higher && c.median < best) {
				best, bestName = c.median, s
			}
		}
		mine, ok := tls[self][col.title]
		if !ok || bestName == "" || best == 0 || mine.median == 0 {
			if bestName != "" {
				fmt.Fprintf(&b, "- %s: best peer %s, %s %s.\n", col.title, bestName, num(best*col.scale), col.unit)
			}
			continue
		}
		r := mine.median / best
		if !higher {
			r = best / mine.median
		}
		fmt.Fprintf(&b, "- %s: %s **%.2fx** the best peer (%s, %s %s).\n", col.title, self, r, bestName, num(best*col.scale), col.unit)
	}
	if cb, err := os.ReadFile(filepath.Join(dir, "cipher.json")); err == nil {
		var c map[string]float64
		if json.Unmarshal(cb, &c) == nil && c["MBps"] > 0 {
			fmt.Fprintf(&b, "\nAES-128-GCM on one core, 16 KiB blocks (`openssl speed -evp aes-128-gcm`, same run): %.0f MB/s. PROT P bulk rates as a fraction of it:", c["MBps"])
			for _, s := range servers {
				var parts []string
				for _, title := range []string{"RETR 1 GiB PROT P MB/s", "STOR 1 GiB PROT P MB/s"} {
					if t, ok := tls[s][title]; ok {
						parts = append(parts, fmt.Sprintf("%s %.2f", strings.Fields(title)[0], t.median/c["MBps"]))
					}
				}
				if len(parts) > 0 {
					fmt.Fprintf(&b, " %s %s;", s, strings.Join(parts, ", "))
				}
			}
			b.WriteString("\n")
		}
	}
	fmt.Fprint(stdout, b.String())
	if md != "" {
		return os.WriteFile(md, []byte(b.String()), 0o644)
	}
	return nil
}
