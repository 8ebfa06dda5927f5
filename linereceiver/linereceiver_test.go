package linereceiver_test

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/linereceiver"
	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

// rec is a scriptable handler: it records what it sees and reacts to
// magic lines ("raw:N" switches to raw mode for N bytes, "pause", "quit").
type rec struct {
	protocol.BaseProtocol
	linereceiver.LineReceiver
	events   []string
	rawLeft  int
	exceeded [][]byte
	onLine   func(r *rec, line string)
}

func newRec(delim string, max int) (*rec, *prototest.Transport) {
	r := &rec{}
	if delim != "" {
		r.Delimiter = []byte(delim)
	}
	r.MaxLength = max
	tr := prototest.NewTransport()
	prototest.Connect(r, tr)
	return r, tr
}

func (r *rec) ConnectionMade()       { r.Init(r.Transport, r) }
func (r *rec) DataReceived(b []byte) { r.LineReceiver.DataReceived(b) }

func (r *rec) LineReceived(line []byte) {
	s := string(line)
	r.events = append(r.events, "L:"+s)
	if r.onLine != nil {
		r.onLine(r, s)
		return
	}
	switch {
	case strings.HasPrefix(s, "raw:"):
		n := 0
		for _, c := range s[4:] {
			n = n*10 + int(c-'0')
		}
		r.rawLeft = n
		r.SetRawMode()
	case s == "pause":
		r.PauseLines()
	case s == "quit":
		r.Transport.LoseConnection()
	}
}

func (r *rec) RawDataReceived(data []byte) {
	take := min(len(data), r.rawLeft)
	r.events = append(r.events, "R:"+string(data[:take]))
	r.rawLeft -= take
	if r.rawLeft == 0 {
		r.SetLineMode(data[take:])
	}
}

func (r *rec) LineLengthExceeded(line []byte) {
	r.exceeded = append(r.exceeded, append([]byte(nil), line...))
	r.Transport.LoseConnection()
}

// mergeRaw joins consecutive raw events so results do not depend on how
// the input was split.
func mergeRaw(ev []string) []string {
	var out []string
	for _, e := range ev {
		if strings.HasPrefix(e, "R:") && len(out) > 0 && strings.HasPrefix(out[len(out)-1], "R:") {
			out[len(out)-1] += e[2:]
			continue
		}
		out = append(out, e)
	}
	return out
}

func TestFramingAtEverySplitPoint(t *testing.T) {
	cases := []struct {
		name  string
		delim string
		input string
		want  []string
		rest  int // bytes left buffered
	}{
		{"crlf lines", "", "USER a\r\nPASS b\r\nNOOP\r\n", []string{"L:USER a", "L:PASS b", "L:NOOP"}, 0},
		{"bare LF is not a line end", "", "a\nb\r\n", []string{"L:a\nb"}, 0},
		{"empty lines", "", "\r\n\r\nx\r\n", []string{"L:", "L:", "L:x"}, 0},
		{"incomplete tail kept", "", "one\r\ntw", []string{"L:one"}, 2},
		{"lone CR kept", "", "one\r\ntwo\r", []string{"L:one"}, 4},
		{"custom delimiter", "\n", "a\nbb\n\nc", []string{"L:a", "L:bb", "L:"}, 1},
		{"multi-byte delimiter", "<END>", "x<END>y<EN", []string{"L:x"}, 4},
		{"raw mode mid-buffer", "", "raw:5\r\nABCDEnext\r\n", []string{"L:raw:5", "R:ABCDE", "L:next"}, 0},
		{"raw data containing delimiters", "", "raw:4\r\n\r\n\r\nz\r\n", []string{"L:raw:4", "R:\r\n\r\n", "L:z"}, 0},
		{"raw then pending line and tail", "", "raw:1\r\nXa\r\nb", []string{"L:raw:1", "R:X", "L:a"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for split := 0; split <= len(tc.input); split++ {
				r, _ := newRec(tc.delim, 0)
				r.DataReceived([]byte(tc.input[:split]))
				r.DataReceived([]byte(tc.input[split:]))
				assert.Equal(t, tc.want, mergeRaw(r.events), "split at %d", split)
				assert.Equal(t, tc.rest, r.Buffered(), "split at %d", split)
			}
			// byte at a time
			r, _ := newRec(tc.delim, 0)
			for i := 0; i < len(tc.input); i++ {
				r.DataReceived([]byte{tc.input[i]})
			}
			assert.Equal(t, tc.want, mergeRaw(r.events), "byte at a time")
		})
	}
}

func TestMaxLength(t *testing.T) {
	const max = 10
	t.Run("exactly max is accepted", func(t *testing.T) {
		r, tr := newRec("", max)
		r.DataReceived([]byte(strings.Repeat("a", max) + "\r\n"))
		assert.Equal(t, []string{"L:" + strings.Repeat("a", max)}, r.events)
		assert.False(t, tr.Lost)
	})
	t.Run("max+1 is refused and closes", func(t *testing.T) {
		r, tr := newRec("", max)
		r.DataReceived([]byte(strings.Repeat("a", max+1) + "\r\nnext\r\n"))
		assert.Empty(t, r.events, "neither the long line nor what follows is delivered")
		require.Len(t, r.exceeded, 1)
		assert.True(t, tr.Lost)
	})
	t.Run("no delimiter: max+len(delim)-1 bytes wait, one more exceeds", func(t *testing.T) {
		r, tr := newRec("", max)
		r.DataReceived([]byte(strings.Repeat("a", max+1)))
		assert.False(t, tr.Lost, "could still be a max-length line plus CR")
		r.DataReceived([]byte("a"))
		assert.True(t, tr.Lost)
		assert.Len(t, r.exceeded[0], max+2)
	})
	t.Run("default handler closes", func(t *testing.T) {
		lr := &linereceiver.LineReceiver{MaxLength: 4}
		tr := prototest.NewTransport()
		var got []string
		lr.Init(tr, lineFunc(func(b []byte) { got = append(got, string(b)) }))
		lr.DataReceived([]byte("ok\r\ntoolong\r\n"))
		assert.Equal(t, []string{"ok"}, got)
		assert.True(t, tr.Lost)
	})
	t.Run("default is 16384", func(t *testing.T) {
		r, tr := newRec("", 0)
		r.DataReceived([]byte(strings.Repeat("b", 16384) + "\r\n"))
		assert.False(t, tr.Lost)
		r.DataReceived([]byte(strings.Repeat("b", 16385) + "\r\n"))
		assert.True(t, tr.Lost)
	})
}

type lineFunc func([]byte)

func (f lineFunc) LineReceived(b []byte) { f(b) }

func TestPauseKeepsLinesUntilResume(t *testing.T) {
	r, _ := newRec("", 0)
	r.DataReceived([]byte("a\r\npause\r\nb\r\nc"))
	assert.Equal(t, []string{"L:a", "L:pause"}, r.events)
	assert.True(t, r.LinesPaused())
	r.DataReceived([]byte("\r\nd\r\n"))
	assert.Equal(t, []string{"L:a", "L:pause"}, r.events, "nothing while paused")
	r.ResumeLines()
	assert.Equal(t, []string{"L:a", "L:pause", "L:b", "L:c", "L:d"}, r.events)
	assert.Zero(t, r.Buffered())
}

func TestResumeInsideLineReceivedDoesNotRecurse(t *testing.T) {
	r, _ := newRec("", 0)
	depth, maxDepth := 0, 0
	r.onLine = func(r *rec, s string) {
		depth++
		maxDepth = max(maxDepth, depth)
		r.PauseLines()
		r.ResumeLines() // a command that completed synchronously
		depth--
	}
	r.DataReceived([]byte(strings.Repeat("x\r\n", 1000)))
	assert.Len(t, r.events, 1000)
	assert.Equal(t, 1, maxDepth)
}

func TestPausedBufferIsBounded(t *testing.T) {
	r, tr := newRec("", 0)
	r.MaxPausedBuffer = 100
	r.DataReceived([]byte("pause\r\n"))
	r.DataReceived(bytes.Repeat([]byte("y"), 100))
	assert.False(t, tr.Lost)
	r.DataReceived([]byte("y"))
	assert.True(t, tr.Lost, "a client flooding a paused receiver is disconnected")
	assert.Zero(t, r.Buffered())
}

func TestStopsOnceDisconnecting(t *testing.T) {
	r, _ := newRec("", 0)
	r.DataReceived([]byte("a\r\nquit\r\nb\r\nc\r\n"))
	assert.Equal(t, []string{"L:a", "L:quit"}, r.events)
	r.DataReceived([]byte("d\r\n"))
	assert.Equal(t, []string{"L:a", "L:quit"}, r.events)
	assert.Zero(t, r.Buffered())
}

func TestReentrantDataReceivedKeepsOrder(t *testing.T) {
	r, _ := newRec("", 0)
	r.onLine = func(r *rec, s string) {
		if s == "inject" {
			r.DataReceived([]byte("injected\r\n"))
		}
	}
	r.DataReceived([]byte("inject\r\nafter\r\npart"))
	assert.Equal(t, []string{"L:inject", "L:after", "L:partinjected"}, r.events,
		"bytes fed while busy are later in the stream than the current input")
	r.DataReceived([]byte("tail\r\n"))
	assert.Equal(t, "L:tail", r.events[3])
}

// ClearLineBuffer drops what came behind the line that calls it, in the
// same read, across reads (the tail of a partial line), and from a buffer
// that was being delivered after a pause; what arrives later is framed.
func TestClearLineBufferDropsWhatWasReceived(t *testing.T) {
	clearOn := func(r *rec, s string) {
		if s == "auth" {
			r.ClearLineBuffer()
		}
	}
	t.Run("rest of the read", func(t *testing.T) {
		r, _ := newRec("", 0)
		r.onLine = clearOn
		r.DataReceived([]byte("a\r\nauth\r\nUSER evil\r\nPASS x\r\npart"))
		assert.Equal(t, []string{"L:a", "L:auth"}, r.events)
		assert.Zero(t, r.Buffered())
		r.DataReceived([]byte("USER good\r\n"))
		assert.Equal(t, []string{"L:a", "L:auth", "L:USER good"}, r.events)
	})
	t.Run("the line completed from the buffer", func(t *testing.T) {
		r, _ := newRec("", 0)
		r.onLine = clearOn
		r.DataReceived([]byte("au"))
		r.DataReceived([]byte("th\r\nevil\r\n"))
		assert.Equal(t, []string{"L:auth"}, r.events)
		r.DataReceived([]byte("ok\r\n"))
		assert.Equal(t, []string{"L:auth", "L:ok"}, r.events)
	})
	t.Run("delivered from a paused buffer", func(t *testing.T) {
		r, _ := newRec("", 0)
		r.onLine = func(r *rec, s string) {
			if s == "pause" {
				r.PauseLines()
			}
			clearOn(r, s)
		}
		r.DataReceived([]byte("pause\r\nauth\r\nevil\r\nev"))
		r.ResumeLines()
		assert.Equal(t, []string{"L:pause", "L:auth"}, r.events)
		assert.Zero(t, r.Buffered())
		r.DataReceived([]byte("il2\r\nok\r\n"))
		assert.Equal(t, []string{"L:pause", "L:auth", "L:il2", "L:ok"}, r.events, "only what was received is dropped")
	})
	t.Run("outside a delivery", func(t *testing.T) {
		r, _ := newRec("", 0)
		r.DataReceived([]byte("pause\r\nevil\r\n"))
		r.ClearLineBuffer()
		r.ResumeLines()
		r.DataReceived([]byte("ok\r\nnext\r\n"))
		assert.Equal(t, []string{"L:pause", "L:ok", "L:next"}, r.events, "the next delivery frames every line")
	})
}

func TestSetLineModeWithExtraOutsideDelivery(t *testing.T) {
	r, _ := newRec("", 0)
	r.SetRawMode()
	r.rawLeft = 3
	r.DataReceived([]byte("abcline\r\n"))
	assert.Equal(t, []string{"R:abc", "L:line"}, r.events)
}

func TestSendLine(t *testing.T) {
	r, tr := newRec("", 0)
	require.NoError(t, r.SendLine([]byte("220 hi")))
	assert.Equal(t, "220 hi\r\n", tr.Take())
}

func TestIdleReceiverHoldsNoBuffer(t *testing.T) {
	r, _ := newRec("", 0)
	r.DataReceived([]byte("partial"))
	assert.Equal(t, 7, r.Buffered())
	r.DataReceived([]byte("\r\n"))
	assert.Zero(t, r.Buffered())
}

// scannerLines is the reference framing: bufio.Scanner with a CRLF split.
func scannerLines(input []byte) []string {
	sc := bufio.NewScanner(bytes.NewReader(input))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Split(splitCRLF)
	var out []string
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func splitCRLF(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.Index(data, []byte("\r\n")); i >= 0 {
		return i + 2, data[:i], nil
	}
	if atEOF {
		return len(data), nil, nil // drop an incomplete tail, as the receiver keeps it
	}
	return 0, nil, nil
}

func TestMatchesScannerReference(t *testing.T) {
	input := benchInput(2000)
	want := scannerLines(input)
	for _, chunk := range []int{1, 7, 100, 4096} {
		var got []string
		lr := &linereceiver.LineReceiver{}
		lr.Init(prototest.NewTransport(), lineFunc(func(b []byte) { got = append(got, string(b)) }))
		for i := 0; i < len(input); i += chunk {
			lr.DataReceived(input[i:min(i+chunk, len(input))])
		}
		assert.Equal(t, want, got, "chunk %d", chunk)
	}
}

// A transport whose peer does not read (its backlog grows with every
// reply) stops line delivery once the backlog is over MaxQueued; lines
// flow again when it drains, in order, and nothing is lost.
func TestBacklogStopsLinesUntilDrained(t *testing.T) {
	r, tr := newRec("", 0)
	r.MaxQueued = 10 << 10
	r.onLine = func(*rec, string) { tr.Backlog += 1 << 10 } // a 1 KiB reply the peer does not take
	var in strings.Builder
	for i := range 100 {
		fmt.Fprintf(&in, "%d\r\n", i)
	}
	r.DataReceived([]byte(in.String()))
	assert.Len(t, r.events, 16, "checked every 8 lines: stopped at the first check over 10 KiB")
	assert.True(t, r.LinesPaused())
	r.DataReceived([]byte("100\r\n"))
	assert.Len(t, r.events, 16, "nothing while the backlog is over the bound")

	for i := 0; i < 20 && r.LinesPaused(); i++ { // a peer that reads now and then
		tr.Drain()
	}
	require.Len(t, r.events, 101, "every line delivered once drained")
	for i, e := range r.events {
		assert.Equal(t, fmt.Sprintf("L:%d", i), e)
	}
}

func TestBacklogCheckCanBeTurnedOff(t *testing.T) {
	r, tr := newRec("", 0)
	r.MaxQueued = -1
	r.onLine = func(*rec, string) { tr.Backlog += 1 << 10 }
	r.DataReceived([]byte(strings.Repeat("x\r\n", 100)))
	assert.Len(t, r.events, 100)
}
