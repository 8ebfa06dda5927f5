package dtp_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/dtp"
)

// Reference conversions, byte at a time.
func refCRLF(disk []byte) []byte {
	var out []byte
	for i, b := range disk {
		if b == '\n' && (i == 0 || disk[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, b)
	}
	return out
}

func refLF(wire []byte) []byte {
	var out []byte
	for i, b := range wire {
		if b == '\r' && i+1 < len(wire) && wire[i+1] == '\n' {
			continue
		}
		out = append(out, b)
	}
	return out
}

var crlfCases = []struct{ disk, wire string }{
	{"", ""},
	{"a\nb\n", "a\r\nb\r\n"},
	{"no newline", "no newline"},
	{"\n\n", "\r\n\r\n"},
	{"\n", "\r\n"},
	{"lone\rcr\n", "lone\rcr\r\n"},
	{"already\r\ncrlf\r\n", "already\r\ncrlf\r\n"}, // not CRCRLF (pyftpdlib, vsftpd)
	{"\r\r\n", "\r\r\n"},
	{"\r", "\r"},
	{"\n\r\n\n", "\r\n\r\n\r\n"},
}

var lfCases = []struct{ wire, disk string }{
	{"", ""},
	{"a\r\nb\r\n", "a\nb\n"},
	{"lone\rcr\r\n", "lone\rcr\n"},
	{"ends in cr\r", "ends in cr\r"},
	{"\r\r\n", "\r\n"},
	{"\r\n\r\n", "\n\n"},
	{"\r", "\r"},
	{"\r\r", "\r\r"},
	{"bare\nlf", "bare\nlf"},
	{"\n\r", "\n\r"},
}

// splits yields in cut at every pair of split points (three writes),
// which covers a CR and its LF in different writes at every position.
func splits(in string, f func(parts []string)) {
	for i := 0; i <= len(in); i++ {
		for j := i; j <= len(in); j++ {
			f([]string{in[:i], in[i:j], in[j:]})
		}
	}
}

func TestCRLFWriterAtEverySplit(t *testing.T) {
	for _, c := range crlfCases {
		require.Equal(t, c.wire, string(refCRLF([]byte(c.disk))), "reference %q", c.disk)
		for _, scratch := range []int{0, 2, 3, 4} {
			splits(c.disk, func(parts []string) {
				var out bytes.Buffer
				w := dtp.NewCRLFWriter(&out, make([]byte, scratch))
				for _, p := range parts {
					n, err := w.Write([]byte(p))
					require.NoError(t, err)
					require.Equal(t, len(p), n)
				}
				assert.Equal(t, c.wire, out.String(), "RETR %q in %q, scratch %d", c.disk, parts, scratch)
			})
		}
	}
}

func TestLFWriterAtEverySplit(t *testing.T) {
	for _, c := range lfCases {
		require.Equal(t, c.disk, string(refLF([]byte(c.wire))), "reference %q", c.wire)
		for _, scratch := range []int{0, 2, 3, 4} {
			splits(c.wire, func(parts []string) {
				var out bytes.Buffer
				w := dtp.NewLFWriter(&out, make([]byte, scratch))
				for _, p := range parts {
					n, err := w.Write([]byte(p))
					require.NoError(t, err)
					require.Equal(t, len(p), n)
				}
				require.NoError(t, w.Flush())
				assert.Equal(t, c.disk, out.String(), "STOR %q in %q, scratch %d", c.wire, parts, scratch)
				assert.Equal(t, int64(out.Len()), w.Written())
			})
		}
	}
}

// Random text over a small alphabet, cut at random points, against the
// byte-at-a-time references.
func TestConvertersMatchTheReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("\r\nab")
	for iter := 0; iter < 2000; iter++ {
		in := make([]byte, rng.IntN(200))
		for i := range in {
			in[i] = alphabet[rng.IntN(len(alphabet))]
		}
		var wire, disk bytes.Buffer
		cw := dtp.NewCRLFWriter(&wire, make([]byte, 2+rng.IntN(16)))
		lw := dtp.NewLFWriter(&disk, make([]byte, 2+rng.IntN(16)))
		for rest := in; len(rest) > 0; {
			k := 1 + rng.IntN(len(rest))
			_, err := cw.Write(rest[:k])
			require.NoError(t, err)
			_, err = lw.Write(rest[:k])
			require.NoError(t, err)
			rest = rest[k:]
		}
		require.NoError(t, lw.Flush())
		require.Equal(t, string(refCRLF(in)), wire.String(), "CRLF of %q", in)
		require.Equal(t, string(refLF(in)), disk.String(), "LF of %q", in)
		// Round trip: text without stray CRs survives RETR then STOR.
		if !bytes.Contains(in, []byte("\r")) {
			var back bytes.Buffer
			lb := dtp.NewLFWriter(&back, nil)
			_, err := lb.Write(wire.Bytes())
			require.NoError(t, err)
			require.NoError(t, lb.Flush())
			require.Equal(t, string(in), back.String())
		}
	}
}

type limitedWriter struct {
	buf  bytes.Buffer
	left int
}

var errFull = errors.New("full")

func (w *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n, _ := w.buf.Write(p[:w.left])
		w.left = 0
		return n, errFull
	}
	w.left -= len(p)
	return w.buf.Write(p)
}

func TestConvertersReportWriteErrors(t *testing.T) {
	lw := &limitedWriter{left: 5}
	w := dtp.NewCRLFWriter(lw, make([]byte, 4)) // 2 input bytes per write
	n, err := w.Write([]byte("ab\ncd\nef"))     // "ab", "\r\nc" fit; "d\r\n" does not
	assert.ErrorIs(t, err, errFull)
	assert.Equal(t, 4, n, "input bytes whose output was written in full")

	l := &limitedWriter{left: 0}
	w2 := dtp.NewLFWriter(l, nil)
	_, err = w2.Write([]byte("x\r"))
	assert.ErrorIs(t, err, errFull)
	l.left = 0
	_, err = dtp.NewLFWriter(l, nil).Write([]byte("\r")) // held back, nothing written yet
	assert.NoError(t, err)
}
