// Command ftpbench is an FTP load generator on the gnet reactor. Every
// scenario is bounded by a count and a duration and stops by itself.
//
//	ftpbench idle    --addr HOST:PORT --n 1000,5000,19000 [--pid SERVERPID]
//	ftpbench logins  --addr HOST:PORT -c 50 --duration 10s
//	ftpbench retr    --addr HOST:PORT --file big.bin [-c 1]
//	ftpbench stor    --addr HOST:PORT --size 1GiB [-c 1]
//	ftpbench small   --addr HOST:PORT --file small.bin -c 50 --duration 10s
//	ftpbench list    --addr HOST:PORT --dir bigdir --count 20
//	ftpbench latency --addr HOST:PORT --file big.bin -m 50 -k 8 --duration 10s
//	ftpbench guess   --addr HOST:PORT --user alice --pass secret -c 200 --duration 10s
//	ftpbench loopback --file /path/to/local/big.bin
//	ftpbench s3-retr --storage 's3://BUCKET/PREFIX?endpoint=…' --home HOME --file big.bin
//	ftpbench s3-stor --storage 's3://BUCKET/PREFIX?endpoint=…' --home HOME --size 1GiB [--file KEY]
//	ftpbench report  --dir bench/results --markdown results.md --svg ratios.svg
//	ftpbench tls-reference-server --addr HOST:PORT --tls-cert FILE --tls-key FILE
//
// --tls makes any scenario explicit FTPS: AUTH TLS, then PBSZ 0 and
// PROT P for data connections and idle sessions, TLS 1.3 only, ECDHE P-256,
// the server's certificate not verified (benchmarks run against self-signed
// ones); each connection's data connections resume its own session.
// tls-reference-server runs bench/tlsref, a goroutine-per-connection
// crypto/tls FTP server, the yardstick for the idle TLS session's memory.
//
// s3-retr and s3-stor are the reference of ftpd's --storage s3: the same
// downloads and uploads as retr and stor, made straight through
// ftp/shell/s3 (the S3 client and part pipeline ftpd uses) with no FTP in
// between; credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
//
// report divides by the reference servers it finds beside the others:
// directories named floor* (bench/floor, the system-call floor, run by
// cmd/ftpfloor) get a column of their own, and loopback-RUN.json copies
// (bench/peers/matrix.sh runs `ftpbench loopback` before and after each
// server) divide the bulk runs next to them.
//
// Results print as a table; --json FILE also writes them as JSON.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gnetftp/gnetftp/bench/ftpbench"
	"github.com/gnetftp/gnetftp/bench/procstat"
	"github.com/gnetftp/gnetftp/gcfloor"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ftpbench:", err)
		os.Exit(1)
	}
}

type opts struct {
	cfg      ftpbench.Config
	pid      int
	ns       string
	c, m, k  int
	count    int
	duration time.Duration
	file     string
	dir      string
	size     string
	json     string
	inflight int
	quiet    bool
	cpuProf  string
	bulkNice int
	sources  int
	pause    time.Duration
	tls      bool
	ref      refOpts
	storage  string
	home     string
	gcFloor  string
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, "usage: ftpbench idle|logins|retr|stor|small|list|latency|guess|loopback|s3-retr|s3-stor|report|tls-reference-server [flags]; ftpbench SCENARIO --help for flags")
		return nil
	}
	scenario := args[0]
	if scenario == "report" {
		return report(args[1:], stdout, stderr)
	}
	var o opts
	fs := flag.NewFlagSet("ftpbench "+scenario, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.cfg.Addr, "addr", "127.0.0.1:2121", "server address")
	fs.StringVar(&o.cfg.User, "user", "anonymous", "user")
	fs.StringVar(&o.cfg.Pass, "pass", "bench@", "password")
	fs.DurationVar(&o.cfg.Timeout, "timeout", 30*time.Second, "per dial and per reply")
	fs.IntVar(&o.pid, "pid", 0, "server pid: report its memory (RSS and PSS, summed over its child processes)")
	fs.StringVar(&o.ns, "n", "1000", "idle: session counts, comma separated")
	fs.IntVar(&o.inflight, "inflight", 256, "idle: logins in flight at once")
	fs.IntVar(&o.c, "c", 1, "concurrent clients / streams (guess: guessing connections)")
	fs.IntVar(&o.m, "m", 50, "latency: idle sessions sending NOOP")
	fs.IntVar(&o.k, "k", 8, "latency: bulk transfers running meanwhile")
	fs.IntVar(&o.count, "count", 0, "stop after this many operations (0: only the duration bounds it)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "stop after this long")
	fs.StringVar(&o.file, "file", "", "retr/small/latency: remote file; loopback: local file; s3-retr: the object; s3-stor: its name (default a new one per upload)")
	fs.StringVar(&o.dir, "dir", "", "list: remote directory")
	fs.StringVar(&o.size, "size", "1GiB", "stor: bytes per upload (suffixes KiB MiB GiB)")
	fs.StringVar(&o.json, "json", "", "also write the result as JSON to this file")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines")
	fs.IntVar(&o.bulkNice, "bulk-nice", 10, "latency: nice value of the process running the bulk downloads (the load generator's readers, not the server, should lose the CPU race; 0 = as this process)")
	fs.IntVar(&o.sources, "guess-sources", 1, "guess: client addresses the guessers share (127.0.0.2 on); the logged-in user connects from 127.0.0.1")
	fs.DurationVar(&o.pause, "guess-pause", 100*time.Millisecond, "guess: how long a guesser waits after a 421 before it connects again")
	fs.StringVar(&o.gcFloor, "gc-heap-floor", "16MiB", "no garbage collection in ftpbench while its heap is under what it allocates in 200 ms, at most this (gcfloor, as ftpd's flag): the load generator's own collections take CPU from the server it measures on a shared machine; 0: Go's own 4 MiB; off when GOGC is set; not for tls-reference-server")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "write ftpbench's own CPU profile (go tool pprof) to this file")
	fs.StringVar(&o.storage, "storage", "", "s3-retr/s3-stor: the store, as ftpd's --storage s3://BUCKET/PREFIX?endpoint=…")
	fs.StringVar(&o.home, "home", "", "s3-retr/s3-stor: the FTP user's home under the prefix (where --file is, where uploads go)")
	fs.BoolVar(&o.tls, "tls", false, "explicit FTPS: AUTH TLS, PBSZ 0, PROT P; TLS 1.3, ECDHE P-256; certificate not verified")
	if scenario == "tls-reference-server" {
		o.ref.flags(fs)
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if o.tls {
		o.cfg.TLS = benchTLS()
	}
	limit := procstat.RaiseNoFile()
	if o.cpuProf != "" {
		f, err := os.Create(o.cpuProf)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if scenario == "tls-reference-server" {
		return referenceServer(ctx, o.cfg, o.ref, stdout)
	}
	// Not for the reference server: it stands for a Go server as Go
	// runs it by default.
	floor, err := parseSize(o.gcFloor)
	if err != nil {
		return fmt.Errorf("--gc-heap-floor: %w", err)
	}
	if floor > 0 && os.Getenv("GOGC") == "" {
		defer gcfloor.Start(gcfloor.Config{Floor: floor})()
	}
	progress := func(l string) { fmt.Fprintln(stderr, "ftpbench: "+l) }
	if o.quiet {
		progress = nil
	}
	switch scenario {
	case "idle-worker":
		return idleWorker(ctx, o, stdin, stdout)
	case "bulk-worker":
		if err := niceAll(o.bulkNice); err != nil {
			return err
		}
		ru := ftpbench.NewRunner(o.cfg)
		defer ru.Close()
		r := ru.Transfers(ctx, "latency-bulk", o.k, 0, o.duration, "RETR "+o.file, 0, nil)
		return json.NewEncoder(stdout).Encode(r)
	}
	if scenario == "loopback" {
		mbps, err := ftpbench.LoopbackLimit(o.file)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "| loopback sendfile, one stream | %.0f MB/s |\n", mbps)
		return writeJSON(o.json, map[string]float64{"MBps": mbps})
	}
	if scenario == "s3-retr" || scenario == "s3-stor" {
		return s3Direct(ctx, o, scenario, progress, stdout)
	}
	ru := ftpbench.NewRunner(o.cfg)
	defer ru.Close()
	var result any
	cpu0 := serverCPU(o.pid)
	cpu := func(r *ftpbench.RateResult) {
		cpu0(r)
		r.TLS = ru.Negotiated()
	}
	switch scenario {
	case "idle":
		rows, err := idle(ctx, o, limit, stdout, stderr)
		if err != nil {
			return err
		}
		result = rows
	case "logins":
		r := ru.Logins(ctx, o.c, o.count, o.duration, progress)
		cpu(&r)
		printRate(stdout, fmt.Sprintf("logins, %d clients", o.c), "logins/s", r)
		result = r
	case "retr", "small":
		if o.file == "" {
			return errors.New("--file is required")
		}
		count := o.count
		if scenario == "retr" && count == 0 {
			count = o.c // one download per stream
		}
		r := ru.Transfers(ctx, scenario, o.c, count, o.duration, "RETR "+o.file, 0, progress)
		cpu(&r)
		printRate(stdout, fmt.Sprintf("%s %s, %d streams", scenario, o.file, o.c), "transfers/s", r)
		result = r
	case "stor":
		size, err := parseSize(o.size)
		if err != nil {
			return err
		}
		count := o.count
		if count == 0 {
			count = o.c
		}
		r := ru.Transfers(ctx, "stor", o.c, count, o.duration, fmt.Sprintf("STOR ftpbench-%d.bin", time.Now().UnixNano()), size, progress)
		cpu(&r)
		printRate(stdout, fmt.Sprintf("stor %s, %d streams", o.size, o.c), "transfers/s", r)
		result = r
	case "list":
		count := o.count
		if count == 0 {
			count = 20
		}
		r := ru.Transfers(ctx, "list", o.c, count, o.duration, "LIST "+o.dir, 0, progress)
		cpu(&r)
		printRate(stdout, fmt.Sprintf("LIST %s", o.dir), "lists/s", r)
		fmt.Fprintf(stdout, "| ms per LIST (p50) | %.2f | first | %.2f |\n", float64(r.Latency.P50.Microseconds())/1000, float64(r.Latency.First.Microseconds())/1000)
		result = r
	case "latency":
		if o.file == "" {
			return errors.New("--file is required")
		}
		r := ru.Latency(ctx, o.m, o.k, o.duration, o.file, bulkProcess(o), progress)
		fmt.Fprintf(stdout, "| NOOP on %d sessions while %d transfers run | p50 %v | p99 %v | errors %d | bulk %.0f MB/s |\n",
			o.m, o.k, r.NOOP.P50, r.NOOP.P99, r.Errors, r.Bulk_.MBps)
		for _, e := range []string{r.FirstErr, r.Bulk_.FirstErr} {
			if e != "" {
				fmt.Fprintf(stdout, "first error: %s\n", e)
			}
		}
		result = r
	case "guess":
		r := ru.Guess(ctx, o.c, o.sources, o.duration, o.pause, progress)
		fmt.Fprintf(stdout, "| %d guessing connections from %d addresses | %d guesses (%.1f/s) | %d refused (421) | logged-in user CWD/NOOP p50 %v p99 %v (n=%d, %d errors) |\n",
			r.Guessers, r.Sources, r.Guesses, r.GuessesPerSecond, r.Refused, r.Probe.P50, r.Probe.P99, r.Probe.N, r.ProbeErrors)
		if r.FirstErr != "" {
			fmt.Fprintf(stdout, "first error: %s\n", r.FirstErr)
		}
		result = r
	default:
		return fmt.Errorf("unknown scenario %q", scenario)
	}
	return writeJSON(o.json, result)
}

// serverCPU starts counting the server's processor time (pid and its
// children); the returned func puts the total and the cost per operation
// into r. Without a pid it does nothing.
func serverCPU(pid int) func(r *ftpbench.RateResult) {
	if pid <= 0 {
		return func(*ftpbench.RateResult) {}
	}
	start, err := procstat.CPU(pid)
	return func(r *ftpbench.RateResult) {
		end, err2 := procstat.CPU(pid)
		if err != nil || err2 != nil {
			return
		}
		r.ServerCPU = end - start
		if r.Ops > 0 {
			r.ServerCPUPerOp = r.ServerCPU / time.Duration(r.Ops)
		}
	}
}

func printRate(w io.Writer, what, unit string, r ftpbench.RateResult) {
	fmt.Fprintf(w, "| %s | %d ops | %d errors | %.1f %s | %.1f MB/s | p50 %v | p99 %v |",
		what, r.Ops, r.Errors, r.PerSecond, unit, r.MBps, r.Latency.P50, r.Latency.P99)
	if r.ServerCPU > 0 {
		fmt.Fprintf(w, " server CPU %v/op |", r.ServerCPUPerOp)
	}
	if r.TLS != "" {
		fmt.Fprintf(w, " %s |", r.TLS)
	}
	fmt.Fprintln(w)
	if r.FirstErr != "" {
		fmt.Fprintf(w, "first error: %s\n", r.FirstErr)
	}
}

type idleRow struct {
	N, LoggedIn   int
	Workers       int
	RSS, PSS      int64
	RSSPerSession float64
	PSSPerSession float64
	FirstError    string
	LimitNote     string
	TLS           string `json:",omitempty"`
}

// idle opens each N in turn. Past this process's open-file limit the
// sessions are split over worker processes (re-executions of ftpbench).
func idle(ctx context.Context, o opts, limit uint64, stdout, stderr io.Writer) ([]idleRow, error) {
	var base procstat.Memory
	if o.pid > 0 {
		var err error
		if base, err = procstat.Tree(o.pid); err != nil {
			return nil, fmt.Errorf("--pid %d: %w", o.pid, err)
		}
	}
	perWorker := int(limit) - 200
	var rows []idleRow
	fmt.Fprintln(stdout, "| sessions | logged in | workers | server RSS | RSS/session | server PSS | PSS/session |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|")
	for _, s := range strings.Split(o.ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--n %q: want positive counts", s)
		}
		workers := (n + perWorker - 1) / perWorker
		row := idleRow{N: n, Workers: workers}
		if workers > 1 {
			row.LimitNote = fmt.Sprintf("split over %d worker processes: the open-file limit is %d per process", workers, limit)
			fmt.Fprintln(stderr, "ftpbench: "+row.LimitNote)
		}
		got, firstErr, negotiated, release, err := startWorkers(ctx, o, n, workers)
		if err != nil {
			return nil, err
		}
		row.LoggedIn, row.FirstError, row.TLS = got, firstErr, negotiated
		if o.pid > 0 {
			time.Sleep(500 * time.Millisecond) // let the server settle
			m, err := procstat.Tree(o.pid)
			if err == nil && got > 0 {
				row.RSS, row.PSS = m.RSS, m.PSS
				row.RSSPerSession = float64(m.RSS-base.RSS) / float64(got)
				row.PSSPerSession = float64(m.PSS-base.PSS) / float64(got)
			}
		}
		release()
		fmt.Fprintf(stdout, "| %d | %d | %d | %d KiB | %.0f B | %d KiB | %.0f B |",
			n, got, workers, row.RSS>>10, row.RSSPerSession, row.PSS>>10, row.PSSPerSession)
		if row.TLS != "" {
			fmt.Fprintf(stdout, " %s |", row.TLS)
		}
		fmt.Fprintln(stdout)
		if firstErr != "" {
			fmt.Fprintf(stdout, "first error: %s\n", firstErr)
		}
		rows = append(rows, row)
		time.Sleep(time.Second) // let the server close the previous sessions
	}
	return rows, nil
}

// startWorkers runs `ftpbench idle-worker` processes holding n sessions
// between them; release closes their stdin, which ends them.
func startWorkers(ctx context.Context, o opts, n, workers int) (int, string, string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return 0, "", "", nil, err
	}
	var cmds []*exec.Cmd
	var stdins []io.Closer
	release := func() {
		for _, c := range stdins {
			c.Close()
		}
		for _, c := range cmds {
			done := make(chan struct{})
			go func() { _ = c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = c.Process.Kill() // only the worker this program started
				<-done
			}
		}
	}
	total, firstErr, negotiated := 0, "", ""
	readers := make([]*bufio.Scanner, 0, workers)
	for w := 0; w < workers; w++ {
		share := n / workers
		if w < n%workers {
			share++
		}
		cmd := exec.CommandContext(ctx, self, "idle-worker", "--addr", o.cfg.Addr, "--user", o.cfg.User, "--pass", o.cfg.Pass,
			"--n", strconv.Itoa(share), "--inflight", strconv.Itoa(o.inflight), "--timeout", o.cfg.Timeout.String(),
			"--tls="+strconv.FormatBool(o.tls))
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			release()
			return 0, "", "", nil, err
		}
		cmds = append(cmds, cmd)
		stdins = append(stdins, in)
		readers = append(readers, bufio.NewScanner(out))
	}
	for _, sc := range readers {
		if !sc.Scan() {
			firstErr = "a worker ended without reporting"
			continue
		}
		var res ftpbench.IdleResult
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			firstErr = "bad worker report: " + sc.Text()
			continue
		}
		total += res.LoggedIn
		if firstErr == "" {
			firstErr = res.FirstError
		}
		if negotiated == "" {
			negotiated = res.TLS
		}
	}
	return total, firstErr, negotiated, release, nil
}

// bulkProcess runs the latency scenario's bulk downloads in a child
// ftpbench ("bulk-worker"), so that the data readers, which always have
// data to read, do not delay the NOOP prober inside this process's Go
// scheduler. The child stops by its duration, or on SIGINT when ctx ends.
func bulkProcess(o opts) ftpbench.BulkLoad {
	return func(ctx context.Context, k int, dur time.Duration, file string) ftpbench.RateResult {
		var r ftpbench.RateResult
		self, err := os.Executable()
		if err != nil {
			r.Errors, r.FirstErr = 1, err.Error()
			return r
		}
		cmd := exec.CommandContext(ctx, self, "bulk-worker", "--addr", o.cfg.Addr, "--user", o.cfg.User, "--pass", o.cfg.Pass,
			"-k", strconv.Itoa(k), "--duration", dur.String(), "--file", file, "--timeout", o.cfg.Timeout.String(),
			"--bulk-nice", strconv.Itoa(o.bulkNice), "--tls="+strconv.FormatBool(o.tls))
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 30 * time.Second // then killed: only the child this program started
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		jerr := json.Unmarshal(out, &r)
		switch {
		case jerr == nil: // a report, also when it ended on our SIGINT (err is then ctx.Err())
		case err != nil:
			r.Errors, r.FirstErr = r.Errors+1, fmt.Sprintf("bulk-worker: %v", err)
		default:
			r.Errors, r.FirstErr = r.Errors+1, fmt.Sprintf("bulk-worker report: %v", jerr)
		}
		return r
	}
}

// niceAll adds inc to the nice value of every thread of this process
// (Linux keeps it per thread; threads made later inherit it from the
// thread that makes them).
func niceAll(inc int) error {
	if inc == 0 {
		return nil
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("--bulk-nice: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
		if err != nil {
			continue // the thread ended
		}
		// The raw syscall returns 20 - nice.
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, 20-prio+inc); err != nil {
			return fmt.Errorf("--bulk-nice %d: %w", inc, err)
		}
	}
	return nil
}

// idleWorker holds n sessions until its stdin closes, after printing its
// result as one JSON line.
func idleWorker(ctx context.Context, o opts, stdin io.Reader, stdout io.Writer) error {
	n, err := strconv.Atoi(o.ns)
	if err != nil {
		return err
	}
	ru := ftpbench.NewRunner(o.cfg)
	defer ru.Close()
	hold := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, stdin); close(hold) }()
	ru.Idle(ctx, n, o.inflight, nil, func(r ftpbench.IdleResult) {
		b, _ := json.Marshal(r)
		fmt.Fprintln(stdout, string(b))
		select {
		case <-hold:
		case <-ctx.Done():
		case <-time.After(10 * time.Minute): // bounded even if nobody closes stdin
		}
	})
	return nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			mult, s = m, strings.TrimSuffix(s, suffix)
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("--size %q: want a positive number with an optional KiB/MiB/GiB suffix", s)
	}
	return n * mult, nil
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
