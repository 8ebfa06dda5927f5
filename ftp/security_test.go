package ftp_test

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/ftptls"
	"github.com/gnetftp/gnetftp/internal/testcert"
)

// tlsServer is an ftptls.Server on a fresh self-signed certificate.
func tlsServer(t *testing.T) *ftptls.Server {
	t.Helper()
	certFile, keyFile, err := testcert.MustNew().WriteFiles(t.TempDir())
	require.NoError(t, err)
	certs, err := ftptls.LoadCerts(certFile, keyFile)
	require.NoError(t, err)
	return ftptls.NewServer(certs)
}

func withTLS(t *testing.T, more func(*ftp.Config)) func(*ftp.Config) {
	srv := tlsServer(t)
	return func(c *ftp.Config) {
		c.TLS = srv
		if more != nil {
			more(c)
		}
	}
}

// authTLS sends AUTH TLS and completes the fake handshake.
func (h *pi) authTLS() {
	h.t.Helper()
	require.Equal(h.t, "234 AUTH TLS OK: start the TLS handshake.", h.cmd("AUTH TLS"))
	require.True(h.t, h.tr.TLS.Pending(), "the handshake started")
	h.tr.CompleteTLS(tls.ConnectionState{})
}

func TestAUTHWithoutCertificate(t *testing.T) {
	h := newPI(t, nil)
	require.Equal(t, "220 gnetftp FTP server ready.", h.next())
	feat := h.cmd("FEAT")
	assert.NotContains(t, feat, "AUTH", "no certificate: FEAT does not offer TLS")
	assert.NotContains(t, feat, "PROT")
	assert.Equal(t, "431 TLS is not available: this server has no certificate configured.", h.cmd("AUTH TLS"))
	assert.Equal(t, "503 PBSZ requires AUTH TLS first.", h.cmd("PBSZ 0"))
	assert.Equal(t, "503 PROT requires AUTH TLS first.", h.cmd("PROT P"))
}

func TestAUTHCommands(t *testing.T) {
	h := newPI(t, withTLS(t, nil))
	require.Equal(t, "220 gnetftp FTP server ready.", h.next())
	feat := h.cmd("FEAT")
	for _, f := range []string{" AUTH TLS", " AUTH SSL", " PBSZ", " PROT"} {
		assert.Contains(t, feat, f+"\n")
	}
	assert.Equal(t, "200 UTF8 mode is always on.", h.cmd("OPTS UTF8 ON"), "OPTS works before login (lftp)")
	assert.Equal(t, "504 AUTH KERBEROS_V4 not supported: use AUTH TLS.", h.cmd("AUTH KERBEROS_V4"))
	assert.Equal(t, "533 CCC: the control connection is not protected.", h.cmd("CCC"))
	h.authTLS()
	assert.Equal(t, "503 Already using TLS.", h.cmd("AUTH TLS"), "AUTH twice")
	assert.Equal(t, "503 PROT requires PBSZ first.", h.cmd("PROT P"))
	assert.Equal(t, "501 PBSZ wants a number, got 'x'.", h.cmd("PBSZ x"))
	assert.Equal(t, "200 PBSZ=0", h.cmd("PBSZ 0"))
	assert.Equal(t, "536 PROT S not supported: use P or C.", h.cmd("PROT S"))
	assert.Equal(t, "504 PROT 'Q' unknown: use P or C.", h.cmd("PROT Q"))
	assert.Equal(t, "200 Protection level set to P (private): data connections use TLS.", h.cmd("PROT P"))
	assert.Equal(t, "200 Protection level set to C (clear): data connections are not protected.", h.cmd("PROT C"))
	assert.Equal(t, "534 CCC refused: the control connection stays protected.", h.cmd("CCC"))
	assert.Equal(t, "331 Password required for alice.", h.cmd("USER alice"))
	assert.Equal(t, "230 User logged in, proceed", h.cmd("PASS secret"))
}

// AUTH after USER (RFC 4217 section 4 allows it) keeps the user name:
// PASS follows under TLS.
func TestAUTHAfterUSER(t *testing.T) {
	h := newPI(t, withTLS(t, nil))
	require.Equal(t, "220 gnetftp FTP server ready.", h.next())
	require.Equal(t, "331 Password required for alice.", h.cmd("USER alice"))
	h.authTLS()
	assert.Equal(t, "230 User logged in, proceed", h.cmd("PASS secret"))
}

// Plaintext injection (CVE-2011-0411): what arrived behind AUTH TLS in
// the same read was never protected and is not acted on.
func TestAUTHDropsInjectedCommands(t *testing.T) {
	h := newPI(t, withTLS(t, nil))
	require.Equal(t, "220 gnetftp FTP server ready.", h.next())
	h.p.DataReceived([]byte("AUTH TLS\r\nUSER alice\r\nPASS secret\r\n"))
	require.Equal(t, "234 AUTH TLS OK: start the TLS handshake.", h.next())
	h.tr.CompleteTLS(tls.ConnectionState{})
	h.quiet()
	assert.Equal(t, "530 Please login with USER and PASS.", h.cmd("PWD"), "the injected login did not happen")
}

// A failed handshake closes the connection; nothing more is answered.
func TestAUTHHandshakeFails(t *testing.T) {
	h := newPI(t, withTLS(t, nil))
	require.Equal(t, "220 gnetftp FTP server ready.", h.next())
	require.Equal(t, "234 AUTH TLS OK: start the TLS handshake.", h.cmd("AUTH TLS"))
	h.tr.FailTLS(tls.AlertError(40))
	assert.True(t, h.tr.Aborted)
}

// The handshake is bounded by what is left of the login timeout.
func TestAUTHHandshakeTimeoutIsTheLoginDeadline(t *testing.T) {
	h := newPI(t, withTLS(t, nil))
	require.Equal(t, "220 gnetftp FTP server ready.", h.next())
	require.Equal(t, "234 AUTH TLS OK: start the TLS handshake.", h.cmd("AUTH TLS"))
	assert.Greater(t, h.tr.TLS.Options.Timeout, time.Duration(0))
	assert.LessOrEqual(t, h.tr.TLS.Options.Timeout, 60*time.Second)
}

func TestTLSRequired(t *testing.T) {
	h := newPI(t, withTLS(t, func(c *ftp.Config) { c.TLSRequired = true }))
	require.Equal(t, "220 gnetftp FTP server ready.", h.next())
	assert.Equal(t, "530 TLS required: send AUTH TLS before logging in.", h.cmd("USER alice"))
	assert.Equal(t, "530 TLS required: send AUTH TLS before logging in.", h.cmd("USER anonymous"), "not exempt by default")
	h.authTLS()
	require.Equal(t, "331 Password required for alice.", h.cmd("USER alice"))
	require.Equal(t, "230 User logged in, proceed", h.cmd("PASS secret"))
	assert.Equal(t, "521 Data connections must be protected: send PBSZ 0 and PROT P first.", h.cmd("PASV"))
	assert.Equal(t, "521 Data connections must be protected: send PBSZ 0 and PROT P first.", h.cmd("EPSV"))
	assert.Equal(t, "521 Data connections must be protected: send PBSZ 0 and PROT P first.", h.cmd("PORT 127,0,0,1,200,10"))
	require.Equal(t, "200 PBSZ=0", h.cmd("PBSZ 0"))
	assert.Equal(t, "534 PROT C refused: this server requires TLS on data connections.", h.cmd("PROT C"))
	require.Equal(t, "200 Protection level set to P (private): data connections use TLS.", h.cmd("PROT P"))
	assert.True(t, strings.HasPrefix(h.cmd("PASV"), "227 "))
}

func TestTLSRequiredAnonymousExempt(t *testing.T) {
	h := newPI(t, withTLS(t, func(c *ftp.Config) { c.TLSRequired, c.TLSAnonymousPlain = true, true }))
	require.Equal(t, "220 gnetftp FTP server ready.", h.next())
	assert.Equal(t, "530 TLS required: send AUTH TLS before logging in.", h.cmd("USER alice"))
	require.Equal(t, "331 Guest login ok, type your email address as password.", h.cmd("USER anonymous"))
	require.Equal(t, "230 Anonymous login ok, access restrictions apply.", h.cmd("PASS guest@"))
	assert.True(t, strings.HasPrefix(h.cmd("PASV"), "227 "), "anonymous transfers in clear")
}

func TestTLSRequiredNeedsACertificate(t *testing.T) {
	_, err := ftp.NewFactory(ftp.Config{Root: t.TempDir(), TLSRequired: true})
	assert.ErrorContains(t, err, "TLSRequired needs Config.TLS")
}

// REIN logs out but keeps what the connection negotiated: TLS, PBSZ and
// PROT stay, so a server that requires TLS takes the next USER at once.
func TestREINKeepsTLS(t *testing.T) {
	h := newPI(t, withTLS(t, func(c *ftp.Config) { c.TLSRequired = true }))
	require.Equal(t, "220 gnetftp FTP server ready.", h.next())
	h.authTLS()
	require.Equal(t, "200 PBSZ=0", h.cmd("PBSZ 0"))
	require.Equal(t, "200 Protection level set to P (private): data connections use TLS.", h.cmd("PROT P"))
	h.cmd("USER alice")
	require.Equal(t, "230 User logged in, proceed", h.cmd("PASS secret"))
	assert.Equal(t, "220 Service ready for new user.", h.cmd("REIN"))
	assert.Equal(t, "530 Please login with USER and PASS.", h.cmd("PWD"))
	assert.Equal(t, "503 Already using TLS.", h.cmd("AUTH TLS"))
	assert.Equal(t, "331 Password required for alice.", h.cmd("USER alice"), "TLS still on: not 530 TLS required")
	require.Equal(t, "230 User logged in, proceed", h.cmd("PASS secret"))
	assert.True(t, strings.HasPrefix(h.cmd("PASV"), "227 "), "PROT P still in force: no 521")
}
