// Command ftpd is the project's FTP server: Twisted's FTP on gnet.
//
// With no flags it serves ./ftproot (created if missing) on 127.0.0.1:2121
// to anonymous users, read-only. `ftpd --help` lists every flag;
// `ftpd passwd --users FILE NAME` adds or updates a user in a users file
// with a bcrypt hash of the password read from standard input.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/ban"
	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/ftptls"
	"github.com/gnetftp/gnetftp/ftp/pgstore"
	"github.com/gnetftp/gnetftp/ftp/shell"
	s3shell "github.com/gnetftp/gnetftp/ftp/shell/s3"
	"github.com/gnetftp/gnetftp/gcfloor"
	"github.com/gnetftp/gnetftp/memtrim"
	"github.com/gnetftp/gnetftp/reactor"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: tests call it.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "passwd" {
		if err := passwd(args[1:], stdin, stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "ftpd passwd:", err)
			return 1
		}
		return 0
	}
	if len(args) > 0 && args[0] == "user" {
		if err := userCmd(args[1:], stdin, stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "ftpd user:", err)
			return 1
		}
		return 0
	}
	if len(args) > 0 && args[0] == "check-config" {
		if err := checkConfig(args[1:], stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "ftpd check-config:", err)
			return 1
		}
		return 0
	}
	if len(args) > 0 && args[0] == "cert" {
		if err := cert(args[1:], stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "ftpd cert:", err)
			return 1
		}
		return 0
	}
	opts, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printHelp(stdout, opts.flags)
		return 0
	case errors.Is(err, errVersion):
		fmt.Fprintln(stdout, version())
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "ftpd: %v (ftpd --help lists the flags)\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, opts, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "ftpd:", err)
		return 1
	}
	return 0
}

// errVersion is parseFlags' answer to --version.
var errVersion = errors.New("version asked")

// options are the command line's settings, before they become ftp.Config.
type options struct {
	listen          []string
	listenTLS       []string
	tlsCert         string
	tlsKey          string
	tlsRequired     bool
	tlsAnonPlain    bool
	tlsReuse        ftp.TLSReuse
	root            string
	storage         string
	users           string
	anonymous       bool
	anonymousSet    bool
	anonymousRoot   string
	anonWorldOnly   bool
	trimMemory      bool
	gcHeapFloor     int64
	runAs           string
	passiveLo       int
	passiveHi       int
	publicHost      string
	idleTimeout     time.Duration
	loginTimeout    time.Duration
	dataTimeout     time.Duration
	banAfter        int
	banWindow       time.Duration
	banFor          time.Duration
	fleetLease      time.Duration
	banAllow        []netip.Prefix
	hashWorkers     int
	maxConns        int
	maxConnsSet     bool // --max-connections differs from the derived default: keep it
	maxConnsPerIP   int
	maxPassivePerIP int
	rateDown        int64
	rateUp          int64
	welcome         string
	loops           int
	procs           int
	allowForeign    bool
	allowPrivileged bool
	logFormat       string
	logLevel        string
	shutdownGrace   time.Duration
	cpuProfile      string
	memProfile      string
	config          string
	observe         observeOptions // metrics, xferlog, hooks (observe.go)
	vhosts          []vhostConfig  // [[vhost]] tables of the configuration file

	flags *flag.FlagSet // for check-config
	args  []string      // as given, parsed again on SIGHUP when there is a --config file
}

type listFlag struct{ v *[]string }

func (l listFlag) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}
func (l listFlag) Set(s string) error { *l.v = append(*l.v, s); return nil }

func (l listFlag) values() []string {
	if l.v == nil {
		return nil
	}
	return *l.v
}

type boolSetFlag struct {
	v   *bool
	set *bool
}

func (b boolSetFlag) String() string {
	if b.v == nil {
		return "false"
	}
	return strconv.FormatBool(*b.v)
}
func (b boolSetFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*b.v, *b.set = v, true
	return nil
}
func (b boolSetFlag) IsBoolFlag() bool { return true }

const usageHead = `ftpd: an FTP server (Twisted's FTP rebuilt on the gnet event loop)

Usage:
  ftpd [flags]                      serve FTP
  ftpd passwd --users FILE NAME     add or update NAME in FILE; the password
                                    is read from standard input (one line);
                                    --home DIR sets its home ("/": the root)
  ftpd user add|set|del|list --users FILE [--home DIR] [--read-only]
            [--no-delete] [--no-rename] [--quota SIZE] [--quota-files N]
            [--max-sessions N] [--rate-down RATE] [--rate-up RATE] NAME
                                    manage users and their limits (add reads
                                    the password from standard input; ftpd
                                    user --help says more)
  ftpd user rescan --users postgres://… [--root DIR | --storage URL] NAME...
                                    count NAME's home again and set the
                                    fleet's recorded quota usage to it
  ftpd check-config --config FILE [flags]
                                    validate the settings (file and flags) and
                                    print the effective ones
  ftpd cert --cert FILE --key FILE --host NAME
                                    write a self-signed ECDSA P-256 certificate
                                    for local use (FTPS)

With no flags ftpd serves ./ftproot (created if missing) on 127.0.0.1:2121,
anonymous read-only from ./ftproot/pub. With --users, only those users may
log in (each with write access to its home) unless --anonymous is given too.

Users file: one "name:bcrypt-hash[:home][:key=value...]" per line, '#' starts
a comment; the keys are perm, quota, quota-files, max-sessions, rate-down and
rate-up. Write it with "ftpd user" (or "ftpd passwd"); SIGHUP reloads it.
Home is a directory under --root (created on the first login); a user without
one is confined to ROOT/NAME, and "/" gives a user the whole root. Anonymous
users see only --anonymous-root.

Virtual hosts (HOST, RFC 7151): one [[vhost]] table per host in the --config
file, with name, root, users, and optionally anonymous, anonymous-root and
welcome; a client that sends HOST name before USER logs in to that host's
users and root. SIGHUP reloads every users file.

Flags:
`

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{args: args}
	fs := flag.NewFlagSet("ftpd", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints --help (on stdout) and errors (one line) itself
	fs.Usage = func() {}
	o.flags = fs
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Var(listFlag{&o.listen}, "listen", "address to listen on, host:port (repeatable; IPv6 as [::1]:2121) (default 127.0.0.1:2121)")
	fs.Var(listFlag{&o.listenTLS}, "listen-tls", "address for implicit FTPS (TLS from the first byte; 990 is the convention), host:port (repeatable); needs --tls-cert")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate (chain) for FTPS: AUTH TLS on every listener, and --listen-tls; reloaded on SIGHUP (make one with ftpd cert)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of --tls-cert (ECDSA P-256 recommended)")
	fs.BoolVar(&o.tlsRequired, "tls-required", false, "refuse USER/PASS without TLS on the control connection (530) and data connections without PROT P (521/534)")
	fs.BoolVar(&o.tlsAnonPlain, "tls-anonymous-plain", false, "with --tls-required: anonymous users may still log in and transfer without TLS")
	reuse := fs.String("tls-session-reuse", "required", "PROT P data connections must resume the control connection's TLS session (required, as vsftpd's require_ssl_reuse) or may not (optional, for clients such as Python's stock ftplib)")
	fs.StringVar(&o.root, "root", "ftproot", "directory to serve (created if missing); nothing outside it is reachable")
	fs.StringVar(&o.storage, "storage", "", "serve files from S3 instead of --root: s3://BUCKET/PREFIX?endpoint=http://HOST:PORT&region=REGION (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; homes and --anonymous-root are prefixes under PREFIX; no APPE or REST+STOR: see README)")
	fs.StringVar(&o.users, "users", "", "users file (name:bcrypt-hash[:home] lines), or a PostgreSQL DSN (postgres://user@host/db: users and bans shared by a fleet of nodes); without it only anonymous read-only access")
	fs.Var(boolSetFlag{&o.anonymous, &o.anonymousSet}, "anonymous", "allow anonymous read-only logins (USER anonymous or ftp) (default true without --users, false with)")
	fs.StringVar(&o.anonymousRoot, "anonymous-root", "", "the only directory anonymous users see, read-only (created if missing) (default ROOT/pub)")
	fs.BoolVar(&o.anonWorldOnly, "anonymous-world-readable-only", true, "anonymous users may download only files readable by everyone (mode o+r), as vsftpd's anon_world_readable_only")
	fs.StringVar(&o.runAs, "run-as", "", "when started as root: bind the listeners (port 21), then drop to this user and its groups before serving")
	ports := fs.String("passive-ports", "", "passive data port range LO-HI, e.g. 50000-50100 (default: 1024 up to the kernel's ephemeral range, which keeps TIME_WAIT out of it)")
	fs.StringVar(&o.publicHost, "public-host", "", "address or host name announced in PASV replies behind NAT (its IPv4 address; a name is resolved at start and on SIGHUP) (default: the address the client connected to)")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", 600*time.Second, "close control connections idle this long (421); 0 disables")
	fs.DurationVar(&o.loginTimeout, "login-timeout", 60*time.Second, "close connections (421) not logged in this long after connecting, whatever they send; 0 disables")
	fs.IntVar(&o.banAfter, "ban-after", ban.DefaultAfter, "ban a client address after this many failed logins within --ban-window (421 at connect, before any password hash); 0 turns bans off. Loopback is not exempt: see --ban-allow")
	fs.DurationVar(&o.banWindow, "ban-window", ban.DefaultWindow, "the span in which --ban-after failed logins ban an address")
	fs.DurationVar(&o.banFor, "ban-for", ban.DefaultFor, "how long a ban lasts")
	fs.DurationVar(&o.fleetLease, "fleet-lease", pgstore.DefaultLease, "with --users postgres://…: how long a node's quota holds and session counts go on counting after its last heartbeat (a dead node's are given back after this long)")
	fs.Var(prefixFlag{&o.banAllow}, "ban-allow", "address or CIDR never banned, e.g. 10.0.0.0/8 or 127.0.0.1 (repeatable; default none)")
	fs.IntVar(&o.hashWorkers, "hash-workers", 0, "password checks (bcrypt) run at once, on their own workers apart from the filesystem's (default: one per CPU; one client address gets at most half of them)")
	fs.DurationVar(&o.dataTimeout, "data-timeout", dtp.DefaultIdleTimeout, "abort a transfer (426) when no data moved for this long; 0 disables")
	derivedMaxConns := defaultMaxConnections(hardFileLimit())
	fs.IntVar(&o.maxConns, "max-connections", derivedMaxConns,
		"maximum simultaneous connections (over it: 421), 0 = no limit; the default is derived from the open-file limit "+
			"(whose soft value is raised to the hard one at start): (limit - 64) / 4, since a session in a transfer holds up to "+
			"4 descriptors (control and data connections, passive listener, file) and the process keeps 64 for itself")
	fs.IntVar(&o.maxConnsPerIP, "max-connections-per-ip", defaultMaxConnectionsPerIP, "maximum simultaneous connections from one IP address (over it: 421), 0 = no limit")
	fs.IntVar(&o.maxPassivePerIP, "max-passive-per-ip", ftp.DefaultMaxPassivePerIP, "maximum passive listeners (PASV/EPSV not yet connected) open at once for one client IP; over it PASV/EPSV get 425; 0 = no limit")
	fs.Var(sizeFlag{v: &o.rateDown, rate: true}, "rate-down", "cap each session's downloads at `RATE` bytes/s (e.g. 2MiB), for users whose line in --users gives none, and anonymous users; 0: no limit (sendfile)")
	fs.Var(sizeFlag{v: &o.rateUp, rate: true}, "rate-up", "cap each session's uploads at `RATE` bytes/s (e.g. 1MiB), likewise; 0: no limit (splice)")
	fs.StringVar(&o.welcome, "welcome", "", "text of the 220 greeting")
	fs.IntVar(&o.loops, "loops", 0, "event loops (default: one per CPU)")
	fs.BoolVar(&o.trimMemory, "trim-memory", true, "when the server goes quiet after a burst (under 256 KiB allocated in 250 ms) and its heap holds 4 MiB and a quarter more than it uses, collect and return the free memory to the system (memtrim: at most 1% of the time)")
	o.gcHeapFloor = gcfloor.DefaultFloor
	fs.Var(sizeFlag{v: &o.gcHeapFloor}, "gc-heap-floor", "no garbage collection while the heap is under what the server allocates in 200 ms, at most `SIZE` (gcfloor; above it GOGC paces as usual): fewer collections for a small heap that churns, as under TLS handshakes; 0: Go's own 4 MiB; off when the GOGC variable is set")
	fs.IntVar(&o.procs, "procs", 0, "Go processors (GOMAXPROCS); 0: twice Go's default, unless the GOMAXPROCS variable is set")
	fs.BoolVar(&o.allowForeign, "allow-foreign-data", false, "allow data connections to/from other hosts than the client's (FXP); off = RFC 2577 bounce protection")
	fs.BoolVar(&o.allowPrivileged, "allow-privileged-ports", false, "allow PORT/EPRT to ports below 1024")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug (also traces every command and reply, never PASS's argument), info, warn, error")
	fs.DurationVar(&o.shutdownGrace, "shutdown-grace", 10*time.Second, "on SIGINT/SIGTERM, how long sessions get to finish before they are closed")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile (go tool pprof) to this file until the server stops")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a memory profile (go tool pprof: allocations since the start, and what is live) to this file when the server stops")
	addObserveFlags(fs, &o.observe)
	fs.StringVar(&o.config, "config", "", `TOML file of settings: every flag is a key of the same name (listen = ["127.0.0.1:21"], idle-timeout = "10m"); flags given too override it`)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *showVersion {
		return o, errVersion
	}
	if o.config != "" {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if err := applyConfig(fs, o.config, set); err != nil {
			return o, err
		}
		vhosts, err := loadVhosts(o.config)
		if err != nil {
			return o, err
		}
		o.vhosts = vhosts
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	// Set on the command line or in the file (which sets flag values
	// directly, unseen by fs.Visit): serve keeps it rather than deriving
	// it again from the limit in force.
	o.maxConnsSet = o.maxConns != derivedMaxConns
	if o.maxConns < 0 || o.maxConnsPerIP < 0 {
		return o, errors.New("--max-connections and --max-connections-per-ip: want 0 (no limit) or more")
	}
	reuseMode, err := ftp.ParseTLSReuse(*reuse)
	if err != nil {
		return o, fmt.Errorf("--tls-session-reuse %q: want required or optional", *reuse)
	}
	o.tlsReuse = reuseMode
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return o, errors.New("--tls-cert and --tls-key go together")
	}
	if o.tlsCert == "" && (len(o.listenTLS) > 0 || o.tlsRequired) {
		return o, errors.New("--listen-tls and --tls-required need --tls-cert and --tls-key")
	}
	if o.root == "" {
		return o, errors.New("--root is empty: give the directory to serve")
	}
	if o.storage != "" {
		if _, err := s3shell.ParseStorageURL(o.storage); err != nil {
			return o, fmt.Errorf("--storage: %w", err)
		}
	}
	if len(o.listen) == 0 {
		o.listen = []string{"127.0.0.1:2121"}
	}
	if *ports != "" {
		lo, hi, err := parsePortRange(*ports)
		if err != nil {
			return o, err
		}
		o.passiveLo, o.passiveHi = lo, hi
	}
	if o.fleetLease <= 0 {
		return o, errors.New("--fleet-lease must be positive")
	}
	if o.banAfter > 0 && (o.banWindow <= 0 || o.banFor <= 0) {
		return o, errors.New("--ban-window and --ban-for must be positive (turn bans off with --ban-after 0)")
	}
	if !o.anonymousSet {
		o.anonymous = o.users == ""
	}
	if o.users == "" && !o.anonymous {
		return o, errors.New("no one could log in: give --users FILE or allow --anonymous")
	}
	return o, nil
}

// prefixFlag collects --ban-allow values: a CIDR, or one address.
type prefixFlag struct{ v *[]netip.Prefix }

func (p prefixFlag) String() string {
	if p.v == nil {
		return ""
	}
	var s []string
	for _, x := range *p.v {
		s = append(s, x.String())
	}
	return strings.Join(s, ",")
}

func (p prefixFlag) values() []string {
	if p.v == nil {
		return nil
	}
	out := make([]string, len(*p.v))
	for i, x := range *p.v {
		out[i] = x.String()
	}
	return out
}

func (p prefixFlag) Set(s string) error {
	pr, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return fmt.Errorf("want an address or a CIDR such as 10.0.0.0/8: %w", err)
		}
		pr = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
	}
	*p.v = append(*p.v, pr.Masked())
	return nil
}

// bans is the ban store the flags ask for: off with --ban-after 0.
func bans(o options) ban.Store {
	if o.banAfter <= 0 {
		return ban.Never{}
	}
	return ban.NewMemory(ban.Config{After: o.banAfter, Window: o.banWindow, For: o.banFor, Allow: o.banAllow})
}

func parsePortRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("--passive-ports %q: want LO-HI with 1 <= LO <= HI <= 65535", s)
	}
	return lo, hi, nil
}

func newLogger(o options, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", o.logLevel, err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", o.logFormat)
}

func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("empty password")
	}
	return pw, nil
}

// passwd implements `ftpd passwd --users FILE NAME`.
func passwd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ftpd passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	users := fs.String("users", "", "users file to create or update (required)")
	cost := fs.Int("cost", 0, "bcrypt cost (default 10)")
	home := fs.String("home", "", `the user's home under --root ("/" for the whole root; default: kept, or ROOT/NAME for a new user)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *users == "" || fs.NArg() != 1 {
		return errors.New("usage: ftpd passwd --users FILE NAME  (password on standard input)")
	}
	if isDatabase(*users) {
		return errors.New("ftpd passwd writes users files; for a database use ftpd user add|set --users DSN")
	}
	pw, err := askPassword(fs.Arg(0), stdin, stderr)
	if err != nil {
		return err
	}
	if err := auth.SetPassword(*users, fs.Arg(0), pw, *cost); err != nil {
		return err
	}
	if *home != "" {
		if err := auth.SetHome(*users, fs.Arg(0), *home); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "ftpd passwd: %s updated in %s; %s\n", fs.Arg(0), *users, sighupReminder)
	return nil
}

// serve runs the server until ctx ends (SIGINT/SIGTERM), then shuts down
// gracefully. SIGHUP reloads the users file.
func serve(ctx context.Context, o options, stdout, stderr io.Writer) error {
	logger, err := newLogger(o, stderr)
	if err != nil {
		return err
	}
	runtime.GOMAXPROCS(procs(o.procs, os.Getenv("GOMAXPROCS") != "", goDefaultProcs))
	if o.gcHeapFloor > 0 && os.Getenv("GOGC") == "" {
		defer gcfloor.Start(gcfloor.Config{Floor: o.gcHeapFloor})()
	}
	fileLimit, err := raiseFileLimit()
	if err != nil {
		logger.Warn("raising the open-file limit", "err", err)
	}
	if !o.maxConnsSet {
		o.maxConns = defaultMaxConnections(fileLimit)
	}
	logger.Info("connection limits", "max_connections", o.maxConns, "max_connections_per_ip", o.maxConnsPerIP,
		"open_file_limit", fileLimit)
	if o.cpuProfile != "" {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if o.memProfile != "" {
		defer writeMemProfile(o.memProfile, logger)
	}
	root, err := filepath.Abs(o.root)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("creating root: %w", err)
	}
	var users *auth.UsersFile
	var authn auth.Authenticator
	banStore := bans(o)
	switch {
	case isDatabase(o.users):
		fleet, err := openFleet(ctx, o, logger)
		if err != nil {
			return err
		}
		defer fleet.close()
		authn = pgstore.FleetUsers{Users: fleet.users, Accounts: fleet.accounts}
		if o.banAfter > 0 {
			banStore = fleet.bans
		}
	case o.users != "":
		if users, err = auth.LoadUsersFile(o.users, auth.Config{}); err != nil {
			return err
		}
		authn = users
	}
	vhosts, vhostUsers, err := virtualHosts(o.vhosts)
	if err != nil {
		return err
	}
	var certs *ftptls.Certs
	var tlsServer *ftptls.Server
	if o.tlsCert != "" {
		if certs, err = ftptls.LoadCerts(o.tlsCert, o.tlsKey); err != nil {
			return err
		}
		tlsServer = ftptls.NewServer(certs)
	}
	var realm shell.Realm
	served := root
	if o.storage != "" {
		st, err := openStorage(o, logger)
		if err != nil {
			return err
		}
		defer st.close()
		realm, served = st.realm, st.desc
	}
	pool := deferred.NewPool(deferred.PoolConfig{})
	defer pool.Close()
	obs, err := newObservability(o.observe, logger)
	if err != nil {
		return err
	}
	defer obs.close(logger) // runs after r.Shutdown below: no more events
	f, err := ftp.NewFactory(ftp.Config{
		Root: root, Realm: realm, Users: authn, AllowAnonymous: o.anonymous, Welcome: o.welcome,
		AnonymousRoot: o.anonymousRoot, AnonymousAnyMode: !o.anonWorldOnly,
		IdleTimeout: idleOrOff(o.idleTimeout), LoginTimeout: idleOrOff(o.loginTimeout), Bans: banStore, HashWorkers: o.hashWorkers,
		MaxConnections: o.maxConns, MaxConnectionsPerIP: o.maxConnsPerIP,
		PublicHost: o.publicHost, Pool: pool, Logger: logger, Events: obs.events(),
		TLS: tlsServer, TLSRequired: o.tlsRequired, TLSAnonymousPlain: o.tlsAnonPlain, TLSReuse: o.tlsReuse,
		MaxPassivePerIP: limitOrOff(o.maxPassivePerIP),
		RateDown:        o.rateDown, RateUp: o.rateUp,
		Data: dtp.Config{PortLow: o.passiveLo, PortHigh: o.passiveHi, IdleTimeout: idleOrOff(o.dataTimeout),
			AllowForeignPeers: o.allowForeign, AllowPrivilegedPorts: o.allowPrivileged},
		VirtualHosts: vhosts,
	})
	if err != nil {
		return err
	}
	// An implicit-FTPS handshake is part of the login: the login timeout
	// bounds it too. ftptls's callbacks never block, so the loops may run
	// handshakes themselves (tlsLoopShare).
	r := reactor.New(reactor.Config{Loops: o.loops, Logger: logger, TLSHandshakeTimeout: max(o.loginTimeout, 0), // 0: the reactor's 30 s
		TLSHandshakeLoopShare: tlsLoopShare})
	for _, a := range o.listen {
		if err := r.Listen(a, f); err != nil {
			return err
		}
	}
	for _, a := range o.listenTLS {
		if err := r.ListenTLS(a, tlsServer.Control(), f); err != nil {
			return err
		}
	}
	if err := r.Start(); err != nil {
		return err
	}
	obs.start(f, pool, r, stdout, logger)
	if o.trimMemory {
		defer memtrim.Start(memtrim.Config{Logger: logger})()
	}
	if o.runAs != "" {
		if err := dropPrivileges(o.runAs); err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = r.Shutdown(ctx)
			return err
		}
		logger.Info("privileges dropped", "user", o.runAs, "uid", os.Getuid(), "gid", os.Getgid())
		if users != nil {
			if f, err := os.Open(o.users); err != nil {
				logger.Warn("the users file is not readable as --run-as: SIGHUP cannot reload it", "err", err)
			} else {
				f.Close()
			}
		}
	}
	access := "anonymous read-only"
	if authn != nil {
		access = "users from " + o.users
		if isDatabase(o.users) {
			access = "users and bans in PostgreSQL" // the DSN may hold a password
		}
		if o.anonymous {
			access += ", and anonymous read-only"
		}
	}
	if tlsServer != nil {
		access += "; FTPS with AUTH TLS"
		if o.tlsRequired {
			access += " (required)"
		}
	}
	for i, a := range r.Addrs() {
		scheme := "ftp"
		if i >= len(o.listen) {
			scheme = "ftps" // implicit TLS
		}
		fmt.Fprintf(stdout, "ftpd: serving %s on %s://%s (%s)\n", served, scheme, a, access)
	}
	if len(vhosts) > 0 {
		fmt.Fprintf(stdout, "ftpd: virtual hosts (HOST): %s\n", vhostNames(o.vhosts))
	}
	first := r.Addrs()[0].(*net.TCPAddr)
	fmt.Fprintf(stdout, "ftpd: try  curl ftp://%s/  or  lftp -p %d %s   (Ctrl-C stops)\n", first, first.Port, first.IP)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for done := false; !done; {
		select {
		case <-hup:
			if o.config != "" {
				reloadConfig(o, f, fileLimit, logger)
			}
			if users != nil {
				if err := users.Reload(); err != nil {
					logger.Error("reloading users file", "err", err)
				} else {
					logger.Info("users file reloaded")
				}
			}
			obs.reopen(logger)
			for _, vu := range vhostUsers {
				if err := vu.file.Reload(); err != nil {
					logger.Error("reloading a virtual host's users file", "vhost", vu.name, "err", err)
				} else {
					logger.Info("virtual host users file reloaded", "vhost", vu.name)
				}
			}
			if o.publicHost != "" {
				if err := f.ResolvePublicHost(); err != nil {
					logger.Error("resolving --public-host (the previous address stays)", "err", err)
				} else {
					logger.Info("public host resolved", "host", o.publicHost)
				}
			}
			if certs != nil {
				if err := certs.Reload(); err != nil {
					logger.Error("reloading the TLS certificate (the previous one stays)", "err", err)
				} else {
					logger.Info("TLS certificate reloaded", "cert", o.tlsCert)
				}
			}
		case <-ctx.Done():
			done = true
		}
	}
	logger.Info("shutting down", "grace", o.shutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownGrace)
	defer cancel()
	if err := r.Shutdown(sctx); err != nil {
		logger.Warn("shutdown forced", "err", err)
	}
	st := f.Stats()
	logger.Info("login counters", "failed logins", st.LoginFailures, "bans", st.Bans, "refused banned", st.BanRefusals,
		"password checks busy", st.HashBusy, "warnings suppressed", st.WarningsSuppressed)
	return nil
}

// limitOrOff maps a flag's "0 = no limit" to a Config's negative.
func limitOrOff(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

func idleOrOff(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// tlsLoopShare is the share of each event loop's time that TLS handshakes
// may take on the loop itself (reactor.Config.TLSHandshakeLoopShare); the
// rest, in a flood, go to the handshake pool. Measured: 5% less CPU per
// TLS login than every handshake on a goroutine (README, "FTPS").
const tlsLoopShare = 0.5

// goDefaultProcs is GOMAXPROCS as the runtime chose it at start (CPUs,
// cgroup quota, or the GOMAXPROCS variable), read once so that serving
// twice in one process (tests) does not double it twice.
var goDefaultProcs = runtime.GOMAXPROCS(0)

// procs chooses GOMAXPROCS: asked for, or what the GOMAXPROCS variable
// set (current), or twice Go's default. Transfers spend their time in
// blocking system calls (sendfile, splice, accept, close) that hold a Go
// processor until the runtime notices; with only one processor per CPU an
// event loop back from epoll_wait then waits for one. Measured on 2 cores
// (ftpbench against ftpd, alternating runs): NOOP p99 under 8 downloads
// 4.95 -> 4.5 ms, 4 KiB downloads 7,200 -> 7,800-8,700/s at 131 -> 113-124
// us of server CPU each, logins unchanged.
func procs(asked int, envSet bool, current int) int {
	switch {
	case asked > 0:
		return asked
	case envSet:
		return current
	}
	return 2 * current
}

// startCPUProfile profiles the whole process until the returned stop.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// writeMemProfile writes the allocation profile (go tool pprof's
// -sample_index=alloc_space shows every allocation since the start,
// inuse_space what is live) once the server has stopped.
func writeMemProfile(path string, logger *slog.Logger) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		logger.Error("--memprofile", "path", path, "err", err)
	}
}

// reloadConfig reads the command line and its --config file again on
// SIGHUP and applies what can change while serving: the connection
// limits. (The users file, the certificate and the public host are
// reloaded by the SIGHUP handler itself.) A setting that needs a restart
// and differs is logged, not applied; a file that does not parse changes
// nothing.
func reloadConfig(old options, f *ftp.Factory, fileLimit uint64, logger *slog.Logger) {
	o, err := parseFlags(old.args, io.Discard)
	if err != nil {
		logger.Error("reloading --config: nothing changed", "config", old.config, "err", err)
		return
	}
	if !o.maxConnsSet {
		o.maxConns = defaultMaxConnections(fileLimit)
	}
	l := ftp.Limits{MaxConnections: o.maxConns, MaxConnectionsPerIP: o.maxConnsPerIP, MaxPassivePerIP: limitOrOff(o.maxPassivePerIP),
		RateDown: o.rateDown, RateUp: o.rateUp}
	if l != f.CurrentLimits() {
		f.SetLimits(l)
		logger.Info("connection limits reloaded", "max_connections", l.MaxConnections,
			"max_connections_per_ip", l.MaxConnectionsPerIP, "max_passive_per_ip", o.maxPassivePerIP,
			"rate_down", l.RateDown, "rate_up", l.RateUp)
	}
	restart := map[string]bool{
		"listen":                                strings.Join(o.listen, ",") != strings.Join(old.listen, ","),
		"listen-tls":                            strings.Join(o.listenTLS, ",") != strings.Join(old.listenTLS, ","),
		"root":                                  o.root != old.root,
		"storage":                               o.storage != old.storage,
		"users":                                 o.users != old.users,
		"tls-cert":                              o.tlsCert != old.tlsCert || o.tlsKey != old.tlsKey,
		"run-as":                                o.runAs != old.runAs,
		"vhost":                                 !slices.Equal(o.vhosts, old.vhosts), // the hosts' users files are reloaded, their tables not
		"metrics-listen, xferlog, on-*, hook-*": o.observe != old.observe,
	}
	for name, changed := range restart {
		if changed {
			logger.Warn("setting changed in --config needs a restart; the running value stays", "setting", name)
		}
	}
}
