// Package ftpbench is an FTP load generator built on the reactor: control
// connections are ftpclient protocols on gnet client loops (no goroutine
// per connection), data connections use Go's net package. It runs the
// scenarios of cmd/ftpbench against any FTP server.
package ftpbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gnetftp/gnetftp/bench/ftpclient"
	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/reactor"
)

// Config says where and who.
type Config struct {
	Addr       string        // server host:port
	User, Pass string        // login
	Sources    int           // spread client source IPs over 127.0.0.2..(1+Sources); default 250
	Timeout    time.Duration // per dial / per reply; default 30 s
	Loops      int           // client event loops; default NumCPU
}

func (c Config) withDefaults() Config {
	if c.Sources <= 0 || c.Sources > 250 {
		c.Sources = 250
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.User == "" {
		c.User, c.Pass = "anonymous", "bench@"
	}
	return c
}

// Runner owns the client reactor.
type Runner struct {
	cfg  Config
	r    *reactor.Reactor
	next atomic.Uint64
}

// NewRunner starts nothing yet: the client engine starts on first use.
func NewRunner(cfg Config) *Runner {
	cfg = cfg.withDefaults()
	return &Runner{cfg: cfg, r: reactor.New(reactor.Config{Loops: cfg.Loops, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})}
}

// Close stops the client loops (closing every connection).
func (ru *Runner) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = ru.r.Shutdown(ctx)
}

// source returns the next client source address on loopback.
func (ru *Runner) source() *net.TCPAddr {
	host, _, _ := net.SplitHostPort(ru.cfg.Addr)
	if ip := net.ParseIP(host); ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return nil // only loopback IPv4 servers get spread sources
	}
	n := ru.next.Add(1)
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+n%uint64(ru.cfg.Sources)))}
}

// connect opens a control connection and calls ready on its loop with
// the greeting.
func (ru *Runner) connect(ready func(c *ftpclient.Client, r ftpclient.Reply), lost func(c *ftpclient.Client, err error)) error {
	f := protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		return &ftpclient.Client{OnGreeting: ready, OnLost: lost}
	})
	return ru.r.ConnectFrom(context.Background(), ru.source(), ru.cfg.Addr, f, ru.cfg.Timeout)
}

// Session is a logged-in connection driven synchronously from one
// goroutine (for the transfer scenarios, where C is small).
type Session struct {
	c     *ftpclient.Client
	ru    *Runner
	local net.IP // the control connection's source IP: data connections use it too
	peer  net.Addr
}

// Dial opens and logs in a Session.
func (ru *Runner) Dial() (*Session, error) {
	done := make(chan *Session, 1)
	fail := make(chan error, 1)
	err := ru.connect(func(c *ftpclient.Client, g ftpclient.Reply) {
		if g.Code != 220 {
			fail <- fmt.Errorf("greeting: %s", g)
			c.Transport.LoseConnection()
			return
		}
		c.Login(ru.cfg.User, ru.cfg.Pass, func(r ftpclient.Reply) {
			if r.Code != 230 {
				fail <- fmt.Errorf("login: %s", r)
				c.Transport.LoseConnection()
				return
			}
			s := &Session{c: c, ru: ru, peer: c.Transport.RemoteAddr()}
			if ta, ok := c.Transport.LocalAddr().(*net.TCPAddr); ok {
				s.local = ta.IP
			}
			done <- s
		})
	}, func(c *ftpclient.Client, err error) {
		select {
		case fail <- fmt.Errorf("connection lost: %v", err):
		default:
		}
	})
	if err != nil {
		return nil, err
	}
	select {
	case s := <-done:
		return s, nil
	case err := <-fail:
		return nil, err
	case <-time.After(ru.cfg.Timeout):
		return nil, errors.New("ftpbench: login timed out")
	}
}

// Do sends a command from any goroutine and waits for its final reply.
func (s *Session) Do(cmd string) (ftpclient.Reply, error) { return s.do(cmd, nil) }

// do is Do with a hook for the preliminary (1xx) reply, run on the loop.
func (s *Session) do(cmd string, prelim func(ftpclient.Reply)) (ftpclient.Reply, error) {
	ch := make(chan ftpclient.Reply, 1)
	ok := s.c.Transport.Loop().CallFromThread(func() {
		s.c.Do(cmd, func(r ftpclient.Reply) {
			if r.Code >= 200 || r.Code == 0 {
				ch <- r
			} else if prelim != nil {
				prelim(r)
			}
		})
	})
	if !ok {
		return ftpclient.Reply{}, ftpclient.ErrLost
	}
	select {
	case r := <-ch:
		if r.Code == 0 {
			return r, ftpclient.ErrLost
		}
		return r, nil
	case <-time.After(s.ru.cfg.Timeout):
		return ftpclient.Reply{}, fmt.Errorf("ftpbench: %s: no reply in %v", strings.Fields(cmd)[0], s.ru.cfg.Timeout)
	}
}

// Close quits.
func (s *Session) Close() {
	_, _ = s.Do("QUIT")
	s.c.Transport.Loop().CallFromThread(s.c.Transport.LoseConnection)
}

// Transfer runs one data command (RETR, STOR, LIST, NLST): EPSV (PASV
// fallback), connect, run the command, move the data with io (upload
// `size` bytes for STOR), and wait for the 226. It returns the bytes moved.
func (s *Session) Transfer(cmd string, size int64) (int64, error) {
	r, err := s.Do("EPSV")
	if err == nil && r.Code != 229 {
		r, err = s.Do("PASV")
	}
	if err != nil {
		return 0, err
	}
	addr, err := ftpclient.DataAddr(r, s.peer)
	if err != nil {
		return 0, err
	}
	// From the control connection's address: servers accept data
	// connections only from the client's IP (RFC 2577).
	d := net.Dialer{Timeout: s.ru.cfg.Timeout}
	if s.local != nil {
		d.LocalAddr = &net.TCPAddr{IP: s.local}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("ftpbench: data connection: %w", err)
	}
	// An upload starts once the server said 150/125, as real clients do
	// (some servers drop data that arrives before the command).
	upload := strings.HasPrefix(cmd, "STOR") || strings.HasPrefix(cmd, "APPE")
	ready := make(chan bool, 1)
	moved := make(chan int64, 1)
	go func() {
		defer conn.Close()
		var n int64
		if upload {
			if <-ready {
				n, _ = io.CopyN(conn, zeroReader{}, size)
			}
		} else {
			n, _ = io.Copy(io.Discard, conn)
		}
		moved <- n
	}()
	final, err := s.do(cmd, func(ftpclient.Reply) {
		select {
		case ready <- true:
		default:
		}
	})
	select {
	case ready <- false: // no 1xx came: do not upload
	default:
	}
	if err != nil || final.Code >= 400 {
		conn.Close() // unblock the data goroutine
	}
	n := <-moved
	if err != nil {
		return n, err
	}
	if final.Code != 226 && final.Code != 250 {
		return n, fmt.Errorf("ftpbench: %s: %s", cmd, final)
	}
	return n, nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Latencies summarises durations.
type Latencies struct {
	N        int
	P50, P99 time.Duration
	// First is the first operation to finish: with one client, a cold
	// start (a LIST before any cache has the directory).
	First time.Duration
}

func summarize(d []time.Duration) Latencies {
	if len(d) == 0 {
		return Latencies{}
	}
	first := d[0]
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return Latencies{N: len(d), P50: d[len(d)/2], P99: d[len(d)*99/100], First: first}
}

// recorder collects latencies from many goroutines.
type recorder struct {
	mu sync.Mutex
	d  []time.Duration
}

func (r *recorder) add(d time.Duration) {
	r.mu.Lock()
	r.d = append(r.d, d)
	r.mu.Unlock()
}

func (r *recorder) summary() Latencies {
	r.mu.Lock()
	defer r.mu.Unlock()
	return summarize(append([]time.Duration(nil), r.d...))
}
