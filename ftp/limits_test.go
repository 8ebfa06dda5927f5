package ftp_test

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/local"
	"github.com/gnetftp/gnetftp/internal/ftptest"
)

// withLimits gives the test user (alice, home "/") these limits.
func withLimits(t *testing.T, l auth.Limits) func(*ftp.Config) {
	t.Helper()
	uf := limitedUsers(t, l)
	return func(c *ftp.Config) { c.Users = uf }
}

// limitedUsers is a users file of alice (home "/") with these limits.
func limitedUsers(t *testing.T, l auth.Limits) *auth.UsersFile {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users")
	hash, err := auth.HashPassword(ftptest.Password, bcrypt.MinCost)
	require.NoError(t, err)
	text, err := auth.ReadUsersFileText(p)
	require.NoError(t, err)
	require.NoError(t, text.Put(auth.User{Name: ftptest.User, Hash: hash, Home: "/", Limits: l}))
	require.NoError(t, text.Write())
	uf, err := auth.LoadUsersFile(p, auth.Config{})
	require.NoError(t, err)
	return uf
}

// upload STORs (or APPEs) content as name and returns the final reply,
// writing what the server takes (a refused upload resets the data
// connection midway).
func (h *pi) upload(cmd, name string, content []byte) string {
	h.t.Helper()
	data := h.pasv()
	r := h.cmd(cmd + " " + name)
	if !strings.HasPrefix(r, "150") {
		return r
	}
	_, _ = data.Write(content)
	_ = data.Close()
	return h.next()
}

func TestReadOnlyUserChangesNothing(t *testing.T) {
	h := newPI(t, withLimits(t, auth.Limits{Perm: auth.ReadOnlyPerm}))
	writeFile(t, h.root, "a.txt", "hello")
	h.login()
	assert.Equal(t, "550 b.txt: Permission denied.", h.upload("STOR", "b.txt", []byte("x")))
	assert.Equal(t, "550 a.txt: Permission denied.", h.upload("APPE", "a.txt", []byte("x")))
	assert.Equal(t, "550 a.txt: Permission denied.", h.cmd("DELE a.txt"))
	assert.Equal(t, "550 d: Permission denied.", h.cmd("MKD d"))
	assert.Regexp(t, `^350`, h.cmd("RNFR a.txt"))
	assert.Equal(t, "550 c.txt: Permission denied.", h.cmd("RNTO c.txt"))
	assert.Regexp(t, `^550`, h.cmd("MFMT 20200101000000 a.txt"))
	data := h.pasv()
	assert.Regexp(t, `^150`, h.cmd("RETR a.txt"))
	assert.Equal(t, "hello", readAll(t, data))
	assert.Regexp(t, `^226`, h.next())
	assert.Regexp(t, `perm=r;`, h.cmd("MLST a.txt"), "MLST offers only reading")
	entries, err := os.ReadDir(h.root)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

func TestNoDeleteNoRename(t *testing.T) {
	perm, err := auth.NormalizePerm(strings.NewReplacer("d", "", "f", "").Replace(auth.PermLetters))
	require.NoError(t, err)
	h := newPI(t, withLimits(t, auth.Limits{Perm: perm}))
	writeFile(t, h.root, "a.txt", "hello")
	h.login()
	assert.Regexp(t, `^226`, h.upload("STOR", "b.txt", []byte("new")), "storing is allowed")
	assert.Equal(t, "550 a.txt: Permission denied.", h.cmd("DELE a.txt"))
	require.Equal(t, "257 \"/d\" created", h.cmd("MKD d"))
	assert.Equal(t, "550 d: Permission denied.", h.cmd("RMD d"))
	assert.Regexp(t, `^350`, h.cmd("RNFR a.txt"))
	assert.Equal(t, "550 c.txt: Permission denied.", h.cmd("RNTO c.txt"))
	assert.FileExists(t, filepath.Join(h.root, "a.txt"))
}

func TestQuotaRefusesAnUploadThatWouldExceedAndKeepsNothing(t *testing.T) {
	h := newPI(t, withLimits(t, auth.Limits{Quota: 1000}))
	writeFile(t, h.root, "sub/old.bin", strings.Repeat("o", 600)) // on disk before: counted by the walk
	h.login()
	assert.Regexp(t, `^226`, h.upload("STOR", "a.bin", bytes.Repeat([]byte("a"), 300)))
	big := bytes.Repeat([]byte("b"), 4<<20) // past the quota in the middle of the data
	assert.Equal(t, "552 Requested file action aborted. Exceeded storage allocation (quota).", h.upload("STOR", "b.bin", big))
	assert.NoFileExists(t, filepath.Join(h.root, "b.bin"))
	assert.Equal(t, "552 Requested file action aborted. Exceeded storage allocation (quota).",
		h.upload("STOR", "c.bin", bytes.Repeat([]byte("c"), 101)), "600+300+101 > 1000, by one byte")
	assert.NoFileExists(t, filepath.Join(h.root, "c.bin"))
	assert.Regexp(t, `^226`, h.upload("STOR", "c.bin", bytes.Repeat([]byte("c"), 100)), "exactly the quota")

	// An append that would exceed is cut back to where it began.
	assert.Equal(t, "552 Requested file action aborted. Exceeded storage allocation (quota).", h.upload("APPE", "a.bin", []byte("more")))
	b, err := os.ReadFile(filepath.Join(h.root, "a.bin"))
	require.NoError(t, err)
	assert.Equal(t, 300, len(b), "nothing of the refused append is kept")

	// Deleting frees quota; replacing a file counts only the difference.
	assert.Regexp(t, `^250`, h.cmd("DELE sub/old.bin"))
	assert.Regexp(t, `^226`, h.upload("STOR", "d.bin", bytes.Repeat([]byte("d"), 600)))
	assert.Regexp(t, `^226`, h.upload("STOR", "a.bin", bytes.Repeat([]byte("A"), 300)), "an overwrite of the same size fits")
	assert.Regexp(t, `^552`, h.upload("STOR", "a.bin", bytes.Repeat([]byte("A"), 301)))
	b, err = os.ReadFile(filepath.Join(h.root, "a.bin"))
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("A", 300), string(b), "the refused overwrite left the old file")
}

func TestQuotaOfFilesAndSharedAcrossSessions(t *testing.T) {
	f, root := newFactory(t, withLimits(t, auth.Limits{QuotaFiles: 2, Quota: 1 << 20}))
	writeFile(t, root, "one", "1")
	h1 := connectPI(t, f, root)
	h1.login()
	h2 := connectPI(t, f, root)
	h2.login()
	assert.Regexp(t, `^226`, h1.upload("STOR", "two", []byte("2")))
	assert.Equal(t, "552 Requested file action aborted. Exceeded storage allocation (quota).", h2.upload("STOR", "three", []byte("3")),
		"the other session's upload counts: refused before any data")
	assert.Regexp(t, `^226`, h2.upload("STOR", "two", []byte("22")), "replacing a file adds none")
	assert.Regexp(t, `^250`, h1.cmd("DELE one"))
	assert.Regexp(t, `^226`, h2.upload("STOR", "three", []byte("3")))
	_, err := os.Stat(filepath.Join(root, "one"))
	assert.True(t, os.IsNotExist(err))
}

func TestMaxSessionsPerUser(t *testing.T) {
	f, root := newFactory(t, withLimits(t, auth.Limits{MaxSessions: 2}))
	h1, h2 := connectPI(t, f, root), connectPI(t, f, root)
	h1.login()
	h2.login()
	h3 := connectPI(t, f, root)
	require.Equal(t, "220 gnetftp FTP server ready.", h3.next())
	h3.cmd("USER alice")
	assert.Equal(t, "421 Too many sessions for this user, try again later.", h3.cmd("PASS secret"))
	assert.True(t, h3.tr.Lost || h3.tr.Disconnecting())
	assert.Equal(t, 2, f.UserSessions("alice"))
	anon := connectPI(t, f, root)
	anon.loginAnonymous() // anonymous sessions are not alice's
	h1.p.ConnectionLost(nil)
	h1.tr.Lost = true
	assert.Equal(t, 1, f.UserSessions("alice"))
	h4 := connectPI(t, f, root)
	h4.login()
}

func TestRateLimitsADownloadAndAnUpload(t *testing.T) {
	h := newPI(t, withLimits(t, auth.Limits{RateDown: 1 << 20, RateUp: 1 << 20}))
	writeFile(t, h.root, "big.bin", strings.Repeat("x", 1<<20+512<<10))
	h.login()
	data := h.pasv()
	start := time.Now()
	assert.Regexp(t, `^150`, h.cmd("RETR big.bin"))
	assert.Len(t, readAll(t, data), 1<<20+512<<10)
	assert.Regexp(t, `^226`, h.next())
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, 1200*time.Millisecond, "1.5 MiB at 1 MiB/s: about 1.5 s")

	start = time.Now()
	assert.Regexp(t, `^226`, h.upload("STOR", "up.bin", bytes.Repeat([]byte("u"), 1<<20+512<<10)))
	took = time.Since(start)
	assert.GreaterOrEqual(t, took, 1200*time.Millisecond, "1.5 MiB at 1 MiB/s: about 1.5 s")
}

func TestGlobalRateAndAbortOfAPacedDownload(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) { c.RateDown = 64 << 10 })
	writeFile(t, h.root, "big.bin", strings.Repeat("x", 4<<20))
	h.loginAnonymous()
	data := h.pasv()
	assert.Regexp(t, `^150`, h.cmd("RETR big.bin"))
	buf := make([]byte, 1024)
	_, err := data.Read(buf)
	require.NoError(t, err)
	start := time.Now()
	h.send("ABOR")
	assert.Equal(t, "426 Transfer aborted.  Data connection closed.", h.next())
	assert.Equal(t, "226 Abort successful", h.next())
	assert.Less(t, time.Since(start), 5*time.Second, "the wait for tokens ends with the transfer")
	var _ net.Conn = data
}

// The quota through the copy loop's writes (a paced upload, TYPE A)
// rather than splice: the same 552 and nothing kept.
func TestQuotaOnPacedAndASCIIUploads(t *testing.T) {
	h := newPI(t, withLimits(t, auth.Limits{Quota: 100 << 10, RateUp: 16 << 20}))
	h.login()
	assert.Equal(t, "552 Requested file action aborted. Exceeded storage allocation (quota).",
		h.upload("STOR", "paced.bin", bytes.Repeat([]byte("p"), 200<<10)))
	assert.NoFileExists(t, filepath.Join(h.root, "paced.bin"))
	assert.Regexp(t, `^200`, h.cmd("TYPE A"))
	assert.Equal(t, "552 Requested file action aborted. Exceeded storage allocation (quota).",
		h.upload("STOR", "text.txt", bytes.Repeat([]byte("line\r\n"), 40<<10)))
	assert.NoFileExists(t, filepath.Join(h.root, "text.txt"))
	assert.Regexp(t, `^226`, h.upload("STOR", "text.txt", bytes.Repeat([]byte("line\r\n"), 10<<10)))
	b, err := os.ReadFile(filepath.Join(h.root, "text.txt"))
	require.NoError(t, err)
	assert.Len(t, b, 50<<10, "stored with LF line ends, counted as stored")
}

// A login whose shell arrives after its connection closed counts no
// session (the realm answers on the pool, the session is gone by then).
func TestLoginFinishingAfterTheConnectionClosedCountsNoSession(t *testing.T) {
	release := make(chan struct{})
	limits := withLimits(t, auth.Limits{MaxSessions: 1})
	f, root := newFactory(t, func(c *ftp.Config) {
		limits(c)
		dir := c.Root
		c.Realm = shell.RealmFunc(func(shell.Login) (shell.Shell, error) {
			<-release
			l, err := local.New(dir)
			if err == nil {
				t.Cleanup(func() { l.Close() })
			}
			return l, err
		})
	})
	h := connectPI(t, f, root)
	require.Equal(t, "220 gnetftp FTP server ready.", h.next())
	h.cmd("USER alice")
	h.send("PASS secret")
	time.Sleep(200 * time.Millisecond) // the password check done, the realm waiting
	h.p.ConnectionLost(nil)
	h.tr.Lost = true
	close(release)
	for range 10 {
		h.tr.FakeLoop.WaitPending(20 * time.Millisecond)
	}
	assert.Equal(t, 0, f.UserSessions("alice"), "nothing counted for a session that is gone")
	h2 := connectPI(t, f, root)
	h2.login()
	assert.Equal(t, 1, f.UserSessions("alice"))
}

// SetLimits (ftpd's SIGHUP of --config) gives the default rates to the
// sessions that log in afterwards.
func TestSetLimitsChangesTheDefaultRateOfLaterLogins(t *testing.T) {
	f, root := newFactory(t, nil)
	writeFile(t, root, "half.bin", strings.Repeat("h", 512<<10))
	l := f.CurrentLimits()
	l.RateDown = 256 << 10
	f.SetLimits(l)
	h := connectPI(t, f, root)
	h.login()
	data := h.pasv()
	start := time.Now()
	assert.Regexp(t, `^150`, h.cmd("RETR half.bin"))
	assert.Len(t, readAll(t, data), 512<<10)
	assert.Regexp(t, `^226`, h.next())
	assert.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond, "512 KiB at 256 KiB/s: about 2 s")
}

func TestRefusalsByLimitsAreLogged(t *testing.T) {
	logs := &syncBuffer{}
	limits := withLimits(t, auth.Limits{Perm: "elrw", QuotaFiles: 1})
	h := newPI(t, func(c *ftp.Config) {
		limits(c)
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	writeFile(t, h.root, "a.txt", "x")
	h.login()
	assert.Regexp(t, `^552`, h.upload("STOR", "b.txt", []byte("b")))
	assert.Regexp(t, `^550`, h.cmd("DELE a.txt"))
	assert.Regexp(t, `msg="ftp refused by the user's limits" .*user=alice path=b.txt limit=quota`, logs.String())
	assert.Regexp(t, `msg="ftp refused by the user's limits" .*user=alice path=a.txt limit=permissions`, logs.String())
}

// SITE CHMOD and STOU go through a user's limits: chmod needs "M"; STOU
// needs "w" and counts against the quota as a new file.
func TestLimitedUserChmodAndSTOU(t *testing.T) {
	h := newPI(t, withLimits(t, auth.Limits{Perm: "elrw", QuotaFiles: 2}))
	writeFile(t, h.root, "a.txt", "hello")
	h.login()
	assert.Equal(t, "550 a.txt: Permission denied.", h.cmd("SITE CHMOD 600 a.txt"), "no M")
	assert.Regexp(t, `^226`, h.upload("STOU", "u.txt", []byte("one")))
	assert.FileExists(t, filepath.Join(h.root, "u.txt"))
	assert.Regexp(t, `^552`, h.upload("STOU", "v.txt", []byte("two")), "a third file is past quota-files")
	assert.NoFileExists(t, filepath.Join(h.root, "v.txt"))

	m := newPI(t, withLimits(t, auth.Limits{Perm: "elrwM"}))
	writeFile(t, m.root, "a.txt", "hello")
	m.login()
	assert.Regexp(t, `^200`, m.cmd("SITE CHMOD 600 a.txt"))
	fi, err := os.Stat(filepath.Join(m.root, "a.txt"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

// REIN logs out: the session no longer counts for max-sessions, and its
// rates go with the user.
func TestREINGivesBackTheSession(t *testing.T) {
	f, root := newFactory(t, withLimits(t, auth.Limits{MaxSessions: 1, RateDown: 1 << 10}))
	h := connectPI(t, f, root)
	h.login()
	assert.Equal(t, 1, f.UserSessions("alice"))
	assert.Regexp(t, `^220`, h.cmd("REIN"))
	assert.Equal(t, 0, f.UserSessions("alice"))
	h.cmd("USER alice")
	assert.Equal(t, "230 User logged in, proceed", h.cmd("PASS secret"), "the same user again, under max-sessions 1")
	assert.Equal(t, 1, f.UserSessions("alice"))
	h2 := connectPI(t, f, root)
	require.Equal(t, "220 gnetftp FTP server ready.", h2.next())
	h2.cmd("USER alice")
	assert.Equal(t, "421 Too many sessions for this user, try again later.", h2.cmd("PASS secret"))
	assert.Regexp(t, `^220`, h.cmd("REIN"))
	h.cmd("USER anonymous")
	require.Regexp(t, `^230`, h.cmd("PASS guest@"))
	writeFile(t, root, "k.bin", strings.Repeat("k", 64<<10))
	data := h.pasv()
	start := time.Now()
	assert.Regexp(t, `^150`, h.cmd("RETR k.bin"))
	assert.Len(t, readAll(t, data), 64<<10)
	assert.Regexp(t, `^226`, h.next())
	assert.Less(t, time.Since(start), 10*time.Second, "alice's 1 KiB/s left with her (64 s otherwise)")
}

// A virtual host's users have their own limits and counts: its alice is
// not the default host's.
func TestVirtualHostUsersHaveTheirOwnLimits(t *testing.T) {
	rootB := t.TempDir()
	limits := withLimits(t, auth.Limits{MaxSessions: 1})
	f, root := newFactory(t, func(c *ftp.Config) {
		limits(c)
		c.VirtualHosts = []ftp.VirtualHost{{Name: "b.example", Root: rootB, Users: limitedUsers(t, auth.Limits{Perm: auth.ReadOnlyPerm})}}
	})
	h := connectPI(t, f, root)
	h.login()
	hb := connectPI(t, f, root)
	require.Equal(t, "220 gnetftp FTP server ready.", hb.next())
	require.Regexp(t, `^220`, hb.cmd("HOST b.example"))
	hb.cmd("USER alice")
	require.Equal(t, "230 User logged in, proceed", hb.cmd("PASS secret"), "b.example's alice is not counted with the default host's")
	assert.Equal(t, "550 d: Permission denied.", hb.cmd("MKD d"), "b.example's alice is read-only")
	assert.Regexp(t, `^257`, h.cmd("MKD d"), "the default host's alice is not")
}

// MLST and MLSD offer what the user's permissions grant: a user without
// delete and rename is not offered d, p or f.
func TestMLSxPermFollowsTheUsersPermissions(t *testing.T) {
	perm, err := auth.NormalizePerm(strings.NewReplacer("d", "", "f", "").Replace(auth.PermLetters))
	require.NoError(t, err)
	h := newPI(t, withLimits(t, auth.Limits{Perm: perm}))
	writeFile(t, h.root, "a.txt", "hello")
	require.NoError(t, os.Mkdir(filepath.Join(h.root, "d"), 0o755))
	h.login()
	assert.Contains(t, h.cmd("MLST a.txt"), "perm=arw;")
	assert.Contains(t, h.cmd("MLST d"), "perm=celm;")
}
