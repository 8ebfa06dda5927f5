// Package testcert makes self-signed ECDSA P-256 certificates for tests
// and benchmarks (TLS on loopback), and the matching server and client
// configurations. Nothing here is for production use: the key is made on
// the spot and the certificate is its own authority.
package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gnetftp/gnetftp/ftp/ftptls"
)

// Pair is a certificate with its key, in PEM and parsed forms.
type Pair struct {
	CertPEM, KeyPEM []byte
	Cert            tls.Certificate
	// Pool trusts the certificate (for clients that verify).
	Pool *x509.CertPool
}

// New makes a certificate valid for a day for hosts (DNS names or IP
// addresses; default "localhost" and 127.0.0.1).
func New(hosts ...string) (*Pair, error) {
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1"}
	}
	certPEM, keyPEM, err := ftptls.SelfSigned(hosts, 24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("testcert: %w", err)
	}
	p := &Pair{
		CertPEM: certPEM,
		KeyPEM:  keyPEM,
		Pool:    x509.NewCertPool(),
	}
	if p.Cert, err = tls.X509KeyPair(p.CertPEM, p.KeyPEM); err != nil {
		return nil, fmt.Errorf("testcert: pair: %w", err)
	}
	p.Pool.AppendCertsFromPEM(p.CertPEM)
	return p, nil
}

// MustNew is New for tests and benchmarks; it panics on error.
func MustNew(hosts ...string) *Pair {
	p, err := New(hosts...)
	if err != nil {
		panic(err)
	}
	return p
}

// ServerConfig is a server configuration with the certificate, TLS 1.2
// minimum, Go's defaults otherwise (TLS 1.3 is negotiated with Go clients).
func (p *Pair) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.Cert}, MinVersion: tls.VersionTLS12}
}

// ClientConfig is a client configuration that trusts the certificate for
// serverName, with a session cache so that later connections resume.
func (p *Pair) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{
		RootCAs:            p.Pool,
		ServerName:         serverName,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
	}
}

// WriteFiles writes the certificate and key as PEM files cert.pem and
// key.pem in dir (for servers that load files: ftpd --tls-cert).
func (p *Pair) WriteFiles(dir string) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, p.CertPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("testcert: %w", err)
	}
	if err := os.WriteFile(keyFile, p.KeyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("testcert: %w", err)
	}
	return certFile, keyFile, nil
}
