package ftptest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds cmd/ftpd once per test binary (go build, the module's own
// source) and returns the executable's path. FTPD_BIN names another build
// instead, so that a process test can be run against the old server to
// see it fail.
func Binary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("FTPD_BIN"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ftpd-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "ftpd")
		cmd := exec.Command("go", "build", "-o", buildPath, "github.com/gnetftp/gnetftp/cmd/ftpd")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build cmd/ftpd: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Process is an ftpd process started by Start.
type Process struct {
	Cmd  *exec.Cmd
	Addr string // the first listener, host:port
	// TLSAddr is the first implicit-FTPS listener (--listen-tls), if any.
	TLSAddr string
	Pid     int
	Log     *SyncBuffer // what it wrote on standard error
	Out     *SyncBuffer // what it wrote on standard output

	exited chan struct{} // closed once the process has been waited for
}

// SyncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	servingRE = regexp.MustCompile(`serving .* on (ftps?)://(\S+) `)
	tryRE     = regexp.MustCompile(`^ftpd: try `) // follows every serving line
)

// Start runs the ftpd binary with args (listening on 127.0.0.1:0 unless
// args say --listen) and waits up to 30 s for its "serving" line. At
// cleanup it sends SIGTERM, then SIGKILL after 10 s, and waits: only the
// process it started. prepare, when not nil, may adjust the command first
// (its SysProcAttr, say).
func Start(t testing.TB, prepare func(*exec.Cmd), args ...string) *Process {
	t.Helper()
	hasListen := false
	for _, a := range args {
		if a == "--listen" {
			hasListen = true
		}
	}
	if !hasListen {
		args = append([]string{"--listen", "127.0.0.1:0"}, args...)
	}
	cmd := exec.Command(Binary(t), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{Cmd: cmd, Log: &SyncBuffer{}, Out: &SyncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.Log
	if prepare != nil {
		prepare(cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.Pid = cmd.Process.Pid
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.Stop(t) })
	addr := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var plain, implicit string
		sent := false
		for sc.Scan() {
			_, _ = p.Out.Write([]byte(sc.Text() + "\n"))
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				switch {
				case m[1] == "ftp" && plain == "":
					plain = m[2]
				case m[1] == "ftps" && implicit == "":
					implicit = m[2]
				}
			}
			if tryRE.MatchString(sc.Text()) && !sent {
				addr <- [2]string{plain, implicit}
				sent = true
			}
		}
		if !sent {
			close(addr)
		}
		_, _ = io.Copy(p.Out, stdout)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			<-p.exited
			t.Fatalf("ftpd exited before serving: %s", p.Log)
		}
		p.Addr, p.TLSAddr = a[0], a[1]
	case <-time.After(30 * time.Second):
		t.Fatalf("ftpd did not start serving in 30 s: %s", p.Log)
	}
	return p
}

// Stop ends the process (SIGTERM, SIGKILL after 10 s) and waits for it;
// safe to call twice.
func (p *Process) Stop(t testing.TB) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM) // only the process Start started
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.exited
	}
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill(t testing.TB) {
	_ = p.Cmd.Process.Kill() // only the process Start started
	<-p.exited
}

// Exited is closed once the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// WaitSwept waits (30 s at most, then fails t) until the server has
// logged the end of its start-up sweep of stale uploads ("ftp start-up
// sweep done", a local root only): until then the sweep may hold a
// descriptor of the root, which a count of the server's descriptors must
// not take for one of a session.
func (p *Process) WaitSwept(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(p.Log.String(), "ftp start-up sweep done"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("ftpd did not log the end of its start-up sweep in 30 s: %s", p.Log)
		}
	}
}
