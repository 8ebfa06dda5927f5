package ftpbench

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gnetftp/gnetftp/bench/ftpclient"
)

// Progress is called about once a second by long scenarios.
type Progress func(line string)

// IdleResult is what the idle scenario reports.
type IdleResult struct {
	Wanted, LoggedIn int
	FirstError       string
	Elapsed          time.Duration
}

// Idle opens n sessions and logs each in, at most `inflight` logins at a
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
	var clients []*ftpclient.Client
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
		err := ru.connect(func(c *ftpclient.Client, g ftpclient.Reply) {
			if g.Code != 220 {
				fail(fmt.Errorf("greeting: %s", g))
				end()
				return
			}
			c.Login(ru.cfg.User, ru.cfg.Pass, func(r ftpclient.Reply) {
				if r.Code == 230 {
					ok.Add(1)
					mu.Lock()
					clients = append(clients, c)
					mu.Unlock()
				} else {
					fail(fmt.Errorf("login: %s", r))
				}
				end()
			})
		}, func(c *ftpclient.Client, err error) {
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
	res := IdleResult{Wanted: n, LoggedIn: int(ok.Load()), Elapsed: time.Since(start)}
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
	var ops, errs, bytes atomic.Int64
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
			for ctx.Err() == nil && time.Now().Before(stop) && (count <= 0 || ops.Load() < int64(count)) {
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

// Logins: c clients loop connect, USER, PASS, QUIT.
func (ru *Runner) Logins(ctx context.Context, c, count int, dur time.Duration, progress Progress) RateResult {
	return loop(ctx, c, count, dur, progress, "logins", func() (func() (int64, error), func(), error) {
		return func() (int64, error) {
			s, err := ru.Dial()
			if err != nil {
				return 0, err
			}
			s.Close()
			return 0, nil
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
}

// Latency: m sessions send NOOP every 10 ms while k sessions RETR file.
func (ru *Runner) Latency(ctx context.Context, m, k int, dur time.Duration, file string, progress Progress) LatencyResult {
	res := LatencyResult{Sessions: m, Bulk: k}
	bulkDone := make(chan RateResult, 1)
	bctx, cancel := context.WithCancel(ctx)
	go func() { bulkDone <- ru.Transfers(bctx, "latency-bulk", k, 0, dur, "RETR "+file, 0, nil) }()
	time.Sleep(200 * time.Millisecond) // let the transfers start
	noops := loop(ctx, m, 0, dur, progress, "latency", func() (func() (int64, error), func(), error) {
		s, err := ru.Dial()
		if err != nil {
			return nil, nil, err
		}
		return func() (int64, error) {
			time.Sleep(10 * time.Millisecond)
			_, err := s.Do("NOOP")
			return 0, err
		}, s.Close, nil
	})
	cancel()
	res.Bulk_ = <-bulkDone
	res.NOOP = noops.Latency
	res.Errors = noops.Errors
	return res
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
