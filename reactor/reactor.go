// Package reactor owns the gnet v2 event loops and everything that runs on
// them: listening, connecting out, per-connection transports and their
// timers (CallLater on a clock.Clock). It is the only package of the
// project besides the programs under cmd/ that imports gnet: protocols see
// only the interfaces of package protocol, and the Deferreds and worker
// pool they use (package deferred) and the clock (package clock) know
// nothing of gnet either.
//
// TLS stays on the loops too: a transport switches to TLS with StartTLS
// (protocol.TLSStarter), and ListenTLS accepts implicit-TLS connections;
// the handshake runs on a bounded goroutine, the records on the loop
// (tlssession.go explains how, tls.go is the API).
package reactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"golang.org/x/sys/unix"

	"github.com/gnetftp/gnetftp/clock"
	"github.com/gnetftp/gnetftp/protocol"
)

// ErrReactorClosed is returned by Start and Connect after Shutdown.
var ErrReactorClosed = errors.New("reactor: closed")

// Config configures a Reactor. The zero value is usable: every field has a
// default, applied in one place (withDefaults). Durations follow the
// project's one convention: 0 means the default, a negative value means
// no limit.
type Config struct {
	// Loops is the number of event loops; default runtime.NumCPU().
	Loops int
	// NoReusePort makes one loop accept every connection and hand each
	// to a loop of the engine (gnet's default model). By default each
	// loop has its own SO_REUSEPORT copy of every listener, on the same
	// port, and serves what it accepts, on Linux, FreeBSD and DragonFly
	// (gnet uses one acceptor elsewhere): no hand-off between threads
	// per connection (measured: 0.91x the server CPU per FTP login). The
	// kernel then spreads connections over the loops by their addresses'
	// hash, and another process of the same user could bind the port
	// too, as with every SO_REUSEPORT server.
	NoReusePort bool
	// Clock drives CallLater; default RealClock. Tests pass a ManualClock.
	Clock clock.Clock
	// Logger receives panics recovered from protocol code and gnet's own
	// errors; default slog.Default().
	Logger *slog.Logger
	// MaxPausedBuffer bounds the bytes a connection may have waiting in
	// the reactor while its transport is paused (gnet keeps reading the
	// socket); a client that sends more is disconnected. Default 1 MiB.
	MaxPausedBuffer int
	// DrainTimeout bounds how long LoseConnection waits for unsent output
	// to drain before the connection is aborted. Default 30 s; negative:
	// wait for as long as the peer keeps the connection.
	DrainTimeout time.Duration
	// ReadBufferCap is gnet's per-loop read buffer; default 64 KiB.
	ReadBufferCap int
	// WriteBufferCap is gnet's per-connection outbound ring size before it
	// spills to a list; default 4 KiB (line protocols write little, and
	// the ring is only held while output is pending).
	WriteBufferCap int
	// MaxOutbound bounds what a connection queues for a peer that does
	// not read: once more than this is waiting after a callback, received
	// data is no longer delivered to the protocol (it waits in the
	// reactor, bounded by MaxPausedBuffer) until the backlog has drained
	// to a quarter of it, the low-water mark that WhenDrained also uses.
	// A connection's backlog thus stays under MaxOutbound plus what one
	// callback writes (a linereceiver protocol looks every 8 lines, so
	// pipelined commands add at most 8 replies). Default 64 KiB
	// (DefaultMaxOutbound); negative: no bound.
	MaxOutbound int
	// StallTimeout aborts a connection over MaxOutbound (or waiting in
	// WhenDrained) whose peer has taken nothing for this long. Default
	// 30 s; negative: never.
	StallTimeout time.Duration
	// AcceptErrorLogInterval spaces the log lines about failed accepts:
	// when descriptors run out, the listener sheds new connections
	// (accepts and closes them at once) and logs the first failure, then
	// one line per interval with the count. Default 10 s.
	AcceptErrorLogInterval time.Duration

	lowWater int // MaxOutbound/4, or DefaultMaxOutbound/4 without a bound
	// TLSHandshakeTimeout bounds a TLS handshake, on Clock: from the
	// accept on an implicit-TLS listener (ListenTLS), and from StartTLS
	// unless its TLSOptions.Timeout says otherwise. Default 30 s;
	// negative: no bound (not advisable, see MaxTLSHandshakes).
	TLSHandshakeTimeout time.Duration
	// MaxTLSHandshakes bounds the TLS handshakes in progress at once. A
	// handshake runs on a goroutine of its own (crypto/tls cannot resume
	// one on a loop), or as a coroutine of its loop (see
	// TLSHandshakeLoopShare), from the peer's first bytes for a server
	// (idle connections cost nothing) or from StartTLS for a client, until
	// it completes; a connection whose handshake would exceed the bound is
	// closed (protocol.ErrTooManyTLSHandshakes). Default 1024.
	MaxTLSHandshakes int
	// TLSHandshakeWorkers bounds how many of those handshakes compute at
	// once; the others wait, and a handshake waiting for its peer gives
	// its turn up, so a flood of ClientHellos queues here instead of
	// taking every processor from the event loops. A tls.Config callback
	// that blocks (GetCertificate fetching a certificate) holds a worker
	// while it blocks. Default GOMAXPROCS.
	TLSHandshakeWorkers int
	// TLSHandshakeLoopShare lets each event loop run TLS handshakes
	// itself, as coroutines it resumes whenever the peer's next bytes
	// arrive (iter.Pull), for up to this share of its time (0.5: half,
	// with bursts of tlsInlineBurst), instead of handing each to a
	// goroutine: no wake-ups between the loop and the goroutine, no
	// scheduling (ftpd: 5% less CPU per TLS login). Handshakes beyond the
	// share, as in a flood of ClientHellos, go to goroutines as with 0,
	// so the loop's other connections wait at most that long. Only for
	// tls.Configs whose callbacks (GetCertificate, GetConfigForClient,
	// VerifyConnection, WrapSession, ...) never block: one that blocks
	// would stall every connection of the loop. Default 0: every
	// handshake on a goroutine. At most 1.
	TLSHandshakeLoopShare float64
}

// DefaultMaxOutbound is Config.MaxOutbound's default. It matches
// linereceiver.DefaultMaxQueued, the point where a line protocol stops
// taking lines.
const DefaultMaxOutbound = 64 << 10

func (c Config) withDefaults() Config {
	if c.Loops <= 0 {
		c.Loops = runtime.NumCPU()
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxPausedBuffer <= 0 {
		c.MaxPausedBuffer = 1 << 20
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.ReadBufferCap <= 0 {
		c.ReadBufferCap = 64 << 10
	}
	if c.WriteBufferCap <= 0 {
		c.WriteBufferCap = 4 << 10
	}
	if c.MaxOutbound == 0 {
		c.MaxOutbound = DefaultMaxOutbound
	}
	c.lowWater = c.MaxOutbound / 4
	if c.MaxOutbound < 0 {
		c.lowWater = DefaultMaxOutbound / 4
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = 30 * time.Second
	}
	if c.AcceptErrorLogInterval <= 0 {
		c.AcceptErrorLogInterval = 10 * time.Second
	}
	if c.TLSHandshakeTimeout == 0 {
		c.TLSHandshakeTimeout = 30 * time.Second
	}
	if c.MaxTLSHandshakes <= 0 {
		c.MaxTLSHandshakes = 1024
	}
	if c.TLSHandshakeWorkers <= 0 {
		c.TLSHandshakeWorkers = runtime.GOMAXPROCS(0)
	}
	c.TLSHandshakeLoopShare = min(max(c.TLSHandshakeLoopShare, 0), 1)
	return c
}

type listenSpec struct {
	network, address string // as gnet parses them
	key              string // the configured address as gnet reports it in LocalAddr
	factory          protocol.Factory
	bound            net.Addr
}

// Reactor runs protocols on gnet event loops. Configure it with Listen,
// then Start it; Shutdown stops it. Connect works once started.
type Reactor struct {
	cfg       Config
	listeners []*listenSpec
	byKey     map[string]*listenSpec

	eng     gnet.Engine
	handler *handler
	// clientHandler serves the client engine; separate from handler so the
	// two engines' OnBoot calls do not share state.
	clientHandler *handler
	started       atomic.Bool
	closing       atomic.Bool
	done          chan error // gnet.Rotate's result

	mu    sync.Mutex
	conns map[*transport]struct{} // live connections, for Shutdown
	drain chan struct{}           // closed when conns becomes empty during Shutdown

	clientOnce sync.Once
	client     *gnet.Client
	clientErr  error

	acceptErrs *acceptErrors
	loops      loopSet        // the server engine's loops, for LoopLag
	handshakes *handshakePool // TLS handshakes of every loop (tls.go)
	budgets    sync.Map       // gnet.EventLoop -> *loopBudget: handshakes a loop runs itself
	tlsBufs    sync.Pool      // *[]byte plaintext buffers, one per loop at work
}

// New returns a Reactor with cfg's defaults applied.
func New(cfg Config) *Reactor {
	r := &Reactor{
		cfg:   cfg.withDefaults(),
		byKey: make(map[string]*listenSpec),
		conns: make(map[*transport]struct{}),
		done:  make(chan error, 1),
	}
	r.loops.want = r.cfg.Loops
	r.handler = &handler{r: r}
	r.clientHandler = &handler{r: r}
	r.acceptErrs = &acceptErrors{clock: r.cfg.Clock, logger: r.cfg.Logger, every: r.cfg.AcceptErrorLogInterval}
	r.initTLS()
	return r
}

// Clock returns the reactor's clock.
func (r *Reactor) Clock() clock.Clock { return r.cfg.Clock }

// Logger returns the reactor's logger.
func (r *Reactor) Logger() *slog.Logger { return r.cfg.Logger }

// Listen adds a listener served by f. addr is "host:port" (port 0 picks a
// free port; read it with Addrs after Start), optionally with a scheme
// ("tcp4://", "tcp6://"). The listener set is fixed once Start is called:
// gnet cannot add listeners to a running engine.
func (r *Reactor) Listen(addr string, f protocol.Factory) error {
	if r.started.Load() {
		return fmt.Errorf("reactor: listen %s: already started", addr)
	}
	network, address := "tcp", addr
	if i := strings.Index(addr, "://"); i >= 0 {
		network, address = addr[:i], addr[i+3:]
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("reactor: listen %s: unsupported network %q", addr, network)
	}
	ta, err := net.ResolveTCPAddr(network, address)
	if err != nil {
		return fmt.Errorf("reactor: listen %s: %w", addr, err)
	}
	key := ta.String()
	if _, dup := r.byKey[key]; dup {
		return fmt.Errorf("reactor: listen %s: address given twice", addr)
	}
	ls := &listenSpec{network: network, address: address, key: key, factory: f}
	r.listeners = append(r.listeners, ls)
	r.byKey[key] = ls
	return nil
}

// Start starts the event loops and listeners and returns once every loop
// exists with its listeners (with ReusePort, each loop's own copy):
// accepting begins right after, and the process holds every descriptor
// it serves with.
func (r *Reactor) Start() error {
	if r.closing.Load() {
		return ErrReactorClosed
	}
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("reactor: already started")
	}
	if len(r.listeners) == 0 {
		return errors.New("reactor: no listeners")
	}
	for _, f := range r.factories() {
		f.StartFactory()
	}
	if !r.cfg.NoReusePort {
		if err := r.claimPorts(); err != nil {
			for _, f := range r.factories() {
				f.StopFactory()
			}
			return fmt.Errorf("reactor: start: %w", err)
		}
	}
	addrs := make([]string, len(r.listeners))
	for i, ls := range r.listeners {
		addrs[i] = ls.network + "://" + ls.address
	}
	started := make(chan gnet.Engine, 1)
	r.handler.started = started
	go func() {
		r.done <- gnet.Rotate(r.handler, addrs, r.gnetOptions()...)
	}()
	select {
	case eng := <-started:
		r.eng = eng
	case err := <-r.done:
		r.done <- err
		for _, f := range r.factories() {
			f.StopFactory()
		}
		return fmt.Errorf("reactor: start: %w", r.whichListener(err))
	}
	for _, ls := range r.listeners {
		a, err := r.boundAddr(ls)
		if err != nil {
			return fmt.Errorf("reactor: reading bound address of %s: %w", ls.key, err)
		}
		ls.bound = a
	}
	return nil
}

// claimPorts binds each listener's address once without SO_REUSEPORT
// (net.Listen) and closes it again, before the loops bind their
// SO_REUSEPORT copies. That refuses to start where another process
// listens on the port already: SO_REUSEPORT alone would let a second
// ftpd of the same user bind it and share the connections silently. And
// it turns port 0 into the port the kernel chose, which every loop then
// binds: copies that each ask for port 0 would get as many ports as
// loops, and copies joining a port-0 socket do not always form one
// reuseport group with it (measured: in 13 of 80 starts one loop got
// every connection). Between the close and the loops' bind another
// process could take a port chosen for port 0; the start then fails.
func (r *Reactor) claimPorts() error {
	for _, ls := range r.listeners {
		ln, err := net.Listen(ls.network, ls.address)
		if err != nil {
			return fmt.Errorf("listen %s: %w", ls.address, err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		host, p, err := net.SplitHostPort(ls.address)
		if err != nil || p != "0" {
			continue
		}
		ls.address = net.JoinHostPort(host, strconv.Itoa(port))
		ta, err := net.ResolveTCPAddr(ls.network, ls.address)
		if err != nil {
			return fmt.Errorf("listen %s: %w", ls.address, err)
		}
		delete(r.byKey, ls.key)
		ls.key = ta.String()
		r.byKey[ls.key] = ls
	}
	return nil
}

// whichListener names the address a failed start could not listen on:
// gnet binds every listener at once and its error ("bind: address already
// in use") says not which. Each address is tried again with net.Listen
// (and closed at once); the first that fails is named. err is returned as
// it is if every address binds now.
func (r *Reactor) whichListener(err error) error {
	for _, ls := range r.listeners {
		ln, lerr := net.Listen(ls.network, ls.address)
		if lerr != nil {
			return fmt.Errorf("listen %s: %w", ls.address, err)
		}
		ln.Close()
	}
	return err
}

// factories returns each listener's factory once, in Listen order: a
// factory shared by several listeners (ftpd --listen A --listen B) is
// started and stopped once, as protocol.Factory promises. Factories that
// cannot be compared (a protocol.FactoryFunc) cannot be told apart and
// count once per listener; FactoryFunc's Start and Stop do nothing anyway.
func (r *Reactor) factories() []protocol.Factory {
	out := make([]protocol.Factory, 0, len(r.listeners))
	for _, ls := range r.listeners {
		lf := listenerFactory(ls.factory)
		if !slices.ContainsFunc(out, func(f protocol.Factory) bool { return sameFactory(f, lf) }) {
			out = append(out, lf)
		}
	}
	return out
}

// sameFactory is a == b, false where == would panic (an uncomparable
// dynamic type, or a struct holding one).
func sameFactory(a, b protocol.Factory) (same bool) {
	if !reflect.TypeOf(a).Comparable() || reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// boundAddr reads the real address of a listener (gnet keeps only the
// configured one, so port 0 would stay 0): dup the listening fd, then
// getsockname.
func (r *Reactor) boundAddr(ls *listenSpec) (net.Addr, error) {
	fd, err := r.eng.DupListener(ls.network, ls.address)
	if err != nil && ls.network != "tcp" {
		// gnet v2.9.7 records tcp4/tcp6 listeners under network "tcp".
		fd, err = r.eng.DupListener("tcp", ls.address)
	}
	if err != nil {
		return nil, fmt.Errorf("dup listener: %w", err)
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	return sockaddrToTCP(sa), nil
}

func sockaddrToTCP(sa unix.Sockaddr) *net.TCPAddr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	}
	return nil
}

// Addrs returns the real bound address of each listener, in Listen order.
func (r *Reactor) Addrs() []net.Addr {
	out := make([]net.Addr, len(r.listeners))
	for i, ls := range r.listeners {
		out[i] = ls.bound
	}
	return out
}

// ShedConnections reports how many connections the listeners accepted and
// closed at once because the process was out of descriptors (or the
// kernel out of socket memory) since Start. Safe from any goroutine.
func (r *Reactor) ShedConnections() int64 { return r.acceptErrs.shedTotal.Load() }

// Connections reports the number of live connections (server and client).
func (r *Reactor) Connections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

func (r *Reactor) gnetOptions() []gnet.Option {
	return []gnet.Option{
		gnet.WithNumEventLoop(r.cfg.Loops),
		gnet.WithReusePort(!r.cfg.NoReusePort),
		gnet.WithReadBufferCap(r.cfg.ReadBufferCap),
		gnet.WithWriteBufferCap(r.cfg.WriteBufferCap),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		// SO_REUSEADDR, as net.Listen sets it: a restarted server can bind
		// its port while connections of the previous one are in TIME_WAIT.
		gnet.WithReuseAddr(true),
		gnet.WithLogger(slogAdapter{r.cfg.Logger}),
		gnet.WithLogLevel(logging.ErrorLevel),
		// Accept errors never end the engine (third_party/gnet's patch);
		// they are counted and logged once per interval.
		gnet.WithAcceptErrorHandler(r.acceptErrs.report),
	}
}

// Shutdown stops the reactor gracefully: new connections are refused,
// every protocol is told (ShutdownRequested if it implements
// protocol.ShutdownNotifiee, else LoseConnection), Shutdown waits for the
// connections to end, and when ctx ends first the rest are closed by force.
// It returns ctx.Err() if it had to force, nil otherwise.
func (r *Reactor) Shutdown(ctx context.Context) error {
	if !r.closing.CompareAndSwap(false, true) {
		return ErrReactorClosed
	}
	var forced error
	r.mu.Lock()
	live := make([]*transport, 0, len(r.conns))
	for t := range r.conns {
		live = append(live, t)
	}
	drain := make(chan struct{})
	if len(r.conns) == 0 {
		close(drain)
	} else {
		r.drain = drain
	}
	r.mu.Unlock()
	for _, t := range live {
		t.CallFromThread(t.shutdownRequested)
	}
	select {
	case <-drain:
	case <-ctx.Done():
		forced = ctx.Err()
	}
	if r.started.Load() {
		// Engine.Stop closes every remaining connection (OnClose runs for
		// each) and waits for the loops; it polls every 500 ms, so give it
		// its own bound rather than the caller's spent context.
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := r.eng.Stop(stopCtx)
		cancel()
		if err != nil {
			forced = errors.Join(forced, fmt.Errorf("reactor: stopping engine: %w", err))
		}
		if err := <-r.done; err != nil {
			forced = errors.Join(forced, fmt.Errorf("reactor: engine: %w", err))
		}
		for _, f := range r.factories() {
			f.StopFactory()
		}
	}
	r.acceptErrs.stop()
	r.clientOnce.Do(func() {}) // no client may start from now on
	if r.client != nil {
		if err := r.client.Stop(); err != nil {
			forced = errors.Join(forced, fmt.Errorf("reactor: stopping client: %w", err))
		}
	}
	// Every connection is closed now, which wakes its handshake goroutine.
	if !r.handshakes.wait(10 * time.Second) {
		forced = errors.Join(forced, errors.New("reactor: tls handshake goroutines still running"))
	}
	return forced
}

// Connect dials addr ("host:port") with timeout and runs the protocol that
// f builds on it, on a client event loop. It returns once the connection is
// established and enrolled; ConnectionMade runs on the loop shortly after.
// Many client connections share a few loops, so one process can drive tens
// of thousands of them (the load generator does).
func (r *Reactor) Connect(ctx context.Context, addr string, f protocol.Factory, timeout time.Duration) error {
	return r.ConnectFrom(ctx, nil, addr, f, timeout)
}

// ConnectFrom is Connect from a chosen local address (for example another
// 127.0.0.x, so a load generator can open more than 28,000 connections to
// one server port); local may be nil.
func (r *Reactor) ConnectFrom(ctx context.Context, local *net.TCPAddr, addr string, f protocol.Factory, timeout time.Duration) error {
	if r.closing.Load() {
		return ErrReactorClosed
	}
	r.clientOnce.Do(r.startClient)
	if r.clientErr != nil {
		return r.clientErr
	}
	if r.client == nil {
		return ErrReactorClosed
	}
	d := net.Dialer{Timeout: timeout}
	if local != nil {
		d.LocalAddr = local
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("reactor: connect %s: %w", addr, err)
	}
	pend := &pendingClient{factory: f}
	if _, err := r.client.EnrollContext(nc, pend); err != nil {
		return fmt.Errorf("reactor: enroll %s: %w", addr, err)
	}
	return nil
}

type pendingClient struct{ factory protocol.Factory }

func (r *Reactor) startClient() {
	cli, err := gnet.NewClient(r.clientHandler, r.gnetOptions()...)
	if err != nil {
		r.clientErr = fmt.Errorf("reactor: new client: %w", err)
		return
	}
	if err := cli.Start(); err != nil {
		r.clientErr = fmt.Errorf("reactor: start client: %w", err)
		return
	}
	r.client = cli
}

func (r *Reactor) track(t *transport) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing.Load() {
		// Shutdown has begun: refuse newcomers (gnet cannot close a
		// listener of a running engine, so they are accepted and closed).
		return false
	}
	r.conns[t] = struct{}{}
	return true
}

func (r *Reactor) untrack(t *transport) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.conns, t)
	if r.drain != nil && len(r.conns) == 0 {
		close(r.drain)
		r.drain = nil
	}
}

// slogAdapter routes gnet's logging into slog.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Debugf(format string, args ...any) {}
func (a slogAdapter) Infof(format string, args ...any)  {}
func (a slogAdapter) Warnf(format string, args ...any) {
	a.l.Warn("gnet: " + fmt.Sprintf(format, args...))
}
func (a slogAdapter) Errorf(format string, args ...any) {
	a.l.Error("gnet: " + fmt.Sprintf(format, args...))
}
func (a slogAdapter) Fatalf(format string, args ...any) {
	a.l.Error("gnet fatal: " + fmt.Sprintf(format, args...))
}
