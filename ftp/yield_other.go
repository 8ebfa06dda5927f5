//go:build !linux

package ftp

// yieldToPeer does nothing outside Linux (see yield_linux.go).
func yieldToPeer() {}
