//go:build unix && !linux

package dtp

import "syscall"

// acceptQueued takes the next connection waiting on the non-blocking
// listener fd (EAGAIN when none is). Without accept4 the descriptor is
// close-on-exec a moment after the accept; Drain closes it at once anyway.
func acceptQueued(fd int) (int, error) {
	nfd, _, err := syscall.Accept(fd)
	if err == nil {
		syscall.CloseOnExec(nfd)
	}
	return nfd, err
}
