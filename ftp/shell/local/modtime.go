package local

import (
	"time"
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
