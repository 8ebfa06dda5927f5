package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gnetftp/gnetftp/bench/ftpbench"
)

// metric is one column of the comparison: how to read it from a run's
// JSON and whether higher is better.
type metric struct {
	scenario, title, unit string
	higher                bool
	read                  func(b []byte) (float64, bool)
	// perRun, when set, reads the figure of one run from its file and
	// the files of the same run beside it (read is then unused).
	perRun func(file string) (float64, bool)
}

// overLoopback is a bulk run's MB/s divided by the loopback sendfile copy
// measured next to it (matrix.sh writes loopback-RUN.json before the
// server's run and loopback-after-RUN.json after it; their mean): the
// server against the bulk floor of the same moment of the machine.
func overLoopback(scenario string) func(file string) (float64, bool) {
	return func(file string) (float64, bool) {
		b, err := os.ReadFile(file)
		if err != nil {
			return 0, false
		}
		v, ok := rate("MBps")(b)
		if !ok {
			return 0, false
		}
		run := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), scenario+"-"), ".json")
		var sum float64
		n := 0
		for _, name := range []string{"loopback-" + run + ".json", "loopback-after-" + run + ".json"} {
			if lb, ok := loopbackMBps(filepath.Join(filepath.Dir(file), name)); ok {
				sum += lb
				n++
			}
		}
		if n == 0 {
			return 0, false
		}
		return v / (sum / float64(n)), true
	}
}

func loopbackMBps(file string) (float64, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	return loopbackRead(b)
}

// loopbackRead reads `ftpbench loopback --json`'s {"MBps": ...}.
func loopbackRead(b []byte) (float64, bool) {
	var l map[string]float64
	if json.Unmarshal(b, &l) != nil || l["MBps"] <= 0 {
		return 0, false
	}
	return l["MBps"], true
}

func rate(field string) func(b []byte) (float64, bool) {
	return func(b []byte) (float64, bool) {
		var r ftpbench.RateResult
		if json.Unmarshal(b, &r) != nil || r.Ops == 0 || r.Errors > 0 {
			return 0, false
		}
		switch field {
		case "PerSecond":
			return r.PerSecond, true
		case "MBps":
			return r.MBps, true
		case "P50ms":
			return float64(r.Latency.P50.Microseconds()) / 1000, true
		case "FirstMs":
			return float64(r.Latency.First.Microseconds()) / 1000, r.Latency.First > 0
		case "CPUus":
			return float64(r.ServerCPUPerOp.Nanoseconds()) / 1000, r.ServerCPUPerOp > 0
		}
		return 0, false
	}
}

var metrics = []metric{
	// PSS, not RSS: forking servers share libraries between their
	// processes, and summing RSS would count them once per session.
	{"idle", "PSS per idle session (largest N)", "B", false, func(b []byte) (float64, bool) {
		var rows []idleRow
		if json.Unmarshal(b, &rows) != nil || len(rows) == 0 {
			return 0, false
		}
		last := rows[len(rows)-1]
		return last.PSSPerSession, last.LoggedIn == last.N && last.PSSPerSession > 0
	}, nil},
	{"logins", "logins/s, 50 clients", "/s", true, rate("PerSecond"), nil},
	// What one operation costs the server, read from its processes' CPU
	// time: on a 2-core machine the load generator takes a share of the
	// CPU, and this is the figure that does not depend on it.
	{"logins", "server CPU per login", "µs", false, rate("CPUus"), nil},
	{"small", "4 KiB EPSV+RETR/s, 50 clients", "/s", true, rate("PerSecond"), nil},
	{"small", "server CPU per 4 KiB EPSV+RETR", "µs", false, rate("CPUus"), nil},
	{"retr", "RETR 1 GiB", "MB/s", true, rate("MBps"), nil},
	{"stor", "STOR 1 GiB", "MB/s", true, rate("MBps"), nil},
	// The bulk floor: a plain sendfile copy over loopback before and
	// after each server's run (its spread is the machine's drift), and
	// each bulk run divided by the copies next to it.
	{"loopback", "loopback sendfile copy next to each run", "MB/s", true, loopbackRead, nil},
	{"retr", "RETR 1 GiB / loopback copy next to it", "x", true, nil, overLoopback("retr")},
	{"stor", "STOR 1 GiB / loopback copy next to it", "x", true, nil, overLoopback("stor")},
	{"list", "LIST of 10,000 entries (p50 of 10 in a row)", "ms", false, rate("P50ms"), nil},
	// The first LIST of the run: no listing cache has the directory yet.
	{"list", "LIST of 10,000 entries, first of the run", "ms", false, rate("FirstMs"), nil},
	// Over the 10 LISTs of a run (the first cold, the others as the
	// server's cache leaves them; the floor keeps none); 10 ms ticks.
	{"list", "server CPU per LIST of 10,000 entries", "µs", false, rate("CPUus"), nil},
	{"latency", "NOOP p99 while 8 RETRs run", "ms", false, func(b []byte) (float64, bool) {
		var r ftpbench.LatencyResult
		if json.Unmarshal(b, &r) != nil || r.NOOP.N == 0 {
			return 0, false
		}
		return float64(r.NOOP.P99.Microseconds()) / 1000, true
	}, nil},
}

type cell struct {
	median, lo, hi float64
	n              int
}

// report reads DIR/SERVER/SCENARIO-RUN.json and writes the median table
// with spreads and ratios (gnetftp against the best peer), and an SVG.
func report(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ftpbench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "bench/results", "directory written by bench/peers/matrix.sh")
	md := fs.String("markdown", "", "write the markdown table here (default: stdout only)")
	svg := fs.String("svg", "", "write the SVG chart here")
	self := fs.String("self", "gnetftp", "the server the ratios are for")
	tlsMode := fs.Bool("tls", false, "the FTPS table of matrix.sh's TLS=1 runs (DIR is then its tls directory)")
	plain := fs.String("plain", "bench/results", "--tls: the plain runs, shown beside the TLS ones")
	ref := fs.String("ref", "tlsref", "--tls: the goroutine-per-connection crypto/tls server that the idle session is compared with")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tlsMode {
		return tlsReport(*dir, *plain, *self, *ref, *md, stdout)
	}
	entries, err := os.ReadDir(*dir)
	if err != nil {
		return err
	}
	var servers []string
	for _, e := range entries {
		// A server's directory holds its runs' JSON files; others (the
		// tls runs, bench/results/floor's own matrices) are not columns.
		if runs, _ := filepath.Glob(filepath.Join(*dir, e.Name(), "*-*.json")); e.IsDir() && len(runs) > 0 {
			servers = append(servers, e.Name())
		}
	}
	sort.Strings(servers)
	table := map[string]map[string]cell{}
	for _, s := range servers {
		table[s] = map[string]cell{}
		for _, m := range metrics {
			files, _ := filepath.Glob(filepath.Join(*dir, s, m.scenario+"-*.json"))
			var vals []float64
			for _, f := range files {
				if m.perRun != nil {
					if v, ok := m.perRun(f); ok {
						vals = append(vals, v)
					}
					continue
				}
				b, err := os.ReadFile(f)
				if err != nil {
					continue
				}
				if v, ok := m.read(b); ok {
					vals = append(vals, v)
				}
			}
			if len(vals) == 0 {
				continue
			}
			sort.Float64s(vals)
			table[s][m.title] = cell{median: vals[len(vals)/2], lo: vals[0], hi: vals[len(vals)-1], n: len(vals)}
		}
	}
	// The floor (bench/floor, servers named floor*) is no peer: it is
	// what the figure costs at the least, and gets a column of its own.
	var floors []string
	for _, s := range servers {
		if isFloor(s) {
			floors = append(floors, s)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| figure | %s | ratio %s / best peer |", strings.Join(servers, " | "), *self)
	if len(floors) > 0 {
		fmt.Fprintf(&b, " %s / floor |", *self)
	}
	fmt.Fprintf(&b, "\n|---|%s---|", strings.Repeat("---|", len(servers)))
	if len(floors) > 0 {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	var bars []bar
	for _, m := range metrics {
		if !ran(*dir, servers, m.scenario) || (m.perRun != nil && !measured(table, m.title)) {
			// No server ran it (bench/fleet runs a few scenarios), or
			// the figure needs runs beside it that are not there (the
			// loopback copies of matrix.sh). A run that failed still
			// shows, as "failed".
			continue
		}
		fmt.Fprintf(&b, "| %s (%s) |", m.title, m.unit)
		best, bestName := 0.0, ""
		for _, s := range servers {
			c, ok := table[s][m.title]
			if !ok {
				if ran(*dir, []string{s}, m.scenario) {
					b.WriteString(" failed |")
				} else {
					b.WriteString(" - |") // not run on this server
				}
				continue
			}
			fmt.Fprintf(&b, " %s (%s-%s, n=%d) |", num(c.median), num(c.lo), num(c.hi), c.n)
			if s == *self || isFloor(s) {
				continue
			}
			if bestName == "" || (m.higher && c.median > best) || (!m.higher && c.median < best) {
				best, bestName = c.median, s
			}
		}
		mine, ok := table[*self][m.title]
		switch {
		case m.scenario == "loopback": // the machine, not a server: no ratios
			ok = false
			b.WriteString(" - |")
		case !ok || bestName == "" || best == 0 || mine.median == 0:
			b.WriteString(" - |")
		default:
			r := mine.median / best
			if !m.higher {
				r = best / mine.median
			}
			fmt.Fprintf(&b, " **%.2fx** vs %s |", r, bestName)
			bars = append(bars, bar{label: m.title, ratio: r, peer: bestName})
		}
		if len(floors) > 0 {
			b.WriteString(floorCell(table, floors, m, mine, ok))
		}
		b.WriteString("\n")
	}
	b.WriteString("\nRatios above 1 mean " + *self + " does better than the best peer (for memory and times: lower is better, so the ratio is peer/" + *self + ").\n")
	if len(floors) > 0 {
		b.WriteString("The floor column is " + *self + "'s figure divided by the floor's (bench/floor: the system calls of the dialogue and nothing else, not an FTP server; the lower of floor and floor-parallel where lower is better, else the higher): for CPU and times, how many times the floor's cost " + *self + " pays (1.00 is the floor); for rates, the fraction of the floor's rate it reaches. The floor has no listing cache, so each of its LISTs is cold.\n")
	}
	if lb, err := os.ReadFile(filepath.Join(*dir, "loopback.json")); err == nil {
		var l map[string]float64
		if json.Unmarshal(lb, &l) == nil {
			fmt.Fprintf(&b, "Loopback ceiling (a plain sendfile copy over 127.0.0.1 in the same run): %.0f MB/s.\n", l["MBps"])
		}
	}
	fmt.Fprint(stdout, b.String())
	if *md != "" {
		if err := os.WriteFile(*md, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	if *svg != "" {
		return os.WriteFile(*svg, []byte(chart(bars, *self)), 0o644)
	}
	return nil
}

// measured: some server has the figure titled title.
func measured(table map[string]map[string]cell, title string) bool {
	for _, row := range table {
		if _, ok := row[title]; ok {
			return true
		}
	}
	return false
}

// ran: some server has a run of scenario in dir, failed or not.
func ran(dir string, servers []string, scenario string) bool {
	for _, s := range servers {
		if files, _ := filepath.Glob(filepath.Join(dir, s, scenario+"-*.json")); len(files) > 0 {
			return true
		}
	}
	return false
}

func isFloor(server string) bool { return strings.HasPrefix(server, "floor") }

// floorCell is self's median over the best floor's (the lowest where lower
// is better, else the highest), naming that floor.
func floorCell(table map[string]map[string]cell, floors []string, m metric, mine cell, ok bool) string {
	best, name := 0.0, ""
	for _, f := range floors {
		c, has := table[f][m.title]
		if !has || c.median == 0 {
			continue
		}
		if name == "" || (m.higher && c.median > best) || (!m.higher && c.median < best) {
			best, name = c.median, f
		}
	}
	if !ok || name == "" || mine.median == 0 {
		return " - |"
	}
	return fmt.Sprintf(" **%.2f** (%s) |", mine.median/best, name)
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

type bar struct {
	label, peer string
	ratio       float64
}

// chart draws the ratios as horizontal bars with the parity line at 1.
func chart(bars []bar, self string) string {
	const w, left, rowH, top = 760, 300, 34, 40
	maxR := 2.0
	for _, b := range bars {
		if b.ratio > maxR {
			maxR = b.ratio
		}
	}
	scale := float64(w-left-60) / maxR
	h := top + rowH*len(bars) + 30
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="13">`+"\n", w, h)
	fmt.Fprintf(&s, `<text x="10" y="22" font-size="15">%s / best peer (higher is better)</text>`+"\n", self)
	for i, b := range bars {
		y := top + i*rowH
		color := "#2e7d32"
		if b.ratio < 1 {
			color = "#c62828"
		}
		fmt.Fprintf(&s, `<text x="10" y="%d">%s</text>`+"\n", y+18, b.label)
		fmt.Fprintf(&s, `<rect x="%d" y="%d" width="%.1f" height="22" fill="%s"/>`+"\n", left, y+4, b.ratio*scale, color)
		fmt.Fprintf(&s, `<text x="%.1f" y="%d">%.2fx vs %s</text>`+"\n", float64(left)+b.ratio*scale+6, y+20, b.ratio, b.peer)
	}
	x1 := float64(left) + scale
	fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" stroke-dasharray="4 3"/>`+"\n", x1, top, x1, h-20)
	fmt.Fprintf(&s, `<text x="%.1f" y="%d">1.0</text>`+"\n", x1-8, h-6)
	s.WriteString("</svg>\n")
	return s.String()
}
