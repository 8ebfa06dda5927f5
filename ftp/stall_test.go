package ftp_test

import (
	"net"
	"net/textproto"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/local"
	"github.com/gnetftp/gnetftp/internal/ftptest"
)

// ctl is a raw control connection for tests that need several at once.
type ctl struct {
	t *testing.T
	c *textproto.Conn
}

func dialCtl(t *testing.T, addr string) *ctl {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second)) // a missing reply fails, never hangs
	c := textproto.NewConn(nc)
	t.Cleanup(func() { c.Close() })
	k := &ctl{t: t, c: c}
	k.expect(220)
	return k
}

// expect reads the next reply and checks its code; it returns the text.
func (k *ctl) expect(code int) string {
	k.t.Helper()
	_, msg, err := k.c.ReadResponse(code)
	require.NoError(k.t, err)
	return msg
}

func (k *ctl) send(line string) {
	k.t.Helper()
	require.NoError(k.t, k.c.PrintfLine("%s", line))
}

func (k *ctl) cmd(line string, code int) string {
	k.t.Helper()
	k.send(line)
	return k.expect(code)
}

// With every worker of the pool stuck (a hung filesystem: NFS gone away,
// a disk that stopped answering), what needs no filesystem call still
// works at once on the event loops: greetings, NOOP, PWD, TYPE, EPSV, and
// logins whose password was verified recently (the bcrypt cache is read on
// the loop). Commands that need the filesystem wait and are answered when
// the workers come back.
func TestStalledFilesystemBlocksNoLoop(t *testing.T) {
	pool := deferred.NewPool(deferred.PoolConfig{Workers: 2})
	t.Cleanup(pool.Close)
	f, _ := ftptest.Factory(t, func(c *ftp.Config) { c.Pool = pool })
	t.Cleanup(f.StopFactory)
	addr := ftptest.Serve(t, f, "127.0.0.1:0").String()

	first := dialCtl(t, addr)
	first.cmd("USER "+ftptest.User, 331)
	first.cmd("PASS "+ftptest.Password, 230) // bcrypt on the pool, then cached

	// Stall every worker.
	release := make(chan struct{})
	var stuck sync.WaitGroup
	for i := 0; i < 2; i++ {
		stuck.Add(1)
		require.NoError(t, pool.Submit(func() { stuck.Done(); <-release }))
	}
	stuck.Wait()
	var once sync.Once
	unstall := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unstall)

	k := dialCtl(t, addr)
	k.cmd("USER "+ftptest.User, 331)
	k.cmd("PASS "+ftptest.Password, 230)
	k.cmd("NOOP", 200)
	assert.Contains(t, k.cmd("PWD", 257), `"/"`)
	k.cmd("TYPE I", 200)
	assert.Contains(t, k.cmd("EPSV", 229), "|||")
	anon := dialCtl(t, addr)
	anon.cmd("USER anonymous", 331)
	anon.cmd("PASS guest@", 230)
	first.cmd("NOOP", 200)

	// A filesystem call now waits for a worker...
	k.send("MKD made-while-stalled")
	wrong := dialCtl(t, addr)
	wrong.cmd("USER "+ftptest.User, 331)
	wrong.send("PASS not-the-password") // needs bcrypt: waits too
	// ...and is answered once the workers are free again.
	unstall()
	assert.Contains(t, k.expect(257), "made-while-stalled")
	wrong.expect(530)
}

// wrappedRealm is a third-party realm in front of the local one: with
// ReadyShell it keeps the event-loop login, without it every login needs
// a pool worker.
type wrappedRealm struct{ inner *local.Realm }

func (w wrappedRealm) Shell(l shell.Login) (shell.Shell, error) { return w.inner.Shell(l) }

type readyWrappedRealm struct{ wrappedRealm }

func (w readyWrappedRealm) ReadyShell(l shell.Login) (shell.Shell, bool) {
	return w.inner.ReadyShell(l)
}

// A custom Realm keeps the event-loop fast path only if it says so
// (shell.ReadyRealm): a repeated login then answers while the pool is
// stalled; with a plain Realm it waits for a worker.
func TestCustomRealmKeepsTheLoopLoginWhenReady(t *testing.T) {
	for _, ready := range []bool{true, false} {
		t.Run(map[bool]string{true: "ReadyRealm", false: "plain Realm"}[ready], func(t *testing.T) {
			pool := deferred.NewPool(deferred.PoolConfig{Workers: 1})
			t.Cleanup(pool.Close)
			f, _ := ftptest.Factory(t, func(c *ftp.Config) {
				inner, err := local.NewRealm(local.RealmConfig{Root: c.Root, AnonymousRoot: c.Root})
				require.NoError(t, err)
				t.Cleanup(func() { inner.Close() })
				c.Pool = pool
				c.Realm = wrappedRealm{inner: inner}
				if ready {
					c.Realm = readyWrappedRealm{wrappedRealm{inner: inner}}
				}
			})
			t.Cleanup(f.StopFactory)
			addr := ftptest.Serve(t, f, "127.0.0.1:0").String()
			first := dialCtl(t, addr)
			first.cmd("USER "+ftptest.User, 331)
			first.cmd("PASS "+ftptest.Password, 230)

			release := make(chan struct{})
			stuck := make(chan struct{})
			require.NoError(t, pool.Submit(func() { close(stuck); <-release }))
			<-stuck
			var once sync.Once
			unstall := func() { once.Do(func() { close(release) }) }
			t.Cleanup(unstall)

			nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
			require.NoError(t, err)
			t.Cleanup(func() { nc.Close() })
			k := &ctl{t: t, c: textproto.NewConn(nc)}
			_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
			k.expect(220)
			k.cmd("USER "+ftptest.User, 331)
			k.send("PASS " + ftptest.Password)
			if ready {
				k.expect(230)
				return
			}
			// No reply while the only worker is stuck (a slow machine
			// cannot make this pass wrongly: it only delays a reply).
			_ = nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			_, _, err = k.c.ReadResponse(230)
			var ne net.Error
			require.ErrorAs(t, err, &ne)
			require.True(t, ne.Timeout(), "the login waits for the pool")
			_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
			unstall()
			k.expect(230)
		})
	}
}
