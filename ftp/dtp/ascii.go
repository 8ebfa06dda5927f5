package dtp

import (
	"bytes"
	"io"
)

// TYPE A line-end conversion. Files on disk use LF; the wire uses CRLF
// (RFC 959's NVT-ASCII).
//
// RETR: every LF not already preceded by CR becomes CRLF, so a file that
// already has CRLF line ends is sent unchanged rather than as CRCRLF. This
// is what pyftpdlib (FileProducer._posix_ascii_data_wrapper, which carries
// "previous chunk ended in CR" across chunks) and vsftpd 3 (its
// bin_to_ascii keeps a last_was_cr flag) do. A lone CR is sent as is.
//
// STOR: CRLF becomes LF; a CR not followed by LF is kept (pyftpdlib's
// receive wrapper; vsftpd's ascii_to_bin drops only the CR of a CRLF). A CR
// at the end of one read is held until the next byte decides, and
// written by Flush if the data ends with it.

// CRLFWriter converts LF to CRLF on its way to W (RETR in TYPE A).
type CRLFWriter struct {
	w      io.Writer
	buf    []byte
	lastCR bool
}

// minScratch is the scratch size the converters allocate when given none
// (or one too small to be useful).
const minScratch = 64 << 10

// NewCRLFWriter returns a converter writing to w. scratch, if at least
// 2 bytes, is used as the output buffer (so a caller can pool it); each
// Write turns at most len(scratch)/2 input bytes into one write to w, so
// with an input chunk of that size there is exactly one write per chunk.
func NewCRLFWriter(w io.Writer, scratch []byte) *CRLFWriter {
	return &CRLFWriter{w: w, buf: scratch[:0:cap(scratch)]}
}

// Write converts p and writes it to the underlying writer. It returns
// len(p) or the number of input bytes whose output was written before the
// underlying writer failed.
func (c *CRLFWriter) Write(p []byte) (int, error) {
	if cap(c.buf) < 2 {
		c.buf = make([]byte, 0, minScratch)
	}
	step := cap(c.buf) / 2
	done := 0
	for done < len(p) {
		chunk := p[done:min(done+step, len(p))]
		var out []byte
		out, c.lastCR = appendCRLF(c.buf[:0], chunk, c.lastCR)
		if _, err := c.w.Write(out); err != nil {
			return done, err
		}
		done += len(chunk)
	}
	return done, nil
}

// appendCRLF appends src to dst with every LF that is not preceded by CR
// (in src, or at the end of the previous chunk: lastCR) turned into CRLF.
// It returns whether src ended in CR. dst needs room for 2*len(src).
func appendCRLF(dst, src []byte, lastCR bool) ([]byte, bool) {
	for len(src) > 0 {
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			return append(dst, src...), src[len(src)-1] == '\r'
		}
		if i > 0 {
			lastCR = src[i-1] == '\r'
			dst = append(dst, src[:i]...)
		}
		if !lastCR {
			dst = append(dst, '\r')
		}
		dst = append(dst, '\n')
		lastCR = false
		src = src[i+1:]
	}
	return dst, lastCR
}

// LFWriter converts CRLF to LF on its way to W (STOR in TYPE A). Call
// Flush at the end of the data: a final lone CR is held until then.
type LFWriter struct {
	w         io.Writer
	buf       []byte
	pendingCR bool
	n         int64 // bytes written to w
}

// NewLFWriter returns a converter writing to w; scratch as for
// NewCRLFWriter (each Write turns at most len(scratch)-1 input bytes into
// one write to w).
func NewLFWriter(w io.Writer, scratch []byte) *LFWriter {
	return &LFWriter{w: w, buf: scratch[:0:cap(scratch)]}
}

// Write converts p and writes it to the underlying writer, holding back a
// final CR. It returns len(p) or the input bytes handled before the
// underlying writer failed.
func (l *LFWriter) Write(p []byte) (int, error) {
	if cap(l.buf) < 2 {
		l.buf = make([]byte, 0, minScratch)
	}
	step := cap(l.buf) - 1
	done := 0
	for done < len(p) {
		chunk := p[done:min(done+step, len(p))]
		var out []byte
		out, l.pendingCR = appendLF(l.buf[:0], chunk, l.pendingCR)
		if err := l.write(out); err != nil {
			return done, err
		}
		done += len(chunk)
	}
	return done, nil
}

func (l *LFWriter) write(out []byte) error {
	if len(out) == 0 {
		return nil
	}
	n, err := l.w.Write(out)
	l.n += int64(n)
	return err
}

// Flush writes a CR held back at the end of the data (a lone CR is data).
func (l *LFWriter) Flush() error {
	if !l.pendingCR {
		return nil
	}
	l.pendingCR = false
	return l.write(append(l.buf[:0], '\r'))
}

// Written is the number of bytes written to the underlying writer.
func (l *LFWriter) Written() int64 { return l.n }

// appendLF appends src to dst with CRLF turned into LF. pendingCR says the
// previous chunk ended in a CR not yet written; the result says whether
// this one does. dst needs room for len(src)+1.
func appendLF(dst, src []byte, pendingCR bool) ([]byte, bool) {
	if pendingCR && len(src) > 0 {
		if src[0] == '\n' {
			dst = append(dst, '\n')
			src = src[1:]
		} else {
			dst = append(dst, '\r')
		}
		pendingCR = false
	}
	for len(src) > 0 {
		i := bytes.IndexByte(src, '\r')
		if i < 0 {
			return append(dst, src...), false
		}
		dst = append(dst, src[:i]...)
		if i+1 == len(src) {
			return dst, true
		}
		if src[i+1] == '\n' {
			dst = append(dst, '\n')
			src = src[i+2:]
		} else {
			dst = append(dst, '\r')
			src = src[i+1:]
		}
	}
	return dst, pendingCR
}
