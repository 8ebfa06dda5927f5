//go:build !(linux && amd64)

package floor

import (
	"errors"
	"runtime"
)

// Server stands in for the floor where it cannot run: its raw system calls
// (accept4, newfstatat, getdents64 through RawSyscall) and its struct
// layouts are those of linux/amd64, the machine the benchmarks run on.
type Server struct{}

// Start reports that the floor does not run on this platform.
func Start(Config) (*Server, error) {
	return nil, errors.New("floor: runs on linux/amd64 only, not " + runtime.GOOS + "/" + runtime.GOARCH)
}

// Addr is empty: no floor runs here.
func (s *Server) Addr() string { return "" }

// Port is 0: no floor runs here.
func (s *Server) Port() int { return 0 }

// Close does nothing: no floor runs here.
func (s *Server) Close() error { return nil }
