package ftp

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

// anonSession is a session logged in anonymously on a fake transport (no
// bcrypt: the table checks below run every command).
func anonSession(t *testing.T) (*session, *prototest.Transport) {
	t.Helper()
	pool := deferred.NewPool(deferred.PoolConfig{Workers: 2})
	t.Cleanup(pool.Close)
	f, err := NewFactory(Config{Root: t.TempDir(), AllowAnonymous: true, Pool: pool,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(f.StopFactory)
	tr := prototest.NewTransport()
	s := f.BuildProtocol(tr.Remote).(*session)
	prototest.Connect(s, tr)
	t.Cleanup(func() { s.ConnectionLost(nil) })
	require.Equal(t, "220 gnetftp FTP server ready.\r\n", tr.Take())
	s.DataReceived([]byte("USER anonymous\r\n"))
	s.DataReceived([]byte("PASS guest@\r\n"))
	require.Eventually(t, func() bool { tr.FakeLoop.RunPending(); return strings.Contains(tr.Out.String(), "230 ") },
		10*time.Second, time.Millisecond)
	tr.Take()
	return s, tr
}

// exchange sends one line and returns everything the session wrote once
// it is ready for the next command. The commands checked here answer
// without touching the pool, so one RunPending is enough.
func exchange(s *session, tr *prototest.Transport, line string) string {
	s.DataReceived([]byte(line + "\r\n"))
	tr.FakeLoop.RunPending()
	return tr.Take()
}

// TestEveryCommandChecksItsArgumentCount walks the command table itself,
// so that a command added later is covered without editing this test:
// a required argument missing (also as a lone trailing space), an
// argument given to a command that takes none, and known but
// unimplemented commands, in upper and lower case.
func TestEveryCommandChecksItsArgumentCount(t *testing.T) {
	s, tr := anonSession(t)
	checked := 0
	for name, c := range commandTable() {
		if name == "QUIT" || name == "RNTO" {
			continue // checked below: QUIT closes, RNTO needs RNFR first
		}
		switch {
		case c.run == nil:
			assert.Equal(t, "502 Command '"+name+"' not implemented\r\n", exchange(s, tr, name+" x"), name)
			assert.Equal(t, "502 Command '"+name+"' not implemented\r\n", exchange(s, tr, strings.ToLower(name)), name)
		case c.arg == argRequired:
			want := "501 Syntax error: " + name + " requires an argument.\r\n"
			assert.Equal(t, want, exchange(s, tr, name), name)
			assert.Equal(t, want, exchange(s, tr, strings.ToLower(name)+" "), name)
		case c.arg == argNone:
			assert.Equal(t, "501 Syntax error: "+name+" takes no argument.\r\n", exchange(s, tr, name+" extra"), name)
		default:
			continue
		}
		checked++
	}
	assert.GreaterOrEqual(t, checked, 40, "the table has lost rows")
	// The sequence is checked before the argument: RNTO without RNFR is 503.
	assert.Equal(t, "503 Incorrect sequence of commands: RNFR required before RNTO\r\n", exchange(s, tr, "RNTO"))
	assert.Equal(t, "501 Syntax error: QUIT takes no argument.\r\n", exchange(s, tr, "QUIT now"))
	assert.False(t, tr.Lost)
	assert.Equal(t, "221 Goodbye.\r\n", exchange(s, tr, "quit"))
	assert.True(t, tr.Lost)
}

// TestHelpCoversEveryImplementedCommand: HELP lists every implemented
// command of the table (aliases included) and HELP <name> gives its text.
func TestHelpCoversEveryImplementedCommand(t *testing.T) {
	s, tr := anonSession(t)
	all := exchange(s, tr, "HELP")
	require.True(t, strings.HasPrefix(all, "214-The following commands are recognized:\r\n"), all)
	require.True(t, strings.HasSuffix(all, "214 Help OK.\r\n"), all)
	listed := map[string]bool{}
	for _, w := range strings.Fields(all) {
		listed[w] = true
	}
	for name, c := range commandTable() {
		if c.run == nil {
			assert.False(t, listed[name], "%s is not implemented and must not be listed", name)
			assert.Equal(t, "501 Unknown command "+name+".\r\n", exchange(s, tr, "HELP "+name))
			continue
		}
		assert.True(t, listed[name], "%s missing from HELP", name)
		assert.NotEmpty(t, c.help, name)
		if name == "SITE" {
			assert.True(t, strings.HasPrefix(exchange(s, tr, "HELP site"), "214-The following SITE commands are recognized:\r\n"))
			continue
		}
		assert.Equal(t, "214 "+c.help+"\r\n", exchange(s, tr, "HELP "+strings.ToLower(name)), name)
	}
}
