package e2e_test

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/internal/ftptest"
)

// lftp's mirror -R sets every file's and directory's mode with SITE
// CHMOD after the upload: it must succeed (exit 0) and the modes land on
// disk.
func TestLftpMirrorSetsModesWithSiteChmod(t *testing.T) {
	lftp := requireTool(t, "lftp")
	s := startFTPD(t)
	local := t.TempDir()
	modes := map[string]fs.FileMode{
		"run.sh":            0o755,
		"private.txt":       0o600,
		"shared/group.txt":  0o640,
		"shared/deep/x.bin": 0o604,
	}
	for name, m := range modes {
		p := filepath.Join(local, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(name+"\n"), 0o644))
		require.NoError(t, os.Chmod(p, m))
	}
	require.NoError(t, os.Chmod(filepath.Join(local, "shared", "deep"), 0o750))
	debug := filepath.Join(t.TempDir(), "lftp.log")
	script := fmt.Sprintf("debug -o %s 5; set ftp:passive-mode on; set net:max-retries 1; set net:timeout 20; "+
		"mirror -R --verbose=0 %s /up; bye", debug, local)
	runTool(t, 2*time.Minute, lftp, "-u", "alice,secret", "-p", fmt.Sprint(s.port), "-e", script, "127.0.0.1")
	log, err := os.ReadFile(debug)
	require.NoError(t, err)
	chmods := regexp.MustCompile(`---> SITE CHMOD [^\n]*\n<--- (\d+)`).FindAllStringSubmatch(string(log), -1)
	assert.Len(t, chmods, len(modes)+2, "lftp sets every file's and directory's mode with SITE CHMOD")
	for _, m := range chmods {
		assert.Equal(t, "200", m[1], m[0])
	}
	_, afterLogin, _ := strings.Cut(string(log), "<--- 230 ")
	// lftp sends HOST after logging in when FEAT lists it (lftp issue
	// 422); RFC 7151 has that refused with 503, which lftp ignores.
	afterLogin = regexp.MustCompile(`---> HOST [^\n]*\n<--- 503 [^\n]*\n`).ReplaceAllString(afterLogin, "")
	assert.NotRegexp(t, `<--- 5\d\d`, afterLogin, "no command of the mirror failed")
	for name, m := range modes {
		fi, err := os.Stat(filepath.Join(s.root, "up", filepath.FromSlash(name)))
		require.NoError(t, err)
		assert.Equal(t, m, fi.Mode().Perm(), name)
	}
	fi, err := os.Stat(filepath.Join(s.root, "up", "shared", "deep"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o750), fi.Mode().Perm(), "directories too")
}

// ncftpls's default listing is "NLST -CF" (ls options the server must not
// take for a path: the listing used to come back empty).
func TestNcftplsDefaultListing(t *testing.T) {
	ncftpls := requireTool(t, "ncftpls")
	s := startFTPD(t)
	require.NoError(t, os.MkdirAll(filepath.Join(s.root, "sub", "deeper"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(s.root, "a.txt"), []byte("a"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(s.root, "sub", "b.txt"), []byte("bb"), 0o644))
	trace := filepath.Join(t.TempDir(), "trace")
	base := []string{"-u", "alice", "-p", "secret", "-P", fmt.Sprint(s.port), "-t", "20"}
	out := runTool(t, time.Minute, ncftpls, append(base, "-d", trace, "ftp://127.0.0.1/")...)
	log, err := os.ReadFile(trace)
	require.NoError(t, err)
	assert.Contains(t, string(log), "Cmd: NLST -CF")
	assert.ElementsMatch(t, []string{"a.txt", "sub"}, strings.Fields(out), "%q", out)
	out = runTool(t, time.Minute, ncftpls, append(base, "ftp://127.0.0.1/sub/")...)
	assert.ElementsMatch(t, []string{"b.txt", "deeper"}, strings.Fields(out), "%q", out)
	out = runTool(t, time.Minute, ncftpls, append(base, "-l", "ftp://127.0.0.1/sub/")...)
	assert.Regexp(t, `(?m)^-rw-r--r-- .* b\.txt$`, out)
	assert.Regexp(t, `(?m)^drwxr-xr-x .* deeper$`, out)
}

// ftplibCommandsScript drives the commands of issue 12 with Python's
// ftplib against an ftpd whose config file has two [[vhost]] tables. It
// records every reply and fails on any that names an internal package.
const ftplibCommandsScript = `
import ftplib, io, re, socket, sys

class Rec(ftplib.FTP):
    replies = []
    def getmultiline(self):
        r = super().getmultiline()
        self.replies.append(r)
        return r

def expect(fn, prefix):
    try:
        fn()
    except ftplib.all_errors as e:
        assert str(e).startswith(prefix), "want %r, got %r" % (prefix, str(e))
        return
    raise SystemExit("no error, want %r" % prefix)

def stou(f, arg, data):
    conn = socket.create_connection(f.makepasv(), timeout=20)
    f.putcmd("STOU " + arg)
    first = f.getresp()
    conn.sendall(data)
    conn.close()
    f.voidresp()
    return first

f = Rec()
f.connect(sys.argv[1], int(sys.argv[2]), timeout=20)
assert f.sendcmd("HOST a.example") == "220 Welcome to A", f.replies[-1]
f.login("bob", "pw-a")
expect(lambda: f.sendcmd("HOST b.example"), "503")
f.storbinary("STOR x.txt", io.BytesIO(b"x"))
assert stou(f, "x.txt", b"second") == "150 FILE: x.txt.1", f.replies[-2]
assert f.sendcmd("SITE CHMOD 600 x.txt").startswith("200")
assert f.sendcmd("SITE UTIME x.txt 20200102030405").startswith("200")
assert f.sendcmd("MDTM x.txt") == "213 20200102030405"
assert "SITE CHMOD" in f.sendcmd("HELP SITE")
f.mkd("full")
f.storbinary("STOR full/f", io.BytesIO(b"f"))
expect(lambda: f.rmd("full"), "550 full: Directory not empty")
expect(lambda: f.nlst("missing"), "550 missing: No such file or directory.")
assert sorted(f.nlst("-la")) == ["full", "x.txt", "x.txt.1"], f.nlst("-la")
lines = []
f.retrlines("LIST -d full", lines.append)
assert len(lines) == 1 and lines[0].startswith("d") and lines[0].endswith(" full"), lines
expect(lambda: f.sendcmd("EPRT |2|::1|5000|"), "522 Network protocol not supported, use (1)")
expect(lambda: f.sendcmd("EPRT |3|x|5000|"), "522 Network protocol not supported, use (1,2)")
expect(lambda: f.sendcmd("EPSV 3"), "522")
expect(lambda: f.sendcmd("PORT 10,0,0,1,200,10"), "500 Illegal PORT command: data connection to a third host refused.")
assert f.sendcmd("REIN") == "220 Service ready for new user."
expect(lambda: f.pwd(), "530")
assert f.sendcmd("HOST b.example").startswith("220")
f.login("carol", "pw-b")
assert f.nlst() == ["b-only.txt"], f.nlst()
f.quit()
for r in Rec.replies:
    assert not re.search(r"\b(auth|ban|deferred|dtp|ftp|ftptls|ftpwire|listing|local|shell): ", r), r
print("OK", len(Rec.replies), "replies")
`

// Python's ftplib against the ftpd program with [[vhost]] tables in its
// config file: HOST, STOU, SITE CHMOD/UTIME/HELP, RMD of a full
// directory, NLST of nothing and with options, LIST -d, EPRT's 522s,
// REIN to another host.
func TestFtplibCommandsAndVirtualHosts(t *testing.T) {
	py := requireTool(t, "python3")
	dir := t.TempDir()
	rootA, rootB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	require.NoError(t, os.MkdirAll(rootB, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(rootB, "b-only.txt"), []byte("b"), 0o644))
	usersA, usersB := filepath.Join(dir, "a.users"), filepath.Join(dir, "b.users")
	require.NoError(t, auth.SetPassword(usersA, "bob", "pw-a", bcrypt.MinCost))
	require.NoError(t, auth.SetHome(usersA, "bob", "/"))
	require.NoError(t, auth.SetPassword(usersB, "carol", "pw-b", bcrypt.MinCost))
	require.NoError(t, auth.SetHome(usersB, "carol", "/"))
	cfg := filepath.Join(dir, "ftpd.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`root = %q
anonymous = true

[[vhost]]
name = "a.example"
root = %q
users = %q
welcome = "Welcome to A"

[[vhost]]
name = "b.example"
root = %q
users = %q
`, filepath.Join(dir, "default"), rootA, usersA, rootB, usersB)), 0o644))
	proc := ftptest.Start(t, nil, "--config", cfg, "--ban-after", "0")
	host, port, err := net.SplitHostPort(proc.Addr)
	require.NoError(t, err)
	script := filepath.Join(dir, "client.py")
	require.NoError(t, os.WriteFile(script, []byte(ftplibCommandsScript), 0o644))
	out := runTool(t, time.Minute, py, script, host, port)
	assert.Contains(t, out, "OK")

	fi, err := os.Stat(filepath.Join(rootA, "x.txt"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm(), "SITE CHMOD on disk")
	assert.Equal(t, time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), fi.ModTime().UTC(), "SITE UTIME on disk")
	b, err := os.ReadFile(filepath.Join(rootA, "x.txt.1"))
	require.NoError(t, err)
	assert.Equal(t, "second", string(b), "STOU's file, in a.example's root")
	_, err = os.Stat(filepath.Join(dir, "default", "x.txt"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "nothing in the default host's root")
}

// curl: an upload followed by SITE CHMOD and SITE UTIME (-Q after the
// transfer), and listings with ls options as the list command (-X).
func TestCurlSiteCommandsAndListOptions(t *testing.T) {
	curl := requireTool(t, "curl")
	s := startFTPD(t)
	require.NoError(t, os.MkdirAll(filepath.Join(s.root, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(s.root, "sub", "in.txt"), []byte("in"), 0o644))
	base := fmt.Sprintf("ftp://127.0.0.1:%d/", s.port)
	args := []string{"--silent", "--show-error", "--max-time", "60", "--user", "alice:secret"}
	up := filepath.Join(t.TempDir(), "up.bin")
	require.NoError(t, os.WriteFile(up, []byte("payload"), 0o644))
	runTool(t, time.Minute, curl, append(args, "-T", up, base+"up.bin",
		"-Q", "-SITE CHMOD 640 up.bin", "-Q", "-SITE UTIME up.bin 20190304050607")...)
	fi, err := os.Stat(filepath.Join(s.root, "up.bin"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o640), fi.Mode().Perm())
	assert.Equal(t, time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC), fi.ModTime().UTC())

	out := runTool(t, time.Minute, curl, append(args, "-X", "NLST -CF", base)...)
	assert.ElementsMatch(t, []string{"sub", "up.bin"}, strings.Fields(out), "%q", out)
	out = runTool(t, time.Minute, curl, append(args, "-X", "LIST -lt", base+"sub/")...)
	assert.Regexp(t, `^-rw-r--r-- .* in\.txt\r?\n$`, out)
	out = runTool(t, time.Minute, curl, append(args, "-X", "LIST -d sub", base)...)
	assert.Regexp(t, `^drwxr-xr-x .* sub\r?\n$`, out)
}
