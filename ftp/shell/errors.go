package shell

import (
	"errors"
	"io/fs"
	"syscall"
)

// pathError is a shell failure: the operation, the client's virtual path,
// the kind the PI maps to a reply (fs.ErrNotExist, ErrIsDir, ...) and the
// OS error behind it. errors.Is matches both the kind and the cause. Its
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

// errKinds maps OS errors to the shell's kinds; the first match wins.
// ENOTEMPTY (RMD of a directory with entries) counts as "exists".
var errKinds = []struct{ cause, kind error }{
	{ErrInvalidPath, ErrInvalidPath},
	{ErrReadOnly, ErrReadOnly},
	{ErrIsDir, ErrIsDir},
	{ErrNotDir, ErrNotDir},
	{ErrNotRegular, ErrNotRegular},
	{syscall.EISDIR, ErrIsDir},
	{syscall.ENOTDIR, ErrNotDir},
	{syscall.ELOOP, ErrInvalidPath},
	{fs.ErrNotExist, fs.ErrNotExist},
	{fs.ErrExist, fs.ErrExist}, // EEXIST and ENOTEMPTY
	{fs.ErrPermission, fs.ErrPermission},
}

// escapeText is os.Root's (unexported) error for a path or symlink that
// would leave the root.
const escapeText = "path escapes from parent"

// mapErr wraps err (nil stays nil) with op, the virtual path p and its kind.
func mapErr(op, p string, err error) error {
	if err == nil {
		return nil
	}
	e := &pathError{op: op, path: p, err: err}
	for _, k := range errKinds {
		if errors.Is(err, k.cause) {
			e.kind = k.kind
			return e
		}
	}
	if isEscape(err) {
		e.kind = ErrInvalidPath
	}
	return e
}

func isEscape(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == escapeText {
			return true
		}
	}
	return false
}
