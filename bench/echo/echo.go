// Package echo measures the reactor against the Go-idiomatic alternative:
// the same line-echo protocol served by a goroutine per connection with
// net + bufio, in plaintext and over implicit TLS (the reactor's
// ListenTLS against crypto/tls's tls.NewListener, both with an ECDSA P-256
// certificate made at start). It holds the servers, a client that opens
// many connections and measures round trips and handshakes, and the
// memory probes used by cmd/echobench.
package echo

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gnetftp/gnetftp/internal/testcert"
	"github.com/gnetftp/gnetftp/linereceiver/lineecho"
	"github.com/gnetftp/gnetftp/reactor"
)

// Server is a running echo server.
type Server interface {
	Addr() string
	Close() error
}

// Impls names the plaintext servers compared, TLSImpls the TLS ones (the
// same servers over implicit TLS; clients dial them with DialTLS).
var (
	Impls    = []string{"gnet", "goroutine"}
	TLSImpls = []string{"gnet-tls", "goroutine-tls"}
)

// IsTLS reports whether impl is one of TLSImpls.
func IsTLS(impl string) bool { return strings.HasSuffix(impl, "-tls") }

// Start starts the named implementation on 127.0.0.1 with a free port.
func Start(impl string) (Server, error) {
	var cfg *tls.Config
	if IsTLS(impl) {
		pair, err := testcert.New()
		if err != nil {
			return nil, err
		}
		cfg = pair.ServerConfig()
	}
	switch impl {
	case "gnet", "gnet-tls":
		return startGnet(cfg)
	case "goroutine", "goroutine-tls":
		return startGoroutine(cfg)
	}
	return nil, fmt.Errorf("echo: unknown implementation %q (want gnet, goroutine, gnet-tls or goroutine-tls)", impl)
}

type gnetServer struct{ r *reactor.Reactor }

func startGnet(cfg *tls.Config) (*gnetServer, error) {
	// The test certificate's config has no callbacks that block.
	r := reactor.New(reactor.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TLSHandshakeLoopShare: 0.5})
	var err error
	if cfg != nil {
		err = r.ListenTLS("127.0.0.1:0", cfg, &lineecho.Factory{Idle: -1})
	} else {
		err = r.Listen("127.0.0.1:0", &lineecho.Factory{Idle: -1})
	}
	if err != nil {
		return nil, err
	}
	if err := r.Start(); err != nil {
		return nil, err
	}
	return &gnetServer{r: r}, nil
}

func (s *gnetServer) Addr() string { return s.r.Addrs()[0].String() }
func (s *gnetServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.r.Shutdown(ctx)
}

// goroutineServer is the reference: one goroutine per connection, a
// bufio.Reader, the same bytes on the wire as lineecho; with TLS, the
// listener is crypto/tls's (the handshake runs on the connection's
// goroutine at its first read).
type goroutineServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startGoroutine(cfg *tls.Config) (*goroutineServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	s := &goroutineServer{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *goroutineServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *goroutineServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	rd := bufio.NewReader(c)
	for {
		line, err := rd.ReadSlice('\n')
		if err != nil {
			return
		}
		if strings.EqualFold(strings.TrimRight(string(line), "\r\n"), "QUIT") {
			_, _ = c.Write([]byte("BYE\r\n"))
			return
		}
		if _, err := c.Write(line); err != nil {
			return
		}
	}
}

func (s *goroutineServer) Addr() string { return s.ln.Addr().String() }
func (s *goroutineServer) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Conn is a client connection with a reader.
type Conn struct {
	net.Conn
	rd *bufio.Reader
}

// Dial opens n connections to addr, spreading source addresses over
// 127.0.0.2-127.0.0.254 (so more than 28,000 connections fit in the
// ephemeral port range), and makes each do one round trip so the server
// has really served it. It stops at the first error.
func Dial(addr string, n int, timeout time.Duration) ([]*Conn, error) {
	return DialTLS(addr, n, timeout, nil)
}

// ClientTLS is the client configuration for the TLS servers: their
// certificate is made at start, so it is not verified (loopback only).
// cache, when not nil, lets connections resume sessions.
func ClientTLS(cache tls.ClientSessionCache) *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ClientSessionCache: cache} //nolint:gosec // loopback benchmark
}

// DialTLS is Dial with a TLS handshake on each connection (cfg nil: none);
// it fails unless TLS 1.3 is negotiated.
func DialTLS(addr string, n int, timeout time.Duration, cfg *tls.Config) ([]*Conn, error) {
	conns := make([]*Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := dialOne(addr, i, timeout, cfg)
		if err != nil {
			return conns, fmt.Errorf("echo: connection %d: %w", i, err)
		}
		cc := &Conn{Conn: c, rd: bufio.NewReaderSize(c, 256)}
		conns = append(conns, cc)
		if _, err := cc.RoundTrip([]byte("hello\r\n"), timeout); err != nil {
			return conns, fmt.Errorf("echo: connection %d: %w", i, err)
		}
	}
	return conns, nil
}

func dialOne(addr string, i int, timeout time.Duration, cfg *tls.Config) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%253))}}
	c, err := d.Dial("tcp", addr)
	if err != nil || cfg == nil {
		return c, err
	}
	tc := tls.Client(c, cfg)
	_ = tc.SetDeadline(time.Now().Add(timeout))
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	if v := tc.ConnectionState().Version; v != tls.VersionTLS13 {
		c.Close()
		return nil, fmt.Errorf("negotiated %s, not TLS 1.3", tls.VersionName(v))
	}
	return tc, nil
}

// HandshakeResult is a handshake run's outcome.
type HandshakeResult struct {
	Handshakes, Resumed, Errors int
	Elapsed                     time.Duration
	PerSecond                   float64
}

// Handshakes makes conc clients connect, handshake, do one round trip and
// close, over and over, for d (and at most max handshakes in all), and
// reports the rate. With resume the clients keep a session cache, so
// after the first connection each handshake is a resumption.
func Handshakes(addr string, conc int, d time.Duration, max int, resume bool, timeout time.Duration) HandshakeResult {
	var (
		mu      sync.Mutex
		res     HandshakeResult
		started int
		wg      sync.WaitGroup
	)
	msg := []byte("USER anonymous\r\n")
	start := time.Now()
	stop := start.Add(d)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var cache tls.ClientSessionCache
			if resume {
				cache = tls.NewLRUClientSessionCache(1)
			}
			cfg := ClientTLS(cache)
			cfg.ServerName = "localhost" // one cache key for every connection
			for i := w; time.Now().Before(stop); i += conc {
				mu.Lock()
				full := started >= max
				started++
				mu.Unlock()
				if full {
					return
				}
				c, err := dialOne(addr, i, timeout, cfg)
				resumed := false
				if err == nil {
					resumed = c.(*tls.Conn).ConnectionState().DidResume
					cc := &Conn{Conn: c, rd: bufio.NewReaderSize(c, 256)}
					_, err = cc.RoundTrip(msg, timeout)
					c.Close()
				}
				mu.Lock()
				if err != nil {
					res.Errors++
				} else {
					res.Handshakes++
					if resumed {
						res.Resumed++
					}
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.PerSecond = float64(res.Handshakes) / res.Elapsed.Seconds()
	return res
}

// ErrNotTLS is returned for a TLS scenario given a plaintext server.
var ErrNotTLS = errors.New("echo: not a TLS implementation")

// RoundTrip sends msg (a CRLF-terminated line) and reads the echo.
func (c *Conn) RoundTrip(msg []byte, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	_ = c.SetDeadline(start.Add(timeout))
	if _, err := c.Write(msg); err != nil {
		return 0, err
	}
	line, err := c.rd.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if string(line) != string(msg) {
		return 0, fmt.Errorf("echo: got %q, want %q", line, msg)
	}
	return time.Since(start), nil
}

// CloseAll closes every connection.
func CloseAll(conns []*Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// RTTResult is a round-trip run's outcome.
type RTTResult struct {
	Conns, Rounds int
	Elapsed       time.Duration
	PerSecond     float64
	P50, P99      time.Duration
	Errors        int
}

// RoundTrips makes every connection do rounds round trips, concurrently,
// and reports the rate and latency percentiles.
func RoundTrips(conns []*Conn, rounds int, timeout time.Duration) RTTResult {
	lat := make([][]time.Duration, len(conns))
	errs := make([]int, len(conns))
	msg := []byte("the quick brown fox jumps over the lazy dog\r\n")
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range conns {
		wg.Add(1)
		go func(i int, c *Conn) {
			defer wg.Done()
			l := make([]time.Duration, 0, rounds)
			for r := 0; r < rounds; r++ {
				d, err := c.RoundTrip(msg, timeout)
				if err != nil {
					errs[i]++
					return
				}
				l = append(l, d)
			}
			lat[i] = l
		}(i, c)
	}
	wg.Wait()
	res := RTTResult{Conns: len(conns), Rounds: rounds, Elapsed: time.Since(start)}
	var all []time.Duration
	for i := range lat {
		all = append(all, lat[i]...)
		res.Errors += errs[i]
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	if len(all) > 0 {
		res.P50 = all[len(all)/2]
		res.P99 = all[len(all)*99/100]
	}
	res.PerSecond = float64(len(all)) / res.Elapsed.Seconds()
	return res
}
