// Package shell is the contract between the FTP server and whatever
// stores a user's files (Twisted's IFTPShell and IRealm): the Shell
// interface and its optional capabilities, the error kinds the server maps
// to replies, path resolution, the read-only wrapper used for anonymous
// users, and the Realm that gives a logged-in user its Shell. It knows no
// backend and no operating system: the local one (os.Root on a directory)
// is ftp/shell/local, and shelltest is the conformance suite every
// backend runs.
//
// Paths handed to a Shell are virtual, clean and absolute ("/", "/a/b"):
// the PI resolves a client's argument against its working directory with
// Resolve before calling the shell. Every method may block (disk, network
// filesystems): the PI calls them on the worker pool, never on an event
// loop. One session never calls its Shell concurrently, but the server
// shares a Shell among the sessions of one home directory, so
// implementations must be safe for concurrent use (Local and ReadOnly are).
package shell

import (
	"errors"
	"io"
	"io/fs"
	"time"
)

// Shell is one user's filesystem view.
type Shell interface {
	// MakeDirectory creates the directory path (parents must exist).
	MakeDirectory(path string) error
	// RemoveDirectory removes the empty directory path.
	RemoveDirectory(path string) error
	// RemoveFile removes the file path (not a directory).
	RemoveFile(path string) error
	// Rename moves from to to.
	Rename(from, to string) error
	// Access reports nil if path is a directory the user may enter (CWD).
	Access(path string) error
	// Stat describes path itself (never its entries, unlike List). The
	// local shell follows symlinks that stay inside the root.
	Stat(path string) (fs.FileInfo, error)
	// List returns the entries of the directory path, sorted by name, or a
	// single entry (named by its base name) when path is a file. Entries
	// may implement FileInfoOwner.
	List(path string) ([]fs.FileInfo, error)
	// OpenForReading opens the file path positioned at offset (REST).
	// An offset past the file's size is ErrBadOffset (an offset equal to
	// it reads nothing). The local shell returns an *os.File so that
	// copying it to a *net.TCPConn uses sendfile(2).
	OpenForReading(path string, offset int64) (io.ReadCloser, error)
	// OpenForWriting opens path for an upload. With append false the
	// upload is atomic: data goes to a temporary file in the same
	// directory, Commit renames it over path, Abort removes it, so a
	// failed upload never damages an existing file. With append true (APPE,
	// or REST offset > 0 given as offset) the file is written in place from
	// offset (-1 means at the end), as every peer server does. An offset
	// past the file's size (a missing file has size 0) is ErrBadOffset,
	// and nothing is created or changed: a REST point is where an
	// interrupted upload stopped, never a hole to make.
	OpenForWriting(path string, offset int64, append bool) (WriteFile, error)
}

// NameLister is an optional capability for NLST: the names List would
// return, without describing each entry. The local shell reads only the
// directory (no stat per entry), about 8 times cheaper for large
// directories. The PI checks for it and falls back to List.
type NameLister interface {
	// ListNames returns the names of the entries of the directory path,
	// sorted, or the base name of path when it is a file.
	ListNames(path string) ([]string, error)
}

// TimeSetter is an optional capability for MFMT (set a file's
// modification time, as mirroring clients do after an upload so the copy
// keeps the original's time). The local shell has it; ReadOnly refuses;
// the PI answers 502 for shells without it.
type TimeSetter interface {
	SetModTime(path string, t time.Time) error
}

// ExclusiveCreator is an optional capability for STOU: an atomic upload
// (as OpenForWriting's) that never replaces a file, so that the unique
// name STOU chose stays unique even if another session takes it during
// the upload. The PI falls back to OpenForWriting for shells without it.
type ExclusiveCreator interface {
	// CreateExclusive starts an atomic upload to path, which must not
	// exist: fs.ErrExist if it does, when opened or at Commit (a file
	// put there meanwhile stays, and the upload is discarded).
	CreateExclusive(path string) (WriteFile, error)
}

// ModeSetter is an optional capability for SITE CHMOD (set a file's
// permission bits, as mirroring clients such as lftp's mirror -R do after
// an upload). mode holds the permission bits and at most fs.ModeSticky;
// the PI refuses setuid and setgid before calling it. The local shell
// has it; ReadOnly refuses; the PI answers 502 for shells without it.
type ModeSetter interface {
	SetMode(path string, mode fs.FileMode) error
}

// PermissionShell is an optional interface of a shell that grants a user
// only some permissions (Limit's wrapper): Granted reports whether the
// letter (pyftpdlib's, as auth.PermLetters) is granted. The PI's MLSx
// perm fact follows it.
type PermissionShell interface {
	Granted(letter byte) bool
}

// ReadOnlyShell is an optional interface of a shell that refuses every
// change (ReadOnly's wrapper, or a backend on a read-only store): the
// PI's MLSx perm fact then tells the user that nothing may be changed.
type ReadOnlyShell interface {
	ReadOnly() bool
}

// IsReadOnly reports whether sh says it is read-only (ReadOnlyShell).
func IsReadOnly(sh Shell) bool {
	ro, ok := sh.(ReadOnlyShell)
	return ok && ro.ReadOnly()
}

// WriteFile is an upload in progress. The local shell's implementation
// also implements io.ReaderFrom through an embedded *os.File, so copying a
// *net.TCPConn into it uses splice(2).
type WriteFile interface {
	io.Writer
	// Commit finishes the upload (fsync is not implied) and closes it.
	Commit() error
	// Abort discards an atomic upload (or just closes an in-place one).
	Abort() error
}

// FileInfoOwner is implemented by FileInfo values that know owner and group
// names for LIST; others list as "ftp ftp".
type FileInfoOwner interface {
	Owner() string
	Group() string
}

// Errors a shell returns besides the io/fs ones (fs.ErrNotExist,
// fs.ErrExist, fs.ErrPermission). The PI maps each to its reply.
var (
	// ErrReadOnly: the shell does not allow changes (anonymous users).
	ErrReadOnly = errors.New("filesystem is read-only")
	// ErrIsDir: a file operation was asked of a directory.
	ErrIsDir = errors.New("is a directory")
	// ErrNotDir: a directory operation was asked of a file.
	ErrNotDir = errors.New("not a directory")
	// ErrInvalidPath: the path climbs above the root or holds a NUL.
	ErrInvalidPath = errors.New("invalid path")
	// ErrNotRegular: RETR, STOR or APPE of something that is neither a
	// regular file nor a directory (a FIFO would block the worker opening
	// it until a writer came; a device is not the server's to hand out),
	// refused as vsftpd does.
	ErrNotRegular = errors.New("not a regular file")
	// ErrBadOffset: a restart point (REST) past the end of the file.
	ErrBadOffset = errors.New("restart point beyond the end of the file")
	// ErrNameTooLong: a path or one of its names is longer than the
	// backend allows (ENAMETOOLONG).
	ErrNameTooLong = errors.New("file name too long")
	// ErrNotEmpty: RMD of a directory that still has entries
	// (ENOTEMPTY). Errors of this kind also match fs.ErrExist when their
	// cause is the errno, as before this kind existed.
	ErrNotEmpty = errors.New("directory not empty")
	// ErrUnsupported: the backend cannot do this at all (an object store
	// cannot append to an object or write one from an offset: APPE and
	// REST+STOR on S3), as opposed to refusing this user or this path.
	ErrUnsupported = errors.New("operation not supported by this storage")
)
