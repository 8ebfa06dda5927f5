package local

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// canLinkUnnamed reports whether an O_TMPFILE file can be given a name:
// linkat through /proc/self/fd needs /proc (AT_EMPTY_PATH would need
// CAP_DAC_READ_SEARCH). Without it uploads use hidden named files.
func canLinkUnnamed() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
}

// openUnnamed opens a file without a name in the directory dirfd
// (O_TMPFILE), for writing, mode 0644 less the umask. It fails where the
// filesystem or the kernel has no O_TMPFILE (EOPNOTSUPP, or EISDIR from
// kernels older than 3.11), or when linking is not possible (!canLink).
func openUnnamed(dirfd int, canLink bool) (int, error) {
	if !canLink {
		return -1, unix.EOPNOTSUPP
	}
	return unix.Openat(dirfd, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
}

// linkUnnamed names the O_TMPFILE file fd as name in the directory dirfd.
func linkUnnamed(fd, dirfd int, name string) error {
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dirfd, name, unix.AT_SYMLINK_FOLLOW)
}
