package ftpbench

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gnetftp/gnetftp/ftp/client"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
)

// Progress is called about once a second by long scenarios.
type Progress func(line string)

// IdleResult is what the idle scenario reports.
type IdleResult struct {
	Wanted, LoggedIn int
	FirstError       string
	Elapsed          time.Duration
	TLS              string `json:",omitempty"` // Runner.Negotiated
}

// Idle opens n sessions and logs each in (under TLS: AUTH TLS, USER,
// PASS, PBSZ 0, PROT P), at most `inflight` logins at a
// time; the sessions stay open until hold is closed (or ctx ends), then are
// closed. loggedIn is called once all logins have finished.
func (ru *Runner) Idle(ctx context.Context, n, inflight int, progress Progress, loggedIn func(IdleResult)) IdleResult {
	if inflight <= 0 {
		inflight = 256
	}
	start := time.Now()
	sem := make(chan struct{}, inflight)
	var ok, done atomic.Int64
	var firstErr atomic.Value
	var mu sync.Mutex
	var clients []*client.Client
	fail := func(err error) {
		firstErr.CompareAndSwap(nil, err.Error())
	}
	finished := func() { done.Add(1); <-sem }
	stopTick := ticker(progress, func() string {
		return fmt.Sprintf("idle: %d/%d logged in, %d failed", ok.Load(), n, done.Load()-ok.Load())
	})
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		var once sync.Once
		var settled atomic.Bool // the login finished, one way or the other
		end := func() { settled.Store(true); once.Do(finished) }
		err := ru.connect(func(c *client.Client, g ftpwire.Reply, err error) {
			if err == nil && g.Code != 220 {
				err = fmt.Errorf("greeting: %s", g)
			}
			if err != nil {
				fail(err)
				end()
				return
			}
			ru.login(c, true, func(err error) {
				if err == nil {
					ok.Add(1)
					mu.Lock()
					clients = append(clients, c)
					mu.Unlock()
				} else {
					fail(fmt.Errorf("login: %w", err))
				}
				end()
			})
		}, func(c *client.Client, err error) {
			if !settled.Load() {
				fail(fmt.Errorf("connection lost before login: %v", err))
			}
			end()
		})
		if err != nil {
			fail(err)
			end()
		}
	}
	deadline := time.Now().Add(ru.cfg.Timeout)
	for done.Load() < int64(n) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	stopTick()
	res := IdleResult{Wanted: n, LoggedIn: int(ok.Load()), Elapsed: time.Since(start), TLS: ru.Negotiated()}
	if v, _ := firstErr.Load().(string); v != "" {
		res.FirstError = v
	}
	if loggedIn != nil {
		loggedIn(res)
	}
	mu.Lock()
	for _, c := range clients {
		c := c
		c.Transport.Loop().CallFromThread(c.Transport.LoseConnection)
	}
	mu.Unlock()
	return res
}

// RateResult is a throughput scenario's report.
type RateResult struct {
	Ops       int
	Errors    int
	Elapsed   time.Duration
	PerSecond float64
	Latency   Latencies
	Bytes     int64
	MBps      float64
	FirstErr  string
	// ServerCPU is the processor time the server's processes used during
	// the run, when ftpbench was given its pid; ServerCPUPerOp divides it
	// by Ops: what an operation costs the server, whatever the client
	// costs on the same machine.
	ServerCPU      time.Duration `json:",omitempty"`
	ServerCPUPerOp time.Duration `json:",omitempty"`
	// TLS is the negotiated version and cipher suite of the control
	// connections under --tls (Runner.Negotiated).
	TLS string `json:",omitempty"`
}

func (r *RateResult) finish(start time.Time, rec *recorder) {
	r.Elapsed = time.Since(start)
	r.PerSecond = float64(r.Ops) / r.Elapsed.Seconds()
	r.MBps = float64(r.Bytes) / 1e6 / r.Elapsed.Seconds()
	r.Latency = rec.summary()
}

// loop runs work from c goroutines until count operations or the duration
// passed, whichever first; work returns bytes moved.
func loop(ctx context.Context, c, count int, dur time.Duration, progress Progress, name string, setup func() (func() (int64, error), func(), error)) RateResult {
	var res RateResult
	var ops, errs, bytes, started atomic.Int64
	var firstErr atomic.Value
	rec := &recorder{}
	stop := time.Now().Add(dur)
	start := time.Now()
	stopTick := ticker(progress, func() string {
		el := time.Since(start).Seconds()
		return fmt.Sprintf("%s: %d ops (%.0f/s), %d errors", name, ops.Load(), float64(ops.Load())/el, errs.Load())
	})
	var wg sync.WaitGroup
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work, cleanup, err := setup()
			if err != nil {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			defer cleanup()
			// Each operation takes its ticket before it starts, so that c
			// streams do not overshoot count by up to c-1.
			for ctx.Err() == nil && time.Now().Before(stop) && (count <= 0 || started.Add(1) <= int64(count)) {
				t0 := time.Now()
				n, err := work()
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				rec.add(time.Since(t0))
				ops.Add(1)
				bytes.Add(n)
			}
		}()
	}
	wg.Wait()
	stopTick()
	res.Ops, res.Errors, res.Bytes = int(ops.Load()), int(errs.Load()), bytes.Load()
	if v, _ := firstErr.Load().(string); v != "" {
		res.FirstErr = v
	}
	res.finish(start, rec)
	return res
}

// Logins: c clients loop connect, USER, PASS, QUIT (under TLS: connect,
// AUTH TLS, the handshake, USER, PASS, QUIT). The dialogue runs in
// callbacks on the client's event loop; the client's goroutine only dials
// and waits for the connection to end, one hop per login, so that the
// load generator spends as little of the machine as it can.
func (ru *Runner) Logins(ctx context.Context, c, count int, dur time.Duration, progress Progress) RateResult {
	return loop(ctx, c, count, dur, progress, "logins", func() (func() (int64, error), func(), error) {
		done := make(chan error, 1)
		return func() (int64, error) {
			var finished, quit atomic.Bool
			end := func(err error) {
				if finished.CompareAndSwap(false, true) {
					done <- err
				}
			}
			err := ru.connect(func(cl *client.Client, g ftpwire.Reply, err error) {
				if err == nil && g.Code != 220 {
					err = fmt.Errorf("greeting: %s", g)
				}
				if err != nil {
					end(err)
					cl.Transport.LoseConnection()
					return
				}
				ru.login(cl, false, func(err error) {
					if err != nil {
						end(fmt.Errorf("login: %w", err))
						cl.Transport.LoseConnection()
						return
					}
					cl.Quit().AddBoth(func(_ ftpwire.Reply, err error) {
						if err != nil {
							end(err)
						}
						quit.Store(true)
					})
				})
			}, func(_ *client.Client, err error) {
				if quit.Load() {
					end(nil)
				} else {
					end(fmt.Errorf("ftpbench: connection lost before QUIT: %v", err))
				}
			})
			if err != nil {
				return 0, err
			}
			select {
			case err = <-done:
			case <-time.After(ru.cfg.Timeout):
				err = fmt.Errorf("ftpbench: login not done after %v", ru.cfg.Timeout)
			}
			return 0, err
		}, func() {}, nil
	})
}

// Transfers: c logged-in sessions loop one data command (RETR of a file,
// STOR of size bytes, LIST of a directory).
func (ru *Runner) Transfers(ctx context.Context, name string, c, count int, dur time.Duration, cmd string, size int64, progress Progress) RateResult {
	return loop(ctx, c, count, dur, progress, name, func() (func() (int64, error), func(), error) {
		s, err := ru.Dial()
		if err != nil {
			return nil, nil, err
		}
		if _, err := s.Do("TYPE I"); err != nil {
			s.Close()
			return nil, nil, err
		}
		return func() (int64, error) { return s.Transfer(cmd, size) }, s.Close, nil
	})
}

// LatencyResult is NOOP latency on idle sessions while bulk transfers run.
type LatencyResult struct {
	Sessions, Bulk int
	NOOP           Latencies
	Bulk_          RateResult `json:"BulkTransfers"`
	Errors         int
	FirstErr       string `json:",omitempty"`
}

// BulkLoad runs the bulk transfers of the latency scenario until ctx ends
// or dur passes. The default runs them in this process; ftpbench runs them
// in a child process so that its own busy data readers do not queue the
// NOOP prober behind them in Go's scheduler (that would measure ftpbench,
// not the server).
type BulkLoad func(ctx context.Context, k int, dur time.Duration, file string) RateResult

// Latency: m sessions send NOOP every 10 ms while k sessions RETR file over
// and over. Only the NOOP round trip is timed (from writing the command to
// reading the 200), not the pause between NOOPs.
func (ru *Runner) Latency(ctx context.Context, m, k int, dur time.Duration, file string, bulk BulkLoad, progress Progress) LatencyResult {
	res := LatencyResult{Sessions: m, Bulk: k}
	if bulk == nil {
		bulk = func(ctx context.Context, k int, dur time.Duration, file string) RateResult {
			return ru.Transfers(ctx, "latency-bulk", k, 0, dur, "RETR "+file, 0, nil)
		}
	}
	bulkDone := make(chan RateResult, 1)
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { bulkDone <- bulk(bctx, k, dur+time.Second, file) }()
	time.Sleep(500 * time.Millisecond) // let the transfers start
	rec := &recorder{}
	noops := loop(ctx, m, 0, dur, progress, "latency", func() (func() (int64, error), func(), error) {
		p, err := ru.dialProbe()
		if err != nil {
			return nil, nil, err
		}
		return func() (int64, error) {
			time.Sleep(10 * time.Millisecond)
			t0 := time.Now()
			err := p.cmd("NOOP", 200)
			if err == nil {
				rec.add(time.Since(t0))
			}
			return 0, err
		}, p.close, nil
	})
	cancel()
	res.Bulk_ = <-bulkDone
	res.NOOP = rec.summary()
	res.Errors = noops.Errors
	res.FirstErr = noops.FirstErr
	return res
}

// probe is a plain blocking control connection, the latency scenario's
// prober: a command is one write and one read by the goroutine that
// times it, with no hop through a client event loop, so that the figure
// is the server's and the kernel's, as little as possible ftpbench's.
type probe struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

func (ru *Runner) dialProbe() (*probe, error) {
	conn, err := net.DialTimeout("tcp", ru.cfg.Addr, ru.cfg.Timeout)
	if err != nil {
		return nil, fmt.Errorf("ftpbench: probe: %w", err)
	}
	p := &probe{conn: conn, r: bufio.NewReader(conn), timeout: ru.cfg.Timeout}
	err = p.expect(220)
	if err == nil && ru.cfg.TLS != nil {
		err = p.startTLS(ru.cfg.TLS)
	}
	if err == nil {
		err = p.cmd("USER "+ru.cfg.User, 331)
	}
	if err == nil {
		err = p.cmd("PASS "+ru.cfg.Pass, 230)
	}
	if err != nil {
		p.conn.Close()
		return nil, err
	}
	return p, nil
}

// startTLS is AUTH TLS and the handshake (the prober opens no data
// connection, so it needs no session cache).
func (p *probe) startTLS(cfg *tls.Config) error {
	if err := p.cmd("AUTH TLS", 234); err != nil {
		return err
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(p.conn.RemoteAddr().String())
	}
	tc := tls.Client(p.conn, cfg)
	_ = tc.SetDeadline(time.Now().Add(p.timeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("ftpbench: probe: TLS: %w", err)
	}
	p.conn, p.r = tc, bufio.NewReader(tc)
	return nil
}

func (p *probe) cmd(line string, want int) error {
	_ = p.conn.SetDeadline(time.Now().Add(p.timeout))
	if _, err := io.WriteString(p.conn, line+"\r\n"); err != nil {
		return fmt.Errorf("ftpbench: probe %q: %w", line, err)
	}
	return p.expect(want)
}

// expect reads one reply, multi-line ones included.
func (p *probe) expect(want int) error {
	var replies ftpwire.Assembler
	for {
		l, err := p.r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("ftpbench: probe: reading a reply: %w", err)
		}
		r, done, err := replies.Add(strings.TrimRight(l, "\r\n"))
		if err != nil {
			return fmt.Errorf("ftpbench: probe: %w", err)
		}
		if done {
			if r.Code != want {
				return fmt.Errorf("ftpbench: probe: got %q, want %d", r, want)
			}
			return nil
		}
	}
}

func (p *probe) close() {
	_ = p.cmd("QUIT", 221)
	p.conn.Close()
}

// LoopbackLimit measures a plain sendfile copy of file over 127.0.0.1
// (one stream), the ceiling for every throughput figure on this machine.
func LoopbackLimit(file string) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- 0
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		got <- n
	}()
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	start := time.Now()
	_, err = io.Copy(c, f) // *os.File -> *net.TCPConn: sendfile
	c.Close()
	n := <-got
	if err != nil {
		return 0, err
	}
	return float64(n) / 1e6 / time.Since(start).Seconds(), nil
}

func ticker(p Progress, line func() string) func() {
	if p == nil {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p(line())
			}
		}
	}()
	return func() { close(stop); <-done }
}
