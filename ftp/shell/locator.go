package shell

// Locator is an optional capability of a shell whose files have names on
// the server's own filesystem (the local backend): the log, the xferlog
// and hooks name files as the operator finds them on disk, not as the
// client saw them. Safe from any goroutine; it touches no disk.
type Locator interface {
	// LocalPath returns the server-side name of the virtual path p, and
	// false when p has none (a path outside the root).
	LocalPath(p string) (string, bool)
}

// LocalPath is sh's server-side name for the virtual path p
// (Locator), or p itself when sh has none.
func LocalPath(sh Shell, p string) string {
	if l, ok := sh.(Locator); ok {
		if lp, ok := l.LocalPath(p); ok {
			return lp
		}
	}
	return p
}

// LocalPath passes through to the wrapped shell.
func (r readOnly) LocalPath(p string) (string, bool) {
	if l, ok := r.s.(Locator); ok {
		return l.LocalPath(p)
	}
	return "", false
}

// LocalPath passes through to the wrapped shell: limits change what a
// user may do, not where the files are.
func (l *limited) LocalPath(p string) (string, bool) {
	if loc, ok := l.s.(Locator); ok {
		return loc.LocalPath(p)
	}
	return "", false
}
