package linereceiver_test

import (
	"testing"

	"github.com/gnetftp/gnetftp/linereceiver"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

// FuzzFraming checks that framing does not depend on how the stream is
// split into reads, that it agrees with the bufio.Scanner reference, and
// that pausing and resuming in the middle loses and reorders nothing.
func FuzzFraming(f *testing.F) {
	f.Add([]byte("USER a\r\nPASS b\r\n"), uint16(3), uint16(7))
	f.Add([]byte("\r\n\r\r\n\n\r"), uint16(1), uint16(2))
	f.Add([]byte("no delimiter at all"), uint16(0), uint16(5))
	f.Fuzz(func(t *testing.T, data []byte, split, pauseAt uint16) {
		frame := func(parts [][]byte, pauseAfter int) []string {
			var got []string
			lr := &linereceiver.LineReceiver{MaxLength: 1 << 20, MaxPausedBuffer: 1 << 21}
			lr.Init(prototest.NewTransport(), lineFunc(func(b []byte) {
				got = append(got, string(b))
				if len(got) == pauseAfter {
					lr.PauseLines()
				}
			}))
			for _, p := range parts {
				lr.DataReceived(p)
			}
			lr.ResumeLines()
			return got
		}
		want := scannerLines(data)
		s := int(split) % (len(data) + 1)
		one := frame([][]byte{data}, -1)
		two := frame([][]byte{data[:s], data[s:]}, int(pauseAt)%8)
		if len(want) != len(one) || len(one) != len(two) {
			t.Fatalf("line counts differ: scanner %d, one read %d, split+pause %d", len(want), len(one), len(two))
		}
		for i := range want {
			if want[i] != one[i] || one[i] != two[i] {
				t.Fatalf("line %d differs: %q %q %q", i, want[i], one[i], two[i])
			}
		}
	})
}
