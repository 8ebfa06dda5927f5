//go:build linux

package dtp

import "syscall"

// acceptQueued takes the next connection waiting on the non-blocking
// listener fd (EAGAIN when none is), close-on-exec from the start.
func acceptQueued(fd int) (int, error) {
	nfd, _, err := syscall.Accept4(fd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
	return nfd, err
}
