// Copyright (c) 2026 The gnetftp authors. Licensed under the Apache License,
// Version 2.0, as the rest of this module (see LICENSE).
//
// This file is not part of upstream gnet: it is the gnetftp patch that keeps
// accept errors from ending the engine (see PATCHES.md).

//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package gnet

import (
	"golang.org/x/sys/unix"

	"github.com/panjf2000/gnet/v2/pkg/socket"
)

// spareFD is a descriptor an accepting event loop holds in reserve: when
// the process is out of descriptors, closing it frees the one slot needed
// to accept a pending connection and close it at once, so the accept queue
// drains and clients are refused promptly instead of waiting in the
// backlog (libev's and nginx's trick).
type spareFD struct {
	fd   int
	open bool
}

// openSpare takes the reserved descriptor; it reports whether the loop
// holds one.
func (el *eventloop) openSpare() bool {
	if el.spare.open {
		return true
	}
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	el.spare = spareFD{fd: fd, open: true}
	return true
}

func (el *eventloop) closeSpare() {
	if el.spare.open {
		_ = unix.Close(el.spare.fd)
		el.spare = spareFD{}
	}
}

// acceptFailed handles an accept(2) error on listener fd that the acceptor
// does not simply retry. Out of descriptors or kernel memory, it sheds one
// pending connection; any error is then reported (Options.AcceptErrorHandler,
// else the log), except EMFILE/ENFILE for a queue that turned out empty
// (Linux reserves the descriptor before it looks at the queue, so the
// acceptor's last call on an exhausted process fails even when nothing is
// pending). It reports whether a connection was shed, in which case the
// caller goes on accepting. It never asks to stop the engine.
func (el *eventloop) acceptFailed(fd int, err error) (shed bool) {
	switch err {
	case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
		var empty bool
		if shed, empty = el.shed(fd); empty {
			return false
		}
		if shed {
			el.levelAgain(fd)
		} else {
			el.edgeUntilAccepted(fd)
		}
	}
	if h := el.engine.opts.AcceptErrorHandler; h != nil {
		h(err, shed)
	} else {
		el.getLogger().Errorf("Accept() failed due to error: %v (connection shed: %t)", err, shed)
	}
	return shed
}

// shed accepts one pending connection on the spare descriptor's slot and
// closes it, then takes the spare again. It reports whether it shed one,
// and whether the queue was empty. Neither is true when there was no slot
// to do it with (another thread took the freed slot, or no spare could be
// had).
//
// ReusePort loops accept on other threads: engine.acceptMu keeps their
// accepts from taking the slot between the close of the shed connection
// and the spare's reopening, which would leave this loop without a spare
// while descriptors stay exhausted (measured before the lock: 19 and 24
// of the flood's connections left waiting in the backlog instead of shed,
// in two of three runs).
func (el *eventloop) shed(fd int) (shed, empty bool) {
	el.engine.acceptMu.Lock()
	defer el.engine.acceptMu.Unlock()
	if !el.openSpare() {
		return false, false
	}
	el.closeSpare()
	nfd, _, err := socket.Accept(fd)
	if err == nil {
		_ = unix.Close(nfd)
	}
	el.openSpare()
	return err == nil, err == unix.EAGAIN
}

// edgeUntilAccepted makes a ReusePort loop's listener edge-triggered
// when it could neither accept nor shed (out of descriptors with no
// spare): level-triggered, the poller would report the waiting
// connection again at once and the loop would spin on accept(2) until a
// descriptor frees. Edge-triggered it waits, as the main reactor's
// listener does, for the next arrival; the next accept or shed that
// succeeds makes it level-triggered again (levelAgain). The main
// reactor's listeners are edge-triggered already.
func (el *eventloop) edgeUntilAccepted(fd int) {
	ln := el.listeners[fd]
	if ln == nil || ln.edge || el.engine.ingress == el || ln.pollAttachment == nil {
		return
	}
	if setListenerEdge(el, ln, true) == nil {
		ln.edge = true
	}
}

// levelAgain undoes edgeUntilAccepted once a connection was accepted or
// shed: the rest of the queue is then reported until it is empty. One
// field read when the listener is level-triggered.
func (el *eventloop) levelAgain(fd int) {
	ln := el.listeners[fd]
	if ln == nil || !ln.edge {
		return
	}
	if setListenerEdge(el, ln, false) == nil {
		ln.edge = false
	}
}
