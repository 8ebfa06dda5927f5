package e2e_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/internal/ftptest"
	"github.com/gnetftp/gnetftp/internal/testcert"
)

// ftpdUserAdd runs the real `ftpd user add --users FILE --cost 4 ARGS`
// with the password on standard input.
func ftpdUserAdd(t *testing.T, users, password string, args ...string) {
	t.Helper()
	cmd := exec.Command(ftptest.Binary(t), append([]string{"user", "add", "--users", users, "--cost", "4"}, args...)...)
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "SIGHUP")
}

// limitsServer runs ftpd over a fresh root with users made by `ftpd user
// add`: alice (rates of 2 MiB/s each way, at most 2 sessions), bob (no
// limits; the same home), carol (a quota of 1 MiB and 3 files, home
// carol). alice's home holds six.bin, 6 MiB.
func limitsServer(t *testing.T, extra ...string) (*ftpdProc, []byte) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"shared", "carol", "pub"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	six := randomBytes(t, 6<<20)
	require.NoError(t, os.WriteFile(filepath.Join(root, "shared", "six.bin"), six, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "pub", "six.bin"), six, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "carol", "old.bin"), make([]byte, 256<<10), 0o644))
	users := filepath.Join(t.TempDir(), "users")
	ftpdUserAdd(t, users, "secret", "--home", "shared", "--rate-down", "2MiB", "--rate-up", "2MiB", "--max-sessions", "2", "alice")
	ftpdUserAdd(t, users, "secret", "--home", "shared", "bob")
	ftpdUserAdd(t, users, "secret", "--home", "carol", "--quota", "1MiB", "--quota-files", "3", "carol")
	ftpdUserAdd(t, users, "secret", "--home", "shared", "--read-only", "dave")
	p := startFTPDProcessOn(t, root, users, extra...)
	p.top = root
	return p, six
}

// curlTimed runs curl and returns how long it took and its exit code.
func curlTimed(t *testing.T, args ...string) (time.Duration, int, string) {
	t.Helper()
	curl := requireTool(t, "curl")
	cmd := exec.Command(curl, append([]string{"--silent", "--show-error", "--max-time", "60"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return took, code, out.String()
}

// The figure: a 6 MiB download limited to 2 MiB/s takes about
// 3 s; the same file for a user without a limit goes at sendfile's pace.
// Uploads likewise. Measured with curl against the ftpd program.
func TestRatesEndToEnd(t *testing.T) {
	p, six := limitsServer(t)
	base := fmt.Sprintf("ftp://127.0.0.1:%d/", p.port)
	dl := filepath.Join(t.TempDir(), "dl.bin")

	took, code, out := curlTimed(t, "--user", "alice:secret", "-o", dl, base+"six.bin")
	require.Zero(t, code, out)
	got, err := os.ReadFile(dl)
	require.NoError(t, err)
	require.True(t, bytes.Equal(six, got), "the limited download byte for byte")
	t.Logf("alice (rate-down 2MiB): 6 MiB in %v (%.2f MiB/s)", took, 6/took.Seconds())
	assert.GreaterOrEqual(t, took, 2400*time.Millisecond, "6 MiB at 2 MiB/s: about 3 s")

	took, code, out = curlTimed(t, "--user", "bob:secret", "-o", dl, base+"six.bin")
	require.Zero(t, code, out)
	t.Logf("bob (no limit): 6 MiB in %v", took)
	assert.Less(t, took, 2400*time.Millisecond, "no limit, no wait")

	up := filepath.Join(t.TempDir(), "up.bin")
	require.NoError(t, os.WriteFile(up, six, 0o644))
	took, code, out = curlTimed(t, "--user", "alice:secret", "-T", up, base+"up.bin")
	require.Zero(t, code, out)
	t.Logf("alice (rate-up 2MiB): 6 MiB up in %v (%.2f MiB/s)", took, 6/took.Seconds())
	assert.GreaterOrEqual(t, took, 2400*time.Millisecond, "6 MiB at 2 MiB/s: about 3 s")
	onDisk, err := os.ReadFile(filepath.Join(p.top, "shared", "up.bin"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(six, onDisk), "the limited upload byte for byte")
}

// --rate-down on the server limits users whose line gives no rate, and
// anonymous users.
func TestGlobalRateEndToEnd(t *testing.T) {
	p, _ := limitsServer(t, "--rate-down", "4MiB")
	base := fmt.Sprintf("ftp://127.0.0.1:%d/", p.port)
	dl := filepath.Join(t.TempDir(), "dl.bin")
	took, code, out := curlTimed(t, "-o", dl, base+"six.bin")
	require.Zero(t, code, out)
	t.Logf("anonymous (--rate-down 4MiB): 6 MiB in %v", took)
	assert.GreaterOrEqual(t, took, 1200*time.Millisecond, "6 MiB at 4 MiB/s: about 1.5 s")
	took, code, out = curlTimed(t, "--user", "bob:secret", "-o", dl, base+"six.bin")
	require.Zero(t, code, out)
	assert.GreaterOrEqual(t, took, 1200*time.Millisecond, "bob has no rate of his own: the server's")
}

const limitsScript = `
import ftplib, io, sys
host, port = sys.argv[1], int(sys.argv[2])
def login(user):
    f = ftplib.FTP()
    f.connect(host, port, timeout=30)
    f.login(user, "secret")
    return f
# max-sessions 2: the third is refused with 421
a1, a2 = login("alice"), login("alice")
try:
    login("alice")
    print("third session: accepted")
except ftplib.error_temp as e:
    print("third session:", e)
a1.quit()
a3 = login("alice")
print("after a quit: logged in")
a2.quit(); a3.quit()
# carol: 1 MiB quota (256 KiB on disk already), 3 files
c = login("carol")
try:
    c.storbinary("STOR big.bin", io.BytesIO(b"x" * (900 << 10)))
    print("big: stored")
except ftplib.error_perm as e:
    print("big:", e)
print("after big:", sorted(c.nlst()))
c.storbinary("STOR a.bin", io.BytesIO(b"a" * (700 << 10)))
print("a: stored")
try:
    c.storbinary("STOR b.bin", io.BytesIO(b"b" * (100 << 10)))
    print("b: stored")
except ftplib.error_perm as e:
    print("b:", e)
c.delete("old.bin")
c.storbinary("STOR b.bin", io.BytesIO(b"b" * (100 << 10)))
print("b after delete: stored")
try:
    c.storbinary("STOR c.bin", io.BytesIO(b"c"))
    c.storbinary("STOR d.bin", io.BytesIO(b"d"))
    print("d: stored")
except ftplib.error_perm as e:
    print("d:", e)
c.quit()
d = login("dave")
try:
    d.storbinary("STOR x.bin", io.BytesIO(b"x"))
    print("dave: stored")
except ftplib.error_perm as e:
    print("dave:", e)
try:
    d.delete("six.bin")
    print("dave: deleted")
except ftplib.error_perm as e:
    print("dave delete:", e)
d.quit()
print("OK")
`

// Quotas, max-sessions and read-only users seen by Python's ftplib and
// by the disk.
func TestQuotaSessionsAndPermissionsWithFtplib(t *testing.T) {
	py := requireTool(t, "python3")
	p, _ := limitsServer(t)
	script := filepath.Join(t.TempDir(), "limits.py")
	require.NoError(t, os.WriteFile(script, []byte(limitsScript), 0o644))
	out := runTool(t, time.Minute, py, script, "127.0.0.1", fmt.Sprint(p.port))
	assert.Contains(t, out, "third session: 421 Too many sessions for this user, try again later.")
	assert.Contains(t, out, "after a quit: logged in")
	assert.Contains(t, out, "big: 552 Requested file action aborted. Exceeded storage allocation (quota).")
	assert.Contains(t, out, "after big: ['old.bin']", "nothing of the refused upload is seen")
	assert.Contains(t, out, "a: stored")
	assert.Contains(t, out, "b: 552 ", "256 + 700 + 100 KiB > 1 MiB")
	assert.Contains(t, out, "b after delete: stored", "deleting frees quota")
	assert.Contains(t, out, "d: 552 ", "the fourth file: over quota-files 3")
	assert.Contains(t, out, "dave: 550 ")
	assert.Contains(t, out, "dave delete: 550 ")
	assert.Contains(t, out, "OK")
	entries, err := os.ReadDir(filepath.Join(p.top, "carol"))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"a.bin", "b.bin", "c.bin"}, names, "the disk has what was accepted, nothing else")
	assert.Contains(t, p.Log.String(), "too many sessions")
}

// A curl upload past the quota fails (curl's exit 25), leaves no file,
// and the quota is counted across the server's restart from the disk.
func TestQuotaWithCurlAndSIGHUP(t *testing.T) {
	p, _ := limitsServer(t)
	base := fmt.Sprintf("ftp://127.0.0.1:%d/", p.port)
	big := filepath.Join(t.TempDir(), "big.bin")
	require.NoError(t, os.WriteFile(big, randomBytes(t, 4<<20), 0o644))
	_, code, out := curlTimed(t, "--user", "carol:secret", "-T", big, base+"big.bin")
	assert.Equal(t, 70, code, "curl: remote disk full (552): %s", out)
	assert.Contains(t, out, "Exceeded storage allocation")
	assert.NoFileExists(t, filepath.Join(p.top, "carol", "big.bin"))

	// Raise carol's quota in the file, SIGHUP, and the same upload fits.
	cmd := exec.Command(ftptest.Binary(t), "user", "set", "--users", p.users, "carol", "--quota", "8MiB")
	o, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", o)
	require.NoError(t, syscall.Kill(p.Pid, syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(p.Log.String(), "users file reloaded") }, 10*time.Second, 20*time.Millisecond)
	_, code, out = curlTimed(t, "--user", "carol:secret", "-T", big, base+"big.bin")
	assert.Zero(t, code, out)
	assert.FileExists(t, filepath.Join(p.top, "carol", "big.bin"))
}

// The same limits on PROT P data connections (the TLS data path): the
// rate holds and the quota answers 552 after the client sent its data.
func TestLimitsOverFTPS(t *testing.T) {
	pair := testcert.MustNew("localhost", "127.0.0.1")
	certFile, keyFile, err := pair.WriteFiles(t.TempDir())
	require.NoError(t, err)
	p, six := limitsServer(t, "--tls-cert", certFile, "--tls-key", keyFile)
	base := fmt.Sprintf("ftp://127.0.0.1:%d/", p.port)
	tlsArgs := []string{"--ssl-reqd", "--insecure"}
	dl := filepath.Join(t.TempDir(), "dl.bin")
	took, code, out := curlTimed(t, append(tlsArgs, "--user", "alice:secret", "-o", dl, base+"six.bin")...)
	require.Zero(t, code, out)
	got, err := os.ReadFile(dl)
	require.NoError(t, err)
	require.True(t, bytes.Equal(six, got))
	t.Logf("alice over TLS (rate-down 2MiB): 6 MiB in %v", took)
	assert.GreaterOrEqual(t, took, 2400*time.Millisecond, "6 MiB at 2 MiB/s: about 3 s")

	big := filepath.Join(t.TempDir(), "big.bin")
	require.NoError(t, os.WriteFile(big, randomBytes(t, 4<<20), 0o644))
	_, code, out = curlTimed(t, append(tlsArgs, "--user", "carol:secret", "-T", big, base+"big.bin")...)
	assert.Equal(t, 70, code, "curl: remote disk full (552): %s", out)
	assert.NoFileExists(t, filepath.Join(p.top, "carol", "big.bin"))
}
