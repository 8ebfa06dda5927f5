package e2e_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/bench/procstat"
	"github.com/gnetftp/gnetftp/internal/ftptest"
)

// ftpdProc is a real ftpd program (internal/ftptest.Start: built from
// this module, or FTPD_BIN's build), stopped by its pid at the test's
// end. Its server has no Factory: only the wire and the disk can be
// looked at, and the process's memory and descriptors.
type ftpdProc struct {
	server
	*ftptest.Process
	top   string // the served root (server.root is alice's home in it)
	users string // the users file
}

// startFTPDProcess runs ftpd on 127.0.0.1 (a port of the kernel's
// choosing) over a fresh root, with the user alice (password "secret",
// home <root>/alice) and anonymous access; extra flags are appended.
func startFTPDProcess(t *testing.T, extra ...string) *ftpdProc {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "alice"), 0o755))
	hash, err := bcrypt.GenerateFromPassword([]byte(ftptest.Password), bcrypt.MinCost)
	require.NoError(t, err)
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, os.WriteFile(users, []byte(ftptest.User+":"+string(hash)+":alice\n"), 0o600))
	return startFTPDProcessOn(t, root, users, extra...)
}

// startFTPDProcessOn is startFTPDProcess on an existing root and users
// file (a restart).
func startFTPDProcessOn(t *testing.T, root, users string, extra ...string) *ftpdProc {
	t.Helper()
	proc := ftptest.Start(t, nil, append([]string{"--root", root, "--users", users, "--anonymous"}, extra...)...)
	proc.WaitSwept(t) // a settled process, for the tests that count its descriptors
	_, port, err := net.SplitHostPort(proc.Addr)
	require.NoError(t, err)
	n, _ := strconv.Atoi(port)
	return &ftpdProc{server: server{addr: proc.Addr, port: n, root: filepath.Join(root, "alice")}, Process: proc, top: root, users: users}
}

// kill ends the server with SIGKILL, as a crash would, and waits for it.
func (p *ftpdProc) kill(t *testing.T) { p.Kill(t) }

// pid is the server process's id.
func (p *ftpdProc) pid() int { return p.Pid }

// rss is the server's resident memory.
func (p *ftpdProc) rss(t *testing.T) int64 {
	t.Helper()
	n, err := procstat.RSS(p.pid())
	require.NoError(t, err)
	return n
}

// fds counts the server's open descriptors.
func (p *ftpdProc) fds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid()))
	require.NoError(t, err)
	return len(ents)
}

// fdList names the server's open descriptors (what each links to), for
// the message of a failed count.
func (p *ftpdProc) fdList(t *testing.T) string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", p.pid())
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink(dir + "/" + e.Name())
		out = append(out, e.Name()+"->"+l)
	}
	return strings.Join(out, " ")
}

// logLines returns the lines of the server's log that contain every one
// of words.
func (p *ftpdProc) logLines(words ...string) []string {
	var out []string
	for _, l := range strings.Split(p.Log.String(), "\n") {
		all := l != ""
		for _, w := range words {
			all = all && strings.Contains(l, w)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

// waitFor polls cond every 20 ms until it holds or limit passes (a
// bound against hangs, not a wait for an expected delay); it reports
// whether cond held.
func waitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
