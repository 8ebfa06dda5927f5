package dtp_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gnetftp/gnetftp/ftp/dtp"
)

// Benchmarks compare each fast path with the reference it replaces, in
// the same run:
//
//	go test -run '^$' -bench . -benchtime 20x ./ftp/dtp/   (TMPDIR=/dev/shm for tmpfs)
//
// Send: dtp.Send from an *os.File (io.Copy into the *net.TCPConn:
// sendfile(2)) vs io.CopyBuffer through a 32 KiB user-space buffer.
// Receive: dtp.Receive into an *os.File (splice(2)) vs the same buffered
// copy. Over loopback, 64 MiB per op; compare MB/s and cpu-ms/op (the
// process's CPU for both ends: with two cores the receiver bounds MB/s).

const benchSize = 64 << 20

// reportCPU adds the process CPU time per op (both ends of the
// connection) since cpu0.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

func BenchmarkSend(b *testing.B) {
	src := filepath.Join(b.TempDir(), "src")
	if err := os.WriteFile(src, bytes.Repeat([]byte("0123456789abcdef"), benchSize/16), 0o644); err != nil {
		b.Fatal(err)
	}
	clientBuf := make([]byte, 1<<20)
	run := func(b *testing.B, send func(conn *net.TCPConn, f *os.File) error) {
		b.SetBytes(benchSize)
		b.ReportAllocs()
		cpu0 := cpuTime()
		defer func() { reportCPU(b, cpu0) }()
		for i := 0; i < b.N; i++ {
			f, err := os.Open(src)
			if err != nil {
				b.Fatal(err)
			}
			srv, cli := pair(b)
			done := make(chan int64, 1)
			go func() { // the client: big reads, so the sender is what is measured
				n, _ := io.CopyBuffer(writerOnly{io.Discard}, readerOnly{cli}, clientBuf)
				cli.Close()
				done <- n
			}()
			if err := send(srv, f); err != nil {
				b.Fatal(err)
			}
			srv.Close()
			if n := <-done; n != benchSize {
				b.Fatalf("client got %d bytes", n)
			}
			f.Close()
		}
	}
	b.Run("sendfile", func(b *testing.B) {
		run(b, func(c *net.TCPConn, f *os.File) error {
			_, err := dtp.Send(context.Background(), c, f, false, 0)
			return err
		})
	})
	b.Run("buffered-copy", func(b *testing.B) {
		buf := make([]byte, 32<<10)
		run(b, func(c *net.TCPConn, f *os.File) error {
			_, err := io.CopyBuffer(writerOnly{c}, readerOnly{f}, buf)
			return err
		})
	})
	b.Run("ascii", func(b *testing.B) { // LF -> CRLF costs zero-copy; how much?
		run(b, func(c *net.TCPConn, f *os.File) error {
			_, err := dtp.Send(context.Background(), c, f, true, 0)
			return err
		})
	})
}

func BenchmarkReceive(b *testing.B) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), (1<<20)/16)
	dir := b.TempDir()
	run := func(b *testing.B, recv func(conn *net.TCPConn, f *os.File) error) {
		b.SetBytes(benchSize)
		b.ReportAllocs()
		cpu0 := cpuTime()
		defer func() { reportCPU(b, cpu0) }()
		for i := 0; i < b.N; i++ {
			f, err := os.Create(filepath.Join(dir, "dst"))
			if err != nil {
				b.Fatal(err)
			}
			srv, cli := pair(b)
			go func() {
				for n := 0; n < benchSize; n += len(payload) {
					if _, err := cli.Write(payload); err != nil {
						break
					}
				}
				cli.Close()
			}()
			if err := recv(srv, f); err != nil {
				b.Fatal(err)
			}
			if fi, err := f.Stat(); err != nil || fi.Size() != benchSize {
				b.Fatalf("file has %v bytes (%v)", fi.Size(), err)
			}
			f.Close()
		}
	}
	b.Run("splice", func(b *testing.B) {
		run(b, func(c *net.TCPConn, f *os.File) error {
			_, err := dtp.Receive(context.Background(), c, f, false, 0)
			return err
		})
	})
	b.Run("buffered-copy", func(b *testing.B) {
		buf := make([]byte, 32<<10)
		run(b, func(c *net.TCPConn, f *os.File) error {
			defer c.Close()
			_, err := io.CopyBuffer(writerOnly{f}, readerOnly{c}, buf)
			return err
		})
	})
}

// BenchmarkASCII measures the converters alone (no sockets) on text with
// a line end every 40 bytes, in 32 KiB chunks as Send/Receive feed them,
// against bytes.ReplaceAll on each chunk (allocating, and wrong at chunk
// edges, but the obvious implementation).
func BenchmarkASCII(b *testing.B) {
	line := []byte("The quick brown fox jumps over the dog\n")
	disk := bytes.Repeat(line, (32<<10)/len(line))
	wire := bytes.ReplaceAll(disk, []byte("\n"), []byte("\r\n"))
	b.Run("to-crlf", func(b *testing.B) {
		w := dtp.NewCRLFWriter(io.Discard, make([]byte, 64<<10))
		b.SetBytes(int64(len(disk)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := w.Write(disk); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("to-crlf-replaceall", func(b *testing.B) {
		b.SetBytes(int64(len(disk)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, _ = io.Discard.Write(bytes.ReplaceAll(disk, []byte("\n"), []byte("\r\n")))
		}
	})
	b.Run("to-lf", func(b *testing.B) {
		w := dtp.NewLFWriter(io.Discard, make([]byte, 64<<10))
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := w.Write(wire); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("to-lf-replaceall", func(b *testing.B) {
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, _ = io.Discard.Write(bytes.ReplaceAll(wire, []byte("\r\n"), []byte("\n")))
		}
	})
}
