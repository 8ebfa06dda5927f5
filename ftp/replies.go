package ftp

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"

	"github.com/gnetftp/gnetftp/deferred"

	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/shell"
)

// Reply codes used by the server, named as RFC 959 (section 4.2) and its
// extensions name them.
const (
	codeFileStatusOK        = 150 // about to open data connection
	codeCommandOK           = 200
	codeSuperfluous         = 202 // ALLO
	codeSystemStatus        = 211 // STAT, FEAT
	codeFileStatus          = 213 // SIZE, MDTM, STAT path
	codeHelp                = 214
	codeSystemType          = 215
	codeServiceReady        = 220
	codeClosing             = 221
	codeNoTransfer          = 225 // ABOR with nothing to abort
	codeTransferComplete    = 226
	codePassive             = 227
	codeExtendedPassive     = 229 // RFC 2428
	codeLoggedIn            = 230
	codeFileActionOK        = 250
	codePathCreated         = 257
	codeNeedPassword        = 331
	codePending             = 350 // RNFR, REST
	codeServiceNotAvailable = 421
	codeCantOpenData        = 425
	codeTransferAborted     = 426
	codeLocalError          = 451
	codeInsufficientStorage = 452 // disk full
	codeSyntaxError         = 500
	codeArgSyntaxError      = 501
	codeNotImplemented      = 502
	codeBadSequence         = 503
	codeNotImplementedParam = 504
	codeNetworkProtocol     = 522 // RFC 2428
	codeNotLoggedIn         = 530
	codeFileUnavailable     = 550
	codeExceededStorage     = 552 // quota exhausted
)

// Error is a failure that knows its reply (Twisted's FTPCmdError).
type Error struct {
	Code int
	Text string
	Err  error // the cause, for logs
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Text) }
func (e *Error) Unwrap() error { return e.Err }

// Reply returns the code and text sent to the client.
func (e *Error) Reply() (int, string) { return e.Code, e.Text }

func replyErr(code int, format string, args ...any) *Error {
	return &Error{Code: code, Text: fmt.Sprintf(format, args...)}
}

// fsErrors maps shell and storage errors to replies: Twisted's 550 texts
// ("%s" is the client's path), and RFC 959's 452/552 for a full disk or
// an exhausted quota, which Twisted's table has but never sends. The
// first match wins.
var fsErrors = []struct {
	err  error
	code int
	text string
}{
	{shell.ErrReadOnly, codeFileUnavailable, "%s: Permission denied."},
	{fs.ErrPermission, codeFileUnavailable, "%s: Permission denied."},
	{shell.ErrInvalidPath, codeFileUnavailable, "%s: No such file or directory."},
	{fs.ErrNotExist, codeFileUnavailable, "%s: No such file or directory."},
	{shell.ErrIsDir, codeFileUnavailable, "%s: is a directory"},
	{shell.ErrNotDir, codeFileUnavailable, "%s: is not a directory"},
	{shell.ErrNotRegular, codeFileUnavailable, "%s: not a regular file"},
	{fs.ErrExist, codeFileUnavailable, "%s: File exists"},
	{syscall.ENOSPC, codeInsufficientStorage, "Requested action aborted. Insufficient storage."},
	{syscall.EDQUOT, codeExceededStorage, "Requested file action aborted, exceeded file storage allocation"},
}

// toReply turns any error into the reply the client gets: the one place
// where failures become replies.
func toReply(err error, path string) (int, string) {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Reply()
	}
	for _, m := range fsErrors {
		if errors.Is(err, m.err) {
			if strings.Contains(m.text, "%s") {
				return m.code, fmt.Sprintf(m.text, path)
			}
			return m.code, m.text
		}
	}
	var pe *deferred.PanicError
	if errors.As(err, &pe) {
		return codeLocalError, "Requested action aborted. Local error in processing."
	}
	switch {
	case errors.Is(err, deferred.ErrPoolFull):
		return codeServiceNotAvailable, "Server busy, try again later."
	case errors.Is(err, dtp.ErrPeerClosed):
		return codeTransferAborted, "Transfer aborted.  Data connection closed."
	}
	return codeLocalError, "Requested action aborted. Local error in processing."
}

// formatReply renders a reply: one line, or RFC 959's multi-line form when
// text has several lines: "code-first", the middle lines as they are (a
// middle line that starts with a digit gets a leading space so it cannot
// be taken for the end), "code last". FEAT's feature lines are then the
// " FEATURE" lines RFC 2389 asks for, as in Twisted. A CR inside the text
// (a path named by the client) goes out as CR NUL (RFC 2640 section 3.1),
// so no client can take it for the end of a line and read a reply the
// server never sent.
func formatReply(dst []byte, code int, text string) []byte {
	if strings.IndexByte(text, '\r') >= 0 {
		text = strings.ReplaceAll(text, "\r", "\r\x00")
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		switch {
		case len(lines) == 1:
			dst = fmt.Appendf(dst, "%d %s", code, l)
		case i == 0:
			dst = fmt.Appendf(dst, "%d-%s", code, l)
		case i == len(lines)-1:
			dst = fmt.Appendf(dst, "%d %s", code, l)
		default:
			if l != "" && l[0] >= '0' && l[0] <= '9' {
				dst = append(dst, ' ')
			}
			dst = append(dst, l...)
		}
		dst = append(dst, '\r', '\n')
	}
	return dst
}
