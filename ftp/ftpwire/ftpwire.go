// Package ftpwire is the FTP control connection's grammar, shared by the
// server (package ftp), the client (ftp/client), the load generator and
// the tests: the reply codes with the RFC sections that define them, the
// reply type, the multi-line reply assembler and formatter (RFC 959 4.2),
// the PORT/EPRT/PASV/EPSV address formats (RFC 959, RFC 2428), and Error,
// the failure that carries its own reply, which a storage backend may
// return to choose what the client is told.
//
// Nothing here does I/O or keeps state beyond an Assembler's current
// reply; every function is safe from any goroutine.
package ftpwire

import (
	"errors"
	"fmt"
)

// Errors of the address grammar; the server maps them to replies.
var (
	// ErrSyntax: a malformed PORT/EPRT/EPSV argument or passive reply
	// (the server answers 501).
	ErrSyntax = errors.New("syntax error in argument")
	// ErrUnsupportedNetwork: an EPRT/EPSV network protocol other than 1
	// (IPv4) or 2 (IPv6) (the server answers 522, RFC 2428 section 2).
	ErrUnsupportedNetwork = errors.New("network protocol not supported")
)

// Error is a failure that knows its reply (Twisted's FTPCmdError): the
// server sends Code and Text as they are. A shell backend returns one (or
// wraps one) to choose its own reply, for example a quota that says how
// much is left; Err is the cause, for logs only.
type Error struct {
	Code int
	Text string
	Err  error
}

// Errorf returns an *Error with a formatted text.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Text: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Text) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Reply returns the code and text sent to the client.
func (e *Error) Reply() (int, string) { return e.Code, e.Text }
