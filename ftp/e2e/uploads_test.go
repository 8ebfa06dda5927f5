package e2e_test

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tree lists every path under dir (directories with a trailing slash).
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		r, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			r += "/"
		}
		out = append(out, r)
		return nil
	}))
	sort.Strings(out)
	return out
}

// nlst lists a directory through a session of its own.
func nlst(t *testing.T, s *server, dir string) []string {
	t.Helper()
	r := rawDial(t, s)
	r.login()
	data, err := net.DialTimeout("tcp", pasvAddr(t, r.cmd("PASV")), 10*time.Second)
	require.NoError(t, err)
	defer data.Close()
	_, err = r.c.Write([]byte("NLST " + dir + "\r\n"))
	require.NoError(t, err)
	_ = data.SetDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(data)
	require.NoError(t, err)
	r.expect("150")
	r.expect("226")
	return strings.Fields(string(b))
}

// startSlowUpload runs curl uploading src to name at 1 MiB/s.
func startSlowUpload(t *testing.T, s *server, src, name string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(requireTool(t, "curl"), "-s", "--limit-rate", "1M", "-T", src, fmt.Sprintf("ftp://alice:secret@%s/%s", s.addr, name))
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // only the process this test started
	return cmd
}

// An upload in progress is nowhere to be seen, neither by clients nor on
// disk, and a server killed in the middle of it (kill -9) leaves no trace:
// the old file as it was, nothing beside it, after a restart too.
func TestServerKilledMidUploadLeavesNoTrace(t *testing.T) {
	p := startFTPDProcess(t)
	old := randomBytes(t, 64<<10)
	require.NoError(t, os.WriteFile(filepath.Join(p.root, "keep.bin"), old, 0o644))
	big := filepath.Join(t.TempDir(), "big")
	require.NoError(t, os.WriteFile(big, randomBytes(t, 8<<20), 0o644))
	curl := startSlowUpload(t, &p.server, big, "keep.bin")
	require.True(t, waitFor(20*time.Second, func() bool { return len(p.logLines(`msg="ftp session start"`)) >= 1 }))
	time.Sleep(time.Second) // well into the upload
	assert.Equal(t, []string{"keep.bin"}, nlst(t, &p.server, "/"), "no client sees the upload")
	assert.Equal(t, []string{"keep.bin"}, tree(t, p.root), "nor is it on disk under any name")

	p.kill(t)
	_ = curl.Process.Kill()
	_ = curl.Wait()
	assert.Equal(t, []string{"keep.bin"}, tree(t, p.root), "nothing left behind")
	got, err := os.ReadFile(filepath.Join(p.root, "keep.bin"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(old, got), "the old file is intact")

	again := startFTPDProcessOn(t, p.top, p.users)
	assert.Equal(t, []string{"keep.bin"}, nlst(t, &again.server, "/"))
}

// Upload files left by a server that had to name them (a filesystem
// without O_TMPFILE, or an older version) and was killed are removed when
// the next one starts, and never listed.
func TestStaleUploadFilesAreRemovedAtStart(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "alice")
	stale := []string{
		filepath.Join(home, ".gnetftp-upload-00000000000000aa"),
		filepath.Join(home, "sub", ".gnetftp-upload-00000000000000bb"),
	}
	old := time.Now().Add(-time.Hour)
	for _, f := range stale {
		require.NoError(t, os.MkdirAll(filepath.Dir(f), 0o755))
		require.NoError(t, os.WriteFile(f, []byte("half an upload"), 0o644))
		require.NoError(t, os.Chtimes(f, old, old))
	}
	first := startFTPDProcess(t) // for its users file
	p := startFTPDProcessOn(t, root, first.users)
	assert.True(t, waitFor(20*time.Second, func() bool {
		_, e1 := os.Lstat(stale[0])
		_, e2 := os.Lstat(stale[1])
		return os.IsNotExist(e1) && os.IsNotExist(e2)
	}), "removed at start")
	assert.Equal(t, []string{"sub/"}, tree(t, home))
	assert.Equal(t, []string{"sub"}, nlst(t, &p.server, "/"))
}

// Renaming the directory an upload goes to, during the upload, moves the
// upload along: it completes in the directory under its new name, and no
// file is stranded anywhere.
func TestRenamingTheDirectoryDuringAnUpload(t *testing.T) {
	p := startFTPDProcess(t)
	require.NoError(t, os.Mkdir(filepath.Join(p.root, "dir"), 0o755))
	data := randomBytes(t, 3<<20)
	src := filepath.Join(t.TempDir(), "src")
	require.NoError(t, os.WriteFile(src, data, 0o644))
	curl := startSlowUpload(t, &p.server, src, "dir/f.bin")
	require.True(t, waitFor(20*time.Second, func() bool { return len(p.logLines(`msg="ftp session start"`)) >= 1 }))
	time.Sleep(time.Second) // the upload is under way
	r := rawDial(t, &p.server)
	r.login()
	assert.Regexp(t, `^350`, r.cmd("RNFR dir"))
	assert.Regexp(t, `^250`, r.cmd("RNTO moved"))
	done := make(chan error, 1)
	go func() { done <- curl.Wait() }()
	select {
	case err := <-done:
		assert.NoError(t, err, "curl's upload succeeded")
	case <-time.After(60 * time.Second):
		t.Fatal("curl did not finish")
	}
	assert.Equal(t, []string{"moved/", "moved/f.bin"}, tree(t, p.root), "nothing stranded")
	got, err := os.ReadFile(filepath.Join(p.root, "moved", "f.bin"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "the whole upload, in the renamed directory")
}
