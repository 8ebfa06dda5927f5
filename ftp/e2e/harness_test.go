// Package e2e_test drives the FTP server over loopback with real clients
// nobody here wrote: a Go FTP client library, Python's ftplib, curl and
// lftp. The server is the same one cmd/ftpd runs: the gnet reactor and
// ftp.NewFactory.
package e2e_test

import (
	"testing"
	"time"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/internal/ftptest"
	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/internal/pgtest"
)

// TestMain stops PostgreSQL and the SeaweedFS that tests may have
// started before it looks for leaked goroutines.
func TestMain(m *testing.M) {
	leaktest.Main(func() int {
		code := pgtest.Main(m.Run)
		weed.Stop()
		return code
	})
}

type server struct {
	addr string
	port int
	root string
	f    *ftp.Factory
}

// startFTPD serves a fresh directory on 127.0.0.1 with anonymous read-only
// access and the user alice (password "secret") writing to the root.
func startFTPD(t *testing.T) *server {
	t.Helper()
	return startFTPDOn(t, "127.0.0.1:0")
}

// startFTPDOn is startFTPD on another listen address (IPv6, say).
func startFTPDOn(t *testing.T, listen string) *server {
	t.Helper()
	return startFTPDWith(t, listen, nil)
}

// noPassiveCap turns off the cap on passive listeners per address, for
// tests of many sessions from one address.
func noPassiveCap(c *ftp.Config) { c.MaxPassivePerIP = -1 }

// startFTPDWith is startFTPDOn with the configuration adjusted by mod.
func startFTPDWith(t *testing.T, listen string, mod func(*ftp.Config)) *server {
	t.Helper()
	f, root := ftptest.Factory(t, func(c *ftp.Config) {
		c.FailedLoginDelay = 20 * time.Millisecond
		if mod != nil {
			mod(c)
		}
	})
	a := ftptest.Serve(t, f, listen)
	return &server{addr: a.String(), port: a.Port, root: root, f: f}
}
