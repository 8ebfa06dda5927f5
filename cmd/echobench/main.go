// Command echobench compares the gnet reactor (linereceiver/lineecho) with
// a goroutine-per-connection net+bufio server of the same protocol, each in
// its own child process, measured in the same run:
//
//	echobench idle [--n 1000,10000,19000] [--tls]   memory per idle connection
//	echobench rtt  [--conns 1000 --rounds 100 --runs 3] [--tls]   round trips/s
//	echobench handshakes [--conc 16 --duration 5s --runs 3] [--resume]   TLS handshakes/s
//
// With --tls (and for handshakes) both servers speak implicit TLS with an
// ECDSA P-256 certificate made at start and TLS 1.3 (the reactor's
// ListenTLS against crypto/tls's tls.NewListener); a TLS round trip is a
// record each way.
//
// Results are printed as markdown tables with gnet/goroutine ratios, and
// as JSON with --json FILE. Every dial and read has a timeout, and the
// child servers are ended by the pids this program started.
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gnetftp/gnetftp/bench/echo"
	"github.com/gnetftp/gnetftp/bench/procstat"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: echobench idle|rtt|handshakes [flags]  (see the package doc)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "idle":
		err = idle(os.Args[2:])
	case "rtt":
		err = rtt(os.Args[2:])
	case "handshakes":
		err = handshakes(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "echobench:", err)
		os.Exit(1)
	}
}

// serve is the child: it runs one server and answers "stats" on stdin.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	impl := fs.String("impl", "gnet", "gnet, goroutine, gnet-tls or goroutine-tls")
	_ = fs.Parse(args)
	procstat.RaiseNoFile()
	s, err := echo.Start(*impl)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Printf("ADDR %s\n", s.Addr())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "stats":
			runtime.GC()
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("STATS heap=%d goroutines=%d\n", ms.HeapInuse, runtime.NumGoroutine())
		case "quit":
			return nil
		}
	}
	return nil
}

type child struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
}

func startChild(impl string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "serve", "--impl", impl)
	in, _ := cmd.StdinPipe()
	outPipe, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(outPipe)}
	line, err := c.readLine(10 * time.Second)
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		c.stop()
		return nil, fmt.Errorf("child %s did not start: %q %v", impl, line, err)
	}
	c.addr = strings.TrimPrefix(line, "ADDR ")
	return c, nil
}

func (c *child) readLine(timeout time.Duration) (string, error) {
	got := make(chan string, 1)
	go func() {
		if c.out.Scan() {
			got <- c.out.Text()
		}
		close(got)
	}()
	select {
	case l, ok := <-got:
		if !ok {
			return "", errors.New("child closed its output")
		}
		return l, nil
	case <-time.After(timeout):
		return "", errors.New("child did not answer in time")
	}
}

type memStats struct{ Heap, RSS, PSS int64 }

func (c *child) stats() (memStats, error) {
	if _, err := fmt.Fprintln(c.in, "stats"); err != nil {
		return memStats{}, err
	}
	line, err := c.readLine(60 * time.Second)
	if err != nil {
		return memStats{}, err
	}
	var m memStats
	for _, f := range strings.Fields(strings.TrimPrefix(line, "STATS ")) {
		if v, ok := strings.CutPrefix(f, "heap="); ok {
			m.Heap, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	pid := c.cmd.Process.Pid
	if m.RSS, err = procstat.RSS(pid); err != nil {
		return m, err
	}
	m.PSS, _ = procstat.PSS(pid)
	return m, nil
}

// stop ends the child this program started, by its pid.
func (c *child) stop() {
	_, _ = fmt.Fprintln(c.in, "quit")
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

type idleRow struct {
	Impl            string
	N               int
	HeapPerConn     float64
	RSSPerConn      float64
	PSSPerConn      float64
	BaseRSS, RSS    int64
	Connected       int
	CappedByNoFiles bool
}

func idle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	ns := fs.String("n", "1000,10000,19000", "connection counts")
	useTLS := fs.Bool("tls", false, "compare the TLS servers")
	jsonOut := fs.String("json", "", "also write results as JSON to this file")
	_ = fs.Parse(args)
	limit := procstat.RaiseNoFile()
	impls := implsFor(*useTLS)
	var rows []idleRow
	for _, s := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("--n %q: %w", s, err)
		}
		capped := false
		if max := int(limit) - 200; n > max {
			fmt.Fprintf(os.Stderr, "echobench: N=%d capped to %d: the open-file limit is %d per process (client and server each need one fd per connection)\n", n, max, limit)
			n, capped = max, true
		}
		for _, impl := range impls {
			row, err := idleOne(impl, n)
			if err != nil {
				return err
			}
			row.CappedByNoFiles = capped
			rows = append(rows, row)
			fmt.Fprintf(os.Stderr, "echobench: idle %s N=%d: %.0f B heap, %.0f B RSS per connection\n", impl, n, row.HeapPerConn, row.RSSPerConn)
		}
	}
	a, b := impls[0], impls[1]
	fmt.Printf("| N | %s heap/conn | %s heap/conn | %s RSS/conn | %s RSS/conn | RSS ratio %s/%s | heap ratio |\n", a, b, a, b, a, b)
	fmt.Println("|---|---|---|---|---|---|---|")
	for i := 0; i+1 < len(rows); i += 2 {
		g, r := rows[i], rows[i+1]
		fmt.Printf("| %d | %.0f B | %.0f B | %.0f B | %.0f B | %.2f | %.2f |\n", g.N, g.HeapPerConn, r.HeapPerConn, g.RSSPerConn, r.RSSPerConn,
			g.RSSPerConn/r.RSSPerConn, g.HeapPerConn/r.HeapPerConn)
	}
	return writeJSON(*jsonOut, rows)
}

func idleOne(impl string, n int) (idleRow, error) {
	c, err := startChild(impl)
	if err != nil {
		return idleRow{}, err
	}
	defer c.stop()
	base, err := c.stats()
	if err != nil {
		return idleRow{}, err
	}
	conns, err := echo.DialTLS(c.addr, n, 10*time.Second, clientTLS(impl))
	defer echo.CloseAll(conns)
	if err != nil {
		return idleRow{}, fmt.Errorf("%s: %d of %d connected: %w", impl, len(conns), n, err)
	}
	time.Sleep(200 * time.Millisecond) // let the server settle its buffers
	after, err := c.stats()
	if err != nil {
		return idleRow{}, err
	}
	per := func(a, b int64) float64 { return float64(a-b) / float64(n) }
	return idleRow{Impl: impl, N: n, Connected: len(conns),
		HeapPerConn: per(after.Heap, base.Heap), RSSPerConn: per(after.RSS, base.RSS), PSSPerConn: per(after.PSS, base.PSS),
		BaseRSS: base.RSS, RSS: after.RSS}, nil
}

type rttRow struct {
	Impl      string
	Run       int
	PerSecond float64
	P50, P99  time.Duration
	Errors    int
}

func rtt(args []string) error {
	fs := flag.NewFlagSet("rtt", flag.ExitOnError)
	conns := fs.Int("conns", 1000, "client connections")
	rounds := fs.Int("rounds", 100, "round trips per connection per run")
	runs := fs.Int("runs", 3, "runs per implementation (the median is reported)")
	useTLS := fs.Bool("tls", false, "compare the TLS servers")
	jsonOut := fs.String("json", "", "also write results as JSON to this file")
	_ = fs.Parse(args)
	procstat.RaiseNoFile()
	impls := implsFor(*useTLS)
	var rows []rttRow
	med := map[string]rttRow{}
	for _, impl := range impls {
		var mine []rttRow
		for run := 0; run < *runs; run++ {
			c, err := startChild(impl)
			if err != nil {
				return err
			}
			cs, err := echo.DialTLS(c.addr, *conns, 10*time.Second, clientTLS(impl))
			if err != nil {
				echo.CloseAll(cs)
				c.stop()
				return err
			}
			res := echo.RoundTrips(cs, *rounds, 30*time.Second)
			echo.CloseAll(cs)
			c.stop()
			row := rttRow{Impl: impl, Run: run, PerSecond: res.PerSecond, P50: res.P50, P99: res.P99, Errors: res.Errors}
			fmt.Fprintf(os.Stderr, "echobench: rtt %s run %d: %.0f rt/s p50 %v p99 %v errors %d\n", impl, run, row.PerSecond, row.P50, row.P99, row.Errors)
			mine = append(mine, row)
		}
		rows = append(rows, mine...)
		sort.Slice(mine, func(a, b int) bool { return mine[a].PerSecond < mine[b].PerSecond })
		med[impl] = mine[len(mine)/2]
	}
	g, r := med[impls[0]], med[impls[1]]
	fmt.Printf("| %d connections, %d round trips each, median of %d | round trips/s | p50 | p99 |\n", *conns, *rounds, *runs)
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| %s (reactor) | %.0f | %v | %v |\n", impls[0], g.PerSecond, g.P50, g.P99)
	fmt.Printf("| %s (goroutine per conn) | %.0f | %v | %v |\n", impls[1], r.PerSecond, r.P50, r.P99)
	fmt.Printf("| ratio | %.2f | | |\n", g.PerSecond/r.PerSecond)
	return writeJSON(*jsonOut, rows)
}

func implsFor(useTLS bool) []string {
	if useTLS {
		return echo.TLSImpls
	}
	return echo.Impls
}

func clientTLS(impl string) *tls.Config {
	if !echo.IsTLS(impl) {
		return nil
	}
	return echo.ClientTLS(nil)
}

type handshakeRow struct {
	Impl          string
	Run           int
	PerSecond     float64
	Handshakes    int
	Resumed       int
	Errors        int
	ServerCPU     time.Duration
	CPUPerOpMicro float64
}

// handshakes measures connect + TLS handshake + one round trip + close,
// against each TLS server, with the server's CPU time per handshake.
func handshakes(args []string) error {
	fs := flag.NewFlagSet("handshakes", flag.ExitOnError)
	conc := fs.Int("conc", 16, "concurrent clients")
	dur := fs.Duration("duration", 5*time.Second, "duration of a run")
	max := fs.Int("max", 200000, "at most this many handshakes per run")
	runs := fs.Int("runs", 3, "runs per implementation (the median is reported)")
	resume := fs.Bool("resume", false, "clients keep a session cache: resumed handshakes")
	jsonOut := fs.String("json", "", "also write results as JSON to this file")
	_ = fs.Parse(args)
	procstat.RaiseNoFile()
	var rows []handshakeRow
	med := map[string]handshakeRow{}
	for _, impl := range echo.TLSImpls {
		var mine []handshakeRow
		for run := 0; run < *runs; run++ {
			c, err := startChild(impl)
			if err != nil {
				return err
			}
			pid := c.cmd.Process.Pid
			cpu0, _ := procstat.ThreadCPU(pid) // a few handshakes: finer than ticks
			res := echo.Handshakes(c.addr, *conc, *dur, *max, *resume, 10*time.Second)
			cpu1, _ := procstat.ThreadCPU(pid)
			c.stop()
			row := handshakeRow{Impl: impl, Run: run, PerSecond: res.PerSecond, Handshakes: res.Handshakes,
				Resumed: res.Resumed, Errors: res.Errors, ServerCPU: cpu1 - cpu0}
			if res.Handshakes > 0 {
				row.CPUPerOpMicro = float64(row.ServerCPU.Microseconds()) / float64(res.Handshakes)
			}
			fmt.Fprintf(os.Stderr, "echobench: handshakes %s run %d: %.0f/s (%d, %d resumed, %d errors), server CPU %.0f us each\n",
				impl, run, row.PerSecond, row.Handshakes, row.Resumed, row.Errors, row.CPUPerOpMicro)
			mine = append(mine, row)
		}
		rows = append(rows, mine...)
		sort.Slice(mine, func(a, b int) bool { return mine[a].PerSecond < mine[b].PerSecond })
		med[impl] = mine[len(mine)/2]
	}
	g, r := med[echo.TLSImpls[0]], med[echo.TLSImpls[1]]
	kind := "full"
	if *resume {
		kind = "resumed"
	}
	fmt.Printf("| %d clients, %s handshakes + 1 round trip, median of %d | handshakes/s | server CPU per handshake |\n", *conc, kind, *runs)
	fmt.Println("|---|---|---|")
	fmt.Printf("| %s (reactor) | %.0f | %.0f us |\n", g.Impl, g.PerSecond, g.CPUPerOpMicro)
	fmt.Printf("| %s (goroutine per conn) | %.0f | %.0f us |\n", r.Impl, r.PerSecond, r.CPUPerOpMicro)
	fmt.Printf("| ratio | %.2f | %.2f |\n", g.PerSecond/r.PerSecond, g.CPUPerOpMicro/r.CPUPerOpMicro)
	return writeJSON(*jsonOut, rows)
}

func writeJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
