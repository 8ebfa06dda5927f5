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
