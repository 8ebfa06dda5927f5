package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/gnetftp/gnetftp/bench/ftpbench"
	"github.com/gnetftp/gnetftp/bench/tlsref"
)

// benchTLS is the client side of --tls: TLS 1.3 (what the issue's
// figures negotiate); the same key exchange for every server: ECDHE on
// P-256 only, which vsftpd 3.0.3 and pure-ftpd insist on (they refuse a
// handshake that offers only X25519), where the others would choose
// X25519 (with a HelloRetryRequest when offered P-256 first) and Go
// servers Go's default X25519MLKEM768 (twice the CPU per handshake, and
// the OpenSSL 3.0 peers have no ML-KEM); no certificate verification (the peers
// run with a self-signed certificate); no ServerName or session cache,
// so that ftp/client gives each control connection a cache of its own
// and its data connections resume its session.
func benchTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.CurveP256}}
}

// refOpts are the flags of tls-reference-server (its address, user and
// password are --addr, --user and --pass).
type refOpts struct {
	cert, key string
	root      string
	reuse     string
}

func (r *refOpts) flags(fs *flag.FlagSet) {
	fs.StringVar(&r.cert, "tls-cert", "", "tls-reference-server: certificate file (PEM; required)")
	fs.StringVar(&r.key, "tls-key", "", "tls-reference-server: key file (PEM; required)")
	fs.StringVar(&r.root, "root", "", "tls-reference-server: directory for RETR and STOR (empty: refused)")
	fs.StringVar(&r.reuse, "tls-session-reuse", "required", "tls-reference-server: required|optional: whether PROT P data connections must resume the control session")
}

// referenceServer serves bench/tlsref on --addr until ctx ends (SIGINT
// or SIGTERM).
func referenceServer(ctx context.Context, cfg ftpbench.Config, o refOpts, stdout io.Writer) error {
	if o.cert == "" || o.key == "" {
		return fmt.Errorf("tls-reference-server: --tls-cert and --tls-key are required")
	}
	reuse, ok := map[string]bool{"required": true, "optional": false}[o.reuse]
	if !ok {
		return fmt.Errorf("tls-reference-server: --tls-session-reuse %q: want required or optional", o.reuse)
	}
	pair, err := tls.LoadX509KeyPair(o.cert, o.key)
	if err != nil {
		return fmt.Errorf("tls-reference-server: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("tls-reference-server: %w", err)
	}
	s, err := tlsref.Serve(ln, tlsref.Config{
		TLS:          &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		User:         cfg.User,
		Pass:         cfg.Pass,
		Root:         o.root,
		RequireReuse: reuse,
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("tls-reference-server: %w", err)
	}
	fmt.Fprintf(stdout, "tls-reference-server: serving on %s\n", s.Addr())
	<-ctx.Done()
	return s.Close()
}
