package e2e_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
