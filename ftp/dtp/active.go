package dtp

import (
	"context"
	"fmt"
	"net"

	"github.com/gnetftp/gnetftp/ftp/ftpwire"
)

// Dial opens an active data connection (PORT/EPRT) to target, after
// CheckActive. The local address is left to the kernel: the server does
// not run as root, so it cannot bind port 20 as RFC 959 suggests, and no
// client depends on that. It gives up after Config.DialTimeout or when
// ctx ends.
func Dial(ctx context.Context, cfg Config, ctrlPeer net.IP, target *net.TCPAddr) (*net.TCPConn, error) {
	cfg = cfg.WithDefaults()
	if err := CheckActive(cfg, ctrlPeer, target); err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: max(cfg.DialTimeout, 0), KeepAlive: -1} // one transfer: no keep-alive (see listenTCP)
	c, err := d.DialContext(ctx, "tcp", target.String())
	if err != nil {
		return nil, fmt.Errorf("dtp: active connection to %s: %w", target, err)
	}
	return c.(*net.TCPConn), nil
}

// CheckActive applies the PORT/EPRT rules of RFC 2577 without dialling:
// the target must be the control connection's peer (ErrForeignAddress)
// and its port at least 1024 (ErrPrivilegedPort), unless the Config allows
// it. IPv4-mapped IPv6 addresses compare equal to their IPv4 form. The
// errors are the bare sentinels: the PI quotes them in its 500 reply.
func CheckActive(cfg Config, ctrlPeer net.IP, target *net.TCPAddr) error {
	if target == nil {
		return ftpwire.ErrSyntax
	}
	if !cfg.AllowForeignPeers && !target.IP.Equal(ctrlPeer) {
		return ErrForeignAddress
	}
	if !cfg.AllowPrivilegedPorts && target.Port < 1024 {
		return ErrPrivilegedPort
	}
	return nil
}
