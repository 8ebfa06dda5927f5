package e2e_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/internal/testcert"
)

// ftpsProc is an ftpd process with FTPS: AUTH TLS on its plain listener
// and implicit TLS on a second one, with a self-signed certificate.
type ftpsProc struct {
	*ftpdProc
	cert     *testcert.Pair
	certFile string
	keyFile  string
}

func startFTPS(t *testing.T, extra ...string) *ftpsProc {
	t.Helper()
	pair := testcert.MustNew("localhost", "127.0.0.1")
	certFile, keyFile, err := pair.WriteFiles(t.TempDir())
	require.NoError(t, err)
	p := startFTPDProcess(t, append([]string{"--tls-cert", certFile, "--tls-key", keyFile, "--listen-tls", "127.0.0.2:0", // another address than --listen 127.0.0.1:0 (the same one twice is refused)

		"--ban-allow", "127.0.0.1"}, extra...)...)
	require.NotEmpty(t, p.TLSAddr, "the implicit-TLS listener is announced")
	return &ftpsProc{ftpdProc: p, cert: pair, certFile: certFile, keyFile: keyFile}
}

// tlsClient is a control connection of the tests' own, command by
// command, with AUTH TLS and PROT P data connections that resume the
// control session through cfg's cache (as FileZilla and curl do).
type tlsClient struct {
	t   *testing.T
	raw net.Conn
	c   net.Conn // raw, or TLS over it
	rd  *bufio.Reader
	cfg *tls.Config
}

func dialTLSClient(t *testing.T, addr string, cfg *tls.Config) *tlsClient {
	t.Helper()
	if cfg != nil { // a session cache of its own, as each client process has
		cfg = cfg.Clone()
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	}
	raw, err := net.DialTimeout("tcp", addr, 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	_ = raw.SetDeadline(time.Now().Add(60 * time.Second))
	k := &tlsClient{t: t, raw: raw, c: raw, rd: bufio.NewReader(raw), cfg: cfg}
	k.expect("220")
	return k
}

func (k *tlsClient) reply() (ftpwire.Reply, error) { return readReply(k.rd) }

func (k *tlsClient) expect(code string) string {
	k.t.Helper()
	r, err := k.reply()
	require.NoError(k.t, err)
	text := fmt.Sprintf("%d %s", r.Code, strings.Join(r.Lines, "\n"))
	require.True(k.t, strings.HasPrefix(text, code), "want %s, got %q", code, text)
	return text
}

func (k *tlsClient) cmd(line, code string) string {
	k.t.Helper()
	_, err := io.WriteString(k.c, line+"\r\n")
	require.NoError(k.t, err)
	return k.expect(code)
}

// auth sends AUTH TLS and makes the control connection TLS.
func (k *tlsClient) auth() *tls.Conn {
	k.t.Helper()
	k.cmd("AUTH TLS", "234")
	tc := tls.Client(k.raw, k.cfg)
	require.NoError(k.t, tc.Handshake())
	k.c, k.rd = tc, bufio.NewReader(tc)
	return tc
}

func (k *tlsClient) login() {
	k.t.Helper()
	k.cmd("USER alice", "331")
	k.cmd("PASS secret", "230")
}

// protect sends PBSZ 0 and PROT P: data connections are TLS from now on.
func (k *tlsClient) protect() {
	k.t.Helper()
	k.cmd("PBSZ 0", "200")
	k.cmd("PROT P", "200")
}

// pasv opens a passive data connection (plain TCP).
func (k *tlsClient) pasv() net.Conn {
	k.t.Helper()
	text := k.cmd("EPSV", "229")
	var port int
	_, err := fmt.Sscanf(text[strings.Index(text, "|||"):], "|||%d|", &port)
	require.NoError(k.t, err)
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	require.NoError(k.t, err)
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	k.t.Cleanup(func() { c.Close() })
	return c
}

// clientConfig trusts p's certificate, with a session cache (data
// connections resume the control connection's session).
func clientConfig(p *testcert.Pair) *tls.Config {
	return p.ClientConfig("localhost")
}

func TestFTPSCurl(t *testing.T) {
	curl := requireTool(t, "curl")
	s := startFTPS(t)
	payload := randomBytes(t, 3<<20+17)
	require.NoError(t, os.WriteFile(filepath.Join(s.root, "down.bin"), payload, 0o644))
	up := filepath.Join(t.TempDir(), "up.bin")
	require.NoError(t, os.WriteFile(up, payload[:1<<20], 0o644))
	dl := filepath.Join(t.TempDir(), "dl.bin")
	base := "ftp://" + s.addr + "/"
	common := []string{"--silent", "--show-error", "--max-time", "60", "--user", "alice:secret", "--insecure"}
	cases := []struct {
		name string
		base string
		args []string
	}{
		{"explicit-ssl-reqd", base, []string{"--ssl-reqd"}},
		{"control-only", base, []string{"--ftp-ssl-control"}}, // PROT C: data in clear
		{"implicit", "ftps://" + s.TLSAddr + "/", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{}, common...), tc.args...)
			listing := runTool(t, time.Minute, curl, append(args, tc.base)...)
			assert.Contains(t, listing, "down.bin")
			runTool(t, time.Minute, curl, append(args, "-o", dl, tc.base+"down.bin")...)
			got, err := os.ReadFile(dl)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(payload, got), "download byte for byte")
			name := "up-" + tc.name + ".bin"
			runTool(t, time.Minute, curl, append(args, "-T", up, tc.base+name)...)
			onDisk, err := os.ReadFile(filepath.Join(s.root, name))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(payload[:1<<20], onDisk), "upload byte for byte")
		})
	}
	// curl's verbose output shows the TLS the server negotiated.
	out := runTool(t, time.Minute, curl, append(append([]string{}, common...), "--ssl-reqd", "-v", "-o", dl, base+"down.bin")...)
	assert.Contains(t, out, "TLSv1.3")
	assert.Contains(t, out, "PROT P")
}

func TestFTPSLftp(t *testing.T) {
	lftp := requireTool(t, "lftp")
	s := startFTPS(t)
	local := t.TempDir()
	tree := map[string][]byte{
		"a.txt":       []byte("hello over TLS\n"),
		"d/big.bin":   randomBytes(t, 2<<20+5),
		"d/e/sm.bin":  randomBytes(t, 100),
		"d/e/empty":   {},
		"sp ace/x.md": []byte("# x\n"),
	}
	for name, b := range tree {
		p := filepath.Join(local, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}
	back := t.TempDir()
	debug := filepath.Join(t.TempDir(), "lftp.log")
	script := fmt.Sprintf("debug -o %s 5; set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:verify-certificate no; "+
		"set net:max-retries 1; set net:timeout 20; mirror -R --verbose=0 %s /up; mirror --verbose=0 /up %s/up; bye", debug, local, back)
	_, port, _ := net.SplitHostPort(s.addr)
	runTool(t, 2*time.Minute, lftp, "-u", "alice,secret", "-p", port, "-e", script, "127.0.0.1")
	log, err := os.ReadFile(debug)
	require.NoError(t, err)
	for _, line := range []string{"---> AUTH TLS", "---> PBSZ 0", "---> PROT P"} {
		assert.Contains(t, string(log), line)
	}
	for name, want := range tree {
		got, err := os.ReadFile(filepath.Join(s.root, "up", filepath.FromSlash(name)))
		require.NoError(t, err, name)
		assert.True(t, bytes.Equal(want, got), "mirror up: %s", name)
		got, err = os.ReadFile(filepath.Join(back, "up", filepath.FromSlash(name)))
		require.NoError(t, err, name)
		assert.True(t, bytes.Equal(want, got), "mirror down: %s", name)
	}
	// Implicit FTPS.
	out := runTool(t, time.Minute, lftp, "-u", "alice,secret", "-e", "set ssl:verify-certificate no; set net:max-retries 1; cls -1 /up/d; bye", "ftps://"+s.TLSAddr)
	assert.Contains(t, out, "big.bin")
}

// ftplibTLS is Python's ftplib.FTP_TLS, stock or with the subclass that
// resumes the control session on data connections (as FileZilla does;
// cpython issue 63699). It prints each step's outcome.
const ftplibTLS = `
import ftplib, ssl, sys, io
host, port, kind, local = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
class ReusedTLS(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
cls = ReusedTLS if kind == "reuse" else ftplib.FTP_TLS
f = cls(context=ctx, timeout=30)
f.connect(host, port)
f.auth()
f.login("alice", "secret")
f.prot_p()
try:
    with open(local, "rb") as src:
        f.storbinary("STOR py.bin", src)
    out = io.BytesIO()
    f.retrbinary("RETR py.bin", out.write)
    print("RETR", len(out.getvalue()), out.getvalue() == open(local, "rb").read())
    print("NLST", f.nlst())
except ftplib.error_perm as e:
    print("REFUSED", e)
except (ssl.SSLError, OSError) as e:
    # The server closed the data connection: its reply says why.
    try:
        f.getresp()
    except ftplib.error_perm as e:
        print("REFUSED", e)
f.quit()
print("DONE")
`

func TestFTPSPythonFtplib(t *testing.T) {
	py := requireTool(t, "python3")
	script := filepath.Join(t.TempDir(), "ftps.py")
	require.NoError(t, os.WriteFile(script, []byte(ftplibTLS), 0o644))
	local := filepath.Join(t.TempDir(), "src.bin")
	payload := randomBytes(t, 1<<20+3)
	require.NoError(t, os.WriteFile(local, payload, 0o644))

	t.Run("reuse-required", func(t *testing.T) {
		s := startFTPS(t)
		_, port, _ := net.SplitHostPort(s.addr)
		out := runTool(t, time.Minute, py, script, "127.0.0.1", port, "reuse", local)
		assert.Contains(t, out, fmt.Sprintf("RETR %d True", len(payload)))
		assert.Contains(t, out, "py.bin")
		onDisk, err := os.ReadFile(filepath.Join(s.root, "py.bin"))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(payload, onDisk))

		out = runTool(t, time.Minute, py, script, "127.0.0.1", port, "stock", local)
		assert.Contains(t, out, "REFUSED 522", "the stock class does not resume the session: refused")
		assert.Contains(t, out, "DONE", "the session goes on after the refusal")
	})
	t.Run("reuse-optional", func(t *testing.T) {
		s := startFTPS(t, "--tls-session-reuse", "optional")
		_, port, _ := net.SplitHostPort(s.addr)
		out := runTool(t, time.Minute, py, script, "127.0.0.1", port, "stock", local)
		assert.Contains(t, out, fmt.Sprintf("RETR %d True", len(payload)))
	})
}

// jlaffaye/ftp, a Go client nobody here wrote, with explicit TLS and a
// session cache (the recipe of SFTPGo's tests).
func TestFTPSGoClientLibrary(t *testing.T) {
	s := startFTPS(t, "--tls-required")
	cfg := clientConfig(s.cert)
	c, err := ftp.Dial(s.addr, ftp.DialWithTimeout(10*time.Second), ftp.DialWithExplicitTLS(cfg))
	require.NoError(t, err)
	defer c.Quit()
	require.NoError(t, c.Login("alice", "secret"))
	payload := randomBytes(t, 5<<20+1)
	require.NoError(t, c.Stor("go.bin", bytes.NewReader(payload)))
	r, err := c.Retr("go.bin")
	require.NoError(t, err)
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.True(t, bytes.Equal(payload, got))
	names, err := c.NameList("/")
	require.NoError(t, err)
	assert.Contains(t, names, "go.bin")
}

func TestFTPSRequired(t *testing.T) {
	s := startFTPS(t, "--tls-required")
	plain := dialTLSClient(t, s.addr, nil)
	assert.Contains(t, plain.cmd("USER alice", "530"), "TLS required")
	if curl, err := exec.LookPath("curl"); err == nil {
		cmd := exec.Command(curl, "--silent", "--max-time", "30", "--user", "alice:secret", "ftp://"+s.addr+"/")
		err := cmd.Run()
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "curl without TLS fails: %v", err)
	}
	k := dialTLSClient(t, s.addr, clientConfig(s.cert))
	k.auth()
	k.login()
	k.cmd("PBSZ 0", "200")
	assert.Contains(t, k.cmd("EPSV", "521"), "PROT P")
	k.cmd("PROT C", "534")
	k.cmd("PROT P", "200")
	k.cmd("EPSV", "229")
}

// TestFTPSHostileClients: each bad client gets a clear reply or a closed
// connection, other sessions go on, and the server holds no descriptor
// afterwards.
func TestFTPSHostileClients(t *testing.T) {
	s := startFTPS(t, "--login-timeout", "3s")
	require.NoError(t, os.WriteFile(filepath.Join(s.root, "f.bin"), randomBytes(t, 8<<20), 0o644))
	cfg := clientConfig(s.cert)
	bystander := dialTLSClient(t, s.addr, cfg)
	bystander.auth()
	bystander.login()
	time.Sleep(200 * time.Millisecond)
	baseline := s.fds(t)

	closedSoon := func(t *testing.T, c net.Conn, within time.Duration) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(within))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server closed the connection within %v", within)
	}
	t.Run("garbage-instead-of-ClientHello", func(t *testing.T) {
		k := dialTLSClient(t, s.addr, cfg)
		k.cmd("AUTH TLS", "234")
		_, _ = k.raw.Write(bytes.Repeat([]byte("\x16\x03\x01\xff\xffGARBAGE"), 100))
		closedSoon(t, k.raw, 10*time.Second)
	})
	t.Run("plaintext-after-AUTH", func(t *testing.T) {
		k := dialTLSClient(t, s.addr, cfg)
		k.cmd("AUTH TLS", "234")
		_, _ = io.WriteString(k.raw, "USER alice\r\nPASS secret\r\n")
		closedSoon(t, k.raw, 10*time.Second)
	})
	t.Run("stalled-handshake", func(t *testing.T) {
		k := dialTLSClient(t, s.addr, cfg)
		k.cmd("AUTH TLS", "234")
		closedSoon(t, k.raw, 15*time.Second) // the login timeout (3 s) bounds it
	})
	t.Run("stalled-implicit-handshake", func(t *testing.T) {
		c, err := net.Dial("tcp", s.TLSAddr)
		require.NoError(t, err)
		defer c.Close()
		_, _ = c.Write([]byte("\x16\x03\x01")) // a record header, then nothing
		closedSoon(t, c, 15*time.Second)       // the login timeout (3 s) bounds it
	})
	t.Run("plaintext-data-under-PROT-P", func(t *testing.T) {
		k := dialTLSClient(t, s.addr, cfg)
		k.auth()
		k.login()
		k.protect()
		d := k.pasv()
		k.cmd("RETR f.bin", "150")
		_, _ = io.WriteString(d, "not a ClientHello\r\n")
		assert.Contains(t, k.expect("522"), "TLS negotiation on the data connection failed")
		k.cmd("NOOP", "200")
	})
	t.Run("another-sessions-ticket", func(t *testing.T) {
		victim := dialTLSClient(t, s.addr, clientConfig(s.cert))
		victim.auth()
		victim.login()
		victim.cmd("NOOP", "200") // the TLS 1.3 ticket has arrived
		thief := dialTLSClient(t, s.addr, clientConfig(s.cert))
		thief.auth()
		thief.login()
		thief.protect()
		d := thief.pasv()
		thief.cmd("RETR f.bin", "150")
		// The data connection offers the victim's ticket.
		dc := tls.Client(d, victim.cfg)
		err := dc.Handshake()
		if err == nil {
			assert.False(t, dc.ConnectionState().DidResume, "another session's ticket is never resumed")
			_, err = io.Copy(io.Discard, dc)
		}
		assert.Contains(t, thief.expect("522"), "not resumed")
		thief.cmd("NOOP", "200")
	})
	t.Run("data-connection-dropped-mid-transfer", func(t *testing.T) {
		k := dialTLSClient(t, s.addr, cfg)
		k.auth()
		k.login()
		k.protect()
		d := k.pasv()
		k.cmd("RETR f.bin", "150")
		dc := tls.Client(d, k.cfg)
		require.NoError(t, dc.Handshake())
		require.True(t, dc.ConnectionState().DidResume, "the data connection resumed the control session")
		_, err := io.ReadFull(dc, make([]byte, 64<<10))
		require.NoError(t, err)
		if tc, ok := d.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		d.Close() // an RST mid-transfer
		k.expect("426")
		k.cmd("NOOP", "200")
	})
	t.Run("the-bystander-is-unaffected", func(t *testing.T) {
		bystander.protect()
		d := bystander.pasv()
		bystander.cmd("RETR f.bin", "150")
		dc := tls.Client(d, bystander.cfg)
		n, err := io.Copy(io.Discard, dc)
		require.NoError(t, err)
		assert.Equal(t, int64(8<<20), n)
		bystander.expect("226")
		// Its passive listener is kept for its next transfer; EPRT closes
		// it, so that the count below is of what the attacks left.
		bystander.cmd("EPRT |1|127.0.0.1|5000|", "200")
	})
	assert.True(t, waitFor(10*time.Second, func() bool { return s.fds(t) <= baseline }),
		"descriptors back to %d, now %d", baseline, s.fds(t))
	select {
	case <-s.Exited():
		t.Fatal("the server died")
	default:
	}
}

// TestFTPSCertificateReload: SIGHUP swaps the certificate for new
// handshakes; a session opened before goes on, transfers included.
func TestFTPSCertificateReload(t *testing.T) {
	s := startFTPS(t)
	require.NoError(t, os.WriteFile(filepath.Join(s.root, "r.txt"), []byte("reload\n"), 0o644))
	seen := func(c *tls.Conn) *x509.Certificate { return c.ConnectionState().PeerCertificates[0] }
	insecure := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(8)}
	before := dialTLSClient(t, s.addr, insecure)
	first := seen(before.auth())
	before.login()
	assert.Equal(t, s.cert.Cert.Leaf.SerialNumber.String(), first.SerialNumber.String())

	next := testcert.MustNew("localhost", "127.0.0.1")
	require.NoError(t, os.WriteFile(s.certFile, next.CertPEM, 0o644))
	require.NoError(t, os.WriteFile(s.keyFile, next.KeyPEM, 0o600))
	require.NoError(t, syscall.Kill(s.Pid, syscall.SIGHUP)) // only the process this test started
	require.True(t, waitFor(10*time.Second, func() bool { return len(s.logLines("TLS certificate reloaded")) > 0 }), s.Log.String())

	after := dialTLSClient(t, s.addr, &tls.Config{InsecureSkipVerify: true})
	assert.Equal(t, next.Cert.Leaf.SerialNumber.String(), seen(after.auth()).SerialNumber.String(), "new handshakes get the new certificate")

	before.cmd("NOOP", "200")
	before.protect()
	d := before.pasv()
	before.cmd("RETR r.txt", "150")
	dc := tls.Client(d, before.cfg)
	b, err := io.ReadAll(dc)
	require.NoError(t, err)
	assert.Equal(t, "reload\n", string(b))
	assert.True(t, dc.ConnectionState().DidResume, "the old session's data connection still resumes")
	before.expect("226")
}

// In active mode the server dials the data connection and is still its
// TLS server (RFC 4217 section 9; ftpserverlib and vsftpd do the same).
func TestFTPSActiveMode(t *testing.T) {
	s := startFTPS(t)
	payload := randomBytes(t, 1<<20+9)
	require.NoError(t, os.WriteFile(filepath.Join(s.root, "a.bin"), payload, 0o644))
	k := dialTLSClient(t, s.addr, clientConfig(s.cert))
	k.auth()
	k.login()
	k.protect()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	k.cmd(fmt.Sprintf("EPRT |1|127.0.0.1|%d|", ln.Addr().(*net.TCPAddr).Port), "200")
	k.cmd("RETR a.bin", "150")
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
	c, err := ln.Accept()
	require.NoError(t, err)
	defer c.Close()
	dc := tls.Client(c, k.cfg)
	got, err := io.ReadAll(dc)
	require.NoError(t, err)
	assert.True(t, dc.ConnectionState().DidResume)
	assert.True(t, bytes.Equal(payload, got))
	k.expect("226")
}
