package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/ban"
	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/internal/pgtest"
	"github.com/gnetftp/gnetftp/internal/s3test"
	"github.com/gnetftp/gnetftp/internal/testcert"
)

// TestMain doubles as the ftpd process of the tests that need a real one
// (childEnv set: the arguments are ftpd's).
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	leaktest.Main(func() int {
		defer weed.Stop()
		return pgtest.Main(m.Run)
	})
}

// weed is the SeaweedFS store of the tests that need S3 (user rescan
// --storage).
var weed s3test.Shared

const childEnv = "GNETFTP_FTPD_TEST_CHILD"

func TestDefaultsNeedNoConfiguration(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:2121"}, o.listen)
	assert.Equal(t, "ftproot", o.root)
	assert.True(t, o.anonymous, "anonymous read-only when no users file is given")
	assert.Equal(t, 600*time.Second, o.idleTimeout)
	assert.Equal(t, 20, o.maxConnsPerIP, "a per-IP limit by default (SFTPGo's)")
	assert.Equal(t, defaultMaxConnections(hardFileLimit()), o.maxConns, "derived from the open-file limit")
	assert.False(t, o.maxConnsSet)
}

func TestDefaultMaxConnectionsLeavesRoomForTransfers(t *testing.T) {
	for _, c := range []struct {
		limit uint64
		want  int
	}{
		{1024, 240}, {20000, 4984}, {524288, 131056}, {256, 48}, {64, 1}, {0, 1},
		{1<<63 - 1, (1<<24 - 64) / 4}, // unlimited: capped
	} {
		assert.Equal(t, c.want, defaultMaxConnections(c.limit), "limit %d", c.limit)
		if c.want > 1 {
			assert.LessOrEqual(t, uint64(c.want*4+64), c.limit, "4 descriptors a session and 64 for the process fit")
		}
	}
}

func TestLimitsCanBeTurnedOff(t *testing.T) {
	o, err := parseFlags([]string{"--max-connections", "0", "--max-connections-per-ip", "0"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Zero(t, o.maxConns)
	assert.True(t, o.maxConnsSet, "an explicit 0 is kept, not derived")
	assert.Zero(t, o.maxConnsPerIP)
	_, err = parseFlags([]string{"--max-connections", "-1"}, &bytes.Buffer{})
	assert.Error(t, err)
}

func TestFlags(t *testing.T) {
	o, err := parseFlags([]string{"--listen", "127.0.0.1:0", "--listen", "[::1]:0", "--users", "u", "--passive-ports", "50000-50010", "--max-connections-per-ip", "5"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:0", "[::1]:0"}, o.listen)
	assert.False(t, o.anonymous, "a users file turns anonymous off unless asked")
	assert.Equal(t, [2]int{50000, 50010}, [2]int{o.passiveLo, o.passiveHi})
	assert.Equal(t, 5, o.maxConnsPerIP)
	assert.Equal(t, 60*time.Second, o.loginTimeout)
	assert.Equal(t, 10, o.banAfter, "bans are on by default")
	assert.IsType(t, &ban.Memory{}, bans(o))

	o, err = parseFlags([]string{"--ban-after", "3", "--ban-window", "1m", "--ban-for", "5m", "--ban-allow", "10.0.0.0/8",
		"--ban-allow", "127.0.0.1", "--ban-allow", "2001:db8::1/64", "--login-timeout", "0"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("2001:db8::/64")}, o.banAllow)
	assert.Equal(t, time.Duration(-1), idleOrOff(o.loginTimeout), "0 disables the login timeout")
	st := bans(o)
	for range 5 {
		st.Failed(netip.MustParseAddr("10.1.2.3"))
	}
	_, banned := st.Check(netip.MustParseAddr("10.1.2.3"))
	assert.False(t, banned, "--ban-allow")
	for range 3 {
		st.Failed(netip.MustParseAddr("192.0.2.1"))
	}
	_, banned = st.Check(netip.MustParseAddr("192.0.2.1"))
	assert.True(t, banned, "--ban-after 3")
	o, err = parseFlags([]string{"--ban-after", "0"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, ban.Never{}, bans(o), "--ban-after 0 turns bans off")

	for _, bad := range [][]string{
		{"--passive-ports", "10-5"}, {"--passive-ports", "x"}, {"--anonymous=false"}, {"extra"},
		{"--ban-allow", "nonsense"}, {"--ban-for", "0s"},
	} {
		_, err := parseFlags(bad, &bytes.Buffer{})
		assert.Error(t, err, "%v", bad)
	}
	var help bytes.Buffer
	assert.Equal(t, 0, run([]string{"--help"}, nil, &help, &help))
	assert.Contains(t, help.String(), "ftpd passwd --users FILE NAME")
	assert.Contains(t, help.String(), "-max-connections-per-ip")
	assert.Contains(t, help.String(), "derived from the open-file limit", "--help says how the default is chosen")
	for _, f := range []string{"-ban-after", "-ban-window", "-ban-for", "-ban-allow", "-login-timeout"} {
		assert.Contains(t, help.String(), f)
	}
	assert.Contains(t, help.String(), "-max-passive-per-ip")

	o, err = parseFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 16, o.maxPassivePerIP, "a passive cap by default")
	o, err = parseFlags([]string{"--max-passive-per-ip", "0"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, -1, limitOrOff(o.maxPassivePerIP), "0 turns it off")
}

func TestPasswdWritesAUsableUsersFile(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, os.WriteFile(users, []byte("# team\nbob:$2a$04$abcdefghijklmnopqrstuuQm5k0iQ7Lq3yZrC8Yw1c8n1j3xDgJ1e:bobhome\n"), 0o600))
	var out, errOut bytes.Buffer
	code := run([]string{"passwd", "--users", users, "--cost", "4", "alice"}, strings.NewReader("s3cret\n"), &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	b, err := os.ReadFile(users)
	require.NoError(t, err)
	assert.Contains(t, string(b), "# team\n", "comments are kept")
	assert.NotContains(t, string(b), "s3cret", "no plaintext password")
	fi, err := os.Stat(users)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	uf, err := auth.LoadUsersFile(users, auth.Config{})
	require.NoError(t, err)
	_, err = uf.Authenticate("alice", "s3cret")
	assert.NoError(t, err)
	_, err = uf.Authenticate("alice", "wrong")
	assert.ErrorIs(t, err, auth.ErrBadCredentials)

	assert.Equal(t, 1, run([]string{"passwd", "--users", users, "carol"}, strings.NewReader(""), &out, &errOut), "empty password refused")
}

func TestServeStartsAndStopsOnSignal(t *testing.T) {
	dir := t.TempDir()
	o, err := parseFlags([]string{"--listen", "127.0.0.1:0", "--root", filepath.Join(dir, "root"), "--shutdown-grace", "2s"}, &bytes.Buffer{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, o, pw, &bytes.Buffer{}); pw.Close() }()
	rd := bufio.NewReader(pr)
	line, err := rd.ReadString('\n')
	require.NoError(t, err)
	assert.Contains(t, line, "anonymous read-only")
	addr := strings.TrimPrefix(strings.Fields(line)[4], "ftp://")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	greet, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(greet, "220 "), greet)
	_, err = os.Stat(filepath.Join(dir, "root"))
	assert.NoError(t, err, "the root is created")
	cancel() // as SIGINT/SIGTERM do through signal.NotifyContext
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	c.Close()
	pr.Close()
}

func TestProcs(t *testing.T) {
	assert.Equal(t, 4, procs(0, false, 2), "twice Go's default")
	assert.Equal(t, 3, procs(0, true, 3), "the GOMAXPROCS variable wins over the default")
	assert.Equal(t, 6, procs(6, true, 3), "--procs wins over everything")
}

func TestCertWritesALoadableSelfSignedPair(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"cert", "--cert", cf, "--key", kf, "--host", "ftp.example", "--host", "127.0.0.1"}, nil, &out, &errOut), errOut.String())
	pair, err := tls.LoadX509KeyPair(cf, kf)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(t, err)
	assert.Equal(t, []string{"ftp.example"}, leaf.DNSNames)
	assert.Equal(t, "127.0.0.1", leaf.IPAddresses[0].String())
	assert.Equal(t, x509.ECDSA, leaf.PublicKeyAlgorithm)
	fi, err := os.Stat(kf)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the key is private")
	assert.Equal(t, 1, run([]string{"cert", "--cert", cf, "--key", kf, "--host", "x"}, nil, &out, &errOut), "no overwrite without --force")
	assert.Equal(t, 0, run([]string{"cert", "--cert", cf, "--key", kf, "--host", "x", "--force"}, nil, &out, &errOut))
	assert.Equal(t, 1, run([]string{"cert", "--cert", cf}, nil, &out, &errOut), "usage")
}

func TestConfigFileSetsFlagsAndFlagsOverrideIt(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ftpd.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(`# a node
listen = ["127.0.0.1:2121", "[::1]:2121"]
root = "/srv/ftp"
passive-ports = "50000-50100"
idle-timeout = "10m"
max-connections-per-ip = 7
allow-foreign-data = true
`), 0o644))
	o, err := parseFlags([]string{"--config", cfg, "--root", "/elsewhere"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:2121", "[::1]:2121"}, o.listen)
	assert.Equal(t, "/elsewhere", o.root, "a flag overrides the file")
	assert.Equal(t, 50000, o.passiveLo)
	assert.Equal(t, 50100, o.passiveHi)
	assert.Equal(t, 10*time.Minute, o.idleTimeout)
	assert.Equal(t, 7, o.maxConnsPerIP)
	assert.True(t, o.allowForeign)

	var out bytes.Buffer
	require.NoError(t, checkConfig([]string{"--config", cfg}, &out, &bytes.Buffer{}))
	assert.Contains(t, out.String(), `listen = ["127.0.0.1:2121", "[::1]:2121"]`)
	assert.Contains(t, out.String(), `max-connections-per-ip = 7`)
	assert.Contains(t, out.String(), `idle-timeout = "10m0s"`)
	// What check-config prints is itself a configuration file that says the same.
	again := filepath.Join(dir, "again.toml")
	require.NoError(t, os.WriteFile(again, out.Bytes(), 0o644))
	o2, err := parseFlags([]string{"--config", again}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, o.listen, o2.listen)
	assert.Equal(t, "/srv/ftp", o2.root)

	for _, c := range []struct{ text, want string }{
		{"root = \"x\"\nnot-a-flag = 1\n", "ftpd.toml:2: not-a-flag: unknown key"},
		{"max-connections = \"many\"\n", "ftpd.toml:1: max-connections: "},
		{"idle-timeout = \"soon\"\n", "ftpd.toml:1: idle-timeout: "},
		{"listen = [\n", "ftpd.toml:"},
		{"[vhost]\nroot = \"x\"\n", "vhost: want [[vhost]] tables"},
		{"[[vhost]]\nname = \"a\"\nroot = \"x\"\nusers = \"u\"\nfrob = 1\n", "vhost: frob: unknown key"},
		{"[[vhost]]\nroot = \"x\"\nusers = \"u\"\n", "[[vhost]] #1: name is required"},
		{"[[vhost]]\nname = \"a\"\nusers = \"u\"\n", "[[vhost]] #1 (a): root is required"},
		{"[[vhost]]\nname = \"a\"\nroot = \"x\"\n", "(a): no one could log in"},
		{"[[vhost]]\nname = \"a\"\nroot = \"x\"\nanonymous = true\n[[vhost]]\nname = \"A.\"\nroot = \"y\"\nanonymous = true\n", "[[vhost]] #2 (A.): name given twice"},
	} {
		require.NoError(t, os.WriteFile(cfg, []byte(c.text), 0o644))
		_, err := parseFlags([]string{"--config", cfg}, &bytes.Buffer{})
		require.Error(t, err, c.text)
		assert.Contains(t, err.Error(), c.want, c.text)
	}
}

// [[vhost]] tables: read, checked (users files loaded) and printed by
// check-config as a configuration file that says the same.
func TestConfigFileVirtualHosts(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "a.users")
	require.NoError(t, auth.SetPassword(users, "bob", "pw", 4))
	cfg := filepath.Join(dir, "ftpd.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(`root = "/srv/ftp"

[[vhost]]
name = "a.example"
root = "/srv/a"
users = "`+users+`"
welcome = "Welcome to A"

[[vhost]]
name = "b.example"
root = "/srv/b"
anonymous = true
`), 0o644))
	o, err := parseFlags([]string{"--config", cfg}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Len(t, o.vhosts, 2)
	assert.Equal(t, vhostConfig{Name: "a.example", Root: "/srv/a", Users: users, Welcome: "Welcome to A"}, o.vhosts[0])
	assert.Equal(t, vhostConfig{Name: "b.example", Root: "/srv/b", Anonymous: true}, o.vhosts[1])
	assert.Equal(t, "/srv/ftp", o.root)

	var out bytes.Buffer
	require.NoError(t, checkConfig([]string{"--config", cfg}, &out, &bytes.Buffer{}))
	assert.Contains(t, out.String(), "\n[[vhost]]\nname = \"a.example\"\nroot = \"/srv/a\"\n")
	again := filepath.Join(dir, "again.toml")
	require.NoError(t, os.WriteFile(again, out.Bytes(), 0o644))
	o2, err := parseFlags([]string{"--config", again}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, o.vhosts, o2.vhosts)

	require.NoError(t, os.Remove(users))
	assert.ErrorContains(t, checkConfig([]string{"--config", cfg}, &out, &bytes.Buffer{}), "vhost a.example: ", "check-config loads the users files")
}

func TestMaxConnectionsFromTheConfigFileIsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ftpd.toml")
	require.NoError(t, os.WriteFile(path, []byte("max-connections = 0\nmax-connections-per-ip = 0\n"), 0o600))
	o, err := parseFlags([]string{"--config", path}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Zero(t, o.maxConns)
	assert.True(t, o.maxConnsSet, "serve does not derive it again")
	assert.Zero(t, o.maxConnsPerIP)
}

// A mistyped flag gets one line naming it and exit status 2; --version
// prints the version on standard output.
func TestBadFlagAndVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, run([]string{"--bogus"}, nil, &out, &errOut))
	assert.Equal(t, 1, strings.Count(errOut.String(), "\n"), "one line: %q", errOut.String())
	assert.Contains(t, errOut.String(), "-bogus")
	assert.Empty(t, out.String())
	out.Reset()
	errOut.Reset()
	assert.Equal(t, 0, run([]string{"--version"}, nil, &out, &errOut))
	assert.Contains(t, out.String(), "ftpd ")
}

func TestStorageFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, run([]string{"--storage", "file:///srv/ftp"}, nil, &out, &errOut), "a bad URL is a usage error")
	assert.Contains(t, errOut.String(), "--storage")
	assert.Contains(t, errOut.String(), "s3://BUCKET/PREFIX")
	errOut.Reset()
	assert.Equal(t, 2, run([]string{"--storage", "s3://b?endpoint=x"}, nil, &out, &errOut))
	assert.Contains(t, errOut.String(), "endpoint")
	errOut.Reset()
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	assert.Equal(t, 1, run([]string{"--root", t.TempDir(), "--listen", "127.0.0.1:0", "--storage", "s3://b/p?endpoint=http://127.0.0.1:9"}, nil, &out, &errOut))
	assert.Contains(t, errOut.String(), "AWS_ACCESS_KEY_ID", "no credentials: the reason, before listening")
}

// The example configuration in contrib/ is valid: check-config accepts it
// (with its files replaced by real ones, and its public host by an
// address), and a certificate that does not load is an error.
func TestContribExampleConfigIsValid(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	require.NoError(t, auth.SetPassword(users, "alice", "secret", bcrypt.MinCost))
	pair := testcert.MustNew()
	certFile, keyFile, err := pair.WriteFiles(dir)
	require.NoError(t, err)
	example := filepath.Join("..", "..", "contrib", "ftpd.toml")
	args := []string{"--config", example, "--users", users, "--tls-cert", certFile, "--tls-key", keyFile, "--public-host", "192.0.2.1"}
	var out bytes.Buffer
	require.NoError(t, checkConfig(args, &out, &bytes.Buffer{}))
	assert.Contains(t, out.String(), `passive-ports = "50000-50999"`)
	assert.Contains(t, out.String(), `tls-required = true`)

	require.NoError(t, os.WriteFile(keyFile, []byte("not a key"), 0o600))
	assert.Error(t, checkConfig(args, &bytes.Buffer{}, &bytes.Buffer{}), "a key that does not load")
}

// The fleet node's example in contrib/ is valid: check-config accepts it
// with its database replaced by a real one (it connects and creates the
// schema) and its files by real ones, and prints the shared settings; an
// unreachable database is an error.
func TestContribFleetConfigIsValid(t *testing.T) {
	dir := t.TempDir()
	pair := testcert.MustNew()
	certFile, keyFile, err := pair.WriteFiles(dir)
	require.NoError(t, err)
	// The test cluster trusts every login: the password is ignored there,
	// and must not be printed here.
	dsn := strings.Replace(pgtest.DSN(t), "postgres://postgres@", "postgres://postgres:s3cret@", 1)
	example := filepath.Join("..", "..", "contrib", "ftpd-fleet.toml")
	args := []string{"--config", example, "--users", dsn, "--tls-cert", certFile, "--tls-key", keyFile, "--public-host", "192.0.2.1"}
	var out bytes.Buffer
	require.NoError(t, checkConfig(args, &out, &bytes.Buffer{}))
	assert.Contains(t, out.String(), `storage = "s3://ftp-bucket/site1?endpoint=https://s3.example.com&region=us-east-1"`)
	assert.Contains(t, out.String(), `fleet-lease = "15s"`)
	assert.Contains(t, out.String(), `passive-ports = "50000-50999"`)
	assert.NotContains(t, out.String(), "s3cret", "the database's password is never printed")
	assert.Contains(t, out.String(), `users = "postgres://postgres:xxxxx@127.0.0.1:`)

	args[4] = "postgres://nobody@127.0.0.1:9/none?sslmode=disable&connect_timeout=2"
	assert.Error(t, checkConfig(args, &bytes.Buffer{}, &bytes.Buffer{}), "a database that does not answer")
}
