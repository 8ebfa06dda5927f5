package local

import (
	"io/fs"
	"time"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// SetModTime sets the modification time of p (shell.TimeSetter, for MFMT); the
// access time is set to the same value. Symlinks inside the root are
// followed, as by Stat.
func (l *Local) SetModTime(p string, t time.Time) error {
	r, err := resolve("mfmt", p)
	if err != nil {
		return err
	}
	if err := l.root.Chtimes(r, t, t); err != nil {
		return mapErr("mfmt", p, err)
	}
	return nil
}

// SetMode sets the permission bits (and sticky bit) of p
// (shell.ModeSetter, for SITE CHMOD); setuid and setgid are refused as
// fs.ErrPermission. Symlinks inside the root are followed, as by Stat:
// the target's mode changes, as with chmod(1).
func (l *Local) SetMode(p string, mode fs.FileMode) error {
	r, err := resolve("chmod", p)
	if err != nil {
		return err
	}
	if mode&^(fs.ModePerm|fs.ModeSticky) != 0 {
		return mapErr("chmod", p, fs.ErrPermission)
	}
	return mapErr("chmod", p, l.root.Chmod(r, mode))
}

var (
	_ shell.TimeSetter = (*Local)(nil)
	_ shell.ModeSetter = (*Local)(nil)
)
