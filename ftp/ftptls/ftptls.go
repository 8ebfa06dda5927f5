// Package ftptls is what FTPS needs beyond a transport that speaks TLS:
// the server's certificate, loaded from PEM files and swapped on reload
// without dropping a session; one tls.Config for the whole process
// (session ticket keys belong to a Config, so a Config per connection
// would make every resumption fail: SFTPGo's bug #374); data-connection
// configs that resume only tickets of their own control session (vsftpd's
// require_ssl_reuse, RFC 4217 section 10.2); and self-signed certificates
// for local use (ftpd cert).
//
// Binding a data connection to its control session costs the session
// nothing but a 16-byte tag: every ticket issued on a control connection
// is stamped (SessionState.Extra) with Tag of that connection, which the
// session also computes once its handshake is done; a data connection's
// config accepts a ticket only with the session's stamp, and stamps the
// tickets it issues itself the same way, so a client that resumes the
// latest session it got (curl) stays inside the chain.
package ftptls

import (
	"bytes"
	"crypto/tls"
	"errors"
)

// MinVersion is the oldest protocol accepted (TLS 1.2).
const MinVersion = tls.VersionTLS12

// exporterLabel names this package's keying material (RFC 5705).
const exporterLabel = "EXPORTER-gnetftp-ftps-session"

// extraPrefix marks this package's entry in SessionState.Extra (other
// layers may add theirs: entries are recognised by prefix).
var extraPrefix = []byte("gnetftp-ftps-tag/1:")

// Tag is what identifies a control connection to its data connections:
// 16 bytes of exported keying material for TLS 1.3, the tls-unique
// channel binding for a TLS 1.2 full handshake. It is nil when the
// connection has none (a resumed TLS 1.2 handshake), and then no data
// connection can prove it belongs to it.
func Tag(cs tls.ConnectionState) []byte {
	if cs.Version >= tls.VersionTLS13 {
		return exported(cs)
	}
	if len(cs.TLSUnique) == 0 || allZero(cs.TLSUnique) {
		return nil
	}
	return append([]byte(nil), cs.TLSUnique...)
}

// exported is the connection's keying material for Tag, nil if it has
// none: a ConnectionState not made by crypto/tls (a test transport's)
// has no exporter, and calling it panics.
func exported(cs tls.ConnectionState) (b []byte) {
	defer func() {
		if recover() != nil {
			b = nil
		}
	}()
	b, err := cs.ExportKeyingMaterial(exporterLabel, nil, 16)
	if err != nil {
		return nil
	}
	return b
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Server is the TLS side of an FTPS server: build one per process.
type Server struct {
	base  *tls.Config
	certs *Certs
}

// NewServer returns the process's TLS configuration around certs: TLS 1.2
// or later with Go's default cipher suites, the certificate from certs at
// every handshake (so a reload applies to the next one), tickets stamped
// with their control connection's Tag.
func NewServer(certs *Certs) *Server {
	s := &Server{certs: certs}
	s.base = &tls.Config{
		MinVersion:     MinVersion,
		GetCertificate: certs.GetCertificate,
	}
	s.base.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		if tag := Tag(cs); tag != nil {
			stamp(ss, tag)
		}
		return s.base.EncryptTicket(cs, ss)
	}
	return s
}

// Control is the one config of every control connection (AUTH TLS and
// implicit FTPS). Do not modify it.
func (s *Server) Control() *tls.Config { return s.base }

// Data returns the config of one data connection of the control session
// whose Tag is tag: it resumes only tickets stamped with tag (any other
// ticket, or none, makes a full handshake, and then
// ConnectionState().DidResume is false: the server refuses the transfer
// when reuse is required), and stamps tag on the tickets it issues. A nil
// tag resumes nothing.
func (s *Server) Data(tag []byte) *tls.Config {
	cfg := s.base.Clone()
	// Bulk data: full 16 KiB records from the first byte (the small
	// first records of dynamic sizing help only interactive latency).
	cfg.DynamicRecordSizingDisabled = true
	cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		if tag != nil {
			stamp(ss, tag)
		}
		return s.base.EncryptTicket(cs, ss)
	}
	cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := s.base.DecryptTicket(identity, cs)
		if err != nil || ss == nil || tag == nil || !stamped(ss, tag) {
			return nil, nil // not this session's: a full handshake
		}
		return ss, nil
	}
	return cfg
}

// ErrNotResumed is the failure of a data connection that did not resume
// its control session while reuse is required.
var ErrNotResumed = errors.New("ftptls: data connection did not resume the control connection's TLS session")

// CheckResumed returns ErrNotResumed unless cs (a data connection made
// with Data) resumed its control session.
func CheckResumed(cs tls.ConnectionState) error {
	if !cs.DidResume {
		return ErrNotResumed
	}
	return nil
}

func stamp(ss *tls.SessionState, tag []byte) {
	if stamped(ss, tag) {
		return
	}
	ss.Extra = append(ss.Extra, append(append([]byte(nil), extraPrefix...), tag...))
}

func stamped(ss *tls.SessionState, tag []byte) bool {
	for _, e := range ss.Extra {
		if rest, ok := bytes.CutPrefix(e, extraPrefix); ok && bytes.Equal(rest, tag) {
			return true
		}
	}
	return false
}
