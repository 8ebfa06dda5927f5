// Package ftptest starts this project's FTP server for tests: one place
// for the root, the test user, the pool and the reactor that the protocol
// tests, the end-to-end tests and the load-generator tests share.
package ftptest

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

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/reactor"
)

// User and Password are the named account every test server has.
const (
	User     = "alice"
	Password = "secret"
)

// Logger is quiet unless FTP_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("FTP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Factory builds an FTP factory on a fresh root: anonymous read-only
// access to the root itself, User/Password writing to the whole root
// (home "/"; bcrypt at its minimum cost), a worker pool closed at cleanup.
// (The server's defaults confine each to a directory of its own; these
// fixtures opt out explicitly, as an operator would.) mod may adjust the
// Config first.
func Factory(t testing.TB, mod func(*ftp.Config)) (*ftp.Factory, string) {
	t.Helper()
	root := t.TempDir()
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, auth.SetPassword(users, User, Password, bcrypt.MinCost))
	require.NoError(t, auth.SetHome(users, User, "/"))
	uf, err := auth.LoadUsersFile(users, auth.Config{})
	require.NoError(t, err)
	pool := deferred.NewPool(deferred.PoolConfig{})
	t.Cleanup(pool.Close)
	cfg := ftp.Config{Root: root, Users: uf, AllowAnonymous: true, AnonymousRoot: root, AnonymousAnyMode: true, Pool: pool, Logger: Logger()}
	if mod != nil {
		mod(&cfg)
		if cfg.Root != root && cfg.AnonymousRoot == root {
			cfg.AnonymousRoot = cfg.Root // the anonymous view follows a root mod replaced
		}
	}
	f, err := ftp.NewFactory(cfg)
	require.NoError(t, err)
	return f, cfg.Root
}

// Serve runs f on a gnet reactor listening on listen ("127.0.0.1:0") and
// returns the bound address; the reactor shuts down at cleanup (before
// the pool closes: cleanups run last-registered first).
func Serve(t testing.TB, f protocol.Factory, listen string) *net.TCPAddr {
	t.Helper()
	r := reactor.New(reactor.Config{Logger: Logger()})
	require.NoError(t, r.Listen(listen, f))
	require.NoError(t, r.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	})
	return r.Addrs()[0].(*net.TCPAddr)
}
