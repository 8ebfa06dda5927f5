package dtp_test

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/gnetftp/gnetftp/ftp/dtp"
)

// onlyWriter hides ReadFrom so io.Copy takes the user-space path.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

// BenchmarkSend compares dtp.Send (io.Copy from an *os.File into a
// *net.TCPConn: sendfile(2)) with a user-space io.CopyBuffer through 32 KiB,
// over loopback in the same run; compare their MB/s.
func BenchmarkSend(b *testing.B) {
	const size = 64 << 20
	src := filepath.Join(b.TempDir(), "src")
	if err := os.WriteFile(src, make([]byte, size), 0o644); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, send func(conn *net.TCPConn, f *os.File) error) {
		b.SetBytes(size)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			f, err := os.Open(src)
			if err != nil {
				b.Fatal(err)
			}
			srv, cli := pair(b)
			done := make(chan struct{})
			go func() { _, _ = io.Copy(io.Discard, cli); cli.Close(); close(done) }()
			if err := send(srv, f); err != nil {
				b.Fatal(err)
			}
			srv.Close()
			<-done
			f.Close()
		}
	}
	b.Run("sendfile", func(b *testing.B) {
		run(b, func(c *net.TCPConn, f *os.File) error {
			_, err := dtp.Send(context.Background(), c, f, false)
			return err
		})
	})
	b.Run("buffered-copy", func(b *testing.B) {
		buf := make([]byte, 32<<10)
		run(b, func(c *net.TCPConn, f *os.File) error {
			_, err := io.CopyBuffer(onlyWriter{c}, struct{ io.Reader }{f}, buf)
			return err
		})
	})
}

// BenchmarkReceive compares dtp.Receive into an *os.File (splice(2)) with
// a user-space copy.
func BenchmarkReceive(b *testing.B) {
	const size = 64 << 20
	payload := make([]byte, 1<<20)
	run := func(b *testing.B, recv func(conn *net.TCPConn, f *os.File) error) {
		b.SetBytes(size)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			f, err := os.Create(filepath.Join(b.TempDir(), "dst"))
			if err != nil {
				b.Fatal(err)
			}
			srv, cli := pair(b)
			go func() {
				for n := 0; n < size; n += len(payload) {
					if _, err := cli.Write(payload); err != nil {
						break
					}
				}
				cli.Close()
			}()
			if err := recv(srv, f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	}
	b.Run("splice", func(b *testing.B) {
		run(b, func(c *net.TCPConn, f *os.File) error {
			_, err := dtp.Receive(context.Background(), c, f, false)
			return err
		})
	})
	b.Run("buffered-copy", func(b *testing.B) {
		buf := make([]byte, 32<<10)
		run(b, func(c *net.TCPConn, f *os.File) error {
			defer c.Close()
			_, err := io.CopyBuffer(onlyWriter{f}, struct{ io.Reader }{c}, buf)
			return err
		})
	})
}
