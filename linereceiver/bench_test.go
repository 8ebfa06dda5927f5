package linereceiver_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/gnetftp/gnetftp/linereceiver"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

// benchInput is n FTP-like command lines (~20-40 bytes each).
func benchInput(n int) []byte {
	cmds := []string{"NOOP", "PWD", "TYPE I", "EPSV", "RETR /pub/some/file-%d.bin", "CWD /home/user/dir%d", "SIZE report-%d.csv"}
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		c := cmds[i%len(cmds)]
		if bytes.Contains([]byte(c), []byte("%d")) {
			c = fmt.Sprintf(c, i)
		}
		b.WriteString(c)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

type countLines struct{ n, bytes int }

func (c *countLines) LineReceived(b []byte) { c.n++; c.bytes += len(b) }

// BenchmarkFraming compares LineReceiver with bufio.Scanner (CRLF split)
// on the same 1 MiB-ish input, fed in network-sized chunks. Reported per
// line: ns/line and allocs (b.N counts passes over the whole input).
func BenchmarkFraming(b *testing.B) {
	input := benchInput(30000)
	lines := bytes.Count(input, []byte("\r\n"))
	for _, chunk := range []int{4 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("LineReceiver/chunk=%dK", chunk>>10), func(b *testing.B) {
			lr := &linereceiver.LineReceiver{}
			h := &countLines{}
			lr.Init(prototest.NewTransport(), h)
			b.SetBytes(int64(len(input)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for off := 0; off < len(input); off += chunk {
					lr.DataReceived(input[off:min(off+chunk, len(input))])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
			if h.n != b.N*lines {
				b.Fatalf("framed %d lines, want %d", h.n, b.N*lines)
			}
		})
		b.Run(fmt.Sprintf("bufio.Scanner/chunk=%dK", chunk>>10), func(b *testing.B) {
			b.SetBytes(int64(len(input)))
			b.ReportAllocs()
			rd := &chunkReader{chunk: chunk}
			sc := bufio.NewScanner(rd)
			n := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rd.data = input
				sc = bufio.NewScanner(rd) // a scanner cannot be rewound
				sc.Split(splitCRLF)
				for sc.Scan() {
					n++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
			if n != b.N*lines {
				b.Fatalf("scanned %d lines, want %d", n, b.N*lines)
			}
		})
	}
}

// chunkReader hands out data in chunk-sized reads, like a socket.
type chunkReader struct {
	data  []byte
	chunk int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.data)
	c.data = c.data[n:]
	return n, nil
}
