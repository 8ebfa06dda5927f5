// Package hooks runs an operator's programs after FTP events: an upload,
// a download, a delete (ftpd --on-upload, --on-download, --on-delete).
// A Runner is an ftp.Events; the program runs off the event loops, on a
// bounded set of workers, killed (its whole process group) after a
// timeout. Its outcome is logged and never reaches the session: a hook
// that fails, hangs or floods its output costs the client nothing.
//
// The program is a command line run by /bin/sh -c, with the event in its
// environment (besides the server's own):
//
//	FTPD_EVENT   upload, download or delete
//	FTPD_COMMAND the FTP command (STOR, APPE, STOU, RETR, DELE)
//	FTPD_USER    the user name given to USER
//	FTPD_PATH    the file on the server's filesystem
//	FTPD_FTP_PATH the file as the client named it (absolute virtual path)
//	FTPD_SIZE    bytes transferred (empty for a delete)
//	FTPD_PEER    the client's IP address
//	FTPD_RESULT  ok, or failed (the transfer did not complete)
//	FTPD_ERROR   why it failed (empty when ok)
package hooks

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gnetftp/gnetftp/ftp"
)

// Config says which programs run and how many at once. The zero value
// runs nothing.
type Config struct {
	// OnUpload runs after every STOR, APPE and STOU, complete or not.
	OnUpload string
	// OnDownload runs after every RETR, complete or not.
	OnDownload string
	// OnDelete runs after every DELE that removed a file.
	OnDelete string
	// MaxRunning bounds the programs running at once; default 4.
	MaxRunning int
	// Queue bounds the events waiting for a worker; default 1024. An
	// event over it runs no program and is logged (and counted:
	// Dropped).
	Queue int
	// Timeout kills a program (SIGKILL to its process group) still
	// running after this long; default 60 s, negative: never.
	Timeout time.Duration
	// Shell runs the command line as Shell -c LINE; default /bin/sh.
	Shell string
	// Logger gets one line per program run (debug when it succeeded,
	// warn when it failed); default slog.Default().
	Logger *slog.Logger
}

// Runner is the ftp.Events that runs the programs. Its event methods may
// be called from any goroutine and never block; Close waits for the
// programs running.
type Runner struct {
	ftp.BaseEvents
	cfg     Config
	mu      sync.Mutex // guards closed and the send on jobs
	closed  bool
	jobs    chan job
	wg      sync.WaitGroup
	dropped atomic.Int64
	ran     atomic.Int64
}

type job struct {
	event, command, path string
	env                  []string
}

// outputKept is how much of a program's output a failure's log line
// quotes.
const outputKept = 512

// New starts the workers (none when Config names no program).
func New(cfg Config) *Runner {
	if cfg.MaxRunning <= 0 {
		cfg.MaxRunning = 4
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1024
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Shell == "" {
		cfg.Shell = "/bin/sh"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Runner{cfg: cfg, jobs: make(chan job, cfg.Queue)}
	if cfg.OnUpload == "" && cfg.OnDownload == "" && cfg.OnDelete == "" {
		return r
	}
	r.wg.Add(cfg.MaxRunning)
	for range cfg.MaxRunning {
		go r.work()
	}
	return r
}

// uploads and downloads map a transfer's command to its hook's event.
var transferEvents = map[string]string{"STOR": "upload", "APPE": "upload", "STOU": "upload", "RETR": "download"}

// TransferDone runs OnUpload or OnDownload for a file transfer.
func (r *Runner) TransferDone(e ftp.TransferEvent) {
	event, ok := transferEvents[e.Command]
	if !ok {
		return
	}
	line := r.cfg.OnUpload
	if event == "download" {
		line = r.cfg.OnDownload
	}
	if line == "" {
		return
	}
	result, why := "ok", ""
	if !e.Complete {
		result = "failed"
		if e.Err != nil {
			why = e.Err.Error()
		}
	}
	r.submit(line, event, e.Command, e.SessionInfo, e.LocalPath, e.Path, strconv.FormatInt(e.Bytes, 10), result, why)
}

// FileChanged runs OnDelete for a DELE.
func (r *Runner) FileChanged(e ftp.FileEvent) {
	if e.Command != "DELE" || r.cfg.OnDelete == "" {
		return
	}
	r.submit(r.cfg.OnDelete, "delete", e.Command, e.SessionInfo, e.LocalPath, e.Path, "", "ok", "")
}

func (r *Runner) submit(line, event, command string, who ftp.SessionInfo, local, virtual, size, result, why string) {
	if local == "" {
		local = virtual
	}
	env := []string{
		"FTPD_EVENT=" + event, "FTPD_COMMAND=" + command, "FTPD_USER=" + who.User,
		"FTPD_PATH=" + local, "FTPD_FTP_PATH=" + virtual, "FTPD_SIZE=" + size,
		"FTPD_PEER=" + host(who.Peer), "FTPD_RESULT=" + result, "FTPD_ERROR=" + why,
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	select {
	case r.jobs <- job{event: event, command: line, path: local, env: env}:
	default:
		r.dropped.Add(1)
		r.cfg.Logger.Warn("hook not run: too many waiting", "event", event, "path", local, "waiting", r.cfg.Queue)
	}
}

func (r *Runner) work() {
	defer r.wg.Done()
	for j := range r.jobs {
		r.run(j)
	}
}

// run runs one program to its end or its timeout.
func (r *Runner) run(j job) {
	ctx := context.Background()
	if r.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, r.cfg.Shell, "-c", j.command)
	cmd.Env = append(os.Environ(), j.env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The whole group: a shell's children die with it.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // a grandchild holding the output open does not hold the worker
	out := &tail{max: outputKept}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err := cmd.Run()
	r.ran.Add(1)
	took := float64(time.Since(start).Microseconds()) / 1000
	path := j.path
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("killed after %s: %w", r.cfg.Timeout, ctx.Err())
		}
		r.cfg.Logger.Warn("hook failed", "event", j.event, "path", path, "err", err.Error(), "output", out.String(), "duration_ms", took)
		return
	}
	r.cfg.Logger.Debug("hook ran", "event", j.event, "path", path, "duration_ms", took)
}

// Ran reports the programs that have run (to their end or killed).
func (r *Runner) Ran() int64 { return r.ran.Load() }

// Dropped reports the events that ran no program because the queue was
// full.
func (r *Runner) Dropped() int64 { return r.dropped.Load() }

// Close stops taking events, lets the queued ones run and waits for them
// (each bounded by Timeout).
func (r *Runner) Close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.jobs)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func host(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if a == nil {
		return ""
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}
