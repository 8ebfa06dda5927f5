// Copyright (c) 2026 The gnetftp authors. Licensed under the Apache License,
// Version 2.0, as the rest of this module (see LICENSE).
//
// This file is not part of upstream gnet: it is part of gnetftp patch 2,
// ReusePort loops that shed without spinning (see PATCHES.md).

//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package gnet

import "errors"

// setListenerEdge is not done on kqueue (its read filter's modification
// semantics differ): a ReusePort loop (FreeBSD, DragonFly) out of
// descriptors with no spare keeps polling its listener until one frees.
func setListenerEdge(*eventloop, *listener, bool) error {
	return errors.ErrUnsupported
}
