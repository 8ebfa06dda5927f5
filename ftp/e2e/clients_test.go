package e2e_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireTool finds an external client. Outside CI a missing client skips
// the test; in CI (CI set) it fails it: `make test` installs them.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; make test installs it (as root)", name)
		}
		t.Skipf("%s not installed (make test installs it)", name)
	}
	return p
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func runTool(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out.String())
	case <-time.After(timeout):
		_ = cmd.Process.Kill() // only the process this test started
		<-done
		t.Fatalf("%s timed out after %v:\n%s", name, timeout, out.String())
	}
	return out.String()
}

func goClient(t *testing.T, s *server, user, pass string) *ftp.ServerConn {
	t.Helper()
	c, err := ftp.Dial(s.addr, ftp.DialWithTimeout(10*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Quit() })
	require.NoError(t, c.Login(user, pass))
	return c
}

func TestGoClientLibrary(t *testing.T) {
	s := startFTPD(t)
	c := goClient(t, s, "alice", "secret")

	require.NoError(t, c.MakeDir("docs"))
	require.NoError(t, c.ChangeDir("docs"))
	dir, err := c.CurrentDir()
	require.NoError(t, err)
	assert.Equal(t, "/docs", dir)

	payload := randomBytes(t, 3<<20+17)
	require.NoError(t, c.Stor("blob.bin", bytes.NewReader(payload)))
	onDisk, err := os.ReadFile(filepath.Join(s.root, "docs", "blob.bin"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(payload, onDisk), "uploaded bytes reach the disk unchanged")

	size, err := c.FileSize("blob.bin")
	require.NoError(t, err)
	assert.Equal(t, int64(len(payload)), size)

	mt, err := c.GetTime("blob.bin")
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), mt, 10*time.Minute, "MDTM is UTC")

	r, err := c.Retr("blob.bin")
	require.NoError(t, err)
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.True(t, bytes.Equal(payload, got), "downloaded bytes equal the upload")

	r, err = c.RetrFrom("blob.bin", 1000)
	require.NoError(t, err)
	got, err = io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.True(t, bytes.Equal(payload[1000:], got), "REST resumes at the offset")

	entries, err := c.List("")
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "blob.bin", entries[0].Name)
	assert.Equal(t, uint64(len(payload)), entries[0].Size)

	names, err := c.NameList(".")
	require.NoError(t, err)
	assert.Equal(t, []string{"blob.bin"}, names)

	require.NoError(t, c.Rename("blob.bin", "renamed.bin"))
	_, err = os.Stat(filepath.Join(s.root, "docs", "renamed.bin"))
	assert.NoError(t, err)
	require.NoError(t, c.Delete("renamed.bin"))
	_, err = os.Stat(filepath.Join(s.root, "docs", "renamed.bin"))
	assert.ErrorIs(t, err, fs.ErrNotExist)

	require.NoError(t, c.ChangeDirToParent())
	require.NoError(t, c.RemoveDir("docs"))
	_, err = os.Stat(filepath.Join(s.root, "docs"))
	assert.ErrorIs(t, err, fs.ErrNotExist)

	err = c.ChangeDir("../../etc")
	assert.Error(t, err, "nothing above the root")
}

func TestAnonymousIsReadOnly(t *testing.T) {
	s := startFTPD(t)
	require.NoError(t, os.WriteFile(filepath.Join(s.root, "pub.txt"), []byte("public\n"), 0o644))
	c := goClient(t, s, "anonymous", "guest@example.com")
	r, err := c.Retr("pub.txt")
	require.NoError(t, err)
	b, _ := io.ReadAll(r)
	_ = r.Close()
	assert.Equal(t, "public\n", string(b))
	err = c.Stor("new.txt", strings.NewReader("x"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "550")
	assert.Error(t, c.MakeDir("d"))
	assert.Error(t, c.Delete("pub.txt"))
	_, err = os.Stat(filepath.Join(s.root, "new.txt"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestWrongPasswordAndUnknownUserLookAlike(t *testing.T) {
	s := startFTPD(t)
	for _, tc := range []struct{ user, pass string }{{"alice", "wrong"}, {"mallory", "secret"}} {
		c, err := ftp.Dial(s.addr, ftp.DialWithTimeout(10*time.Second))
		require.NoError(t, err)
		err = c.Login(tc.user, tc.pass)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "530")
		_ = c.Quit()
	}
}

func TestConcurrentSessionsRoundTrip(t *testing.T) {
	// 200 sessions of one address transferring at once: no per-address cap.
	s := startFTPDWith(t, "127.0.0.1:0", noPassiveCap)
	const sessions = 200
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i := 0; i < sessions; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- func() error {
				c, err := ftp.Dial(s.addr, ftp.DialWithTimeout(30*time.Second))
				if err != nil {
					return err
				}
				defer c.Quit()
				if err := c.Login("alice", "secret"); err != nil {
					return err
				}
				content := bytes.Repeat([]byte(fmt.Sprintf("session %d\n", i)), 100+i)
				name := fmt.Sprintf("s%03d.txt", i)
				if err := c.Stor(name, bytes.NewReader(content)); err != nil {
					return fmt.Errorf("stor %s: %w", name, err)
				}
				r, err := c.Retr(name)
				if err != nil {
					return fmt.Errorf("retr %s: %w", name, err)
				}
				got, err := io.ReadAll(r)
				_ = r.Close()
				if err != nil || !bytes.Equal(got, content) {
					return fmt.Errorf("session %d: content differs (%d vs %d bytes, %v)", i, len(got), len(content), err)
				}
				return nil
			}()
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	for i := 0; i < sessions; i++ {
		b, err := os.ReadFile(filepath.Join(s.root, fmt.Sprintf("s%03d.txt", i)))
		require.NoError(t, err)
		assert.Equal(t, bytes.Repeat([]byte(fmt.Sprintf("session %d\n", i)), 100+i), b)
	}
}

const ftplibScript = `
import ftplib, io, sys
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
f = ftplib.FTP()
f.connect(host, port, timeout=20)
f.login("alice", "secret")
f.set_pasv(mode == "passive")
data = bytes(range(256)) * 4096 + b"tail"
f.storbinary("STOR bin.dat", io.BytesIO(data))
out = io.BytesIO()
f.retrbinary("RETR bin.dat", out.write)
assert out.getvalue() == data, "binary round trip"
f.storlines("STOR text.txt", io.BytesIO(b"line one\nline two\n"))
lines = []
f.retrlines("RETR text.txt", lines.append)
assert lines == ["line one", "line two"], lines
f.mkd("sub")
f.cwd("sub")
assert f.pwd() == "/sub", f.pwd()
f.cwd("/")
names = sorted(f.nlst())
assert names == ["bin.dat", "sub", "text.txt"], names
listing = []
f.dir(listing.append)
assert len(listing) == 3, listing
assert f.size("bin.dat") == len(data)
# MLSD (RFC 3659) as ftplib parses it: names with their facts.
facts = dict(f.mlsd("/", facts=["type", "size", "perm"]))
assert sorted(facts) == ["bin.dat", "sub", "text.txt"], facts
assert facts["bin.dat"]["type"] == "file" and int(facts["bin.dat"]["size"]) == len(data), facts["bin.dat"]
assert facts["sub"]["type"] == "dir" and "l" in facts["sub"]["perm"], facts["sub"]
f.rename("bin.dat", "moved.dat")
f.delete("moved.dat")
f.rmd("sub")
# ABOR is sent with MSG_OOB by ftplib's abort(): it must still be read.
print(f.abort())
print(f.sendcmd("SYST"))
print(f.sendcmd("FEAT").replace("\n", " "))
f.quit()
print("OK")
`

func TestPythonFtplib(t *testing.T) {
	py := requireTool(t, "python3")
	script := filepath.Join(t.TempDir(), "client.py")
	require.NoError(t, os.WriteFile(script, []byte(ftplibScript), 0o644))
	for _, mode := range []string{"passive", "active"} {
		t.Run(mode, func(t *testing.T) {
			s := startFTPD(t)
			out := runTool(t, time.Minute, py, script, "127.0.0.1", fmt.Sprint(s.port), mode)
			assert.Contains(t, out, "OK")
			assert.Contains(t, out, "215 UNIX Type: L8")
			b, err := os.ReadFile(filepath.Join(s.root, "text.txt"))
			require.NoError(t, err)
			assert.Equal(t, "line one\nline two\n", string(b), "TYPE A upload stores LF line ends")
		})
	}
}

func TestCurl(t *testing.T) {
	curl := requireTool(t, "curl")
	s := startFTPD(t)
	payload := randomBytes(t, 1<<20)
	require.NoError(t, os.WriteFile(filepath.Join(s.root, "down.bin"), payload, 0o644))
	base := fmt.Sprintf("ftp://127.0.0.1:%d/", s.port)
	auth := []string{"--silent", "--show-error", "--max-time", "60", "--user", "alice:secret"}
	dl := filepath.Join(t.TempDir(), "dl.bin")
	up := filepath.Join(t.TempDir(), "up.bin")
	require.NoError(t, os.WriteFile(up, payload[:500000], 0o644))

	cases := []struct {
		name string
		args []string
	}{
		{"epsv", nil},
		{"pasv", []string{"--disable-epsv"}},
		{"active-eprt", []string{"--ftp-port", "127.0.0.1"}},
		{"active-port", []string{"--ftp-port", "127.0.0.1", "--disable-eprt"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			listing := runTool(t, time.Minute, curl, append(append(auth, tc.args...), base)...)
			assert.Contains(t, listing, "down.bin")

			runTool(t, time.Minute, curl, append(append(auth, tc.args...), "-o", dl, base+"down.bin")...)
			got, err := os.ReadFile(dl)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(payload, got), "download byte for byte")

			name := "up-" + tc.name + ".bin"
			runTool(t, time.Minute, curl, append(append(auth, tc.args...), "-T", up, base+name)...)
			onDisk, err := os.ReadFile(filepath.Join(s.root, name))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(payload[:500000], onDisk), "upload byte for byte")
		})
	}
	t.Run("create-dirs", func(t *testing.T) {
		runTool(t, time.Minute, curl, append(auth, "--ftp-create-dirs", "-T", up, base+"a/b/c/deep.bin")...)
		onDisk, err := os.ReadFile(filepath.Join(s.root, "a", "b", "c", "deep.bin"))
		require.NoError(t, err)
		assert.Equal(t, 500000, len(onDisk))
	})
}

func TestLftpMirror(t *testing.T) {
	lftp := requireTool(t, "lftp")
	s := startFTPD(t)
	local := t.TempDir()
	tree := map[string][]byte{
		"top.txt":                []byte("top level\n"),
		"empty":                  {},
		"d1/one.bin":             randomBytes(t, 70000),
		"d1/d2/two.bin":          randomBytes(t, 2<<20+3),
		"d1/d2/d3/three.txt":     []byte("deep\r\nwith crlf\r\n"),
		"other/spaces in name.t": []byte("spaces\n"),
	}
	for name, b := range tree {
		p := filepath.Join(local, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}
	old := time.Date(2021, 7, 8, 9, 10, 11, 0, time.UTC)
	require.NoError(t, os.Chtimes(filepath.Join(local, "d1", "one.bin"), old, old))
	back := t.TempDir()
	debug := filepath.Join(t.TempDir(), "lftp.log")
	script := fmt.Sprintf("debug -o %s 5; set ftp:passive-mode on; set net:max-retries 1; set net:timeout 20; "+
		"mirror -R --verbose=0 %s /up; mirror --verbose=0 /up %s/up; bye", debug, local, back)
	runTool(t, 2*time.Minute, lftp, "-u", "alice,secret", "-p", fmt.Sprint(s.port), "-e", script, "127.0.0.1")
	log, err := os.ReadFile(debug)
	require.NoError(t, err)
	assert.Contains(t, string(log), "---> MLSD", "lftp lists with MLSD, which FEAT announces")
	for _, copyOf := range []string{filepath.Join(s.root, "up"), filepath.Join(back, "up")} {
		fi, err := os.Stat(filepath.Join(copyOf, "d1", "one.bin"))
		require.NoError(t, err)
		assert.Equal(t, old, fi.ModTime().UTC(), "the time survives the round trip (MFMT up, MLSD's modify down): %s", copyOf)
	}
	for name, want := range tree {
		got, err := os.ReadFile(filepath.Join(s.root, "up", filepath.FromSlash(name)))
		require.NoError(t, err, name)
		assert.True(t, bytes.Equal(want, got), "mirror up: %s", name)
		got, err = os.ReadFile(filepath.Join(back, "up", filepath.FromSlash(name)))
		require.NoError(t, err, name)
		assert.True(t, bytes.Equal(want, got), "mirror down: %s", name)
	}
}

func TestIPv6WithEPSV(t *testing.T) {
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no IPv6 loopback: %v", err)
		}
		t.Skip("no IPv6 loopback")
	} else {
		ln.Close()
	}
	s := startFTPDOn(t, "[::1]:0")
	c := goClient(t, s, "alice", "secret") // jlaffaye/ftp uses EPSV
	payload := randomBytes(t, 100000)
	require.NoError(t, c.Stor("v6.bin", bytes.NewReader(payload)))
	r, err := c.Retr("v6.bin")
	require.NoError(t, err)
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.True(t, bytes.Equal(payload, got))
}
