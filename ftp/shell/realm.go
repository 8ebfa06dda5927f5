package shell

// Login is who logged in, as the server hands it to a Realm.
type Login struct {
	// User is the name given to USER ("anonymous" or "ftp" for
	// anonymous logins).
	User string
	// Home is the home the user store gave ("" when it gave none): a
	// directory relative to the realm's root, or whatever the backend
	// makes of it (a key prefix).
	Home string
	// Anonymous is set for anonymous logins: the realm gives them a
	// read-only shell.
	Anonymous bool
}

// Realm gives a logged-in user its Shell (Twisted's IRealm; FTPRealm is
// the local one, ftp/shell/local.Realm). Shell may block (open a
// directory, reach a store): the server calls it on the worker pool,
// never on an event loop. It may return the same Shell for several
// logins (a Shell is safe for concurrent use). A Realm is safe for
// concurrent use.
type Realm interface {
	Shell(l Login) (Shell, error)
}

// ReadyRealm is an optional interface of a Realm that can answer without
// blocking when the shell is at hand already (opened for an earlier login
// of the same home, say). The server asks it first, on the event loop:
// together with a cached password check, a repeated login then never
// waits for the worker pool, even while every worker is stuck on a hung
// filesystem. ReadyShell must not block; it reports false when Shell
// would have to.
type ReadyRealm interface {
	Realm
	ReadyShell(l Login) (Shell, bool)
}

// RealmFunc adapts a function to a Realm (with no ready path).
type RealmFunc func(l Login) (Shell, error)

// Shell calls f.
func (f RealmFunc) Shell(l Login) (Shell, error) { return f(l) }
