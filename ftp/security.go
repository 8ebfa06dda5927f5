// Security: FTPS (RFC 4217 on RFC 2228): AUTH TLS makes the control
// connection TLS on the event loop (protocol.TLSStarter), PBSZ and PROT
// choose whether data connections are TLS too, CCC is refused; implicit
// FTPS sessions (reactor.ListenTLS) start protected. Data connections
// under PROT P are TLS servers on the transfer's goroutine and must
// resume this control connection's TLS session (Config.TLSReuse).

package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/ftptls"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/protocol"
)

// TLSReuse says whether data connections under PROT P must resume the
// control connection's TLS session (Config.TLSReuse).
type TLSReuse int

const (
	// TLSReuseRequired refuses (522) a data connection that did not
	// resume its own control session: vsftpd's require_ssl_reuse, on by
	// default there and in FileZilla Server. It stops a third party that
	// races the client to the passive port ("connection stealing").
	TLSReuseRequired TLSReuse = iota
	// TLSReuseOptional accepts a full handshake on data connections
	// (clients that cannot resume: Python's stock ftplib.FTP_TLS). Tickets
	// of other sessions are still never resumed.
	TLSReuseOptional
)

// String is the flag's spelling: required or optional.
func (r TLSReuse) String() string {
	if r == TLSReuseOptional {
		return "optional"
	}
	return "required"
}

// ParseTLSReuse reads "required" or "optional".
func ParseTLSReuse(s string) (TLSReuse, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "required", "":
		return TLSReuseRequired, nil
	case "optional":
		return TLSReuseOptional, nil
	}
	return 0, fmt.Errorf("ftp: TLS session reuse %q: want required or optional", s)
}

// authMechanisms are the AUTH arguments accepted (RFC 4217 section 4 and
// the older drafts' names): all mean TLS on the control connection;
// SSL and TLS-P also protect data connections, as in vsftpd and ProFTPD.
var authMechanisms = map[string]bool{"TLS": false, "TLS-C": false, "SSL": true, "TLS-P": true}

// tlsFeatures are FEAT's lines when a certificate is configured.
var tlsFeatures = []string{"AUTH TLS", "AUTH SSL", "PBSZ", "PROT"}

// tlsState is a session's security state.
type tlsState struct {
	on       bool   // the control connection is TLS (AUTH done, or implicit)
	starting bool   // AUTH's handshake runs
	pbsz     bool   // PBSZ given after the handshake (RFC 4217 section 8)
	private  bool   // PROT P: data connections are TLS
	tag      []byte // ftptls.Tag of the control connection: data connections must resume it
}

// implicitTLS marks a session accepted by an implicit-TLS listener: it
// is protected from its first byte, and PBSZ 0 and PROT P are assumed
// (MS-FTPS 3.2.5.1; vsftpd's implicit_ssl).
func (s *session) implicitTLS() {
	st, ok := s.Transport.(protocol.TLSStarter)
	if !ok {
		return
	}
	if cs, ok := st.TLSState(); ok {
		s.tls = tlsState{on: true, pbsz: true, private: true, tag: ftptls.Tag(cs)}
	}
}

func (s *session) cmdAUTH(arg string) {
	mech := strings.ToUpper(strings.TrimSpace(arg))
	protectData, known := authMechanisms[mech]
	st, canTLS := s.Transport.(protocol.TLSStarter)
	switch {
	case s.f.cfg.TLS == nil:
		s.reply(ftpwire.StatusTLSUnavailable, "TLS is not available: this server has no certificate configured.")
		return
	case s.tls.on || s.tls.starting:
		s.reply(ftpwire.StatusBadSequence, "Already using TLS.")
		return
	case !known:
		s.replyf(ftpwire.StatusNotImplementedParam, "AUTH %s not supported: use AUTH TLS.", printable(mech))
		return
	case !canTLS:
		s.reply(ftpwire.StatusTLSUnavailable, "TLS is not available on this connection.")
		return
	}
	s.reply(ftpwire.StatusAuthOK, "AUTH "+mech+" OK: start the TLS handshake.")
	// What followed AUTH in the same read was never protected (an
	// attacker may have added "USER evil"): it is dropped.
	s.ClearLineBuffer()
	s.tls.starting = true
	err := st.StartTLS(s.f.cfg.TLS.Control(), protocol.TLSOptions{Timeout: s.handshakeTimeout()}, func(cs tls.ConnectionState, err error) {
		s.tls.starting = false
		if err != nil {
			// The transport closes the connection; nothing can be said
			// in clear after 234.
			s.warn("ftp TLS handshake failed", "err", logText(errString(err)))
			return
		}
		s.tls = tlsState{on: true, pbsz: protectData, private: protectData, tag: ftptls.Tag(cs)}
		if s.logs() {
			s.f.cfg.Logger.Info("ftp TLS on", "peer", s.Transport.RemoteAddr().String(),
				"version", tls.VersionName(cs.Version), "cipher", tls.CipherSuiteName(cs.CipherSuite), "resumed", cs.DidResume)
		}
	})
	if err != nil {
		s.tls.starting = false
		s.warn("ftp TLS start", "err", err)
		s.Transport.LoseConnection()
	}
}

// handshakeTimeout bounds AUTH's handshake: what is left of the login
// deadline before login, else the idle timeout (0: the reactor's
// default).
func (s *session) handshakeTimeout() (d time.Duration) {
	if s.state != stateAuthed && s.state != stateRenaming && s.f.cfg.LoginTimeout > 0 {
		return max(s.start.Add(s.f.cfg.LoginTimeout).Sub(s.Transport.Loop().Now()), time.Millisecond)
	}
	if s.f.cfg.IdleTimeout > 0 {
		return s.f.cfg.IdleTimeout
	}
	return 0
}

func (s *session) cmdPBSZ(arg string) {
	if !s.tls.on {
		s.reply(ftpwire.StatusBadSequence, "PBSZ requires AUTH TLS first.")
		return
	}
	if _, err := strconv.ParseUint(strings.TrimSpace(arg), 10, 32); err != nil {
		s.replyf(ftpwire.StatusArgSyntaxError, "PBSZ wants a number, got '%s'.", printable(arg))
		return
	}
	s.tls.pbsz = true
	s.reply(ftpwire.StatusCommandOK, "PBSZ=0") // RFC 4217 section 8: TLS's buffer size is 0
}

func (s *session) cmdPROT(arg string) {
	level := strings.ToUpper(strings.TrimSpace(arg))
	switch {
	case !s.tls.on:
		s.reply(ftpwire.StatusBadSequence, "PROT requires AUTH TLS first.")
	case !s.tls.pbsz:
		s.reply(ftpwire.StatusBadSequence, "PROT requires PBSZ first.")
	case level == "P":
		s.tls.private = true
		s.reply(ftpwire.StatusCommandOK, "Protection level set to P (private): data connections use TLS.")
	case level == "C" && s.clearDataRefused():
		s.reply(ftpwire.StatusProtectionDenied, "PROT C refused: this server requires TLS on data connections.")
	case level == "C":
		s.tls.private = false
		s.reply(ftpwire.StatusCommandOK, "Protection level set to C (clear): data connections are not protected.")
	case level == "S" || level == "E":
		s.replyf(ftpwire.StatusProtNotSupported, "PROT %s not supported: use P or C.", level)
	default:
		s.replyf(ftpwire.StatusNotImplementedParam, "PROT '%s' unknown: use P or C.", printable(level))
	}
}

// cmdCCC refuses to clear the control connection (RFC 4217 section 6):
// plaintext commands after TLS would let an attacker in between inject
// them, and crypto/tls cannot hand back the bytes behind a close_notify.
func (s *session) cmdCCC(string) {
	if !s.tls.on {
		s.reply(ftpwire.StatusCommandProtDenied, "CCC: the control connection is not protected.")
		return
	}
	s.reply(ftpwire.StatusProtectionDenied, "CCC refused: the control connection stays protected.")
}

// tlsExempt reports whether this session need not use TLS under
// Config.TLSRequired: an anonymous user when TLSAnonymousPlain.
func (s *session) tlsExempt() bool {
	return s.f.cfg.TLSAnonymousPlain && s.anonymous
}

// loginRefused answers USER or PASS on a plaintext control connection
// when TLS is required, and reports whether it did.
func (s *session) loginRefused(user string) bool {
	if !s.f.cfg.TLSRequired || s.tls.on {
		return false
	}
	if s.f.cfg.TLSAnonymousPlain && s.f.cfg.AllowAnonymous && isAnonymousName(user) {
		return false
	}
	s.refused(RefusedTLSRequired)
	s.reply(ftpwire.StatusNotLoggedIn, "TLS required: send AUTH TLS before logging in.")
	return true
}

// clearDataRefused reports whether data connections without TLS are
// refused to this session.
func (s *session) clearDataRefused() bool {
	return s.f.cfg.TLSRequired && s.f.cfg.TLS != nil && !s.tlsExempt()
}

// dataProtRefused answers PASV, EPSV, PORT and EPRT with 521 when the
// next data connection would be clear while TLS is required (RFC 4217
// section 9), and reports whether it did.
func (s *session) dataProtRefused() bool {
	if s.tls.private || !s.clearDataRefused() {
		return false
	}
	s.reply(ftpwire.StatusProtLevelRefused, "Data connections must be protected: send PBSZ 0 and PROT P first.")
	return true
}

// dataSecurity is what a transfer's data connection needs to be made TLS:
// read from the session on the loop, turned into a tls.Config (a clone of
// the process's) on the transfer's goroutine, where the handshake runs.
type dataSecurity struct {
	server  *ftptls.Server
	tag     []byte
	reuse   TLSReuse
	timeout time.Duration
}

// dataTLS is the TLS a transfer's data connection gets, nil under PROT C.
// Loop-only (it reads the session).
func (s *session) dataTLS() *dataSecurity {
	if !s.tls.private || s.f.cfg.TLS == nil {
		return nil
	}
	return &dataSecurity{server: s.f.cfg.TLS, tag: s.tls.tag, reuse: s.f.cfg.TLSReuse, timeout: s.f.cfg.Data.AcceptTimeout}
}

// config is the data connection's dtp.TLS. On the transfer's goroutine.
func (d *dataSecurity) config() dtp.TLS {
	t := dtp.TLS{Config: d.server.Data(d.tag), Timeout: d.timeout}
	if d.reuse == TLSReuseRequired {
		t.Verify = ftptls.CheckResumed
	}
	return t
}

// dataConn is a transfer's data connection: TCP, and TLS over it under
// PROT P.
type dataConn struct {
	tcp *net.TCPConn
	tls *dtp.TLSConn
}

// openData opens the transfer's data connection, and makes it TLS when t
// is set. On the transfer's goroutine.
func openData(ctx context.Context, d dtp.Channel, t *dataSecurity) (dataConn, error) {
	conn, err := d.Open(ctx)
	if err != nil || t == nil {
		return dataConn{tcp: conn}, err
	}
	tc, err := dtp.Handshake(ctx, conn, t.config())
	if err != nil {
		return dataConn{}, err
	}
	return dataConn{tcp: conn, tls: tc}, nil
}

// send is dtp.Send or dtp.SendTLS.
func (c dataConn) send(ctx context.Context, src io.Reader, ascii bool, idle time.Duration) (int64, error) {
	if c.tls != nil {
		return dtp.SendTLS(ctx, c.tls, src, ascii, idle)
	}
	return dtp.Send(ctx, c.tcp, src, ascii, idle)
}

// receive is dtp.Receive or dtp.ReceiveTLS.
func (c dataConn) receive(ctx context.Context, dst io.Writer, ascii bool, idle time.Duration) (int64, error) {
	if c.tls != nil {
		return dtp.ReceiveTLS(ctx, c.tls, dst, ascii, idle)
	}
	return dtp.Receive(ctx, c.tcp, dst, ascii, idle)
}

// close ends a data connection that no transfer used (a panic midway).
func (c dataConn) close() {
	if c.tls != nil {
		c.tls.Close()
		return
	}
	if c.tcp != nil {
		_ = c.tcp.Close()
	}
}

// dataOpenReply is the final reply of a transfer whose data connection
// could not be opened.
func dataOpenReply(err error) (int, string) {
	switch {
	case errors.Is(err, ftptls.ErrNotResumed):
		return ftpwire.StatusDataTLSFailed, "TLS session of data connection not resumed: it must resume the control connection's session (session reuse required)."
	case errors.Is(err, dtp.ErrDataTLS):
		return ftpwire.StatusDataTLSFailed, "TLS negotiation on the data connection failed (PROT P: the data connection must be TLS)."
	}
	return ftpwire.StatusCantOpenData, "Can't open data connection."
}
