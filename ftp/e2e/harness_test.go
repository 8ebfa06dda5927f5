// Package e2e_test drives the FTP server over loopback with real clients
// nobody here wrote: a Go FTP client library, Python's ftplib, curl and
// lftp. The server is the same one cmd/ftpd runs: the gnet reactor and
// ftp.NewFactory.
package e2e_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/reactor"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

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
	root := t.TempDir()
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, auth.SetPassword(users, "alice", "secret", bcrypt.MinCost))
	uf, err := auth.LoadUsersFile(users, auth.Config{})
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("FTP_E2E_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	pool := reactor.NewPool(reactor.PoolConfig{})
	f, err := ftp.NewFactory(ftp.Config{
		Root: root, Users: uf, AllowAnonymous: true, Pool: pool, Logger: logger,
		FailedLoginDelay: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	r := reactor.New(reactor.Config{Logger: logger})
	require.NoError(t, r.Listen(listen, f))
	require.NoError(t, r.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
		pool.Close()
	})
	a := r.Addrs()[0].(*net.TCPAddr)
	return &server{addr: a.String(), port: a.Port, root: root, f: f}
}
