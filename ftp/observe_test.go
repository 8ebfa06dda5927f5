package ftp_test

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/ban"
)

// jsonLines decodes a JSON log, one record a line.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		recs = append(recs, rec)
	}
	return recs
}

// find returns the records with msg whose fields include want.
func find(recs []map[string]any, msg string, want map[string]any) []map[string]any {
	var out []map[string]any
next:
	for _, r := range recs {
		if r["msg"] != msg {
			continue
		}
		for k, v := range want {
			if r[k] != v {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

// failLogin sends USER name and PASS pw, which fails, and waits for the 530.
func failLogin(t *testing.T, h *pi, name, pw string) {
	t.Helper()
	h.cmd("USER " + name)
	h.send("PASS " + pw)
	waitDelayArmed(t, h)
	h.tr.FakeLoop.Advance(time.Second)
	require.Equal(t, "530 Sorry, Authentication failed.", h.next())
}

// The log tells an operator why each login failed (the client is told
// nothing), every change to the tree with the server-side path, the
// failed ones too, and never a password.
func TestLogsLoginReasonsAndFileOperationsWithServerPaths(t *testing.T) {
	var logs syncBuffer
	h := newPI(t, func(c *ftp.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		c.FailedLoginDelay = time.Second
		c.MaxLoginFailures = 5
	})
	h.next()
	failLogin(t, h, "mallory", "pw-of-mallory")
	failLogin(t, h, "alice", "not-her-password")
	h.cmd("USER alice")
	require.Equal(t, "230 User logged in, proceed", h.cmd("PASS secret"))
	writeFile(t, h.root, "f.txt", "x")
	require.Equal(t, `257 "/d" created`, h.cmd("MKD d"))
	h.cmd("RNFR f.txt")
	require.Equal(t, "250 Requested File Action Completed OK", h.cmd("RNTO d/g.txt"))
	require.Regexp(t, `^213 `, h.cmd("MFMT 20200102030405 d/g.txt"))
	require.Equal(t, "250 Requested File Action Completed OK", h.cmd("DELE d/g.txt"))
	require.Regexp(t, `^550 `, h.cmd("DELE d/g.txt"))
	require.Equal(t, "250 Requested File Action Completed OK", h.cmd("RMD d"))
	h.cmd("QUIT")

	out := logs.String()
	assert.NotContains(t, out, "pw-of-mallory")
	assert.NotContains(t, out, "not-her-password")
	assert.NotContains(t, out, "secret")
	recs := jsonLines(t, out)
	assert.Len(t, find(recs, "ftp login failed", map[string]any{"user": "mallory", "reason": ftp.LoginUnknownUser}), 1, out)
	assert.Len(t, find(recs, "ftp login failed", map[string]any{"user": "alice", "reason": ftp.LoginBadPassword}), 1, out)
	assert.Len(t, find(recs, "ftp login", map[string]any{"user": "alice", "anonymous": false, "home": h.root}), 1, out)
	srv := func(p string) string { return filepath.Join(h.root, filepath.FromSlash(p)) }
	for _, want := range []map[string]any{
		{"command": "MKD", "path": srv("d"), "ftp_path": "/d"},
		{"command": "RNTO", "path": srv("f.txt"), "ftp_path": "/f.txt", "to": srv("d/g.txt"), "ftp_to": "/d/g.txt"},
		{"command": "MFMT", "path": srv("d/g.txt")},
		{"command": "DELE", "path": srv("d/g.txt")},
		{"command": "RMD", "path": srv("d")},
	} {
		assert.Len(t, find(recs, "ftp file changed", want), 1, "%v\n%s", want, out)
	}
	failed := find(recs, "ftp file change failed", map[string]any{"command": "DELE", "path": srv("d/g.txt")})
	require.Len(t, failed, 1, out)
	assert.NotEmpty(t, failed[0]["err"])
}

// --log-level debug traces every command and reply, PASS's argument
// hidden.
func TestDebugTracesCommandsButNeverThePassword(t *testing.T) {
	var logs syncBuffer
	h := newPI(t, func(c *ftp.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	h.login()
	h.cmd("PWD")
	out := logs.String()
	assert.NotContains(t, out, "secret")
	recs := jsonLines(t, out)
	assert.Len(t, find(recs, "ftp command", map[string]any{"command": "PASS", "arg": "(hidden)"}), 1, out)
	assert.Len(t, find(recs, "ftp command", map[string]any{"command": "USER", "arg": "alice"}), 1, out)
	assert.Len(t, find(recs, "ftp command", map[string]any{"command": "PWD"}), 1, out)
	assert.Len(t, find(recs, "ftp reply", map[string]any{"code": float64(257)}), 1, out)
}

// observer records the optional events; the PI's loop is the test's
// goroutine, the refusals may come from elsewhere.
type observer struct {
	ftp.BaseEvents
	mu       sync.Mutex
	opened   int
	closed   int
	commands []ftp.CommandEvent
	refusals []string
	logins   []string
}

func (o *observer) SessionOpened(ftp.SessionInfo) { o.mu.Lock(); o.opened++; o.mu.Unlock() }
func (o *observer) SessionClosed(ftp.SessionInfo) { o.mu.Lock(); o.closed++; o.mu.Unlock() }
func (o *observer) CommandDone(e ftp.CommandEvent) {
	o.mu.Lock()
	o.commands = append(o.commands, e)
	o.mu.Unlock()
}
func (o *observer) Refused(e ftp.RefusalEvent) {
	o.mu.Lock()
	o.refusals = append(o.refusals, e.Reason)
	o.mu.Unlock()
}
func (o *observer) Login(e ftp.LoginEvent) {
	o.mu.Lock()
	o.logins = append(o.logins, e.Reason)
	o.mu.Unlock()
}

// An Events with the optional methods hears of sessions, of each command
// with its final code and duration (a transfer's from RETR to its 226),
// and of refusals by limits, which are logged too, once per reason and
// interval.
func TestOptionalEventsSessionsCommandsRefusals(t *testing.T) {
	var logs syncBuffer
	o := &observer{}
	other := &recorder{}
	f, root := newFactory(t, func(c *ftp.Config) {
		c.Events = ftp.MultiEvents(o, nil, other)
		c.MaxConnections = 1
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	h := connectPI(t, f, root)
	h.login()
	writeFile(t, root, "r.txt", "12345")
	data := h.pasv()
	h.cmd("RETR r.txt")
	assert.Equal(t, "12345", readAll(t, data))
	assert.Equal(t, "226 Transfer Complete.", h.next())
	assert.Regexp(t, `^550 `, h.cmd("SIZE missing"))
	h.cmd("XPWD")

	for range 3 { // over MaxConnections: refused, logged once
		over := connectPI(t, f, root)
		assert.Regexp(t, `^421 `, over.next())
		over.p.ConnectionLost(nil)
		over.tr.Lost = true
	}
	h.cmd("QUIT")
	h.p.ConnectionLost(nil)
	h.tr.Lost = true

	o.mu.Lock()
	defer o.mu.Unlock()
	assert.Equal(t, 1, o.opened, "a refused connection is no session")
	assert.Equal(t, 1, o.closed)
	assert.Equal(t, []string{ftp.RefusedMaxConnections, ftp.RefusedMaxConnections, ftp.RefusedMaxConnections}, o.refusals)
	assert.Equal(t, []string{""}, o.logins)
	assert.Equal(t, []string{"login alice ok", "RETR /r.txt complete"}, other.lines, "the other member hears the base events")
	codes := map[string]int{}
	for _, c := range o.commands {
		codes[c.Command] = c.Code
		assert.GreaterOrEqual(t, c.Duration, time.Duration(0))
	}
	assert.Equal(t, map[string]int{"USER": 331, "PASS": 230, "PASV": 227, "RETR": 226, "SIZE": 550, "PWD": 257, "QUIT": 221}, codes)
	recs := jsonLines(t, logs.String())
	assert.Len(t, find(recs, "ftp refused", map[string]any{"reason": ftp.RefusedMaxConnections}), 1, logs.String())
}

// A connection opened before its address was banned is refused at PASS:
// the login's reason is "banned", a refusal is reported, and a new
// connection is refused at connect.
func TestBannedLoginReasonAndRefusals(t *testing.T) {
	o := &observer{}
	f, root := newFactory(t, func(c *ftp.Config) {
		c.Events = o
		c.Bans = ban.NewMemory(ban.Config{After: 1})
		c.FailedLoginDelay = time.Second
	})
	early := connectPI(t, f, root)
	early.next()
	h := connectPI(t, f, root)
	h.next()
	failLogin(t, h, "alice", "wrong")
	assert.Regexp(t, `^421 `, h.next(), "this failure banned the address")

	early.cmd("USER alice")
	assert.Regexp(t, `^421 `, early.cmd("PASS secret"))
	late := connectPI(t, f, root)
	assert.Regexp(t, `^421 `, late.next())

	o.mu.Lock()
	defer o.mu.Unlock()
	assert.Equal(t, []string{ftp.LoginBadPassword, ftp.LoginBanned}, o.logins)
	assert.Equal(t, []string{ftp.RefusedBanned, ftp.RefusedBanned}, o.refusals)
}
