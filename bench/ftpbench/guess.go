package ftpbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gnetftp/gnetftp/ftp/ftpwire"
)

// GuessResult is what the password-guessing scenario reports.
type GuessResult struct {
	Guessers, Sources int
	// Guesses counts wrong passwords the server checked and answered
	// 530; GuessesPerSecond is their rate over the run.
	Guesses          int
	GuessesPerSecond float64
	// Refused counts 421 answers to guessers: a banned address at
	// connect or at PASS, a full password-check queue, too many failures
	// on one connection.
	Refused int
	// Probe is the round trip of the logged-in user's commands (CWD /
	// and NOOP in turn), measured meanwhile; ProbeErrors counts those
	// that failed.
	Probe       Latencies
	ProbeErrors int
	FirstErr    string `json:",omitempty"`
	Elapsed     time.Duration
}

// Guess floods the server with password guesses from c connections (spread
// over `sources` client addresses, 127.0.0.2 on), each sending USER and a
// wrong PASS again and again (reconnecting when closed; after a 421 it waits
// pause first), while one session, logged in with the configured user
// before the flood starts, sends CWD / and NOOP every 10 ms. It reports the guesses the server accepted and
// the logged-in user's latency.
func (ru *Runner) Guess(ctx context.Context, c, sources int, dur, pause time.Duration, progress Progress) GuessResult {
	if sources <= 0 {
		sources = 1
	}
	res := GuessResult{Guessers: c, Sources: sources}
	var guesses, refused atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) { firstErr.CompareAndSwap(nil, err.Error()) }
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	end, _ := ctx.Deadline()
	start := time.Now()
	stopTick := ticker(progress, func() string {
		return fmt.Sprintf("guess: %d guesses (%.0f/s), %d refused", guesses.Load(),
			float64(guesses.Load())/time.Since(start).Seconds(), refused.Load())
	})
	// The user logs in first: the figure is a logged-in user's commands
	// (a login during a flood from many addresses waits its turn among
	// theirs for the password check).
	p, perr := ru.dialProbe()
	if perr != nil {
		fail(perr)
	}
	host, _, _ := net.SplitHostPort(ru.cfg.Addr)
	loopback := net.ParseIP(host).IsLoopback()
	var wg sync.WaitGroup
	for i := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var src *net.TCPAddr
			if loopback {
				src = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%sources))}
			}
			for n := 0; ctx.Err() == nil; {
				g, r, err := ru.guessOnce(ctx, src, &n)
				guesses.Add(int64(g))
				if err != nil && ctx.Err() == nil && time.Now().Before(end) {
					fail(err) // not a dial cut short by the end of the run
				}
				if r {
					refused.Add(1)
					select {
					case <-ctx.Done():
					case <-time.After(pause):
					}
				}
			}
		}()
	}
	rec := &recorder{}
	var probeErrs int
	if perr != nil {
		probeErrs++
	} else {
		cmds := []string{"CWD /", "NOOP"}
		wants := []int{250, 200}
		for i := 0; ctx.Err() == nil; i++ {
			time.Sleep(10 * time.Millisecond)
			t0 := time.Now()
			if err := p.cmd(cmds[i%2], wants[i%2]); err != nil {
				if ctx.Err() == nil {
					fail(err)
					probeErrs++
				}
				break
			}
			rec.add(time.Since(t0))
		}
		p.close()
	}
	cancel()
	wg.Wait()
	stopTick()
	res.Elapsed = time.Since(start)
	res.Guesses, res.Refused = int(guesses.Load()), int(refused.Load())
	res.GuessesPerSecond = float64(res.Guesses) / res.Elapsed.Seconds()
	res.Probe = rec.summary()
	res.ProbeErrors = probeErrs
	if v, _ := firstErr.Load().(string); v != "" {
		res.FirstErr = v
	}
	return res
}

// guessOnce is one guessing connection: greeting, then USER and a wrong
// PASS until the server closes it or answers 421. It reports the 530s
// received and whether it ended with a 421.
func (ru *Runner) guessOnce(ctx context.Context, src *net.TCPAddr, n *int) (int, bool, error) {
	d := net.Dialer{Timeout: ru.cfg.Timeout}
	if src != nil {
		d.LocalAddr = src
	}
	conn, err := d.DialContext(ctx, "tcp", ru.cfg.Addr)
	if err != nil {
		return 0, false, fmt.Errorf("ftpbench: guess: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r := bufio.NewReader(conn)
	read := func() (int, error) {
		_ = conn.SetDeadline(time.Now().Add(ru.cfg.Timeout + 2*time.Second))
		var a ftpwire.Assembler
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return 0, err
			}
			rep, done, err := a.Add(strings.TrimRight(l, "\r\n"))
			if err != nil {
				return 0, err
			}
			if done {
				return rep.Code, nil
			}
		}
	}
	code, err := read()
	if err != nil || code == 421 {
		return 0, code == 421, ignoreClosed(err)
	}
	guesses := 0
	for ctx.Err() == nil {
		*n++
		if _, err := fmt.Fprintf(conn, "USER %s\r\nPASS wrong-%d\r\n", ru.cfg.User, *n); err != nil {
			return guesses, false, ignoreClosed(err)
		}
		for _, want := range []int{331, 530} {
			code, err := read()
			switch {
			case err != nil:
				return guesses, false, ignoreClosed(err)
			case code == 421:
				return guesses, true, nil
			case code != want:
				return guesses, false, fmt.Errorf("ftpbench: guess: got %d, want %d", code, want)
			}
		}
		guesses++
	}
	return guesses, false, nil
}

// ignoreClosed drops the errors of a connection the server closed.
func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "connection reset") {
		return nil
	}
	return err
}
