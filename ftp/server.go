// Package ftp is the FTP protocol interpreter: Twisted's
// twisted.protocols.ftp.FTP on this project's layers (LineReceiver,
// TimeoutMixin, Deferreds on a worker pool), with the defaults mature
// servers have and Twisted lacks (RFC 2577 bounce protection, atomic
// uploads, APPE/REST/ABOR/STAT/HELP, STOU, SITE CHMOD/UTIME, REIN, HOST
// with virtual hosts, per-IP limits, a 421 on idle timeout).
//
// NewFactory returns the protocol.Factory a reactor serves.
package ftp

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/ban"
	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/ftptls"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/local"
	"github.com/gnetftp/gnetftp/protocol"
)

// Config configures the server. Zero values get the defaults listed;
// durations follow the project's convention: 0 means the default, a
// negative value means none (no timeout, no delay).
type Config struct {
	// Root is the served directory; required.
	Root string
	// Users checks passwords (auth.LoadUsersFile); nil: no named users.
	Users auth.Authenticator
	// AllowAnonymous lets "anonymous" and "ftp" log in, read-only, to
	// AnonymousRoot.
	AllowAnonymous bool
	// AnonymousRoot is the only directory anonymous users see (created if
	// missing); default Root/pub. Named users' homes are elsewhere under
	// Root (<Root>/<name> unless the users file gives one).
	AnonymousRoot string
	// AnonymousAnyMode lets anonymous users download files that are not
	// readable by everyone; by default only mode o+r files (vsftpd's
	// anon_world_readable_only).
	AnonymousAnyMode bool
	// Welcome is the 220 greeting text; default "gnetftp FTP server ready.".
	Welcome string
	// IdleTimeout closes idle control connections with 421; default 600 s,
	// negative disables. It is off while a transfer runs.
	IdleTimeout time.Duration
	// LoginTimeout closes (421) a connection that has not logged in this
	// long after connecting, whatever it sends meanwhile (NOOPs, partial
	// lines, garbage); default 60 s, negative: none.
	LoginTimeout time.Duration
	// FailedLoginDelay is waited before every 530 after a failed PASS
	// (the same for unknown users and wrong passwords); default 1 s,
	// negative: none.
	FailedLoginDelay time.Duration
	// MaxLoginFailures closes the connection after that many failed PASS;
	// default 3 (vsftpd's max_login_fails).
	MaxLoginFailures int
	// Bans records every failed PASS by client address and refuses banned
	// addresses: 421 at connect, before the greeting and before any
	// password hash, and at PASS for a session opened before the ban.
	// Default (nil): a ban.Memory with ban.Config's defaults, 10 failed
	// logins within 10 minutes ban an address for 30 minutes, loopback
	// not exempt (tests and load generators log in with good passwords,
	// or give a store with an allow list). ban.Never{} turns bans off.
	Bans ban.Store
	// HashWorkers, HashQueue and HashPerIP size the pool that checks
	// passwords (auth.HashPoolConfig's Workers, Queue and PerClient): the
	// Authenticator runs there, apart from Pool, so that a password
	// guessing flood cannot starve filesystem work, and one address never
	// holds every worker. A PASS that finds the queue full gets 421.
	// Defaults: one worker per CPU, 1024 waiting, half the workers (at
	// least 1) per client address. Cached logins never go there (see
	// auth.CachedAuthenticator).
	HashWorkers, HashQueue, HashPerIP int
	// MaxConnections and MaxConnectionsPerIP refuse further connections
	// with 421; 0 means no limit.
	MaxConnections, MaxConnectionsPerIP int
	// MaxPassivePerIP bounds the passive listeners (PASV/EPSV waiting
	// for their data connection) open at once for one client IP, so that
	// a few hosts cannot take the whole passive range; a PASV or EPSV
	// over it gets 425 and the listeners already open stay. A listener
	// counts from PASV until its data connection is accepted, or it is
	// closed (another PASV, the session's end, or Data.AcceptTimeout
	// after PASV without a data connection). Default
	// DefaultMaxPassivePerIP; negative: no limit.
	MaxPassivePerIP int
	// RateDown and RateUp cap each session's downloads and uploads, in
	// bytes per second, for users whose limits give no rate of their own
	// (auth.Limits; anonymous users always get these); 0: none. A limited
	// transfer is paced by a token bucket (golang.org/x/time/rate) around
	// its file and so copied through user space; an unlimited one keeps
	// sendfile and splice. SetLimits changes them for later logins.
	RateDown, RateUp int64
	// PublicHost is the IPv4 address, or a host name with one, announced
	// in 227 replies (NAT); default the control connection's local
	// address. A name is resolved by NewFactory and ResolvePublicHost.
	PublicHost string
	// Data configures data connections (passive range, timeouts, bounce
	// protection). With no passive range, dtp.DefaultPassiveRange is used
	// (the ports below the kernel's ephemeral range).
	Data dtp.Config
	// Realm gives a user who logged in (home from the Authenticator), or
	// an anonymous user, its shell; it runs on the pool, and first on the
	// event loop when it is a shell.ReadyRealm. Default: a local.Realm on
	// Root (a Local per home, read-only for anonymous users), closed by
	// StopFactory. Other backends plug in here.
	Realm shell.Realm
	// Pool runs filesystem calls and bcrypt (any deferred.Submitter, so an
	// embedder can share its own bounded executor); default a new
	// deferred.Pool, closed by StopFactory.
	Pool deferred.Submitter
	// TLS enables FTPS (RFC 4217): AUTH TLS on every control connection,
	// PBSZ and PROT, and TLS data connections under PROT P that resume
	// their control session (TLSReuse). Serve implicit FTPS by giving the
	// same factory to reactor.ListenTLS with TLS.Control(). nil: no FTPS
	// (AUTH answers 431, FEAT does not list it).
	TLS *ftptls.Server
	// TLSRequired refuses USER and PASS on a control connection without
	// TLS (530 "TLS required"), and data connections without it (PROT C:
	// 534, PASV/EPSV/PORT/EPRT under PROT C: 521). It needs TLS.
	TLSRequired bool
	// TLSAnonymousPlain exempts anonymous users from TLSRequired.
	TLSAnonymousPlain bool
	// TLSReuse says whether PROT P data connections must resume the
	// control connection's session; default TLSReuseRequired.
	TLSReuse TLSReuse
	// Events, when set, is told about logins, transfers and changes to
	// files (see Events, and its optional extensions SessionEvents,
	// CommandEvents, RefusalEvents); called on the event loops. Several
	// at once: MultiEvents (ftpd: ftp/metrics, ftp/xferlog, ftp/hooks).
	Events Events
	// Logger gets session and transfer logs; default slog.Default().
	Logger *slog.Logger
	// VirtualHosts are the hosts a client may choose with HOST (RFC 7151)
	// before it logs in, each with its own users and files; a session
	// that sends no HOST logs in to the default host (Root, Users,
	// AllowAnonymous, Realm above). Default none: HOST then accepts any
	// name (220) and changes nothing. With some, HOST of another name is
	// 504.
	VirtualHosts []VirtualHost
}

// VirtualHost is one host of Config.VirtualHosts: the users and files a
// session logs in to after "HOST name". Settings not here (limits,
// timeouts, bans, passive ports) are the server's.
type VirtualHost struct {
	// Name is the host name clients send (compared without regard to
	// case or a trailing dot; an IP address as "192.0.2.1" or
	// "[2001:db8::1]"); required, each once.
	Name string
	// Root is the directory of this host's homes, as Config.Root;
	// required unless Realm is given.
	Root string
	// Users checks this host's passwords; nil: no named users.
	Users auth.Authenticator
	// AllowAnonymous lets anonymous users in, read-only, to
	// AnonymousRoot (default Root/pub); Config.AnonymousAnyMode applies.
	AllowAnonymous bool
	AnonymousRoot  string
	// Welcome is the text of HOST's 220 reply; default Config.Welcome.
	Welcome string
	// Realm gives this host's users their shells; default a local.Realm
	// on Root, closed by StopFactory.
	Realm shell.Realm
}

// host is a (virtual) host as sessions use it.
type host struct {
	name      string
	users     auth.Authenticator
	realm     shell.Realm
	anonymous bool
	welcome   string
}

// DefaultMaxPassivePerIP is Config.MaxPassivePerIP's default. A listener
// normally lives for the moment between PASV and the client's connect,
// so even a NAT with many users seldom has more than a few at once (200
// sessions of one test client transferring at once on 2 busy cores went
// past 8); with 16, one address holds at most 16 of the default range's
// ~31,000 ports, and taking them all needs some 2,000 addresses.
const DefaultMaxPassivePerIP = 16

// Factory builds an FTP session per connection and holds what sessions
// share: counters, the passive port allocator, the shells.
type Factory struct {
	cfg      Config
	commands map[string]*command
	site     map[string]*siteCommand
	ports    *dtp.Ports
	limits   atomic.Pointer[Limits] // from Config, swapped by SetLimits
	pubIP    atomic.Pointer[net.IP] // PublicHost resolved (nil: none); ResolvePublicHost swaps it
	ownPool  *deferred.Pool         // the default pool, closed by StopFactory
	hashes   *auth.HashPool         // password checks, closed by StopFactory
	bans     ban.Store
	stats    counters

	total   atomic.Int64
	mu      sync.Mutex
	perIP   map[string]int
	passive map[string]int // open passive listeners by client IP
	users   map[string]*userState

	ownRealms   []*local.Realm // the realms the factory made, closed by StopFactory
	defaultHost *host
	vhosts      map[string]*host // by hostKey; empty: HOST accepts any name

	obs        observers  // Config.Events' optional extensions
	refusalLog refusalLog // rate limit of the "ftp refused" lines

	// quickMax is the largest download quickSend takes (dtp.QuickMax;
	// tests raise it to reach the hand-over of a full send buffer).
	quickMax int64
}

// NewFactory validates cfg and applies defaults.
func NewFactory(cfg Config) (*Factory, error) {
	if cfg.Root == "" {
		return nil, fmt.Errorf("ftp: Config.Root is required")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("ftp: root: %w", err)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("ftp: root %s is not a directory: %v", root, err)
	}
	cfg.Root = root
	if cfg.TLSRequired && cfg.TLS == nil {
		return nil, fmt.Errorf("ftp: Config.TLSRequired needs Config.TLS (a certificate)")
	}
	if cfg.Welcome == "" {
		cfg.Welcome = "gnetftp FTP server ready."
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 600 * time.Second
	}
	if cfg.LoginTimeout == 0 {
		cfg.LoginTimeout = 60 * time.Second
	}
	if cfg.FailedLoginDelay == 0 {
		cfg.FailedLoginDelay = time.Second
	}
	if cfg.MaxLoginFailures == 0 {
		cfg.MaxLoginFailures = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Data = cfg.Data.WithDefaults()
	if cfg.MaxPassivePerIP == 0 {
		cfg.MaxPassivePerIP = DefaultMaxPassivePerIP
	}
	f := &Factory{cfg: cfg, quickMax: dtp.QuickMax, commands: commandTable(), site: siteTable(), perIP: map[string]int{}, passive: map[string]int{}, users: map[string]*userState{}, bans: cfg.Bans,
		obs: observersOf(cfg.Events)}
	if f.bans == nil {
		f.bans = ban.NewMemory(ban.Config{})
	}
	if cfg.Pool == nil {
		f.ownPool = deferred.NewPool(deferred.PoolConfig{})
		f.cfg.Pool = f.ownPool
	}
	f.limits.Store(&Limits{MaxConnections: cfg.MaxConnections, MaxConnectionsPerIP: cfg.MaxConnectionsPerIP, MaxPassivePerIP: cfg.MaxPassivePerIP,
		RateDown: cfg.RateDown, RateUp: cfg.RateUp})
	if err := f.ResolvePublicHost(); err != nil {
		f.StopFactory() // the pool made above
		return nil, err
	}
	if cfg.Data.PortLow == 0 && cfg.Data.PortHigh == 0 {
		cfg.Data.PortLow, cfg.Data.PortHigh = dtp.DefaultPassiveRange()
		f.cfg.Data = cfg.Data
	}
	f.ports = dtp.NewPorts(cfg.Data.PortLow, cfg.Data.PortHigh)
	f.defaultHost = &host{users: cfg.Users, realm: cfg.Realm, anonymous: cfg.AllowAnonymous, welcome: cfg.Welcome}
	if cfg.Realm == nil {
		realm, err := f.localRealm(root, cfg.AllowAnonymous, cfg.AnonymousRoot)
		if err != nil {
			f.StopFactory()
			return nil, fmt.Errorf("ftp: %w", err)
		}
		f.cfg.Realm, f.defaultHost.realm = realm, realm
	}
	f.vhosts = make(map[string]*host, len(cfg.VirtualHosts))
	for _, vh := range cfg.VirtualHosts {
		h, err := f.virtualHost(vh)
		if err != nil {
			f.StopFactory()
			return nil, err
		}
		f.vhosts[h.name] = h
	}
	f.hashes = auth.NewHashPool(auth.HashPoolConfig{Workers: cfg.HashWorkers, Queue: cfg.HashQueue, PerClient: cfg.HashPerIP})
	return f, nil
}

// localRealm makes (and owns) a local.Realm on root, with an anonymous
// root (default root/pub) if anonymous logins are allowed.
func (f *Factory) localRealm(root string, anonymous bool, anonRoot string) (*local.Realm, error) {
	rc := local.RealmConfig{Root: root, AnonymousAnyMode: f.cfg.AnonymousAnyMode}
	if anonymous {
		rc.AnonymousRoot = anonRoot
		if rc.AnonymousRoot == "" {
			rc.AnonymousRoot = filepath.Join(root, "pub")
		}
	}
	realm, err := local.NewRealm(rc)
	if err != nil {
		return nil, err
	}
	f.ownRealms = append(f.ownRealms, realm)
	// Operators see what the sweep removed; tests that count the
	// server's descriptors wait for this line (the sweep holds one while
	// it walks). The goroutine ends with the sweep, which StopFactory's
	// Close stops.
	start, logger := time.Now(), f.cfg.Logger
	go func() {
		if n, whole := realm.SweepResult(); whole {
			logger.Info("ftp start-up sweep done", "root", root, "removed", n, "duration_ms", durationMS(time.Since(start)))
		}
	}()
	return realm, nil
}

// virtualHost checks one of Config.VirtualHosts and makes its host.
func (f *Factory) virtualHost(vh VirtualHost) (*host, error) {
	key, ok := hostKey(vh.Name)
	if !ok {
		return nil, fmt.Errorf("ftp: virtual host %q: not a host name or an IP address", vh.Name)
	}
	if _, dup := f.vhosts[key]; dup {
		return nil, fmt.Errorf("ftp: virtual host %q given twice", vh.Name)
	}
	h := &host{name: key, users: vh.Users, realm: vh.Realm, anonymous: vh.AllowAnonymous, welcome: vh.Welcome}
	if h.welcome == "" {
		h.welcome = f.cfg.Welcome
	}
	if h.realm == nil {
		if vh.Root == "" {
			return nil, fmt.Errorf("ftp: virtual host %q: Root is required", vh.Name)
		}
		root, err := filepath.Abs(vh.Root)
		if err != nil {
			return nil, fmt.Errorf("ftp: virtual host %q: root: %w", vh.Name, err)
		}
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("ftp: virtual host %q: root %s is not a directory: %v", vh.Name, root, err)
		}
		realm, err := f.localRealm(root, vh.AllowAnonymous, vh.AnonymousRoot)
		if err != nil {
			return nil, fmt.Errorf("ftp: virtual host %q: %w", vh.Name, err)
		}
		h.realm = realm
	}
	return h, nil
}

// Limits are the connection limits and default rates that can change
// while the server runs (SetLimits; ftpd applies its --config file's on
// SIGHUP). Fields as Config's: 0 or negative means no limit here
// (Config's defaults are applied by NewFactory only). Rates apply to
// sessions that log in from then on.
type Limits struct {
	MaxConnections, MaxConnectionsPerIP, MaxPassivePerIP int
	RateDown, RateUp                                     int64
}

// SetLimits applies new connection limits to connections made from now
// on (and to PASV/EPSV from now on); sessions over a lowered limit are
// not closed. Any goroutine.
func (f *Factory) SetLimits(l Limits) { f.limits.Store(&l) }

// CurrentLimits returns the limits in force. Any goroutine.
func (f *Factory) CurrentLimits() Limits { return *f.limits.Load() }

// ResolvePublicHost resolves Config.PublicHost again (a host name whose
// address changed: a dynamic DNS name behind NAT) and announces the new
// address in later 227 replies; on error the previous one stays. PASV
// announces IPv4 only, so the name must have an IPv4 address; EPSV
// announces no address and is unaffected. Any goroutine (ftpd calls it on
// SIGHUP).
func (f *Factory) ResolvePublicHost() error {
	host := f.cfg.PublicHost
	if host == "" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		addrs, err := net.LookupIP(host)
		if err != nil {
			return fmt.Errorf("ftp: public host %q: %w", host, err)
		}
		for _, a := range addrs {
			if a.To4() != nil {
				ip = a
				break
			}
		}
	}
	if ip == nil || ip.To4() == nil {
		return fmt.Errorf("ftp: public host %q has no IPv4 address (PASV announces IPv4 only; EPSV clients need none)", host)
	}
	v4 := ip.To4()
	f.pubIP.Store(&v4)
	return nil
}

// StartFactory does nothing; the factory is ready when built.
func (f *Factory) StartFactory() {}

// StopFactory closes the password checks' pool, and the worker pool and
// the realm if the factory made them.
func (f *Factory) StopFactory() {
	if f.hashes != nil {
		f.hashes.Close()
	}
	if f.ownPool != nil {
		f.ownPool.Close()
	}
	for _, r := range f.ownRealms {
		_ = r.Close()
	}
	f.ownRealms = nil
}

// BuildProtocol returns a session, or a one-line refusal when a
// connection limit is reached (Twisted's FTPOverflowProtocol).
func (f *Factory) BuildProtocol(addr net.Addr) protocol.Protocol {
	ip := hostOf(addr)
	n := f.total.Add(1)
	f.mu.Lock()
	f.perIP[ip]++
	perIP := f.perIP[ip]
	f.mu.Unlock()
	s := &session{f: f, ip: ip}
	l := f.limits.Load()
	switch {
	case f.banned(addrOf(addr)):
		s.refuse = refuseBanned
	case l.MaxConnections > 0 && n > int64(l.MaxConnections):
		s.refuse, s.limitReason = refuseLimit, RefusedMaxConnections
	case l.MaxConnectionsPerIP > 0 && perIP > l.MaxConnectionsPerIP:
		s.refuse, s.limitReason = refuseLimit, RefusedMaxConnectionsPerIP
	}
	return s
}

// bannedText is the 421 a banned address gets.
const bannedText = "Too many failed logins from your address, try again later."

// banned reports whether addr is banned (at connect, at PASS), counting
// the refusal; the first refusal of each ban is logged, the others only
// counted, so a banned client reconnecting in a loop does not flood the
// log. Any goroutine (loops).
func (f *Factory) banned(addr netip.Addr) bool {
	b, ok := f.bans.Check(addr)
	if !ok {
		return false
	}
	f.stats.banRefusals.Add(1)
	if b.Refused == 1 {
		f.cfg.Logger.Info("ftp refusing banned address", "addr", b.Prefix.String(),
			"until", b.Until.UTC().Format(time.RFC3339), "further refusals", "counted, not logged")
	}
	return true
}

// loginFailed records a failed PASS from addr; it reports whether this
// failure banned the address (logged once per ban).
func (f *Factory) loginFailed(addr netip.Addr) bool {
	f.stats.loginFailures.Add(1)
	b, banned := f.bans.Failed(addr)
	if banned {
		f.stats.bans.Add(1)
		f.cfg.Logger.Warn("ftp address banned", "addr", b.Prefix.String(), "failures", b.Failures,
			"until", b.Until.UTC().Format(time.RFC3339))
	}
	return banned
}

// Stats are counters since the factory was built, for metrics (an
// embedder exports them; Factory.Stats reads them from any goroutine).
type Stats struct {
	// LoginFailures counts PASS refused for an unknown user or a wrong
	// password.
	LoginFailures int64
	// Bans counts bans started (one per ban, see Config.Bans).
	Bans int64
	// BanRefusals counts connections, and PASS on connections opened
	// before the ban, refused because the address was banned.
	BanRefusals int64
	// HashBusy counts PASS answered 421 because the password checks'
	// queue was full.
	HashBusy int64
	// WarningsSuppressed counts warnings a session's rate limit dropped.
	WarningsSuppressed int64
}

type counters struct {
	loginFailures, bans, banRefusals, hashBusy, warningsSuppressed atomic.Int64
}

// Stats returns the counters. Safe from any goroutine.
func (f *Factory) Stats() Stats {
	return Stats{
		LoginFailures:      f.stats.loginFailures.Load(),
		Bans:               f.stats.bans.Load(),
		BanRefusals:        f.stats.banRefusals.Load(),
		HashBusy:           f.stats.hashBusy.Load(),
		WarningsSuppressed: f.stats.warningsSuppressed.Load(),
	}
}

// addrOf is a's IP address (IPv4-mapped addresses as IPv4), or the zero
// Addr.
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func (f *Factory) release(ip string) {
	f.total.Add(-1)
	f.mu.Lock()
	if f.perIP[ip]--; f.perIP[ip] <= 0 {
		delete(f.perIP, ip)
	}
	f.mu.Unlock()
}

// takePassive counts a passive listener for ip, unless ip has
// MaxPassivePerIP open already. Safe from any goroutine.
func (f *Factory) takePassive(ip string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if max := f.limits.Load().MaxPassivePerIP; max > 0 && f.passive[ip] >= max {
		return false
	}
	f.passive[ip]++
	return true
}

// releasePassive uncounts a listener takePassive counted.
func (f *Factory) releasePassive(ip string) {
	f.mu.Lock()
	if f.passive[ip]--; f.passive[ip] <= 0 {
		delete(f.passive, ip)
	}
	f.mu.Unlock()
}

// PassiveListeners reports the passive listeners open for ip (tests).
func (f *Factory) PassiveListeners(ip string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.passive[ip]
}

// Connections reports the live sessions (tests, STAT).
func (f *Factory) Connections() int { return int(f.total.Load()) }

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if a == nil {
		return ""
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// PasswordChecksWaiting reports the password checks waiting for a worker
// of their pool (Config.HashWorkers), for metrics. Safe from any
// goroutine.
func (f *Factory) PasswordChecksWaiting() int { return f.hashes.Waiting() }
