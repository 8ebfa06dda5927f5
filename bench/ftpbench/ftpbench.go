// Package ftpbench is an FTP load generator built on the reactor: control
// connections are ftp/client protocols on gnet client loops (no goroutine
// per connection), data connections use Go's net package. It runs the
// scenarios of cmd/ftpbench against any FTP server.
package ftpbench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp/client"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
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
	// TLS, when set, makes every scenario explicit FTPS: AUTH TLS after
	// the greeting, and PBSZ 0 + PROT P wherever data connections or an
	// idle session are involved (logins do AUTH TLS, USER, PASS, QUIT).
	// Leave ServerName and ClientSessionCache empty: each connection then
	// gets a session cache of its own (ftp/client), so its data
	// connections resume its own session and never another's, which
	// vsftpd, ProFTPD and gnetftp would refuse.
	TLS *tls.Config
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
	tls  atomic.Value // string: the first control handshake's version and suite
}

// Negotiated is the TLS version, cipher suite and key exchange of the first control
// connection that finished its handshake ("" before, or without TLS).
// Any goroutine.
func (ru *Runner) Negotiated() string {
	s, _ := ru.tls.Load().(string)
	return s
}

func (ru *Runner) noteTLS(cs tls.ConnectionState) {
	ru.tls.CompareAndSwap(nil, fmt.Sprintf("%s %s %s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), cs.CurveID))
}

// login logs c in from its loop: under TLS, AUTH TLS first (the
// handshake), and with protect also PBSZ 0 and PROT P after the login
// (an idle FTPS session ready for a transfer). done runs on the loop.
func (ru *Runner) login(c *client.Client, protect bool, done func(error)) {
	userPass := func() {
		c.Login(ru.cfg.User, ru.cfg.Pass).AddBoth(func(_ ftpwire.Reply, err error) {
			if err != nil || !protect || ru.cfg.TLS == nil {
				done(err)
				return
			}
			c.Protect(true).AddBoth(func(_ ftpwire.Reply, err error) { done(err) })
		})
	}
	if ru.cfg.TLS == nil {
		userPass()
		return
	}
	c.AuthTLS().AddBoth(func(cs tls.ConnectionState, err error) {
		if err != nil {
			done(fmt.Errorf("AUTH TLS: %w", err))
			return
		}
		ru.noteTLS(cs)
		userPass()
	})
}

// NewRunner starts nothing yet: the client engine starts on first use.
func NewRunner(cfg Config) *Runner {
	cfg = cfg.withDefaults()
	// The client's tls.Config has no callbacks: its loops may run the
	// handshakes themselves.
	return &Runner{cfg: cfg, r: reactor.New(reactor.Config{Loops: cfg.Loops, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		TLSHandshakeLoopShare: 0.5})}
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
// the greeting (or the failure that came first). The scenarios that use
// it bound each dialogue from their own goroutine, so the client keeps no
// reply timer: one timer per connection and a reset per reply cost the
// login loop about 5% of its rate on two cores.
func (ru *Runner) connect(ready func(c *client.Client, r ftpwire.Reply, err error), lost func(c *client.Client, err error)) error {
	cfg := ru.clientConfig()
	cfg.ReplyTimeout = -1
	f := protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		return &client.Client{Config: cfg, OnGreeting: ready, OnLost: lost}
	})
	return ru.r.ConnectFrom(context.Background(), ru.source(), ru.cfg.Addr, f, ru.cfg.Timeout)
}

// clientConfig bounds every reply and every data connection by Timeout.
func (ru *Runner) clientConfig() client.Config {
	return client.Config{ReplyTimeout: ru.cfg.Timeout, DataTimeout: ru.cfg.Timeout, TLS: ru.cfg.TLS}
}

// Session is a logged-in connection driven synchronously from one
// goroutine (for the transfer scenarios, where C is small).
type Session struct {
	c  *client.Client
	ru *Runner
}

// Dial opens and logs in a Session (under TLS: AUTH TLS, PBSZ 0, PROT P,
// then the login).
func (ru *Runner) Dial() (*Session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*ru.cfg.Timeout)
	defer cancel()
	c, err := client.DialFrom(ctx, ru.r, ru.source(), ru.cfg.Addr, ru.clientConfig())
	if err != nil {
		return nil, err
	}
	s := &Session{c: c, ru: ru}
	if ru.cfg.TLS != nil {
		if cs, ok := call(s, func() *deferred.Deferred[tls.ConnectionState] {
			cs, ok := c.TLSState()
			if !ok {
				return deferred.Fail[tls.ConnectionState](c.Loop(), fmt.Errorf("ftpbench: no TLS state"))
			}
			return deferred.Succeed(c.Loop(), cs)
		}); ok == nil {
			ru.noteTLS(cs)
		}
	}
	if _, err := call(s, func() *deferred.Deferred[ftpwire.Reply] { return c.Login(ru.cfg.User, ru.cfg.Pass) }); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// call runs a Client operation from the session's goroutine and waits for
// it (the client's own timeouts bound it; the context is a safety net).
func call[T any](s *Session, op func() *deferred.Deferred[T]) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.ru.cfg.Timeout)
	defer cancel()
	return deferred.Call(ctx, s.c.Loop(), op)
}

// Do sends a command from any goroutine and waits for its final reply.
func (s *Session) Do(cmd string) (ftpwire.Reply, error) {
	return call(s, func() *deferred.Deferred[ftpwire.Reply] { return s.c.Command(cmd) })
}

// Close quits.
func (s *Session) Close() {
	_, _ = call(s, func() *deferred.Deferred[ftpwire.Reply] { return s.c.Quit() })
	s.c.Loop().CallFromThread(s.c.Transport.LoseConnection)
}

// Transfer runs one data command (RETR, STOR, LIST, NLST) with the
// client's Download or Upload (EPSV with a PASV fallback, the data
// connection from the control connection's address, an upload of `size`
// zero bytes started after the 1xx, the 226 awaited). It returns the bytes
// moved.
func (s *Session) Transfer(cmd string, size int64) (int64, error) {
	upload := strings.HasPrefix(cmd, "STOR") || strings.HasPrefix(cmd, "APPE")
	return call(s, func() *deferred.Deferred[int64] {
		if upload {
			return s.c.Upload(cmd, io.LimitReader(zeroReader{}, size))
		}
		return s.c.Download(cmd, io.Discard)
	})
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
