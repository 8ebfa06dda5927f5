package ftptls_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/ftptls"
	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func certs(t *testing.T, host string) (*ftptls.Certs, string, string) {
	t.Helper()
	certPEM, keyPEM, err := ftptls.SelfSigned([]string{host, "127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(cf, certPEM, 0o644))
	require.NoError(t, os.WriteFile(kf, keyPEM, 0o600))
	c, err := ftptls.LoadCerts(cf, kf)
	require.NoError(t, err)
	return c, cf, kf
}

// handshake runs one server connection with cfg against a client with
// ccfg, reads a line the server writes (so a TLS 1.3 ticket is taken in),
// and returns the server's state.
func handshake(t *testing.T, cfg, ccfg *tls.Config) tls.ConnectionState {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	got := make(chan tls.ConnectionState, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(got)
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		s := tls.Server(c, cfg)
		if s.Handshake() != nil {
			close(got)
			return
		}
		_, _ = s.Write([]byte("hello\n"))
		got <- s.ConnectionState()
		_, _ = bufio.NewReader(s).ReadString('\n')
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), ccfg)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	_, _ = c.Write([]byte("bye\n"))
	cs, ok := <-got
	require.True(t, ok, "server handshake failed")
	return cs
}

func client(t *testing.T, certs *ftptls.Certs, maxVersion uint16) *tls.Config {
	pool := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(certs.Certificate().Certificate[0])
	require.NoError(t, err)
	pool.AddCert(leaf)
	return &tls.Config{RootCAs: pool, ServerName: "ftp.test", MaxVersion: maxVersion,
		ClientSessionCache: tls.NewLRUClientSessionCache(8)}
}

// A data connection resumes its own control session's ticket, whatever
// the version, and a chain of data connections keeps resuming; a data
// connection configured for another control session does not resume.
func TestDataConnectionsResumeOnlyTheirControlSession(t *testing.T) {
	c, _, _ := certs(t, "ftp.test")
	srv := ftptls.NewServer(c)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		ccfg := client(t, c, v)
		ctl := handshake(t, srv.Control(), ccfg)
		require.Equal(t, v, ctl.Version)
		assert.False(t, ctl.DidResume)
		tag := ftptls.Tag(ctl)
		require.NotNil(t, tag)
		for i := 0; i < 3; i++ {
			data := handshake(t, srv.Data(tag), ccfg)
			assert.True(t, data.DidResume, "version %x, data connection %d", v, i)
			assert.NoError(t, ftptls.CheckResumed(data))
		}
		other := handshake(t, srv.Control(), client(t, c, v))
		stranger := handshake(t, srv.Data(ftptls.Tag(other)), ccfg)
		assert.False(t, stranger.DidResume, "version %x: another session's ticket is not resumed", v)
		assert.ErrorIs(t, ftptls.CheckResumed(stranger), ftptls.ErrNotResumed)
		assert.False(t, handshake(t, srv.Data(nil), ccfg).DidResume, "no tag, no resumption")
	}
}

func TestReloadSwapsTheCertificateForNewHandshakes(t *testing.T) {
	c, cf, kf := certs(t, "ftp.test")
	first := c.Certificate()
	certPEM, keyPEM, err := ftptls.SelfSigned([]string{"ftp.test"}, time.Hour)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cf, certPEM, 0o644))
	require.NoError(t, os.WriteFile(kf, keyPEM, 0o600))
	require.NoError(t, c.Reload())
	assert.NotEqual(t, first.Certificate[0], c.Certificate().Certificate[0])
	require.NoError(t, os.WriteFile(kf, []byte("garbage"), 0o600))
	assert.Error(t, c.Reload())
	assert.Equal(t, certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate().Certificate[0]}),
		"a failed reload keeps the certificate")
	_, _, err = ftptls.SelfSigned(nil, time.Hour)
	assert.Error(t, err)
}
