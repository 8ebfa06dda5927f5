package main

import (
	"fmt"
	"syscall"
)

// defaultMaxConnectionsPerIP is --max-connections-per-ip's default, as
// SFTPGo's max_per_host_connections: enough for a client that opens a few
// parallel transfers (lftp's mirror uses up to 10), few enough that one
// address cannot take the server's share of descriptors.
const defaultMaxConnectionsPerIP = 20

// Descriptors the process keeps for itself, outside sessions: standard
// streams, epoll and eventfd per event loop, the listeners and their
// reserved descriptors, the users file, the inotify of the listing cache,
// log files, the Go runtime's own (netpoller, cgroup files). Measured:
// 18 open at start with 2 loops.
const reservedDescriptors = 64

// descriptorsPerSession is what a session holds at most during a
// transfer: its control connection, a passive listener, the data
// connection and the file.
const descriptorsPerSession = 4

// maxFileLimit caps a limit reported as unlimited (RLIM_INFINITY on some
// systems) before it is divided up.
const maxFileLimit = 1 << 24

// defaultMaxConnections is --max-connections' default for an open-file
// limit: every session can be in a transfer at once and the process still
// never runs out of descriptors (it would shed new connections if it
// did; a clean 421 is better).
func defaultMaxConnections(fileLimit uint64) int {
	fileLimit = min(fileLimit, maxFileLimit)
	if fileLimit <= reservedDescriptors+descriptorsPerSession {
		return 1
	}
	return int((fileLimit - reservedDescriptors) / descriptorsPerSession)
}

// hardFileLimit is RLIMIT_NOFILE's hard value (the soft one is raised to
// it at start), or 1024 when it cannot be read.
func hardFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return uint64(rl.Max)
}

// raiseFileLimit raises RLIMIT_NOFILE's soft value to the hard one (Go
// does so at start on Linux; this makes it explicit and portable) and
// returns the soft value in force.
func raiseFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024, fmt.Errorf("getrlimit: %w", err)
	}
	if rl.Cur < rl.Max {
		want := rl
		want.Cur = want.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return uint64(rl.Cur), fmt.Errorf("setrlimit %d: %w", want.Cur, err)
		}
		rl = want
	}
	return uint64(rl.Cur), nil
}
