// Copyright (c) 2026 The gnetftp authors. Licensed under the Apache License,
// Version 2.0, as the rest of this module (see LICENSE).
//
// This file is not part of upstream gnet: it is part of gnetftp patch 2,
// ReusePort loops that shed without spinning (see PATCHES.md).

//go:build linux

package gnet

// setListenerEdge switches ln between edge- and level-triggered readiness
// on el's epoll.
func setListenerEdge(el *eventloop, ln *listener, edge bool) error {
	return el.poller.ModRead(ln.pollAttachment, edge)
}
