package shell

import (
	"errors"
	"io/fs"
)

// pathError is a shell failure: the operation, the client's virtual path,
// the kind the PI maps to a reply (fs.ErrNotExist, ErrIsDir, ...) and the
// error behind it. errors.Is matches both the kind and the cause. Its
// text names only the virtual path and the kind, so it can go into a reply
// or a log line without showing where the root lives on disk.
type pathError struct {
	op, path string
	kind     error // nil when the cause fits no kind (EIO, ENOSPC, ...)
	err      error
}

func (e *pathError) Error() string {
	if e.kind == nil {
		return e.op + " " + e.path + ": " + e.err.Error()
	}
	return e.op + " " + e.path + ": " + e.kind.Error()
}

func (e *pathError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

// Kinds are the error kinds the server maps to replies, in the order
// Wrap tries them: the first one the cause matches (errors.Is) wins.
// ErrNotEmpty comes before fs.ErrExist, which ENOTEMPTY also matches.
var Kinds = []error{
	ErrInvalidPath, ErrReadOnly, ErrIsDir, ErrNotDir, ErrNotRegular,
	ErrBadOffset, ErrNameTooLong, ErrNotAllowed, ErrQuota, ErrQuotaUnavailable, ErrNotEmpty, ErrUnsupported,
	fs.ErrNotExist, fs.ErrExist, fs.ErrPermission, fs.ErrInvalid,
}

// Wrap returns err (nil stays nil) as a failure of op on the virtual path
// p, of the first kind in Kinds that err matches (or of no kind). Every
// backend wraps its errors with Wrap or PathError: the text then shows
// the client's path and the kind, never a backend's own paths or keys.
func Wrap(op, p string, err error) error {
	if err == nil {
		return nil
	}
	for _, k := range Kinds {
		if errors.Is(err, k) {
			return &pathError{op: op, path: p, kind: k, err: err}
		}
	}
	return &pathError{op: op, path: p, err: err}
}

// PathError is Wrap with the kind chosen by the backend (nil: none), for
// causes that match no kind by themselves (an errno that means "is a
// directory", a store's "no such key").
func PathError(op, p string, kind, cause error) error {
	if cause == nil {
		cause = kind
	}
	return &pathError{op: op, path: p, kind: kind, err: cause}
}
