//go:build linux && amd64

package floor

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Server is a running floor. Close stops it.
type Server struct {
	cfg   Config
	port  int
	loops []*loop
	wg    sync.WaitGroup
	files []served
	root  int // O_PATH directory fd of Root
	once  sync.Once
}

// Start opens the file, the listeners and the loops, each loop on a
// goroutine locked to its OS thread.
func Start(cfg Config) (*Server, error) {
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.NumCPU()
	}
	if cfg.ListThreads < 1 {
		cfg.ListThreads = 1
	}
	if cfg.Root == "" {
		cfg.Root = "."
	}
	if cfg.PassiveLo == 0 && cfg.PassiveHi == 0 {
		cfg.PassiveLo, cfg.PassiveHi = 1024, ephemeralLow()-1
	}
	if cfg.PassiveLo < 1 || cfg.PassiveHi > 65535 || cfg.PassiveHi-cfg.PassiveLo+1 < cfg.Loops {
		return nil, fmt.Errorf("floor: passive ports %d-%d: want 1 <= lo, hi <= 65535 and a port per loop at least", cfg.PassiveLo, cfg.PassiveHi)
	}
	ap, err := netip.ParseAddrPort(cfg.Addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("floor: Addr %q: want an IPv4 host:port", cfg.Addr)
	}
	s := &Server{cfg: cfg, root: -1}
	fail := func(err error) (*Server, error) {
		s.closeFiles()
		return nil, err
	}
	if s.root, err = unix.Open(cfg.Root, unix.O_DIRECTORY|unix.O_PATH|unix.O_CLOEXEC, 0); err != nil {
		return fail(fmt.Errorf("floor: root %s: %w", cfg.Root, err))
	}
	for _, name := range cfg.Files {
		p := filepath.Join(cfg.Root, name)
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail(fmt.Errorf("floor: file %s: %w", p, err))
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			_ = unix.Close(fd)
			return fail(fmt.Errorf("floor: file %s: %w", p, err))
		}
		s.files = append(s.files, served{name: []byte(name), fd: fd, size: st.Size,
			reply: []byte("150 Sending " + strconv.FormatInt(st.Size, 10) + " bytes.\r\n226 Transfer complete.\r\n")})
	}
	ip := ap.Addr().As4()
	port := int(ap.Port())
	replies := newReplies(cfg)
	for i := 0; i < cfg.Loops; i++ {
		l, err := newLoop(s, i, ip, port, replies)
		if err != nil {
			for _, l := range s.loops {
				l.closeAll()
				l.closeWake()
			}
			return fail(err)
		}
		port = l.port
		s.loops = append(s.loops, l)
	}
	s.port = port
	for _, l := range s.loops {
		l.startWorkers(&s.wg)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			l.run()
		}()
	}
	return s, nil
}

// Addr is the listening host:port. Any goroutine.
func (s *Server) Addr() string {
	ap := netip.MustParseAddrPort(s.cfg.Addr)
	return netip.AddrPortFrom(ap.Addr(), uint16(s.port)).String()
}

// Port is the listening port. Any goroutine.
func (s *Server) Port() int { return s.port }

// Close wakes every loop, waits for them and their list threads to end,
// and closes every descriptor the floor opened. Any goroutine; idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		for _, l := range s.loops {
			l.wake()
		}
		s.wg.Wait()
		for _, l := range s.loops {
			l.closeWake()
		}
		s.closeFiles()
	})
	return nil
}

// ephemeralLow is the start of the kernel's ephemeral port range (32768
// when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	lo, err := strconv.Atoi(strings.Fields(string(b) + " x")[0])
	if err != nil || lo <= 1024 {
		return 32768
	}
	return lo
}

func (s *Server) closeFiles() {
	for _, f := range s.files {
		_ = unix.Close(f.fd)
	}
	if s.root >= 0 {
		_ = unix.Close(s.root)
	}
	s.files, s.root = nil, -1
}

// served is a file RETR serves: opened once, its 150+226 built once.
type served struct {
	name  []byte
	fd    int
	size  int64
	reply []byte
}

// replies are the fixed answers, built once at Start.
type replies struct {
	greeting, user, loggedIn, badPass, typeOK, quit, unknown, notLoggedIn []byte
	noFile, noPasv, noDir, aborted, listOK, epsvHead, epsvTail            []byte
	passLine                                                              []byte // "PASS <pass>", the precomputed answer compared
	userLine                                                              []byte // "USER <user>"
}

func newReplies(cfg Config) *replies {
	return &replies{
		greeting:    []byte(Greeting),
		user:        []byte("331 Password.\r\n"),
		loggedIn:    []byte("230 Logged in.\r\n"),
		badPass:     []byte("530 Login incorrect.\r\n"),
		typeOK:      []byte("200 Type set.\r\n"),
		quit:        []byte("221 Bye.\r\n"),
		unknown:     []byte("500 Not understood (this is the floor, not an FTP server).\r\n"),
		notLoggedIn: []byte("530 Log in first.\r\n"),
		noFile:      []byte("550 No such file.\r\n"),
		noPasv:      []byte("425 EPSV first.\r\n"),
		noDir:       []byte("550 No such directory.\r\n"),
		aborted:     []byte("426 Transfer aborted.\r\n"),
		listOK:      []byte("150 Listing.\r\n226 Transfer complete.\r\n"),
		epsvHead:    []byte("229 Entering Extended Passive Mode (|||"),
		epsvTail:    []byte("|)\r\n"),
		passLine:    []byte("PASS " + cfg.Pass),
		userLine:    []byte("USER " + cfg.User),
	}
}
