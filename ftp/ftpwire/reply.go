package ftpwire

import (
	"errors"
	"strconv"
	"strings"
)

// Reply is a server reply as a client reads it; Code is 0 when the
// connection was lost first.
type Reply struct {
	Code  int
	Lines []string // every line, without CRLF
}

// Text is the text of the last line, without the code.
func (r Reply) Text() string {
	if len(r.Lines) == 0 {
		return ""
	}
	l := r.Lines[len(r.Lines)-1]
	if len(l) > 4 {
		return l[4:]
	}
	return ""
}

// OK reports a 1xx, 2xx or 3xx reply.
func (r Reply) OK() bool { return r.Code >= 100 && r.Code < 400 }

// Preliminary reports a 1xx reply: the final one is still to come.
func (r Reply) Preliminary() bool { return r.Code >= 100 && r.Code < 200 }

func (r Reply) String() string { return strings.Join(r.Lines, "\n") }

// MaxReplyLines bounds a multi-line reply in an Assembler: a server that
// never ends one loses its connection instead of growing the client's
// memory.
const MaxReplyLines = 10000

// ErrReplyTooLong: a multi-line reply went on past MaxReplyLines.
var ErrReplyTooLong = errors.New("ftpwire: multi-line reply longer than MaxReplyLines")

// ParseCode reads the three-digit code (100-599) a reply line starts with.
// Unlike strconv.Atoi it takes neither a sign nor blanks.
func ParseCode(line string) (int, bool) {
	if len(line) < 3 || line[0] < '1' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' {
		return 0, false
	}
	return int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0'), true
}

// Assembler puts reply lines together into replies (RFC 959 section 4.2):
// a reply is one "ddd text" line, or "ddd-text" up to a line that starts
// with the same code and a space. Lines outside a reply that do not start
// with a code (100-599) are dropped. The zero value is ready; one
// Assembler serves one connection.
type Assembler struct{ lines []string }

// Add takes one line without its CRLF and returns the reply it completes,
// if any; after MaxReplyLines lines of one reply it gives up with
// ErrReplyTooLong.
func (a *Assembler) Add(line string) (r Reply, done bool, err error) {
	a.lines = append(a.lines, line)
	first := a.lines[0]
	code, ok := ParseCode(first)
	if !ok {
		a.lines = nil
		return Reply{}, false, nil
	}
	if len(first) > 3 && first[3] == '-' {
		if len(a.lines) == 1 || !(len(line) >= 4 && line[:3] == first[:3] && line[3] == ' ') {
			if len(a.lines) >= MaxReplyLines {
				a.lines = nil
				return Reply{}, false, ErrReplyTooLong
			}
			return Reply{}, false, nil // more to come
		}
	}
	r = Reply{Code: code, Lines: a.lines}
	a.lines = nil
	return r, true, nil
}

// Pending reports whether a multi-line reply has begun and not ended.
func (a *Assembler) Pending() bool { return len(a.lines) > 0 }

// AppendReply renders a reply onto dst: one line, or RFC 959's multi-line
// form when text has several lines: "code-first", the middle lines as
// they are (a middle line that starts with a digit gets a leading space
// so it cannot be taken for the end), "code last". FEAT's feature lines
// are then the " FEATURE" lines RFC 2389 asks for, as in Twisted. A CR
// inside the text (a path named by the client) goes out as CR NUL (RFC
// 2640 section 3.1), so no client can take it for the end of a line and
// read a reply the server never sent.
func AppendReply(dst []byte, code int, text string) []byte {
	if strings.IndexByte(text, '\r') >= 0 {
		text = strings.ReplaceAll(text, "\r", "\r\x00")
	}
	c := strconv.AppendInt(make([]byte, 0, 3), int64(code), 10)
	for first := true; ; first = false {
		line, rest, more := strings.Cut(text, "\n")
		text = rest
		switch {
		case first && !more:
			dst = append(append(append(dst, c...), ' '), line...)
		case first:
			dst = append(append(append(dst, c...), '-'), line...)
		case !more:
			dst = append(append(append(dst, c...), ' '), line...)
		default:
			if line != "" && line[0] >= '0' && line[0] <= '9' {
				dst = append(dst, ' ')
			}
			dst = append(dst, line...)
		}
		dst = append(dst, '\r', '\n')
		if !more {
			return dst
		}
	}
}

// AppendReplyOpen renders the opening of a multi-line reply sent in
// pieces (a long STAT listing): "code-" and the first line of text, then
// text's other lines as AppendReplyLines does. The reply goes on with
// AppendReplyLines and ends with AppendReply(dst, code, last), its
// "code last" line. The result is what AppendReply would make of the
// whole text.
func AppendReplyOpen(dst []byte, code int, text string) []byte {
	first, rest, more := strings.Cut(text, "\n")
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, '-')
	dst = appendEscapedCR(dst, first)
	dst = append(dst, '\r', '\n')
	if more {
		dst = AppendReplyLines(dst, rest)
	}
	return dst
}

// AppendReplyLines renders text as middle lines of a multi-line reply,
// one per line of text (split at "\n"), each ending with CRLF, as
// AppendReply does: a line that starts with a digit gets a leading space
// and a CR goes out as CR NUL, so no line can pass for the reply's end.
func AppendReplyLines[T string | []byte](dst []byte, text T) []byte {
	for {
		i := 0
		for i < len(text) && text[i] != '\n' {
			i++
		}
		line := text[:i]
		if len(line) > 0 && line[0] >= '0' && line[0] <= '9' {
			dst = append(dst, ' ')
		}
		dst = appendEscapedCR(dst, line)
		dst = append(dst, '\r', '\n')
		if i == len(text) {
			return dst
		}
		text = text[i+1:]
	}
}

// appendEscapedCR appends s with every CR as CR NUL (RFC 2640 3.1).
func appendEscapedCR[T string | []byte](dst []byte, s T) []byte {
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\r' {
			i++
		}
		dst = append(dst, s[:i]...)
		if i == len(s) {
			return dst
		}
		dst = append(dst, '\r', 0)
		s = s[i+1:]
	}
	return dst
}
