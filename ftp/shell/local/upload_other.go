//go:build !linux

package local

import "golang.org/x/sys/unix"

// canLinkUnnamed: there is no O_TMPFILE outside Linux.
func canLinkUnnamed() bool { return false }

// openUnnamed always fails: uploads use hidden named files.
func openUnnamed(int, bool) (int, error) { return -1, unix.EOPNOTSUPP }

// linkUnnamed is never reached outside Linux.
func linkUnnamed(int, int, string) error { return unix.EOPNOTSUPP }
