package protocol

import (
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// TLSStarter is an optional interface of transports that can switch their
// connection to TLS in place: RFC 4217's AUTH TLS, SMTP's STARTTLS. The
// reactor's event-loop transports, reactor.ConnTransport and prototest's
// Transport implement it. Loop-only, like every Transport method.
//
// A server protocol (the FTP PI, on AUTH TLS):
//
//	st, ok := p.Transport.(protocol.TLSStarter)
//	if !ok || cfg == nil { reply 431; return }
//	reply 234                      // in clear: it must precede the first TLS record
//	p.ClearLineBuffer()            // what the client sent after AUTH TLS was not protected
//	err := st.StartTLS(cfg, protocol.TLSOptions{Timeout: loginTimeout},
//		func(cs tls.ConnectionState, err error) {
//			if err != nil { return } // the transport closes the connection
//			// cs.Version, cs.DidResume ...; lines from now on are decrypted
//		})
//
// A client protocol (ftp/client, on the 234 reply) does the same with
// TLSOptions{Client: true} and a cfg that names the server (ServerName, and
// a ClientSessionCache so that data connections can resume the session).
// A client of implicit TLS (ftps://, port 990) calls StartTLS with
// Client: true in ConnectionMade, before anything is sent.
//
// What the handshake changes on the transport: Write and WriteSequence
// encrypt (one record per call); DataReceived gets plaintext; PauseProducing
// stops delivery of plaintext; LoseConnection sends a close_notify alert
// first; Abort sends none. Writes made while the handshake runs are kept
// and sent encrypted after it (dropped if it fails), before anything done
// writes.
//
// Plaintext injection (CVE-2011-0411): bytes that reached the server before
// its 234 reply were never protected, yet an attacker between client and
// server can add them ("AUTH TLS\r\nUSER evil\r\n"). StartTLS discards what
// the transport holds at the time of the call and never feeds it to TLS or
// to the protocol; what the protocol itself holds (the rest of the
// DataReceived chunk that carried the command, and a line receiver's
// buffer) is the protocol's to discard: linereceiver's ClearLineBuffer does
// it. Bytes read from the socket after the call are TLS records.
type TLSStarter interface {
	// StartTLS begins a TLS handshake on the connection, as a server
	// (the peer sends the ClientHello) or, with opts.Client, as a client.
	// It returns at once; done is called exactly once, on the loop, never
	// from inside StartTLS: with the connection's state on success, or
	// with the reason it failed (the handshake failed or timed out, the
	// connection was lost or closed: closing it is how a protocol cancels
	// a handshake). After a failure the transport closes the connection;
	// ConnectionLost follows done and gets the same error.
	//
	// cfg is used as given, not copied, and its callbacks
	// (GetCertificate, GetConfigForClient, VerifyPeerCertificate,
	// WrapSession, UnwrapSession...) run on a handshake goroutine, not on
	// the loop: they must be safe for concurrent use and must not touch
	// protocol state. Use one Config for every connection: crypto/tls
	// makes session-ticket keys per Config, so connections handshaking
	// with different Configs cannot resume each other's sessions.
	//
	// StartTLS returns an error, and done is never called, if cfg is nil,
	// if TLS was already started on this connection (ErrTLSStarted), or
	// if the connection is closing.
	StartTLS(cfg *tls.Config, opts TLSOptions, done func(tls.ConnectionState, error)) error
	// TLSState reports the connection's TLS state once a handshake has
	// completed (after StartTLS's done(…, nil), or on a connection accepted
	// by an implicit-TLS listener); ok is false on a plaintext connection
	// and while a handshake runs.
	TLSState() (state tls.ConnectionState, ok bool)
}

// TLSOptions are StartTLS's options. The zero value is a server-side
// handshake bounded by the transport's default timeout.
type TLSOptions struct {
	// Client makes this side the TLS client (it sends the ClientHello);
	// cfg must then name the server (ServerName) or skip verification.
	Client bool
	// Timeout bounds the handshake, from the StartTLS call, on the loop's
	// clock (Loop.Now). 0 means the transport's default (the reactor's
	// Config.TLSHandshakeTimeout, 30 s); negative means none (not
	// advisable: a peer that stalls keeps the handshake, and on the
	// reactor one of its bounded handshake slots, until it goes away).
	Timeout time.Duration
}

// Errors that StartTLS and implicit-TLS listeners report (wrapped; test
// them with errors.Is).
var (
	// ErrTLSStarted: StartTLS on a connection that already has TLS or a
	// handshake in progress.
	ErrTLSStarted = errors.New("tls already started on this connection")
	// ErrTLSHandshakeTimeout: the handshake did not complete in time.
	ErrTLSHandshakeTimeout = errors.New("tls handshake timed out")
	// ErrTooManyTLSHandshakes: the reactor's bound on handshakes in
	// progress (Config.MaxTLSHandshakes) was reached; the connection is
	// closed rather than queued without bound.
	ErrTooManyTLSHandshakes = errors.New("too many tls handshakes in progress")
)

// TLSHandshakeObserver is an optional interface of the Factory given to an
// implicit-TLS listener (reactor.ListenTLS): such a connection gets a
// protocol only once its handshake has succeeded, so a failed or stalled
// handshake is reported here instead (for a log line, a counter, a ban).
// It is called on the connection's loop, possibly from several loops at
// once. Without it the reactor logs the failure at debug level.
type TLSHandshakeObserver interface {
	TLSHandshakeFailed(remote net.Addr, err error)
}
