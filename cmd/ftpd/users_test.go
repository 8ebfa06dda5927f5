package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/auth"
)

// ftpdUser runs `ftpd user ARGS` with stdin and returns the exit code
// and both outputs.
func ftpdUser(stdin string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(append([]string{"user"}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUserAddSetDelList(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, os.WriteFile(users, []byte("# the team\n"), 0o640))
	code, out, errOut := ftpdUser("s3cret\n", "add", "--users", users, "--cost", "4", "alice",
		"--home", "shared/alice", "--quota", "10MiB", "--quota-files", "100", "--max-sessions", "2",
		"--rate-down", "2MiB", "--rate-up", "512KiB/s", "--no-delete")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "alice added to "+users)
	assert.Contains(t, out, "SIGHUP", "the reminder that the server reloads on SIGHUP")
	code, _, errOut = ftpdUser("pw\n", "add", "--users", users, "--cost", "4", "--read-only", "bob")
	require.Equal(t, 0, code, errOut)

	uf, err := auth.LoadUsersFile(users, auth.Config{})
	require.NoError(t, err)
	home, err := uf.Authenticate("alice", "s3cret")
	require.NoError(t, err)
	assert.Equal(t, "shared/alice", home)
	l, _ := uf.UserLimits("alice")
	assert.Equal(t, auth.Limits{Perm: "elrafmwMT", Quota: 10 << 20, QuotaFiles: 100, MaxSessions: 2, RateDown: 2 << 20, RateUp: 512 << 10}, l)
	l, _ = uf.UserLimits("bob")
	assert.True(t, l.ReadOnly())

	b, err := os.ReadFile(users)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), "# the team\nalice:$2a$04$"), string(b))
	assert.Contains(t, string(b), ":shared/alice:perm=elrafmwMT:quota=10MiB:quota-files=100:max-sessions=2:rate-down=2MiB:rate-up=512KiB\n",
		"one readable line per user")
	assert.NotContains(t, string(b), "s3cret")
	fi, err := os.Stat(users)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "the file's mode is kept")

	// set changes only what is given; the password stays unless --password.
	code, _, errOut = ftpdUser("", "set", "--users", users, "alice", "--quota", "0", "--no-delete=false", "--read-only")
	require.Equal(t, 0, code, errOut)
	require.NoError(t, uf.Reload())
	_, err = uf.Authenticate("alice", "s3cret")
	require.NoError(t, err)
	l, _ = uf.UserLimits("alice")
	assert.Equal(t, auth.Limits{Perm: "elr", QuotaFiles: 100, MaxSessions: 2, RateDown: 2 << 20, RateUp: 512 << 10}, l)
	code, _, errOut = ftpdUser("n3w\n", "set", "--users", users, "--cost", "4", "--password", "--read-only=false", "alice")
	require.Equal(t, 0, code, errOut)
	require.NoError(t, uf.Reload())
	_, err = uf.Authenticate("alice", "n3w")
	require.NoError(t, err)
	l, _ = uf.UserLimits("alice")
	assert.Equal(t, "", l.Perm, "every permission back")

	code, out, errOut = ftpdUser("", "list", "--users", users)
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `(?m)^USER\s+HOME\s+PERM\s+QUOTA\s+FILES\s+SESSIONS\s+DOWN/S\s+UP/S$`, out)
	assert.Regexp(t, `(?m)^alice\s+shared/alice\s+all\s+-\s+100\s+2\s+2MiB\s+512KiB$`, out)
	assert.Regexp(t, `(?m)^bob\s+ROOT/bob\s+read-only\s+-\s+-\s+-\s+default\s+default$`, out)

	code, out, errOut = ftpdUser("", "del", "--users", users, "bob")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "SIGHUP")
	require.NoError(t, uf.Reload())
	_, err = uf.Authenticate("bob", "pw")
	assert.ErrorIs(t, err, auth.ErrBadCredentials)
	b, _ = os.ReadFile(users)
	assert.True(t, strings.HasPrefix(string(b), "# the team\n"), "comments are kept")

	// passwd keeps working on the new lines, and keeps their limits.
	var pout, perr bytes.Buffer
	require.Equal(t, 0, run([]string{"passwd", "--users", users, "--cost", "4", "alice"}, strings.NewReader("again\n"), &pout, &perr), perr.String())
	assert.Contains(t, pout.String(), "SIGHUP")
	require.NoError(t, uf.Reload())
	_, err = uf.Authenticate("alice", "again")
	require.NoError(t, err)
	l, _ = uf.UserLimits("alice")
	assert.Equal(t, int64(100), l.QuotaFiles)
}

func TestUserRefusals(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	code, _, errOut := ftpdUser("pw\n", "add", "--users", users, "--cost", "4", "alice")
	require.Equal(t, 0, code, errOut)
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"pw\n", []string{"add", "--users", users, "anonymous"}, `user name "anonymous" is reserved`},
		{"pw\n", []string{"add", "--users", users, "FTP"}, `user name "FTP" is reserved`},
		{"pw\n", []string{"add", "--users", users, "alice"}, "alice is in " + users + " already"},
		{"", []string{"add", "--users", users, "bob"}, "reading the password from standard input"},
		{"pw\n", []string{"add", "--users", users, "--quota", "lots", "bob"}, `invalid value "lots" for flag -quota`},
		{"pw\n", []string{"add", "--users", users, "--perm", "elrz", "bob"}, "unknown permission letter 'z'"},
		{"pw\n", []string{"add", "--users", users, "--home", "a:b", "bob"}, "invalid home"},
		{"pw\n", []string{"add", "bob"}, "--users FILE is required"},
		{"", []string{"set", "--users", users, "nobody", "--quota", "1GiB"}, "no user nobody"},
		{"", []string{"del", "--users", users, "nobody"}, "no user nobody"},
		{"", []string{"list", "--users", filepath.Join(dir, "missing")}, "no such file"},
		{"", []string{"frob"}, `unknown subcommand "frob"`},
	} {
		code, _, errOut := ftpdUser(c.stdin, c.args...)
		assert.Equal(t, 1, code, "%v", c.args)
		assert.Contains(t, errOut, c.want, "%v", c.args)
	}
	bom := filepath.Join(dir, "bom")
	require.NoError(t, os.WriteFile(bom, []byte("\ufeffalice:x\n"), 0o600))
	code, _, errOut = ftpdUser("", "list", "--users", bom)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, bom+":1: the file starts with a byte order mark")
	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(bad, []byte("# ok\nalice\n"), 0o600))
	code, _, errOut = ftpdUser("pw\n", "add", "--users", bad, "bob")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, bad+":2: want name:bcrypt-hash", "a bad line is named, and the file left alone")
	code, out, _ := ftpdUser("", "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "ftpd user add  --users FILE")
}

// Root editing the users file of a server that runs as another user
// keeps the file that user's (issue: root's `ftpd passwd` used to make it
// root's, 0600, and the server's SIGHUP could no longer read it).
func TestWritingKeepsTheOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the file another owner")
	}
	users := filepath.Join(t.TempDir(), "users")
	code, _, errOut := ftpdUser("pw\n", "add", "--users", users, "--cost", "4", "alice")
	require.Equal(t, 0, code, errOut)
	require.NoError(t, os.Chown(users, 65534, 65534))
	require.NoError(t, os.Chmod(users, 0o600))
	code, _, errOut = ftpdUser("pw\n", "add", "--users", users, "--cost", "4", "bob")
	require.Equal(t, 0, code, errOut)
	var out, perr bytes.Buffer
	require.Equal(t, 0, run([]string{"passwd", "--users", users, "--cost", "4", "alice"}, strings.NewReader("x\n"), &out, &perr), perr.String())
	fi, err := os.Stat(users)
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	assert.Equal(t, uint32(65534), st.Uid)
	assert.Equal(t, uint32(65534), st.Gid)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestRateFlags(t *testing.T) {
	o, err := parseFlags([]string{"--rate-down", "2MiB", "--rate-up", "512KiB/s"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, int64(2<<20), o.rateDown)
	assert.Equal(t, int64(512<<10), o.rateUp)
	o, err = parseFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Zero(t, o.rateDown, "no limit by default")
	_, err = parseFlags([]string{"--rate-down", "fast"}, &bytes.Buffer{})
	assert.ErrorContains(t, err, "want bytes per second")
}
