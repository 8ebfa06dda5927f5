package local

import (
	"errors"
	"io/fs"
	"syscall"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// errnoKinds are the OS errors that mean one of the shell's kinds without
// matching it by themselves (syscall.Errno knows only the fs kinds).
var errnoKinds = []struct{ cause, kind error }{
	{syscall.EISDIR, shell.ErrIsDir},
	{syscall.ENOTDIR, shell.ErrNotDir},
	{syscall.ELOOP, shell.ErrInvalidPath},
	{syscall.ENAMETOOLONG, shell.ErrNameTooLong},
	// ENOTEMPTY matches fs.ErrExist too: this table is tried first.
	{syscall.ENOTEMPTY, shell.ErrNotEmpty},
	// EINVAL from a path operation is the client's doing: renaming a
	// directory into itself, a name the filesystem refuses.
	{syscall.EINVAL, fs.ErrInvalid},
}

// escapeText is os.Root's (unexported) error for a path or symlink that
// would leave the root.
const escapeText = "path escapes from parent"

// mapErr wraps err (nil stays nil) with op, the virtual path p and its
// kind: an errno that means one, a shell kind err already carries, or
// os.Root's escape (ErrInvalidPath). The errnos come first: ENOTEMPTY
// would otherwise be taken for fs.ErrExist.
func mapErr(op, p string, err error) error {
	if err == nil {
		return nil
	}
	for _, k := range errnoKinds {
		if errors.Is(err, k.cause) {
			return shell.PathError(op, p, k.kind, err)
		}
	}
	for _, k := range shell.Kinds {
		if errors.Is(err, k) {
			return shell.Wrap(op, p, err)
		}
	}
	if isEscape(err) {
		return shell.PathError(op, p, shell.ErrInvalidPath, err)
	}
	return shell.Wrap(op, p, err)
}

func isEscape(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == escapeText {
			return true
		}
	}
	return false
}
