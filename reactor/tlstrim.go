package reactor

import (
	"bytes"
	"crypto/tls"
	"reflect"
	"unsafe"
)

// Trimming crypto/tls's input buffers.
//
// A tls.Conn keeps its raw input (rawInput) and its handshake bytes (hand)
// in bytes.Buffers that never shrink. A ClientHello with a post-quantum
// key share (X25519MLKEM768, which Go and OpenSSL 3.5 send by default) is
// about 1.8 KB, so after the handshake an idle server Conn holds about
// 2.3 KB of rawInput and 1.8 KB of hand it will never use again, more than
// half of its size; and one 16 KiB record pins 17 KiB for the rest of the
// connection's life. Nothing in crypto/tls's API releases them (llib's
// fork of crypto/tls does it in ResetOrFreeBuffer), so the session does it
// between two uses of the Conn, on the loop: an empty buffer is replaced by
// the zero bytes.Buffer, which crypto/tls treats as it treats a fresh
// Conn's. rawInput keeps at most trimKeepRaw bytes.
//
// This reaches into unexported fields, found by name and type with
// reflect once at start; if a Go release renames them or changes their
// types, trimming is off (tlsTrimSupported reports it, and a test fails so
// that someone looks) and everything else works as before.

// trimKeepRaw is the largest empty rawInput kept: none. Keeping 1 KiB (a
// small record's whole read, so that a command per record allocates
// nothing) cost an idle FTPS session about 1.5 KiB of RSS (10.2 -> 8.7
// KiB at 600 sessions, TestIdleFTPSSessionsStayLight), for one small
// allocation per record read.
const trimKeepRaw = 0

type tlsBufferOffsets struct {
	rawInput, hand, input uintptr
	ok                    bool
}

// tlsOffsets is computed once at package initialisation and only read.
var tlsOffsets = findTLSBufferOffsets()

func findTLSBufferOffsets() tlsBufferOffsets {
	t := reflect.TypeFor[tls.Conn]()
	field := func(name string, want reflect.Type) (uintptr, bool) {
		f, ok := t.FieldByName(name)
		if !ok || f.Type != want || len(f.Index) != 1 {
			return 0, false
		}
		return f.Offset, true
	}
	var o tlsBufferOffsets
	var ok1, ok2, ok3 bool
	o.rawInput, ok1 = field("rawInput", reflect.TypeFor[bytes.Buffer]())
	o.hand, ok2 = field("hand", reflect.TypeFor[bytes.Buffer]())
	o.input, ok3 = field("input", reflect.TypeFor[bytes.Reader]())
	o.ok = ok1 && ok2 && ok3
	return o
}

// tlsTrimSupported reports whether this Go release's tls.Conn has the
// fields trimTLSBuffers expects.
func tlsTrimSupported() bool { return tlsOffsets.ok }

// tlsBuffers returns c's rawInput, hand and input (nil if unsupported).
func tlsBuffers(c *tls.Conn) (rawInput, hand *bytes.Buffer, input *bytes.Reader) {
	if !tlsOffsets.ok {
		return nil, nil, nil
	}
	base := unsafe.Pointer(c)
	return (*bytes.Buffer)(unsafe.Add(base, tlsOffsets.rawInput)),
		(*bytes.Buffer)(unsafe.Add(base, tlsOffsets.hand)),
		(*bytes.Reader)(unsafe.Add(base, tlsOffsets.input))
}

// trimTLSBuffers releases c's empty input buffers. Call it only when no
// method of c is running and none can start meanwhile (on the loop,
// between two calls, once the handshake is done).
func trimTLSBuffers(c *tls.Conn) {
	raw, hand, input := tlsBuffers(c)
	if raw == nil || raw.Len() != 0 || input.Len() != 0 {
		return // a partial record or unread plaintext: keep everything
	}
	input.Reset(nil) // it points into rawInput's memory
	if raw.Cap() > trimKeepRaw {
		*raw = bytes.Buffer{}
	}
	if hand.Len() == 0 && hand.Cap() > 0 {
		*hand = bytes.Buffer{}
	}
}
