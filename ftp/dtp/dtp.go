// Package dtp is the FTP data transfer process: passive listeners from a
// port range, active connections with bounce protection (RFC 2577), the
// PORT/EPRT/PASV/EPSV argument formats, and the transfers themselves.
//
// Data connections use Go's net package, not the event loop: gnet has no
// sendfile, no splice and no write backpressure, while io.Copy from an
// *os.File to a *net.TCPConn is sendfile(2) and the reverse is splice(2).
// Everything here that blocks (Accept, Dial, Send, Receive) is meant to run
// on a transfer goroutine; the protocol interpreter (PI) learns the result
// and maps errors to replies with errors.Is.
package dtp

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Errors of the data channel; the PI maps them to replies.
var (
	// ErrForeignAddress: PORT/EPRT to another host than the client (RFC 2577).
	ErrForeignAddress = errors.New("dtp: data connection to a third host refused")
	// ErrPrivilegedPort: PORT/EPRT to a port below 1024 (RFC 2577).
	ErrPrivilegedPort = errors.New("dtp: data connection to a privileged port refused")
	// ErrNoPort: every port of the passive range is busy (425).
	ErrNoPort = errors.New("dtp: no passive port available")
	// ErrBadRange: the configured passive port range is not 0,0 and not
	// 1 <= low <= high <= 65535.
	ErrBadRange = errors.New("dtp: invalid passive port range")
	// ErrAcceptTimeout: no acceptable client connected to a passive
	// listener within Config.AcceptTimeout (425). The error also matches
	// os.ErrDeadlineExceeded and is a net.Error with Timeout() true.
	ErrAcceptTimeout = errors.New("dtp: timed out waiting for the data connection")
	// ErrPeerClosed: the client closed or reset the data connection
	// mid-transfer, or the network failed (426).
	ErrPeerClosed = errors.New("dtp: data connection closed by the client")
	// ErrLocalIO: reading the source or writing the destination failed
	// (451, or 452/552 when the wrapped error is ENOSPC/EDQUOT, which
	// errors.Is still finds).
	ErrLocalIO = errors.New("dtp: local I/O error")
)

// Config holds the data channel settings. The zero value is usable;
// durations: 0 means the default, a negative value means no limit.
type Config struct {
	// PortLow and PortHigh bound the passive ports; 0,0 lets the kernel
	// choose. They are read by the server when it builds its Ports.
	PortLow, PortHigh int
	// AcceptTimeout bounds the wait for a passive connection; default
	// 30 s, negative: until the transfer is aborted.
	AcceptTimeout time.Duration
	// DialTimeout bounds an active connection; default 10 s, negative:
	// the kernel's own connect timeout.
	DialTimeout time.Duration
	// IdleTimeout aborts a transfer during which no data moved for this
	// long (a client that stopped reading or sending would otherwise hold
	// the connection and its file for as long as the control connection
	// lives); default 300 s as in vsftpd and pyftpdlib, negative: never.
	IdleTimeout time.Duration
	// AllowForeignPeers allows data connections to and from other hosts
	// than the control connection's peer (FXP). Off: RFC 2577.
	AllowForeignPeers bool
	// AllowPrivilegedPorts allows PORT/EPRT to ports below 1024.
	AllowPrivilegedPorts bool
	// OnForeignPeer, when set, is called (on the accepting goroutine) for
	// every connection a passive listener closed because it came from
	// another host than the client, so the PI can log it. dtp logs nothing.
	OnForeignPeer func(remote *net.TCPAddr)
}

// Defaults of Config.
const (
	DefaultAcceptTimeout = 30 * time.Second
	DefaultDialTimeout   = 10 * time.Second
	DefaultIdleTimeout   = 300 * time.Second
)

// WithDefaults returns c with defaults applied.
func (c Config) WithDefaults() Config {
	if c.AcceptTimeout == 0 {
		c.AcceptTimeout = DefaultAcceptTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c
}

// DefaultPassiveRange is the passive range used when none is configured:
// the ports below the kernel's ephemeral range (1024 up to the start of
// net.ipv4.ip_local_port_range). Binding port 0 for every PASV puts every
// data connection's TIME_WAIT (the server closes first at the end of a
// download) into the ephemeral range, and with thousands of small
// transfers a second every later bind and every connect() on the host
// gets slower (measured: small transfers/s fell 1,900 -> 300 over three
// 5 s runs). It returns 0, 0 (ephemeral ports) if that range is too small.
func DefaultPassiveRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 0, 0
	}
	start, err := strconv.Atoi(f[0])
	if err != nil || start-1 < 2048 {
		return 0, 0
	}
	return 1024, start - 1
}

// unmap returns the 4-byte form of an IPv4 or IPv4-mapped IPv6 address,
// ip itself otherwise.
func unmap(ip net.IP) net.IP {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip
}
