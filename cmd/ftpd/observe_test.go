package main

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/ftp/auth"
)

// needTool is a real client's path; a missing one fails under CI (make
// test installs them) and skips elsewhere.
func needTool(t *testing.T, name string) string {
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

// usersFile writes a users file with alice/secret (home ROOT/alice).
func usersFile(t *testing.T) string {
	t.Helper()
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, auth.SetPassword(users, "alice", "secret", bcrypt.MinCost))
	return users
}

// runClient runs a client for at most a minute and returns its output;
// it fails the test unless the exit status is want.
func runClient(t *testing.T, want int, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill() // only the client this test started
		<-done
		t.Fatalf("%s %v: no end in a minute: %s", name, args, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	require.Equal(t, want, code, "%s %v: %s", name, args, out)
	return string(out)
}

var metricsLineRE = regexp.MustCompile(`metrics on http://(\S+)/metrics`)

// scrape reads the metrics at addr: value by series as printed
// (`name{label="v",...}`).
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	series := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		series[line[:i]] = v
	}
	require.NoError(t, sc.Err())
	return series
}

// The metrics of real sessions, scraped over HTTP in the Prometheus text
// format: logins by result, transfers and their bytes, command
// durations, sessions, bans, queues and the event loops' lag.
func TestMetricsScrapedOverHTTP(t *testing.T) {
	curl := needTool(t, "curl")
	p := startFTPDProcess(t, 0, "--users", usersFile(t), "--metrics-listen", "127.0.0.1:0")
	m := metricsLineRE.FindStringSubmatch(p.Out.String())
	require.NotNil(t, m, p.Out.String())
	maddr := m[1]

	base := "ftp://" + p.Addr + "/"
	assert.Equal(t, "hello\n", runClient(t, 0, curl, "-sS", base+"hello.txt"))
	up := filepath.Join(t.TempDir(), "up.bin")
	require.NoError(t, os.WriteFile(up, []byte(strings.Repeat("u", 1000)), 0o644))
	runClient(t, 0, curl, "-sS", "-T", up, "ftp://alice:secret@"+p.Addr+"/up.bin")
	runClient(t, 67, curl, "-sS", "ftp://alice:wrong@"+p.Addr+"/")  // 67: login denied
	runClient(t, 67, curl, "-sS", "ftp://nobody:wrong@"+p.Addr+"/") // unknown user

	var s map[string]float64
	require.Eventually(t, func() bool {
		s = scrape(t, maddr)
		return s["ftpd_sessions"] == 0 && s["ftpd_event_loop_lag_seconds_count"] > 0
	}, 20*time.Second, 100*time.Millisecond, "sessions end, the lag is sampled every second")
	for series, want := range map[string]float64{
		`ftpd_logins_total{result="ok"}`:                                 2,
		`ftpd_logins_total{result="bad_password"}`:                       1,
		`ftpd_logins_total{result="unknown_user"}`:                       1,
		`ftpd_transfers_total{command="RETR",result="complete"}`:         1,
		`ftpd_transfers_total{command="STOR",result="complete"}`:         1,
		`ftpd_transfer_bytes_total{direction="download"}`:                6,
		`ftpd_transfer_bytes_total{direction="upload"}`:                  1000,
		`ftpd_command_duration_seconds_count{command="RETR"}`:            1,
		`ftpd_command_duration_seconds_count{command="STOR"}`:            1,
		`ftpd_command_duration_seconds_count{command="PASS"}`:            4,
		`ftpd_command_duration_seconds_bucket{command="RETR",le="+Inf"}`: 1,
		`ftpd_bans_total`:                         0,
		`ftpd_pool_queue_depth{pool="files"}`:     0,
		`ftpd_pool_queue_depth{pool="passwords"}`: 0,
	} {
		got, ok := s[series]
		if assert.True(t, ok, "%s missing", series) {
			assert.Equal(t, want, got, series)
		}
	}
	assert.Positive(t, s[`ftpd_command_duration_seconds_sum{command="RETR"}`])
	assert.Contains(t, s, "go_goroutines", "the Go runtime's collector")
}

// xferlogLine is one xferlog line's 14 fields, parsed as an analyser
// would (the date takes 5 space-separated tokens).
type xferlogLine struct {
	when                                      time.Time
	seconds                                   int
	host                                      string
	size                                      int64
	name, kind, action, direction, mode, user string
	service, authMethod, authUser, completion string
}

func parseXferlog(t *testing.T, line string) xferlogLine {
	t.Helper()
	f := strings.Fields(line)
	require.Len(t, f, 18, "5 date tokens and 13 fields: %q", line)
	when, err := time.ParseInLocation("Mon Jan 2 15:04:05 2006", strings.Join(f[:5], " "), time.Local)
	require.NoError(t, err, line)
	secs, err := strconv.Atoi(f[5])
	require.NoError(t, err, line)
	size, err := strconv.ParseInt(f[7], 10, 64)
	require.NoError(t, err, line)
	return xferlogLine{when: when, seconds: secs, host: f[6], size: size, name: f[8], kind: f[9], action: f[10],
		direction: f[11], mode: f[12], user: f[13], service: f[14], authMethod: f[15], authUser: f[16], completion: f[17]}
}

// --xferlog writes one wu-ftpd line per file transfer of real clients
// (curl, ftplib), complete ("c") or not ("i": ftplib closing the data
// connection early), with the server-side path.
func TestXferlogLinesOfRealTransfers(t *testing.T) {
	curl := needTool(t, "curl")
	python := needTool(t, "python3")
	logPath := filepath.Join(t.TempDir(), "xferlog")
	p := startFTPDProcess(t, 0, "--users", usersFile(t), "--xferlog", logPath)
	root := rootOf(t, p)
	big := filepath.Join(root, "pub", "big.bin")
	require.NoError(t, os.WriteFile(big, make([]byte, 64<<20), 0o644))

	runClient(t, 0, curl, "-sS", "-o", os.DevNull, "ftp://"+p.Addr+"/hello.txt")
	up := filepath.Join(t.TempDir(), "my file.txt")
	require.NoError(t, os.WriteFile(up, []byte("0123456789"), 0o644))
	runClient(t, 0, curl, "-sS", "-T", up, "ftp://alice:secret@"+p.Addr+"/my%20file.txt")
	host, port, _ := strings.Cut(p.Addr, ":")
	out := runClient(t, 0, python, "-c", `
import ftplib, sys
f = ftplib.FTP()
f.connect(sys.argv[1], int(sys.argv[2]), timeout=30)
f.login()
c = f.transfercmd("RETR big.bin")
c.recv(65536)
c.close()
try:
    print(f.getresp())
except ftplib.error_temp as e:
    print(e)
f.quit()
`, host, port)
	assert.Regexp(t, `^426 `, out)

	var lines []string
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(logPath)
		require.NoError(t, err)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return len(lines) == 3
	}, 20*time.Second, 20*time.Millisecond, "three transfers, three lines")

	now := time.Now()
	get := parseXferlog(t, lines[0])
	assert.WithinDuration(t, now, get.when, time.Minute)
	assert.GreaterOrEqual(t, get.seconds, 1)
	assert.Equal(t, xferlogLine{when: get.when, seconds: get.seconds, host: "127.0.0.1", size: 6,
		name: filepath.Join(root, "pub", "hello.txt"), kind: "b", action: "_", direction: "o", mode: "a", user: "anonymous",
		service: "ftp", authMethod: "0", authUser: "*", completion: "c"}, get)

	put := parseXferlog(t, lines[1])
	assert.Equal(t, filepath.Join(root, "alice", "my_file.txt"), put.name, "a space becomes _")
	assert.Equal(t, int64(10), put.size)
	assert.Equal(t, []string{"i", "r", "alice", "c"}, []string{put.direction, put.mode, put.user, put.completion})

	cut := parseXferlog(t, lines[2])
	assert.Equal(t, big, cut.name)
	assert.Equal(t, "i", cut.completion, "an incomplete download")
	assert.Less(t, cut.size, int64(64<<20))
}

// rootOf is the directory the process serves (its "serving" line).
func rootOf(t *testing.T, p *ftpdProcess) string {
	t.Helper()
	m := regexp.MustCompile(`serving (\S+) on`).FindStringSubmatch(p.Out.String())
	require.NotNil(t, m, p.Out.String())
	return m[1]
}

// --on-upload and --on-delete run a program with the event in its
// environment; a hook that hangs is killed after --hook-timeout, logged,
// and costs the session nothing.
func TestHooksSeeTheEventAndAHangingOneIsKilled(t *testing.T) {
	curl := needTool(t, "curl")
	dir := t.TempDir()
	script := filepath.Join(dir, "hook.sh")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\nenv | grep '^FTPD_' | sort > \"$HOOK_OUT/$FTPD_EVENT.env\"\n"), 0o755))
	t.Setenv("HOOK_OUT", dir) // the server's environment passes to the hooks
	p := startFTPDProcess(t, 0, "--users", usersFile(t), "--on-upload", script, "--on-delete", script,
		"--on-download", "sleep 30", "--hook-timeout", "1s")
	root := rootOf(t, p)

	up := filepath.Join(t.TempDir(), "up.txt")
	require.NoError(t, os.WriteFile(up, []byte("twelve bytes"), 0o644))
	runClient(t, 0, curl, "-sS", "-T", up, "ftp://alice:secret@"+p.Addr+"/up.txt")
	env := func(event string) string {
		var b []byte
		require.Eventually(t, func() bool {
			var err error
			b, err = os.ReadFile(filepath.Join(dir, event+".env"))
			return err == nil && len(b) > 0
		}, 20*time.Second, 20*time.Millisecond, "the %s hook ran", event)
		return string(b)
	}
	assert.Equal(t, strings.Join([]string{
		"FTPD_COMMAND=STOR", "FTPD_ERROR=", "FTPD_EVENT=upload", "FTPD_FTP_PATH=/up.txt",
		"FTPD_PATH=" + filepath.Join(root, "alice", "up.txt"), "FTPD_PEER=127.0.0.1", "FTPD_RESULT=ok",
		"FTPD_SIZE=12", "FTPD_USER=alice", ""}, "\n"), env("upload"))

	start := time.Now()
	for range 3 { // three downloads while their hooks hang: not slowed
		runClient(t, 0, curl, "-sS", "-o", os.DevNull, "ftp://alice:secret@"+p.Addr+"/up.txt")
	}
	assert.Less(t, time.Since(start), 10*time.Second)
	runClient(t, 0, curl, "-sS", "-Q", "DELE up.txt", "ftp://alice:secret@"+p.Addr+"/")
	del := env("delete")
	assert.Contains(t, del, "FTPD_EVENT=delete\n")
	assert.Contains(t, del, "FTPD_COMMAND=DELE\n")
	assert.Contains(t, del, "FTPD_PATH="+filepath.Join(root, "alice", "up.txt")+"\n")
	assert.Contains(t, del, "FTPD_SIZE=\n")
	require.Eventually(t, func() bool { return strings.Count(p.Log.String(), `msg="hook failed" event=download`) == 3 },
		20*time.Second, 50*time.Millisecond, "each hanging hook killed after 1 s and logged: %s", p.Log)
	assert.Contains(t, p.Log.String(), "killed after 1s")
}

// The observability flags are keys of the configuration file too, and a
// metrics address that cannot be bound stops ftpd naming it.
func TestObservabilityKeysInTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ftpd.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(`metrics-listen = "127.0.0.1:9121"
xferlog = "/var/log/xferlog"
on-upload = "/usr/local/bin/scan"
on-download = "logger download"
on-delete = "logger delete"
hook-timeout = "5s"
hook-max-running = 2
log-level = "debug"
`), 0o644))
	o, err := parseFlags([]string{"--config", cfg, "--hook-max-running", "3"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, observeOptions{metricsListen: "127.0.0.1:9121", xferlog: "/var/log/xferlog", onUpload: "/usr/local/bin/scan",
		onDownload: "logger download", onDelete: "logger delete", hookTimeout: 5 * time.Second, hookMaxRunning: 3}, o.observe)
	var out bytes.Buffer
	require.NoError(t, checkConfig([]string{"--config", cfg}, &out, &bytes.Buffer{}))
	for _, line := range []string{`metrics-listen = "127.0.0.1:9121"`, `xferlog = "/var/log/xferlog"`, `on-upload = "/usr/local/bin/scan"`,
		`hook-timeout = "5s"`, `hook-max-running = 2`} {
		assert.Contains(t, out.String(), line+"\n")
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	var stderr bytes.Buffer
	code := run([]string{"--root", filepath.Join(dir, "root"), "--listen", "127.0.0.1:0", "--metrics-listen", busy.Addr().String()},
		nil, &bytes.Buffer{}, &stderr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "--metrics-listen "+busy.Addr().String()+": ")
}
