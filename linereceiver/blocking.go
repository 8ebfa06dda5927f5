package linereceiver

import "github.com/gnetftp/gnetftp/deferred"

// Blocking is a request/response step of a line protocol that needs
// blocking work (a disk, a database, a password hash): it holds line
// delivery, runs fn on pool, then runs then on the loop with fn's result;
// lines that arrived meanwhile are delivered after then returns, in
// order, unless then holds or pauses the receiver again (by starting
// another Blocking, say). One request at a time and the next line read
// only after the reply: what FTP, SMTP and POP3 servers do for each
// command. Loop-only; r must have been given its transport with Init.
//
// If the pool is full or closed, then runs with deferred.ErrPoolFull or
// deferred.ErrPoolClosed on the next loop turn. If the connection is
// lost first, then never runs (the loop runs nothing after
// ConnectionLost).
func Blocking[T any](r *LineReceiver, pool deferred.Submitter, fn func() (T, error), then func(T, error)) {
	BlockingOwned(r, pool, fn, nil, then)
}

// BlockingOwned is Blocking for a result that holds a resource (an open
// file, a listener): if then can never run because the connection is
// gone, dropped (when not nil) releases the value instead (see
// deferred.Defer for where it runs).
func BlockingOwned[T any](r *LineReceiver, pool deferred.Submitter, fn func() (T, error), dropped func(T), then func(T, error)) {
	release := r.Hold()
	deferred.Defer(pool, r.transport.Loop(), fn, dropped).AddBoth(func(v T, err error) {
		r.batch(func() {
			release()
			then(v, err)
		})
	})
}
