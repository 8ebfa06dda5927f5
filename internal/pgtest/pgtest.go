// Package pgtest runs a throwaway PostgreSQL cluster for a test binary:
// Debian's server binaries, initdb and pg_ctl run as the OS user postgres
// (both refuse root) through runuser, the data in a temporary directory,
// listening on 127.0.0.1 only, durability off. One cluster serves the
// whole binary (Main); each test gets a database of its own (DSN).
//
// Outside CI a machine without PostgreSQL (or not root, which runuser
// needs) skips the tests that ask for it; with CI set they fail: `make
// test` installs the server.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// cluster is the binary's running server.
type cluster struct {
	bin, dir string
	port     int
	err      error // why there is none
}

var (
	once    sync.Once
	current *cluster
	dbSeq   atomic.Int64
)

// Main runs the tests of a binary that uses DSN, then stops the cluster
// if one was started (only the server it started, through pg_ctl on its
// own data directory). Call it from TestMain, wrapping the usual run:
//
//	func TestMain(m *testing.M) { pgtest.Main(func() int { return m.Run() }) }
func Main(run func() int) int {
	code := run()
	if current != nil && current.err == nil {
		current.stop()
	}
	return code
}

// DSN returns the address of a new, empty database on the binary's
// cluster (started on first use), dropped at the test's end.
func DSN(t testing.TB) string {
	t.Helper()
	once.Do(func() { current = start() })
	if current.err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL: %v (make test installs it; run as root)", current.err)
		}
		t.Skipf("PostgreSQL not available: %v", current.err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, current.dsn("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, current.dsn("postgres")); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(ctx)
		}
	})
	return current.dsn(name)
}

// Stop stops the cluster (a test of what a node does while the database
// is down) and Restart starts it again on the same port and data. The
// stop is "fast" (clients cut, data flushed), not "immediate": with
// synchronous_commit off an immediate stop loses the last commits, a
// test's schema among them.
func Stop(t testing.TB) {
	t.Helper()
	if err := current.pgctl("stop", "-m", "fast"); err != nil {
		t.Fatalf("pgtest: stop: %v", err)
	}
}

// Restart starts the cluster Stop stopped.
func Restart(t testing.TB) {
	t.Helper()
	if err := current.startServer(); err != nil {
		t.Fatalf("pgtest: restart: %v", err)
	}
}

func (c *cluster) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// start makes and starts a cluster, or says why it cannot.
func start() *cluster {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if len(bins) == 0 {
		return &cluster{err: fmt.Errorf("no /usr/lib/postgresql/*/bin (apt-get install postgresql)")}
	}
	sort.Slice(bins, func(i, j int) bool { return versionOf(bins[i]) < versionOf(bins[j]) })
	if os.Geteuid() != 0 {
		return &cluster{err: fmt.Errorf("not root: initdb must run as the postgres user through runuser")}
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		return &cluster{err: err}
	}
	dir, err := os.MkdirTemp("", "pgt") // short: the socket path is limited to 107 bytes
	if err != nil {
		return &cluster{err: err}
	}
	c := &cluster{bin: bins[len(bins)-1], dir: dir}
	if out, err := exec.Command("chown", "postgres:postgres", dir).CombinedOutput(); err != nil {
		c.err = fmt.Errorf("chown %s: %v: %s", dir, err, out)
		return c
	}
	if out, err := c.asPostgres("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C.UTF-8", "--no-sync", "--no-instructions").CombinedOutput(); err != nil {
		c.err = fmt.Errorf("initdb: %v: %s", err, out)
		return c
	}
	if c.port, err = freePort(); err != nil {
		c.err = err
		return c
	}
	if err := c.startServer(); err != nil {
		c.err = err
	}
	return c
}

func versionOf(binDir string) int {
	var v int
	fmt.Sscanf(filepath.Base(filepath.Dir(binDir)), "%d", &v)
	return v
}

func (c *cluster) asPostgres(tool string, args ...string) *exec.Cmd {
	return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(c.bin, tool)}, args...)...)
}

func (c *cluster) startServer() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "+
		"-c full_page_writes=off -c max_connections=300", c.port, c.dir)
	return c.pgctl("start", "-l", filepath.Join(c.dir, "log"), "-t", "60", "-o", opts)
}

func (c *cluster) pgctl(action string, args ...string) error {
	cmd := c.asPostgres("pg_ctl", append([]string{"-D", filepath.Join(c.dir, "data"), "-w"}, append(args, action)...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("pg_ctl %s: %v: %s\n%s", action, err, strings.TrimSpace(string(out)), tail(string(log), 2000))
	}
	return nil
}

func (c *cluster) stop() {
	_ = c.pgctl("stop", "-m", "immediate")
	_ = os.RemoveAll(c.dir)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
