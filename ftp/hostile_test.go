package ftp_test

// What a hostile client, not logged in, must not be able to do: hold a
// connection for ever, guess passwords without end or at the expense of
// logged-in users, make holes with REST, or flood the log.

import (
	"errors"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/clock"
	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/ban"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/local"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

const (
	loginTimedOut  = "421 Login timeout: closing control connection."
	idleTimedOut   = "421 Timeout: closing control connection."
	badLogin       = "530 Sorry, Authentication failed."
	bannedReply    = "421 Too many failed logins from your address, try again later."
	greeting       = "220 gnetftp FTP server ready."
	needPassword   = "331 Password required for alice."
	loggedInReply  = "230 User logged in, proceed"
	pleaseLogin    = "530 Please login with USER and PASS."
	busyReply      = "421 Server busy, try again later."
	commandOKReply = "200 Command OK"
)

// connectFrom is connectPI for a client at ip.
func connectFrom(t *testing.T, f *ftp.Factory, root, ip string) *pi {
	tr := prototest.NewTransport()
	tr.Remote = &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}
	p := f.BuildProtocol(tr.Remote)
	prototest.Connect(p, tr)
	h := &pi{t: t, tr: tr, p: p, f: f, root: root}
	t.Cleanup(func() {
		if !tr.Lost {
			p.ConnectionLost(nil)
		}
	})
	return h
}

// drop ends h's connection as the reactor would.
func (h *pi) drop() {
	if !h.tr.Lost {
		h.p.ConnectionLost(nil)
	}
	h.tr.Lost = true
}

func TestLoginTimeoutClosesWhateverTheClientSends(t *testing.T) {
	for name, send := range map[string]func(h *pi, i int){
		"NOOPs":          func(h *pi, _ int) { assert.Equal(h.t, pleaseLogin, h.cmd("NOOP")) },
		"a partial line": func(h *pi, _ int) { h.p.DataReceived([]byte("U")) },
		"garbage":        func(h *pi, _ int) { h.send("\x01\x02 garbage"); h.next() },
		"USER only":      func(h *pi, i int) { assert.Equal(h.t, needPassword, h.cmd("USER alice")) },
		"wrong passwords": func(h *pi, i int) {
			if i%2 == 0 {
				h.cmd("USER alice")
				return
			}
			h.send("PASS wrong" + strconv.Itoa(i))
			waitDelayArmed(h.t, h)
			h.tr.FakeLoop.Advance(time.Second) // the failed-login delay
			assert.Equal(h.t, badLogin, h.next())
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newPI(t, func(c *ftp.Config) {
				c.LoginTimeout = time.Minute
				c.IdleTimeout = 10 * time.Minute
				c.MaxLoginFailures = 100
			})
			require.Equal(t, greeting, h.next())
			start := h.tr.FakeLoop.Now()
			for i := 0; h.tr.FakeLoop.Now().Sub(start) < 50*time.Second; i++ {
				send(h, i)
				h.tr.FakeLoop.Advance(5 * time.Second)
				require.False(t, h.tr.Lost, "closed after %v", h.tr.FakeLoop.Now().Sub(start))
			}
			h.tr.FakeLoop.Advance(start.Add(time.Minute - time.Nanosecond).Sub(h.tr.FakeLoop.Now()))
			h.quiet()
			require.False(t, h.tr.Lost)
			h.tr.FakeLoop.Advance(time.Nanosecond)
			assert.Equal(t, loginTimedOut, h.next())
			assert.True(t, h.tr.Lost, "closed at the login deadline")
		})
	}
}

func TestLoginStopsTheLoginTimeout(t *testing.T) {
	for _, idle := range []time.Duration{30 * time.Second, -1} {
		h := newPI(t, func(c *ftp.Config) { c.LoginTimeout = time.Minute; c.IdleTimeout = idle })
		h.next()
		h.tr.FakeLoop.Advance(25 * time.Second)
		require.Equal(t, pleaseLogin, h.cmd("NOOP"))
		h.tr.FakeLoop.Advance(25 * time.Second)
		require.Equal(t, needPassword, h.cmd("USER alice"))
		require.Equal(t, loggedInReply, h.cmd("PASS secret"))
		h.tr.FakeLoop.Advance(29 * time.Second) // past the login deadline
		assert.False(t, h.tr.Lost, "a logged-in session has no login deadline (idle %v)", idle)
		if idle < 0 {
			h.tr.FakeLoop.Advance(time.Hour)
			assert.False(t, h.tr.Lost, "no idle timeout: never closed")
			continue
		}
		h.tr.FakeLoop.Advance(time.Second)
		assert.Equal(t, idleTimedOut, h.next(), "the idle timeout runs from the last command")
	}
}

func TestIdleTimerResetsOnCommandsNotBytes(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) { c.IdleTimeout = 30 * time.Second })
	h.login()
	for _, b := range []byte("NOO") { // one byte every 10 s, never a whole line
		h.tr.FakeLoop.Advance(9 * time.Second)
		h.p.DataReceived([]byte{b})
	}
	h.tr.FakeLoop.Advance(3 * time.Second)
	assert.Equal(t, idleTimedOut, h.next(), "30 s after the last complete command")
	assert.True(t, h.tr.Lost)
}

func TestRestartPointPastTheEndIsRefusedAndCreatesNothing(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "f", "12345")
	for _, off := range []string{"6", "1099511627776", strconv.FormatInt(math.MaxInt64, 10)} {
		for _, cmd := range []string{"RETR f", "STOR f", "STOR new"} {
			require.Equal(t, "350 Restarting at "+off+". Send STOR or RETR to initiate transfer.", h.cmd("REST "+off))
			data := h.pasv()
			assert.Equal(t, "554 Invalid REST parameter.", h.cmd(cmd), "REST %s, %s", off, cmd)
			_ = data.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := data.Read(make([]byte, 1))
			assert.Error(t, err, "the data connection is closed")
		}
	}
	b, err := os.ReadFile(filepath.Join(h.root, "f"))
	require.NoError(t, err)
	assert.Equal(t, "12345", string(b))
	_, err = os.Stat(filepath.Join(h.root, "new"))
	assert.ErrorIs(t, err, os.ErrNotExist, "no sparse file, no empty file")

	h.cmd("REST 5")
	data := h.pasv()
	assert.Equal(t, "150 File status okay; about to open data connection.", h.cmd("RETR f"), "REST to exactly the size is fine")
	assert.Equal(t, "", readAll(t, data))
	assert.Equal(t, "226 Transfer Complete.", h.next())
	h.cmd("REST 5")
	data = h.pasv()
	assert.Equal(t, "150 File status okay; about to open data connection.", h.cmd("STOR f"))
	_, _ = data.Write([]byte("67"))
	data.Close()
	assert.Equal(t, "226 Transfer Complete.", h.next())
	b, _ = os.ReadFile(filepath.Join(h.root, "f"))
	assert.Equal(t, "1234567", string(b), "an upload resumes at the end")
}

// mkdFailing is a shell whose MKD fails with an error the server cannot map
// (a 451), quoting the client's path, as a backend's error may.
type mkdFailing struct{ shell.Shell }

func (mkdFailing) MakeDirectory(p string) error { return errors.New("backend refused " + p) }

func TestClientCausedErrorsGet5xxAndNoWarning(t *testing.T) {
	logs := &syncBuffer{}
	h := newPI(t, func(c *ftp.Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	h.login()
	long := strings.Repeat("n", 300)
	assert.Equal(t, "553 File name too long.", h.cmd("MKD "+long), "ENAMETOOLONG: the name is not quoted back")
	assert.Equal(t, "553 File name too long.", h.cmd("CWD "+long))
	assert.Equal(t, "553 File name too long.", h.cmd("SIZE "+long))
	require.Equal(t, `257 "/d" created`, h.cmd("MKD d"))
	h.cmd("RNFR d")
	assert.Equal(t, "550 d/e: Invalid argument.", h.cmd("RNTO d/e"), "EINVAL: a directory renamed into itself")
	assert.NotContains(t, logs.String(), "level=WARN", "none of these is the server's fault")
}

func TestWarningsAreTruncatedAndRateLimited(t *testing.T) {
	logs := &syncBuffer{}
	h := newPI(t, func(c *ftp.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
		c.Realm = shell.RealmFunc(func(shell.Login) (shell.Shell, error) {
			l, err := local.New(c.Root)
			return mkdFailing{l}, err
		})
	})
	h.login()
	long := strings.Repeat("p", 16000)
	for range 100 {
		require.Equal(t, "451 Requested action aborted. Local error in processing.", h.cmd("MKD "+long))
	}
	warns := func() []string {
		var w []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "level=WARN") {
				w = append(w, l)
			}
		}
		return w
	}
	got := warns()
	require.Len(t, got, 5, "a burst of 5, then nothing")
	for _, l := range got {
		assert.Less(t, len(l), 1000, "the 16 KB path is cut short")
		assert.Contains(t, l, "...[16000 bytes]", "with a marker saying how long it was")
	}
	assert.Equal(t, int64(95), h.f.Stats().WarningsSuppressed)
	h.tr.FakeLoop.Advance(10 * time.Second)
	h.cmd("MKD " + long)
	got = warns()
	require.Len(t, got, 6, "one more after 10 s")
	assert.Contains(t, got[5], "suppressed=95", "saying how many were dropped")
	h.cmd("MKD " + long)
	h.p.ConnectionLost(nil)
	got = warns()
	assert.Contains(t, got[len(got)-1], "ftp session warnings suppressed")
	assert.Contains(t, got[len(got)-1], "suppressed=1")
}

// countingUsers is the test user's file with a Compare that counts the
// password hashes computed, and blocks for the password "guess" until
// release is closed.
func countingUsers(t *testing.T) (*auth.UsersFile, *atomic.Int32, chan struct{}) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users")
	require.NoError(t, auth.SetPassword(p, "alice", "secret", bcrypt.MinCost))
	var n atomic.Int32
	release := make(chan struct{})
	uf, err := auth.LoadUsersFile(p, auth.Config{Compare: func(h, pw []byte) error {
		n.Add(1)
		if string(pw) == "guess" {
			<-release
		}
		return bcrypt.CompareHashAndPassword(h, pw)
	}})
	require.NoError(t, err)
	return uf, &n, release
}

// guess sends USER and a wrong PASS and lets the delay pass.
func guess(t *testing.T, h *pi, pw string) {
	t.Helper()
	require.Equal(t, needPassword, h.cmd("USER alice"))
	h.send("PASS " + pw)
	waitDelayArmed(t, h)
	h.tr.FakeLoop.Advance(time.Second)
}

func TestRepeatedFailedLoginsBanTheAddress(t *testing.T) {
	mc := clock.NewManualClock()
	bans := ban.NewMemory(ban.Config{After: 4, Window: 10 * time.Minute, For: 30 * time.Minute, Clock: mc})
	users, hashes, _ := countingUsers(t)
	logs := &syncBuffer{}
	f, root := newFactory(t, func(c *ftp.Config) {
		c.Users, c.Bans = users, bans
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	early := connectFrom(t, f, root, "192.0.2.7") // connected before the ban
	require.Equal(t, greeting, early.next())

	a := connectFrom(t, f, root, "192.0.2.7")
	a.next()
	for i := range 3 {
		guess(t, a, "wrong"+strconv.Itoa(i))
		require.Equal(t, badLogin, a.next())
	}
	assert.Equal(t, "421 Too many failed logins, closing control connection.", a.next())
	a.drop()
	b := connectFrom(t, f, root, "192.0.2.7")
	b.next()
	guess(t, b, "mallory") // the 4th failure (an unknown user would count the same)
	assert.Equal(t, badLogin, b.next(), "the same 530 after the same delay")
	assert.Equal(t, bannedReply, b.next(), "then the banning connection is closed")
	assert.True(t, b.tr.Lost)
	b.drop()
	assert.Equal(t, int32(4), hashes.Load())

	for range 5 {
		c := connectFrom(t, f, root, "192.0.2.7")
		assert.Equal(t, bannedReply, c.next(), "no greeting")
		assert.True(t, c.tr.Lost)
		c.drop()
	}
	require.Equal(t, needPassword, early.cmd("USER alice"))
	assert.Equal(t, bannedReply, early.cmd("PASS secret"), "a session opened before the ban is refused at PASS")
	assert.True(t, early.tr.Lost)
	assert.Equal(t, int32(4), hashes.Load(), "no password hash for a banned address")

	other := connectFrom(t, f, root, "192.0.2.8")
	assert.Equal(t, greeting, other.next(), "other addresses are served")
	other.cmd("USER alice")
	assert.Equal(t, loggedInReply, other.cmd("PASS secret"))

	st := f.Stats()
	assert.Equal(t, ftp.Stats{LoginFailures: 4, Bans: 1, BanRefusals: 6}, st)
	assert.Equal(t, 1, strings.Count(logs.String(), "msg=\"ftp address banned\""), logs.String())
	assert.Equal(t, 1, strings.Count(logs.String(), "msg=\"ftp refusing banned address\""), "refusals are logged once per ban")
	assert.Contains(t, logs.String(), "addr=192.0.2.7/32")

	mc.Advance(30 * time.Minute)
	c := connectFrom(t, f, root, "192.0.2.7")
	assert.Equal(t, greeting, c.next(), "the ban ends")
}

func TestAllowedAddressesAndBansOff(t *testing.T) {
	for name, store := range map[string]ban.Store{
		"allowed":  ban.NewMemory(ban.Config{After: 2, Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}),
		"bans off": ban.Never{},
	} {
		t.Run(name, func(t *testing.T) {
			f, root := newFactory(t, func(c *ftp.Config) { c.Bans = store; c.MaxLoginFailures = 100 })
			h := connectFrom(t, f, root, "192.0.2.7")
			h.next()
			for i := range 5 {
				guess(t, h, "wrong"+strconv.Itoa(i))
				require.Equal(t, badLogin, h.next())
			}
			c := connectFrom(t, f, root, "192.0.2.7")
			assert.Equal(t, greeting, c.next())
			assert.Zero(t, f.Stats().Bans)
		})
	}
}

func TestTheDefaultBansAfterTenFailures(t *testing.T) {
	f, root := newFactory(t, nil) // no Bans given: on, and loopback is not exempt
	for range 3 {
		h := connectPI(t, f, root)
		h.next()
		for range 3 {
			if h.tr.Lost {
				break
			}
			guess(t, h, "wrong")
			h.next()
		}
		h.drop()
	}
	h := connectPI(t, f, root)
	h.next()
	guess(t, h, "wrong") // the 10th
	assert.Equal(t, badLogin, h.next())
	assert.Equal(t, bannedReply, h.next())
	h.drop()
	assert.Equal(t, bannedReply, connectPI(t, f, root).next())
}

// TestPasswordGuessingCannotStarveFilesystemCommands: the password checks
// have their own pool. While every hashing worker is stuck on guesses
// (many more than the filesystem pool has workers), a logged-in user's
// filesystem commands still run; a guess over the hash queue's bound gets
// 421 at once; and a guess whose connection closed while it waited costs
// no hash.
func TestPasswordGuessingCannotStarveFilesystemCommands(t *testing.T) {
	users, hashes, release := countingUsers(t)
	f, root := newFactory(t, func(c *ftp.Config) {
		c.Users, c.Bans = users, ban.Never{}
		c.HashWorkers, c.HashQueue = 2, 40
	})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open) // before StopFactory waits for the checks
	user := connectPI(t, f, root)
	user.login()
	base := hashes.Load()

	var guessers []*pi
	start := func(n int) {
		for range n {
			g := connectFrom(t, f, root, "10.0.0."+strconv.Itoa(1+len(guessers)%5))
			g.next()
			g.cmd("USER alice")
			g.send("PASS guess")
			guessers = append(guessers, g)
		}
	}
	start(2) // both workers stuck
	require.Eventually(t, func() bool { return hashes.Load() == base+2 }, 10*time.Second, time.Millisecond)
	start(40) // the queue full
	require.Equal(t, int32(base+2), hashes.Load())

	// The filesystem pool (8 workers in the tests) is free.
	assert.Equal(t, `257 "/d" created`, user.cmd("MKD d"))
	assert.Equal(t, `250 Requested File Action Completed OK`, user.cmd("CWD d"))
	assert.Equal(t, commandOKReply, user.cmd("NOOP"))

	over := connectFrom(t, f, root, "10.0.0.99")
	over.next()
	over.cmd("USER alice")
	assert.Equal(t, busyReply, over.cmd("PASS guess"), "the queue is full: 421 rather than waiting")
	assert.True(t, over.tr.Lost)
	assert.Equal(t, int64(1), f.Stats().HashBusy)

	for _, g := range guessers[2:] {
		g.drop() // gone before their turn
	}
	open()
	for _, g := range guessers[:2] {
		waitDelayArmed(t, g)
		g.tr.FakeLoop.Advance(time.Second)
		assert.Equal(t, badLogin, g.next())
	}
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, base+2, hashes.Load(), "the checks of closed connections were skipped")
}

// TestQueuedChecksOfABannedAddressAreSkipped: checks that wait while
// their address gets banned (by its other connections) cost no hash; the
// connections get the ban's 421.
func TestQueuedChecksOfABannedAddressAreSkipped(t *testing.T) {
	users, hashes, release := countingUsers(t)
	bans := ban.NewMemory(ban.Config{After: 3})
	f, root := newFactory(t, func(c *ftp.Config) { c.Users, c.Bans, c.HashWorkers = users, bans, 1 })
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open)
	stuck := connectFrom(t, f, root, "10.0.0.1")
	stuck.next()
	stuck.cmd("USER alice")
	stuck.send("PASS guess")
	require.Eventually(t, func() bool { return hashes.Load() == 1 }, 10*time.Second, time.Millisecond)
	var waiting []*pi
	for range 3 {
		g := connectFrom(t, f, root, "10.0.0.2")
		g.next()
		g.cmd("USER alice")
		g.send("PASS wrong")
		waiting = append(waiting, g)
	}
	for range 3 {
		bans.Failed(netip.MustParseAddr("10.0.0.2")) // as its other connections would
	}
	open()
	for _, g := range waiting {
		assert.Equal(t, bannedReply, g.next())
		assert.True(t, g.tr.Lost)
	}
	assert.Equal(t, int32(1), hashes.Load(), "no hash for the banned address")
}
