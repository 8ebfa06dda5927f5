//go:build linux && amd64

package floor

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The floor's system calls, made with RawSyscall on arguments that live in
// the loop's or the session's memory: no Sockaddr interface to allocate, no
// string to copy into a NUL-terminated buffer, and no hand-off to the Go
// scheduler (none of them blocks: every socket is non-blocking and the
// files are on a local filesystem). Only epoll_wait, which does block, goes
// through the scheduler (unix.EpollWait).

func sysRead(fd int, p []byte) (int, unix.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), e
}

func sysWrite(fd int, p []byte) (int, unix.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), e
}

func sysClose(fd int) { _, _, _ = unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0) }

// sysAccept4 accepts a non-blocking, close-on-exec connection and leaves
// the peer's address in sa.
func sysAccept4(fd int, sa *unix.RawSockaddrAny, salen *uint32) (int, unix.Errno) {
	*salen = unix.SizeofSockaddrAny
	n, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(sa)), uintptr(unsafe.Pointer(salen)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	return int(n), e
}

func sysSocket() (int, unix.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	return int(n), e
}

// sysReuseAddr sets SO_REUSEADDR (one points to a 1).
func sysReuseAddr(fd int, one *int32) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, uintptr(unsafe.Pointer(one)), 4, 0)
	return e
}

func sysBind(fd int, sa *unix.RawSockaddrInet4) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(sa)), unix.SizeofSockaddrInet4)
	return e
}

func sysListen(fd, backlog int) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_LISTEN, uintptr(fd), uintptr(backlog), 0)
	return e
}

func sysGetsockname(fd int, sa *unix.RawSockaddrAny, salen *uint32) unix.Errno {
	*salen = unix.SizeofSockaddrAny
	_, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(sa)), uintptr(unsafe.Pointer(salen)))
	return e
}

func sysSendfile(out, in int, off *int64, count int64) (int, unix.Errno) {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDFILE, uintptr(out), uintptr(in), uintptr(unsafe.Pointer(off)), uintptr(count), 0, 0)
	return int(n), e
}

// sysOpenDir opens the NUL-terminated path under dirfd as a directory.
func sysOpenDir(dirfd int, path []byte) (int, unix.Errno) {
	n, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(&path[0])),
		unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
	return int(n), e
}

func sysGetdents(fd int, p []byte) (int, unix.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_GETDENTS64, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), e
}

// sysFstatat stats the NUL-terminated name starting at name under dirfd
// (following a symlink, as a LIST shows what it leads to).
func sysFstatat(dirfd int, name *byte, st *unix.Stat_t) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_NEWFSTATAT, uintptr(dirfd), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(st)), 0, 0, 0)
	return e
}

func sysEpollCtl(ep, op, fd int, ev *unix.EpollEvent) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(ep), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return e
}

// port4 reads the port of an AF_INET address (network byte order).
func port4(sa *unix.RawSockaddrAny) int {
	p := (*[2]byte)(unsafe.Pointer(&(*unix.RawSockaddrInet4)(unsafe.Pointer(sa)).Port))
	return int(p[0])<<8 | int(p[1])
}

// addr4 reads the address of an AF_INET address.
func addr4(sa *unix.RawSockaddrAny) [4]byte {
	return (*unix.RawSockaddrInet4)(unsafe.Pointer(sa)).Addr
}
