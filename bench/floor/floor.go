// Package floor is the system-call floor of the FTP benchmarks. It is NOT an
// FTP server: it answers exactly the dialogues ftpbench's logins, small
// (4 KiB EPSV+RETR), retr and list scenarios send, with fixed replies, and
// anything else with a fixed 500. What it costs per operation is what the
// kernel's part of that dialogue costs (plus a Go program's bare minimum),
// the floor any real server's figure is divided by in the same run.
//
// Its shape is the cheapest one Linux offers a user-space server: one raw
// epoll loop per core on a locked OS thread, each with its own SO_REUSEPORT
// listener (the kernel spreads the connections), level-triggered, every
// socket non-blocking and accepted with accept4, one read per readiness,
// one write per reply, and no allocation per operation (sessions, input
// buffers and listing buffers are kept and reused; the system calls are made
// with RawSyscall on preallocated arguments, not through the net package or
// the Go netpoller).
//
// The dialogues, and the system calls each one needs:
//
//   - login: accept4, epoll_ctl (add), write 220; read USER, write 331; read
//     PASS, compare with the precomputed line, write 230; read QUIT, write
//     221, close.
//   - 4 KiB download (after the login and TYPE I): read EPSV, socket,
//     setsockopt SO_REUSEADDR, bind (the control listener's address, the
//     loop's next passive port, below the ephemeral range as ftpd's
//     default), listen, write 229; read RETR, accept4 on the passive
//     socket (the client connects before it sends RETR; if it has not
//     arrived yet, epoll waits for it), close the passive socket, sendfile
//     of the file opened once at start, close the data connection, one
//     write of "150 ...\r\n226 ...\r\n".
//   - 1 GiB download: the same dialogue, sendfile until the socket is full,
//     then epoll (EPOLLOUT) until it has room again: the bulk floor seen by
//     the same client as the servers (ftpbench loopback is a copy inside
//     one Go process).
//   - LIST: as RETR, but openat of the directory, getdents64 until the end,
//     one fstatat per entry, each formatted as an ls -l line into a reused
//     buffer, written on the data connection (epoll waits when the socket is
//     full), close; with Config.ListThreads > 1 the stats and the formatting
//     are split over that many threads (the "parallel floor").
//
// The floor keeps no cache: every LIST is as cold as the first LIST of a
// fresh server process (ftpbench's "first of the run"): the kernel's dentry
// and inode caches are warm, nothing in user space is. The 150 and the 226
// go out together once the data is sent, the fewest writes the protocol
// allows. The data connection must come from the control connection's peer
// address (accept4 gives it for free); others are closed.
//
// IPv4 only; no timeouts (ftpd runs with --idle-timeout 0 in the same
// matrix); no path other than Config.Files for RETR and directories below
// Config.Root without ".." for LIST.
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

// Greeting is the floor's 220: it says what the process is.
const Greeting = "220 floor: not an FTP server, the syscall floor of the benchmarks.\r\n"

// Config says what the floor answers. Zero values take the defaults noted.
type Config struct {
	// Addr is the IPv4 host:port to listen on (port 0: the kernel's
	// choice, the same port for every loop).
	Addr string
	// Loops is the number of epoll loops (and listeners). Default
	// runtime.NumCPU().
	Loops int
	// User and Pass are the one login accepted.
	User, Pass string
	// Root holds Files and the directories LIST is asked for.
	Root string
	// Files are the RETR arguments served (relative to Root), each opened
	// once at Start (the 4 KiB file of the small scenario; the 1 GiB one
	// of retr, the bulk floor seen by the same client as the servers);
	// anything else is 550.
	Files []string
	// ListThreads > 1 splits each LIST's fstatat calls and formatting over
	// that many threads per loop; 0 or 1 lists on the loop's own thread.
	ListThreads int
	// PassiveLo and PassiveHi are the passive ports, shared out among
	// the loops. Default (both 0): 1024 up to the kernel's ephemeral range,
	// as ftpd's default.
	PassiveLo, PassiveHi int
}

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
