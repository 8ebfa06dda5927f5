package ftp

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/shell"
)

// fsErrors maps shell and storage errors to replies: Twisted's 550 texts
// ("%s" is the client's path), and RFC 959's 452/552 for a full disk or
// an exhausted quota, which Twisted's table has but never sends. The
// first match wins.
var fsErrors = []struct {
	err  error
	code int
	text string
}{
	{shell.ErrReadOnly, ftpwire.StatusFileUnavailable, "%s: Permission denied."},
	{fs.ErrPermission, ftpwire.StatusFileUnavailable, "%s: Permission denied."},
	{shell.ErrNotAllowed, ftpwire.StatusFileUnavailable, "%s: Permission denied."},
	{shell.ErrQuota, ftpwire.StatusExceededStorage, "Requested file action aborted. Exceeded storage allocation (quota)."},
	// A fleet's shared quota ledger (the database) cannot be asked: a
	// transient 451, so the client retries later.
	{shell.ErrQuotaUnavailable, ftpwire.StatusLocalError, "Requested action aborted: the quota cannot be checked now, try again later."},
	{shell.ErrInvalidPath, ftpwire.StatusFileUnavailable, "%s: No such file or directory."},
	{fs.ErrNotExist, ftpwire.StatusFileUnavailable, "%s: No such file or directory."},
	{shell.ErrIsDir, ftpwire.StatusFileUnavailable, "%s: is a directory"},
	{shell.ErrNotDir, ftpwire.StatusFileUnavailable, "%s: is not a directory"},
	{shell.ErrNotRegular, ftpwire.StatusFileUnavailable, "%s: not a regular file"},
	{shell.ErrNotEmpty, ftpwire.StatusFileUnavailable, "%s: Directory not empty"},
	{fs.ErrExist, ftpwire.StatusFileUnavailable, "%s: File exists"},
	// REST past the end: pyftpdlib's 554 (RFC 1123 4.1.3.4).
	{shell.ErrBadOffset, ftpwire.StatusRestartInvalid, "Invalid REST parameter."},
	// Client-made names the filesystem refuses: a 5xx, not a 451 with a
	// log line (the name is not quoted back: it may be 16 KiB long).
	{shell.ErrNameTooLong, ftpwire.StatusBadFileName, "File name too long."},
	{fs.ErrInvalid, ftpwire.StatusFileUnavailable, "%s: Invalid argument."},
	// A backend that cannot do it at all (APPE or REST+STOR on S3): 550
	// with the reason, as SFTPGo answers, so that a client does not retry.
	{shell.ErrUnsupported, ftpwire.StatusFileUnavailable, "%s: Operation not supported by this storage (an object store: no APPE, no REST before STOR)."},
	{syscall.ENOSPC, ftpwire.StatusInsufficientStorage, "Requested action aborted. Insufficient storage."},
	{syscall.EDQUOT, ftpwire.StatusExceededStorage, "Requested file action aborted, exceeded file storage allocation"},
}

// toReply turns any error into the reply the client gets: the one place
// where failures become replies.
func toReply(err error, path string) (int, string) {
	var fe *ftpwire.Error
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
		return ftpwire.StatusLocalError, "Requested action aborted. Local error in processing."
	}
	switch {
	case errors.Is(err, deferred.ErrPoolFull):
		return ftpwire.StatusServiceNotAvailable, "Server busy, try again later."
	case errors.Is(err, dtp.ErrPeerClosed):
		return ftpwire.StatusTransferAborted, "Transfer aborted.  Data connection closed."
	}
	return ftpwire.StatusLocalError, "Requested action aborted. Local error in processing."
}
