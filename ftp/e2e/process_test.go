package e2e_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/bench/procstat"
	"github.com/gnetftp/gnetftp/internal/ftptest"
)

// ftpdProc is a real ftpd program, started by a test and stopped (by its
// pid) at the test's end. Its server has no Factory: only the wire and
// the disk can be looked at, and the process's memory and descriptors.
type ftpdProc struct {
	server
	cmd    *exec.Cmd
	log    *lockedBuffer // the process's standard error: its log
	exited chan struct{}
	top    string // the served root (server.root is alice's home in it)
	users  string // the users file
}

// lockedBuffer is a bytes.Buffer written by exec's copying goroutine and
// read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ftpdBinary builds cmd/ftpd for the test (the Go build cache makes it
// cheap after the first time), or returns $FTPD_BINARY when set, so the
// same test can be run against another build (main's, to see it fail).
func ftpdBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FTPD_BINARY"); p != "" {
		return p
	}
	out := filepath.Join(t.TempDir(), "ftpd")
	cmd := exec.Command("go", "build", "-o", out, "github.com/gnetftp/gnetftp/cmd/ftpd")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/ftpd:\n%s", b)
	return out
}

// servingLine is what ftpd prints once it listens.
var servingLine = regexp.MustCompile(`serving .* on ftp://(127\.0\.0\.1:(\d+))`)

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
	bin := ftpdBinary(t)
	args := append([]string{"--listen", "127.0.0.1:0", "--root", root, "--users", users, "--anonymous"}, extra...)
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	exited := make(chan struct{})
	p := &ftpdProc{cmd: cmd, log: &lockedBuffer{}, exited: exited}
	cmd.Stderr = p.log
	require.NoError(t, cmd.Start())
	var stdoutDone sync.WaitGroup
	addr := make(chan []string, 1)
	stdoutDone.Go(func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m:
				default:
				}
			}
		}
	})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // only the process this test started
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		stdoutDone.Wait()
	})
	select {
	case m := <-addr:
		port, _ := strconv.Atoi(m[2])
		p.server = server{addr: m[1], port: port, root: filepath.Join(root, "alice")}
		p.top, p.users = root, users
	case <-exited:
		t.Fatalf("ftpd exited at start:\n%s", p.log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("ftpd did not start:\n%s", p.log.String())
	}
	return p
}

// kill ends the server with SIGKILL, as a crash would, and waits for it.
func (p *ftpdProc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Kill()) // only the process this test started
	<-p.exited
}

// pid is the server process's id.
func (p *ftpdProc) pid() int { return p.cmd.Process.Pid }

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

// logLines returns the lines of the server's log that contain every one
// of words.
func (p *ftpdProc) logLines(words ...string) []string {
	var out []string
	for _, l := range strings.Split(p.log.String(), "\n") {
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
