package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/bench/procstat"
	s3shell "github.com/gnetftp/gnetftp/ftp/shell/s3"
	"github.com/gnetftp/gnetftp/internal/ftptest"
	"github.com/gnetftp/gnetftp/internal/s3test"
)

// weed is the SeaweedFS the --storage s3 tests share (started by the
// first of them, stopped by TestMain).
var weed s3test.Shared

// s3Proc is ftpd --storage s3 on a fresh prefix of the shared SeaweedFS,
// with alice (password "secret", home "alice") and anonymous access.
type s3Proc struct {
	*ftptest.Process
	srv    *s3test.Server
	c      *awss3.Client
	prefix string // the storage's prefix
	port   int
	args   []string
}

func startS3FTPD(t *testing.T) *s3Proc {
	t.Helper()
	srv := weed.Get(t)
	c, err := srv.Client()
	require.NoError(t, err)
	t.Cleanup(func() { s3shell.CloseIdleConnections(c) })
	hash, err := bcrypt.GenerateFromPassword([]byte(ftptest.Password), bcrypt.MinCost)
	require.NoError(t, err)
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, os.WriteFile(users, []byte(ftptest.User+":"+string(hash)+":alice\n"), 0o600))
	p := &s3Proc{srv: srv, c: c, prefix: srv.Prefix("e2e")}
	p.args = []string{"--root", t.TempDir(), "--users", users, "--anonymous", "--storage", srv.StorageURL(p.prefix)}
	p.start(t, "")
	return p
}

// start runs (or runs again) the server; query is added to --storage.
func (p *s3Proc) start(t *testing.T, query string) {
	t.Helper()
	args := append([]string{}, p.args...)
	args[len(args)-1] += query
	p.Process = ftptest.Start(t, func(cmd *exec.Cmd) { cmd.Env = append(os.Environ(), p.srv.Env()...) }, args...)
	_, port, err := net.SplitHostPort(p.Addr)
	require.NoError(t, err)
	p.port, _ = strconv.Atoi(port)
}

// object reads alice's object at name straight from the store.
func (p *s3Proc) object(t *testing.T, name string) ([]byte, error) {
	t.Helper()
	out, err := p.c.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(s3test.Bucket), Key: aws.String(p.prefix + "/alice/" + name)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func (p *s3Proc) uploads(t *testing.T) int {
	t.Helper()
	out, err := p.c.ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: aws.String(s3test.Bucket), Prefix: aws.String(p.prefix + "/")})
	require.NoError(t, err)
	return len(out.Uploads)
}

// ftplib drives the S3 storage through Python's ftplib: every command
// whose meaning differs from a local root.
const s3FtplibScript = `
import ftplib, hashlib, sys
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = open(path, 'rb').read()
f = ftplib.FTP()
f.connect(host, port, timeout=60)
f.login('alice', 'secret')
print(f.mkd('sub'))
try:
    f.mkd('sub')
except ftplib.error_perm as e:
    print('MKD again', e)
try:
    f.mkd('no/parent')
except ftplib.error_perm as e:
    print('MKD no parent', e)
with open(path, 'rb') as src:
    print(f.storbinary('STOR sub/big.bin', src, blocksize=65536))
print('SIZE', f.size('sub/big.bin'))
print('MDTM', f.voidcmd('MDTM sub/big.bin'))
names = sorted(n for n, facts in f.mlsd('sub'))
print('MLSD', names)
lines = []
f.retrlines('LIST sub', lines.append)
print('LIST', len(lines), lines[0].split()[-1], lines[0].split()[4])
got = bytearray()
f.retrbinary('RETR sub/big.bin', got.extend)
print('RETR', 'same' if bytes(got) == data else 'DIFFERENT')
tail = bytearray()
f.retrbinary('RETR sub/big.bin', tail.extend, rest=7000001)
print('REST', 'same' if bytes(tail) == data[7000001:] else 'DIFFERENT', len(tail))
try:
    with open(path, 'rb') as src:
        f.storbinary('APPE sub/big.bin', src)
except ftplib.error_perm as e:
    print('APPE', e)
try:
    with open(path, 'rb') as src:
        f.storbinary('STOR sub/big.bin', src, rest=1000)
except ftplib.error_perm as e:
    print('REST+STOR', e)
try:
    f.rmd('sub')
except ftplib.error_perm as e:
    print('RMD full', e)
print(f.rename('sub/big.bin', 'moved.bin'))
print('NLST', f.nlst())
print(f.rmd('sub'))
print('NLST after RMD', f.nlst())
try:
    f.cwd('sub')
except ftplib.error_perm as e:
    print('CWD gone', e)
f.quit()
print('OK')
`

// ftpd --storage s3 against SeaweedFS, through Python's ftplib and curl:
// upload, listings, byte-for-byte and ranged downloads, rename (a copy
// and a delete), MKD/RMD of prefixes, APPE and REST+STOR refused.
func TestS3StorageRealClients(t *testing.T) {
	py := requireTool(t, "python3")
	curl := requireTool(t, "curl")
	p := startS3FTPD(t)
	data := randomBytes(t, 12<<20+4321) // three parts of 5 MiB
	src := filepath.Join(t.TempDir(), "big.bin")
	require.NoError(t, os.WriteFile(src, data, 0o644))
	script := filepath.Join(t.TempDir(), "s3.py")
	require.NoError(t, os.WriteFile(script, []byte(s3FtplibScript), 0o644))

	out := runTool(t, 2*time.Minute, py, script, "127.0.0.1", strconv.Itoa(p.port), src)
	for _, want := range []string{
		"MKD again 550",
		"MKD no parent 550",
		"226 Transfer Complete.",
		fmt.Sprintf("SIZE %d", len(data)),
		"MDTM 213 ",
		"MLSD ['big.bin']",
		fmt.Sprintf("LIST 1 big.bin %d", len(data)),
		"RETR same",
		fmt.Sprintf("REST same %d", len(data)-7000001),
		"APPE 550 ",
		"REST+STOR 550 ",
		"Operation not supported by this storage",
		"RMD full 550 ",
		"250 ",
		"NLST ['moved.bin', 'sub']",
		"NLST after RMD ['moved.bin']",
		"CWD gone 550",
		"OK",
	} {
		assert.Contains(t, out, want)
	}
	obj, err := p.object(t, "moved.bin")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, obj), "the object in the bucket is the file, byte for byte")
	_, err = p.object(t, "sub/big.bin")
	assert.Error(t, err, "renamed: the old key is gone")
	assert.Zero(t, p.uploads(t), "no multipart upload left behind")

	base := fmt.Sprintf("ftp://127.0.0.1:%d/", p.port)
	auth := []string{"--silent", "--show-error", "--max-time", "60", "--user", "alice:secret"}
	runTool(t, time.Minute, curl, append(auth, "-T", src, base+"curl.bin")...)
	listing := runTool(t, time.Minute, curl, append(auth, base)...)
	assert.Contains(t, listing, "curl.bin")
	assert.Contains(t, listing, "moved.bin")
	dl := filepath.Join(t.TempDir(), "dl.bin")
	runTool(t, time.Minute, curl, append(auth, "-o", dl, base+"curl.bin")...)
	got, err := os.ReadFile(dl)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "curl download byte for byte")
	runTool(t, time.Minute, curl, append(auth, "-r", "5242870-5242889", "-o", dl, base+"curl.bin")...)
	got, err = os.ReadFile(dl)
	require.NoError(t, err)
	assert.Equal(t, data[5242870:5242890], got, "curl's ranged download (REST, then ABOR at the end of the range)")

	// Anonymous users see the prefix pub, read-only.
	_, err = p.c.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(s3test.Bucket), Key: aws.String(p.prefix + "/pub/hello.txt"),
		Body: strings.NewReader("hello\n"), ContentLength: aws.Int64(6)})
	require.NoError(t, err)
	assert.Equal(t, "hello\n", runTool(t, time.Minute, curl, "--silent", "--show-error", base+"hello.txt"))
}

// An upload cut short never shows: a client killed mid-upload leaves the
// old object and no multipart upload; a server killed mid-upload leaves
// the old object and a multipart upload, which the next start aborts;
// the client's retry then succeeds.
func TestS3StorageKilledUploads(t *testing.T) {
	curl := requireTool(t, "curl")
	p := startS3FTPD(t)
	old := randomBytes(t, 1<<20)
	oldFile := filepath.Join(t.TempDir(), "old.bin")
	require.NoError(t, os.WriteFile(oldFile, old, 0o644))
	big := filepath.Join(t.TempDir(), "big.bin")
	bigData := randomBytes(t, 24<<20)
	require.NoError(t, os.WriteFile(big, bigData, 0o644))
	url := func() string { return fmt.Sprintf("ftp://alice:secret@127.0.0.1:%d/keep.bin", p.port) }
	runTool(t, time.Minute, curl, "-s", "-S", "-T", oldFile, url())

	// Uploading at 4 MiB/s, killed after 2 s: more than one part has gone
	// up (the multipart upload exists) when the cut comes.
	slowUpload := func() *exec.Cmd {
		cmd := exec.Command(curl, "-s", "--limit-rate", "4M", "-T", big, url())
		require.NoError(t, cmd.Start())
		require.True(t, waitFor(20*time.Second, func() bool { return p.uploads(t) == 1 }), "a multipart upload started: %s", p.Log)
		return cmd
	}

	cmd := slowUpload()
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL)) // only the process this test started
	_ = cmd.Wait()
	assert.True(t, waitFor(20*time.Second, func() bool { return p.uploads(t) == 0 }), "the server aborted the upload of the killed client")
	obj, err := p.object(t, "keep.bin")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(old, obj), "the old object is intact")

	cmd = slowUpload()
	p.Kill(t) // the server, mid-upload
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	obj, err = p.object(t, "keep.bin")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(old, obj), "the old object is intact after the server's death")
	assert.Equal(t, 1, p.uploads(t), "the dead server's multipart upload is left")

	p.start(t, "&stale-upload-age=-1s") // single node: every upload before now is stale
	assert.Zero(t, p.uploads(t), "aborted at start")
	assert.NotEmpty(t, p.Process.Log.String())
	assert.True(t, waitFor(5*time.Second, func() bool { return strings.Contains(p.Process.Log.String(), "stale multipart uploads aborted") }), p.Process.Log.String())
	runTool(t, 2*time.Minute, curl, "-s", "-S", "-T", big, url())
	obj, err = p.object(t, "keep.bin")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(bigData, obj), "the retry succeeds")
	assert.Zero(t, p.uploads(t))
}

// A transfer through the S3 storage holds a part (5 MiB) of the file, not
// the file: the server's resident memory grows by far less than a 96 MiB
// upload or download while it runs.
func TestS3StorageTransfersInBoundedMemory(t *testing.T) {
	curl := requireTool(t, "curl")
	p := startS3FTPD(t)
	const size = 96 << 20
	src := filepath.Join(t.TempDir(), "big.bin")
	data := randomBytes(t, size)
	require.NoError(t, os.WriteFile(src, data, 0o644))
	url := fmt.Sprintf("ftp://alice:secret@127.0.0.1:%d/big.bin", p.port)
	base, err := procstat.RSS(p.Pid)
	require.NoError(t, err)

	// peakDuring runs curl and samples the server's RSS every 20 ms.
	peakDuring := func(args ...string) (int64, time.Duration) {
		cmd := exec.Command(curl, append([]string{"-s", "-S", "--max-time", "120"}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var peak int64
		for {
			if n, err := procstat.RSS(p.Pid); err == nil && n > peak {
				peak = n
			}
			select {
			case err := <-done:
				require.NoError(t, err, out.String())
				return peak, time.Since(start)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	up, upTook := peakDuring("-T", src, url)
	dl := filepath.Join(t.TempDir(), "dl.bin")
	down, downTook := peakDuring("-o", dl, url)
	got, err := os.ReadFile(dl)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "byte for byte")
	t.Logf("RSS %d MiB at start; peak %d MiB during STOR (%.0f MB/s), %d MiB during RETR (%.0f MB/s)",
		base>>20, up>>20, float64(size)/upTook.Seconds()/1e6, down>>20, float64(size)/downTook.Seconds()/1e6)
	assert.Less(t, up-base, int64(48<<20), "STOR holds a part, not the file")
	assert.Less(t, down-base, int64(48<<20), "RETR streams the GET")
}
