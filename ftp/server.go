// Package ftp is the FTP protocol interpreter: Twisted's
// twisted.protocols.ftp.FTP on this project's layers (LineReceiver,
// TimeoutMixin, Deferreds on a worker pool), with the defaults mature
// servers have and Twisted lacks (RFC 2577 bounce protection, atomic
// uploads, APPE/REST/ABOR/STAT/HELP, per-IP limits, a 421 on idle timeout).
//
// NewFactory returns the protocol.Factory a reactor serves.
package ftp

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/protocol"
)

// Config configures the server. Zero values get the defaults listed.
type Config struct {
	// Root is the served directory; required.
	Root string
	// Users checks passwords (auth.LoadUsersFile); nil: no named users.
	Users auth.Authenticator
	// AllowAnonymous lets "anonymous" and "ftp" log in, read-only.
	AllowAnonymous bool
	// Welcome is the 220 greeting text; default "gnetftp FTP server ready.".
	Welcome string
	// IdleTimeout closes idle control connections with 421; default 600 s,
	// negative disables. It is off while a transfer runs.
	IdleTimeout time.Duration
	// FailedLoginDelay is waited before every 530 after a failed PASS
	// (the same for unknown users and wrong passwords); default 1 s.
	FailedLoginDelay time.Duration
	// MaxLoginFailures closes the connection after that many failed PASS;
	// default 3 (vsftpd's max_login_fails).
	MaxLoginFailures int
	// MaxConnections and MaxConnectionsPerIP refuse further connections
	// with 421; 0 means no limit.
	MaxConnections, MaxConnectionsPerIP int
	// PublicHost is the IPv4 address announced in 227 replies; default the
	// control connection's local address.
	PublicHost string
	// Data configures data connections (passive range, timeouts, bounce
	// protection). With no passive range, dtp.DefaultPassiveRange is used
	// (the ports below the kernel's ephemeral range).
	Data dtp.Config
	// ShellFor returns the shell of a user who logged in (home from the
	// Authenticator) or of an anonymous user; default: a local shell on
	// Root/home, read-only for anonymous users. It runs on the pool.
	// Other backends (and tests) plug in here.
	ShellFor func(user, home string, anonymous bool) (shell.Shell, error)
	// Pool runs filesystem calls and bcrypt (any deferred.Submitter, so an
	// embedder can share its own bounded executor); default a new
	// deferred.Pool, closed by StopFactory.
	Pool deferred.Submitter
	// Logger gets session and transfer logs; default slog.Default().
	Logger *slog.Logger
}

// Factory builds an FTP session per connection and holds what sessions
// share: counters, the passive port allocator, the shells.
type Factory struct {
	cfg      Config
	commands map[string]*command
	ports    *dtp.Ports
	pubIP    net.IP
	ownPool  *deferred.Pool // the default pool, closed by StopFactory

	total atomic.Int64
	mu    sync.Mutex
	perIP map[string]int

	shellMu sync.Mutex
	shells  map[string]*shell.Local // by home directory
	anon    shell.Shell
	// localShells: ShellFor is localShell, so readyShell may answer.
	localShells bool
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
	if cfg.Welcome == "" {
		cfg.Welcome = "gnetftp FTP server ready."
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 600 * time.Second
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
	f := &Factory{cfg: cfg, commands: commandTable(), perIP: map[string]int{}, shells: map[string]*shell.Local{}}
	if cfg.Pool == nil {
		f.ownPool = deferred.NewPool(deferred.PoolConfig{})
		f.cfg.Pool = f.ownPool
	}
	if cfg.PublicHost != "" {
		ip := net.ParseIP(cfg.PublicHost).To4()
		if ip == nil {
			addrs, err := net.LookupIP(cfg.PublicHost)
			if err != nil || len(addrs) == 0 || addrs[0].To4() == nil {
				return nil, fmt.Errorf("ftp: public host %q is not an IPv4 address", cfg.PublicHost)
			}
			ip = addrs[0].To4()
		}
		f.pubIP = ip
	}
	if cfg.Data.PortLow == 0 && cfg.Data.PortHigh == 0 {
		cfg.Data.PortLow, cfg.Data.PortHigh = dtp.DefaultPassiveRange()
		f.cfg.Data = cfg.Data
	}
	f.ports = dtp.NewPorts(cfg.Data.PortLow, cfg.Data.PortHigh)
	if cfg.AllowAnonymous && cfg.ShellFor == nil {
		l, err := shell.NewLocal(root)
		if err != nil {
			return nil, err
		}
		f.shells[""] = l
		f.anon = shell.ReadOnly(l)
	}
	if f.cfg.ShellFor == nil {
		f.cfg.ShellFor = f.localShell
		f.localShells = true
	}
	return f, nil
}

// StartFactory does nothing; the factory is ready when built.
func (f *Factory) StartFactory() {}

// StopFactory closes the shells and, if the factory made it, the pool.
func (f *Factory) StopFactory() {
	if f.ownPool != nil {
		f.ownPool.Close()
	}
	f.shellMu.Lock()
	for _, l := range f.shells {
		l.Close()
	}
	f.shells = map[string]*shell.Local{}
	f.shellMu.Unlock()
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
	s := &Session{f: f, ip: ip}
	if (f.cfg.MaxConnections > 0 && n > int64(f.cfg.MaxConnections)) ||
		(f.cfg.MaxConnectionsPerIP > 0 && perIP > f.cfg.MaxConnectionsPerIP) {
		s.refuse = true
	}
	return s
}

func (f *Factory) release(ip string) {
	f.total.Add(-1)
	f.mu.Lock()
	if f.perIP[ip]--; f.perIP[ip] <= 0 {
		delete(f.perIP, ip)
	}
	f.mu.Unlock()
}

// Connections reports the live sessions (tests, STAT).
func (f *Factory) Connections() int { return int(f.total.Load()) }

func (f *Factory) localShell(user, home string, anonymous bool) (shell.Shell, error) {
	if anonymous {
		return f.anon, nil
	}
	return f.userShell(home)
}

// readyShell returns the shell localShell would, if it exists already:
// it never blocks, for logins on the event loop.
func (f *Factory) readyShell(home string, anonymous bool) (shell.Shell, bool) {
	if !f.localShells {
		return nil, false
	}
	if anonymous {
		return f.anon, f.anon != nil
	}
	f.shellMu.Lock()
	defer f.shellMu.Unlock()
	l, ok := f.shells[homeKey(home)]
	return l, ok
}

// homeKey is a home directory as the shells map keys it.
func homeKey(home string) string {
	return strings.Trim(filepath.ToSlash(filepath.Clean("/"+home)), "/")
}

// userShell opens (once) the shell for a home directory relative to the
// root. It blocks (opens a directory): call it on the pool.
func (f *Factory) userShell(home string) (shell.Shell, error) {
	home = homeKey(home)
	f.shellMu.Lock()
	defer f.shellMu.Unlock()
	if l, ok := f.shells[home]; ok {
		return l, nil
	}
	dir := filepath.Join(f.cfg.Root, filepath.FromSlash(home))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ftp: home %s: %w", home, err)
	}
	l, err := shell.NewLocal(dir)
	if err != nil {
		return nil, err
	}
	f.shells[home] = l
	return l, nil
}

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

var _ io.Closer = (*shell.Local)(nil)
