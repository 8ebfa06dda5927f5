// Package linereceiver is Twisted's LineReceiver: it turns the byte stream
// of a protocol.Transport into lines, with a maximum line length, a raw
// mode, and pause/resume of line delivery.
//
// A protocol embeds a LineReceiver, calls Init in ConnectionMade with
// itself as the Handler, and forwards DataReceived to it:
//
//	type Echo struct {
//		protocol.BaseProtocol
//		linereceiver.LineReceiver
//	}
//	func (e *Echo) ConnectionMade()          { e.Init(e.Transport, e) }
//	func (e *Echo) DataReceived(b []byte)    { e.LineReceiver.DataReceived(b) }
//	func (e *Echo) LineReceived(line []byte) { e.SendLine(line) }
//
// Validity of delivered slices: a line passed to LineReceived (and data
// passed to RawDataReceived) points into the transport's read buffer or
// into the receiver's own buffer; it is valid only until the handler
// returns. Copy what must outlive the call.
//
// Steady state does not allocate: whole lines are delivered as sub-slices
// of the incoming data; only an incomplete tail is copied into the
// receiver's buffer, which is reused; when it empties, a buffer larger
// than 256 bytes is released (an idle connection holds at most that, and
// none if it never received a partial line).
package linereceiver

import (
	"bytes"

	"github.com/gnetftp/gnetftp/protocol"
)

// DefaultMaxLength is Twisted's LineReceiver.MAX_LENGTH.
const DefaultMaxLength = 16384

// DefaultMaxPausedBuffer bounds what a paused receiver keeps: gnet keeps
// reading the socket while a protocol is paused, so without a bound a
// client could grow the buffer for ever.
const DefaultMaxPausedBuffer = 64<<10 + DefaultMaxLength

// DefaultMaxQueued is MaxQueued's default, the reactor's default bound on
// a connection's outbound backlog (reactor.DefaultMaxOutbound).
const DefaultMaxQueued = 64 << 10

// backlogEvery is how many lines are delivered between two looks at the
// transport's backlog: the look costs a few nanoseconds (an interface
// assertion and call), a quarter of the framing cost per line, and a
// batch of lines this short adds little to the backlog. The reactor also
// looks after every read.
const backlogEvery = 8

// keepBuffer is the largest empty buffer kept for the next partial line;
// larger ones are released so idle connections stay small.
const keepBuffer = 256

// Handler receives complete lines, without the delimiter.
type Handler interface {
	LineReceived(line []byte)
}

// RawHandler is implemented by handlers that use raw mode.
type RawHandler interface {
	RawDataReceived(data []byte)
}

// LengthExceededHandler is implemented by handlers that want to decide
// what happens to an over-long line; the default closes the connection.
// line is at most the first MaxLength+len(Delimiter) bytes seen.
type LengthExceededHandler interface {
	LineLengthExceeded(line []byte)
}

// PausedOverflowHandler is implemented by handlers that want to know that
// a paused receiver's buffer overflowed; the default closes the connection.
type PausedOverflowHandler interface {
	PausedBufferExceeded()
}

// LineReceiver frames a byte stream into lines. All methods are loop-only.
type LineReceiver struct {
	// Delimiter ends a line; nil means CRLF. A bare LF is not a line end.
	Delimiter []byte
	// MaxLength is the longest line accepted (without delimiter); 0 means
	// DefaultMaxLength. Longer lines call LineLengthExceeded.
	MaxLength int
	// MaxPausedBuffer bounds the bytes kept while paused; 0 means
	// DefaultMaxPausedBuffer.
	MaxPausedBuffer int
	// MaxQueued stops line delivery while the transport has more than
	// this many bytes queued for the peer (transports that implement
	// protocol.Backpressure, as the reactor's do), until the backlog
	// drains; 0 means DefaultMaxQueued, negative: never.
	MaxQueued int

	transport protocol.Transport
	handler   Handler
	buf       []byte // unprocessed bytes (an incomplete line, or all while paused)
	holds     int    // Hold calls not yet released
	paused    bool   // PauseLines
	raw       bool
	busy      bool   // inside a delivery loop: Resume must not recurse
	more      bool   // bytes were added while busy
	lines     uint8  // lines delivered since the last backlog check
	clears    uint32 // ClearLineBuffer calls: a delivery that sees it move drops its input
	extra     []byte // SetLineMode's extra bytes given while busy
}

var crlf = []byte("\r\n")

// Init attaches the receiver to a transport and a handler. Call it in
// ConnectionMade (or MakeConnection).
func (r *LineReceiver) Init(t protocol.Transport, h Handler) {
	r.transport = t
	r.handler = h
}

func (r *LineReceiver) delim() []byte {
	if r.Delimiter == nil {
		return crlf
	}
	return r.Delimiter
}

func (r *LineReceiver) maxLen() int {
	if r.MaxLength <= 0 {
		return DefaultMaxLength
	}
	return r.MaxLength
}

func (r *LineReceiver) maxPaused() int {
	if r.MaxPausedBuffer <= 0 {
		return DefaultMaxPausedBuffer
	}
	return r.MaxPausedBuffer
}

// LinesPaused reports whether line delivery is stopped, by PauseLines or
// by a Hold not yet released.
func (r *LineReceiver) LinesPaused() bool { return r.stopped() }

// Held reports whether a Hold (a Blocking request, say) is pending.
func (r *LineReceiver) Held() bool { return r.holds > 0 }

func (r *LineReceiver) stopped() bool { return r.paused || r.holds > 0 }

// Buffered reports how many received bytes wait in the receiver.
func (r *LineReceiver) Buffered() int { return len(r.buf) }

// DataReceived consumes bytes from the transport; the protocol's
// DataReceived forwards here.
func (r *LineReceiver) DataReceived(data []byte) {
	if r.disconnecting() || len(data) == 0 {
		return
	}
	if r.stopped() || r.busy {
		// Paused: keep (bounded). Busy: a handler re-entered us; the
		// running loop reaches these bytes after what is buffered.
		if r.stopped() && len(r.buf)+len(data) > r.maxPaused() {
			r.buf = nil
			r.pausedOverflow()
			return
		}
		r.buf = append(r.buf, data...)
		r.more = true
		return
	}
	if len(r.buf) > 0 {
		// Complete the buffered partial line with just the bytes that
		// finish it, deliver it, then frame the rest of data in place:
		// only partial lines are ever copied.
		end := r.lineEnd(data)
		if end < 0 {
			r.buf = append(r.buf, data...)
			data = nil
		} else {
			r.buf = append(r.buf, data[:end]...)
			data = data[end:]
			clears := r.clears
			r.run(nil)
			if len(data) == 0 || r.clears != clears {
				return
			}
			if r.stopped() || r.busy || len(r.buf) > 0 || r.disconnecting() {
				r.DataReceived(data)
				return
			}
		}
	}
	r.run(data)
}

// lineEnd returns how many bytes of data complete the line buffered in
// r.buf (the delimiter may straddle the two), or -1.
func (r *LineReceiver) lineEnd(data []byte) int {
	delim := r.delim()
	for j := len(delim) - 1; j >= 1; j-- {
		if bytes.HasSuffix(r.buf, delim[:j]) && bytes.HasPrefix(data, delim[j:]) {
			return len(delim) - j
		}
	}
	if i := bytes.Index(data, delim); i >= 0 {
		return i + len(delim)
	}
	return -1
}

func (r *LineReceiver) disconnecting() bool {
	return r.transport != nil && r.transport.Disconnecting()
}

// run delivers until input runs out, the receiver pauses, or the transport
// disconnects, then keeps the unprocessed tail.
func (r *LineReceiver) run(data []byte) {
	r.busy = true
	defer func() { r.busy = false }()
	for {
		r.more = false
		r.deliver(data)
		data = nil
		if r.extra != nil {
			r.buf = append(r.extra, r.buf...)
			r.extra = nil
			r.more = true
		}
		if !r.more || r.stopped() || r.disconnecting() || len(r.buf) == 0 {
			return
		}
	}
}

// deliver processes data (when the buffer was empty: no copy) or r.buf.
func (r *LineReceiver) deliver(data []byte) {
	fromBuf := data == nil
	in := data
	if fromBuf {
		in = r.buf
	}
	start := len(r.buf) // bytes a re-entrant call appends go after this
	if fromBuf {
		start = 0
	}
	delim := r.delim()
	max := r.maxLen()
	clears := r.clears
	off := 0
	for off < len(in) && !r.stopped() {
		if r.disconnecting() {
			r.buf = nil
			return
		}
		rest := in[off:]
		if r.raw {
			off = len(in)
			if rh, ok := r.handler.(RawHandler); ok {
				rh.RawDataReceived(rest)
			}
		} else {
			i := bytes.Index(rest, delim)
			if i < 0 {
				if len(rest) >= max+len(delim) {
					off = len(in)
					r.lengthExceeded(rest[:max+len(delim)])
				}
				break
			}
			off += i + len(delim)
			if i > max {
				off = len(in)
				r.lengthExceeded(rest[:i])
				break
			}
			r.handler.LineReceived(rest[:i])
			if r.lines++; r.lines == backlogEvery {
				r.lines = 0
				r.respectBacklog()
			}
		}
		if r.clears != clears {
			break
		}
		if fromBuf && len(r.buf) != len(in) {
			// A handler re-entered DataReceived and appended to r.buf
			// (perhaps moving it): go on over the new backing array.
			in = r.buf
			r.more = false
		}
	}
	if r.clears != clears {
		// The rest of in is dropped; r.buf holds only what a handler
		// passed to DataReceived after clearing.
		r.more = len(r.buf) > 0
		return
	}
	if r.disconnecting() {
		r.buf = nil
		return
	}
	if fromBuf {
		in = r.buf // include anything appended after the loop ended
		r.more = false
		n := copy(in[:cap(in)], in[off:])
		r.buf = in[:n]
	} else {
		tail := in[off:]
		appended := r.buf[start:]
		if len(appended) == 0 {
			r.buf = append(r.buf[:0], tail...)
		} else {
			r.buf = append(append(make([]byte, 0, len(tail)+len(appended)), tail...), appended...)
		}
	}
	if len(r.buf) == 0 && cap(r.buf) > keepBuffer {
		r.buf = nil // idle connections hold no large buffer
	}
}

// respectBacklog stops line delivery while the transport holds more than
// MaxQueued bytes for a peer that does not read (protocol.Backpressure),
// and resumes it once the backlog has drained: a client that pipelines
// commands answered at once (NOOP, HELP) and never reads cannot make the
// server queue replies without bound. A handler that waits for
// WhenDrained itself holds the receiver meanwhile (Hold), so this never
// replaces its function.
func (r *LineReceiver) respectBacklog() {
	if r.stopped() || r.MaxQueued < 0 {
		return
	}
	bp, ok := r.transport.(protocol.Backpressure)
	if !ok || bp.Queued() <= r.maxQueued() {
		return
	}
	bp.WhenDrained(r.Hold())
}

func (r *LineReceiver) maxQueued() int {
	if r.MaxQueued == 0 {
		return DefaultMaxQueued
	}
	return r.MaxQueued
}

func (r *LineReceiver) lengthExceeded(line []byte) {
	if h, ok := r.handler.(LengthExceededHandler); ok {
		h.LineLengthExceeded(line)
		return
	}
	if r.transport != nil {
		r.transport.LoseConnection()
	}
}

func (r *LineReceiver) pausedOverflow() {
	if h, ok := r.handler.(PausedOverflowHandler); ok {
		h.PausedBufferExceeded()
		return
	}
	if r.transport != nil {
		r.transport.LoseConnection()
	}
}

// SendLine writes line followed by the delimiter in one write.
func (r *LineReceiver) SendLine(line []byte) error {
	return r.transport.WriteSequence([][]byte{line, r.delim()})
}

// ClearLineBuffer discards every received byte not yet delivered: the
// receiver's buffer and, when called from LineReceived (or
// RawDataReceived), the rest of the data being delivered, which is then
// not framed at all (Twisted's clearLineBuffer). A protocol calls it when
// what the peer sent so far must not be acted on: after replying 234 to
// AUTH TLS, the bytes behind the command were never protected, and an
// attacker between the peers may have added them (see protocol.TLSStarter).
// Bytes received afterwards are framed as usual.
func (r *LineReceiver) ClearLineBuffer() {
	r.buf = nil
	r.extra = nil
	r.more = false
	r.clears++
}

// SetRawMode delivers further data to RawDataReceived, starting with the
// bytes after the current line when called from LineReceived.
func (r *LineReceiver) SetRawMode() { r.raw = true }

// SetLineMode returns to line mode; extra bytes (typically the tail of
// raw data that belongs to the line protocol) are processed as if just
// received, ahead of anything already buffered.
func (r *LineReceiver) SetLineMode(extra []byte) {
	r.raw = false
	if len(extra) == 0 {
		return
	}
	if r.busy {
		r.extra = append(r.extra, extra...)
		return
	}
	r.buf = append(append(make([]byte, 0, len(extra)+len(r.buf)), extra...), r.buf...)
	if !r.stopped() {
		r.run(nil)
	}
}

// PauseLines stops line delivery; received bytes are buffered (up to
// MaxPausedBuffer) until ResumeLines. It pauses this receiver only, not
// the transport: an event-loop transport goes on reading the socket (see
// protocol.Transport.PauseProducing for the transport's own pause).
func (r *LineReceiver) PauseLines() { r.paused = true }

// ResumeLines undoes PauseLines (delivery still waits for any Hold).
// Called from inside LineReceived it only clears the flag and the running
// loop continues; called from elsewhere (a Deferred callback, a timer) it
// delivers the buffered lines now.
func (r *LineReceiver) ResumeLines() {
	if !r.paused {
		return
	}
	r.paused = false
	r.kick()
}

// Hold stops line delivery until the returned release is called (on the
// loop; a second call does nothing). Holds nest with each other and with
// PauseLines: lines flow again once every hold is released and delivery
// is not paused. It is what a protocol does while one request's answer is
// being worked out (see Blocking): the next line waits.
func (r *LineReceiver) Hold() (release func()) {
	r.holds++
	released := false
	return func() {
		if released {
			return
		}
		released = true
		r.holds--
		r.kick()
	}
}

// kick delivers buffered lines if nothing stops delivery: at once, or, in
// the middle of a delivery (or of a batch), when it continues.
func (r *LineReceiver) kick() {
	if r.stopped() {
		return
	}
	if r.busy {
		r.more = true
		return
	}
	if len(r.buf) > 0 && !r.disconnecting() {
		r.run(nil)
	}
}

// batch runs fn as if it were a delivery: lines released meanwhile wait
// until fn has returned, so that what fn writes (a reply) goes out
// before the next line is read.
func (r *LineReceiver) batch(fn func()) {
	if r.busy {
		fn() // the running delivery picks up what fn releases
		return
	}
	r.busy = true
	func() {
		defer func() { r.busy = false }()
		fn()
	}()
	if r.more {
		r.more = false
		r.kick()
	}
}
