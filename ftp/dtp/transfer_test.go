package dtp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/dtp"
)

// readerOnly and writerOnly hide *os.File's and *bytes.Reader's fast
// paths, so the pooled copy loop is what runs.
type readerOnly struct{ io.Reader }
type writerOnly struct{ io.Writer }

func bytesReader(s string) *bytes.Reader { return bytes.NewReader([]byte(s)) }

func pastDeadline() time.Time { return time.Unix(1, 0) }

func randomFile(t testing.TB, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	p := filepath.Join(t.TempDir(), "src")
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return p, data
}

// sendAll runs Send and returns what the client read.
func sendAll(t *testing.T, src io.Reader, ascii bool) (int64, []byte) {
	t.Helper()
	return sendAllIdle(t, src, ascii, 0)
}

func sendAllIdle(t *testing.T, src io.Reader, ascii bool, idle time.Duration) (int64, []byte) {
	t.Helper()
	srv, cli := pair(t)
	defer cli.Close()
	type res struct {
		n   int64
		err error
	}
	done := make(chan res, 1)
	go func() { n, err := dtp.Send(context.Background(), srv, src, ascii, idle); done <- res{n, err} }()
	got, err := io.ReadAll(cli)
	require.NoError(t, err, "a clean end of file after the last byte")
	r := <-done
	require.NoError(t, r.err)
	return r.n, got
}

// receiveAll sends wire from the client in the given pieces and runs
// Receive into dst.
func receiveAll(t *testing.T, dst io.Writer, ascii bool, pieces ...[]byte) int64 {
	t.Helper()
	return receiveAllIdle(t, dst, ascii, 0, pieces...)
}

func receiveAllIdle(t *testing.T, dst io.Writer, ascii bool, idle time.Duration, pieces ...[]byte) int64 {
	t.Helper()
	srv, cli := pair(t)
	go func() {
		for _, p := range pieces {
			if _, err := cli.Write(p); err != nil {
				break
			}
		}
		cli.Close()
	}()
	n, err := dtp.Receive(context.Background(), srv, dst, ascii, idle)
	require.NoError(t, err)
	return n
}

func TestBinaryRoundTripByteForByte(t *testing.T) {
	path, data := randomFile(t, 1<<20+7)
	sources := map[string]func() io.Reader{
		"file (sendfile)": func() io.Reader {
			f, err := os.Open(path)
			require.NoError(t, err)
			t.Cleanup(func() { f.Close() })
			return f
		},
		"plain reader (pooled buffer)": func() io.Reader { return readerOnly{bytes.NewReader(data)} },
		"bytes.Reader (WriterTo)":      func() io.Reader { return bytes.NewReader(data) },
	}
	// idle > 0 moves the data in idle-deadline steps: the same bytes.
	for _, idle := range []time.Duration{0, time.Minute} {
		for name, src := range sources {
			n, got := sendAllIdle(t, src(), false, idle)
			assert.Equal(t, int64(len(data)), n, name)
			assert.True(t, bytes.Equal(data, got), "RETR %s, idle %v: byte for byte", name, idle)
		}
		f, err := os.Open(path)
		require.NoError(t, err)
		_, err = f.Seek(100, io.SeekStart)
		require.NoError(t, err)
		n, got := sendAllIdle(t, &io.LimitedReader{R: f, N: 700_000}, false, idle)
		f.Close()
		assert.Equal(t, int64(700_000), n)
		assert.True(t, bytes.Equal(data[100:700_100], got), "a range of a file (REST), idle %v", idle)
	}

	dsts := map[string]func() (io.Writer, func() []byte){
		"file (splice)": func() (io.Writer, func() []byte) {
			f, err := os.Create(filepath.Join(t.TempDir(), "dst"))
			require.NoError(t, err)
			t.Cleanup(func() { f.Close() })
			return f, func() []byte { b, _ := os.ReadFile(f.Name()); return b }
		},
		"plain writer (pooled buffer)": func() (io.Writer, func() []byte) {
			var b bytes.Buffer
			return writerOnly{&b}, b.Bytes
		},
	}
	for _, idle := range []time.Duration{0, time.Minute} {
		for name, dst := range dsts {
			w, contents := dst()
			n := receiveAllIdle(t, w, false, idle, data[:1000], data[1000:])
			assert.Equal(t, int64(len(data)), n, name)
			assert.True(t, bytes.Equal(data, contents()), "STOR %s, idle %v: byte for byte", name, idle)
		}
	}
}

func TestASCIIOverTheWire(t *testing.T) {
	n, got := sendAll(t, bytesReader("a\nb\r\nc\rd\n"), true)
	assert.Equal(t, "a\r\nb\r\nc\rd\r\n", string(got))
	assert.Equal(t, int64(9), n, "n counts the file's bytes")

	var disk bytes.Buffer
	n = receiveAll(t, &disk, true, []byte("a\r"), []byte("\nb\r"), []byte("x\r\n\r"))
	assert.Equal(t, "a\nb\rx\n\r", disk.String(), "a CR split from its LF, a lone CR, a final CR")
	assert.Equal(t, int64(disk.Len()), n)

	// A big file: more than one chunk, LF at every chunk edge.
	big := bytes.Repeat([]byte("0123456789abcde\n"), 20000)
	_, got = sendAll(t, readerOnly{bytes.NewReader(big)}, true)
	assert.Equal(t, bytes.ReplaceAll(big, []byte("\n"), []byte("\r\n")), got)
	disk.Reset()
	receiveAll(t, &disk, true, bytes.ReplaceAll(big, []byte("\n"), []byte("\r\n")))
	assert.Equal(t, big, disk.Bytes())
}

func TestClientGoneMidSendIsPeerClosed(t *testing.T) {
	for _, ascii := range []bool{false, true} {
		path, _ := randomFile(t, 8<<20)
		f, err := os.Open(path)
		require.NoError(t, err)
		srv, cli := pair(t)
		require.NoError(t, cli.SetLinger(0))
		require.NoError(t, cli.Close()) // RST
		_, err = dtp.Send(context.Background(), srv, f, ascii, 0)
		f.Close()
		assert.ErrorIs(t, err, dtp.ErrPeerClosed, "ascii=%v", ascii)
		assert.NotErrorIs(t, err, dtp.ErrLocalIO, "ascii=%v", ascii)
	}
}

func TestClientResetMidReceiveIsPeerClosed(t *testing.T) {
	dsts := map[string]func() io.Writer{
		"file": func() io.Writer {
			f, err := os.Create(filepath.Join(t.TempDir(), "dst"))
			require.NoError(t, err)
			t.Cleanup(func() { f.Close() })
			return f
		},
		"buffer": func() io.Writer { return writerOnly{&bytes.Buffer{}} },
		"ascii":  func() io.Writer { return &bytes.Buffer{} },
	}
	for name, dst := range dsts {
		srv, cli := pair(t)
		go func() {
			_, _ = cli.Write(make([]byte, 4096))
			_ = cli.SetLinger(0)
			cli.Close() // RST instead of FIN: the upload did not end
		}()
		_, err := dtp.Receive(context.Background(), srv, dst(), name == "ascii", 0)
		assert.ErrorIs(t, err, dtp.ErrPeerClosed, name)
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestLocalErrorsAreNotPeerErrors(t *testing.T) {
	for _, ascii := range []bool{false, true} {
		srv, cli := pair(t)
		src := io.MultiReader(bytesReader("partial\n"), failingReader{&os.PathError{Op: "read", Path: "f", Err: syscall.EIO}})
		_, err := dtp.Send(context.Background(), srv, src, ascii, 0)
		assert.ErrorIs(t, err, dtp.ErrLocalIO, "ascii=%v", ascii)
		assert.ErrorIs(t, err, syscall.EIO)
		assert.NotErrorIs(t, err, dtp.ErrPeerClosed)
		_, err = io.ReadAll(cli)
		assert.ErrorIs(t, err, syscall.ECONNRESET, "a truncated RETR must not look complete to the client")
		cli.Close()
	}

	for _, ascii := range []bool{false, true} {
		_, err := receiveErr(t, failingWriter{syscall.ENOSPC}, ascii)
		assert.ErrorIs(t, err, dtp.ErrLocalIO, "ascii=%v", ascii)
		assert.ErrorIs(t, err, syscall.ENOSPC, "the PI still finds ENOSPC (452)")
	}

	// The splice path: a file opened read-only fails on write.
	p := filepath.Join(t.TempDir(), "ro")
	require.NoError(t, os.WriteFile(p, nil, 0o644))
	ro, err := os.Open(p)
	require.NoError(t, err)
	defer ro.Close()
	_, err = receiveErr(t, ro, false)
	assert.ErrorIs(t, err, dtp.ErrLocalIO)
	assert.NotErrorIs(t, err, dtp.ErrPeerClosed)
}

func receiveErr(t *testing.T, dst io.Writer, ascii bool) (int64, error) {
	srv, cli := pair(t)
	defer cli.Close()
	go func() { _, _ = cli.Write([]byte("some data\r\n")) }()
	return dtp.Receive(context.Background(), srv, dst, ascii, 0)
}

func TestCancelAbortsTransfers(t *testing.T) {
	for _, ascii := range []bool{false, true} {
		srv, cli := pair(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := dtp.Send(ctx, srv, readerOnly{io.LimitReader(zeros{}, 1<<40)}, ascii, 0)
			done <- err
		}()
		cancel() // the client never reads: only ABOR can end this
		select {
		case err := <-done:
			assert.ErrorIs(t, err, context.Canceled, "RETR ascii=%v", ascii)
			assert.NotErrorIs(t, err, dtp.ErrLocalIO)
		case <-time.After(safety):
			t.Fatal("cancel did not abort the RETR")
		}
		cli.Close()

		srv, cli = pair(t)
		ctx, cancel = context.WithCancel(context.Background())
		go func() {
			_, err := dtp.Receive(ctx, srv, io.Discard, ascii, 0)
			done <- err
		}()
		cancel() // the client never sends nor closes
		select {
		case err := <-done:
			assert.ErrorIs(t, err, context.Canceled, "STOR ascii=%v", ascii)
		case <-time.After(safety):
			t.Fatal("cancel did not abort the STOR")
		}
		cli.Close()
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// A client that sends something on a RETR data connection before reading
// must still get the whole file: closing a socket with unread data makes
// the kernel send an RST and drop the data not yet transmitted.
func TestSendDeliversEverythingWhenTheClientSentData(t *testing.T) {
	path, data := randomFile(t, 8<<20)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	srv, cli := pair(t)
	defer cli.Close()
	_, err = cli.Write([]byte("stray bytes\r\n"))
	require.NoError(t, err)
	// Wait until the stray bytes are queued on the server's socket.
	for i := 0; i < 1000 && unread(t, srv) == 0; i++ {
		time.Sleep(time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { _, err := dtp.Send(context.Background(), srv, f, false, 0); done <- err }()
	got, err := io.ReadAll(cli)
	require.NoError(t, err, "FIN after the last byte, no RST")
	require.NoError(t, <-done)
	assert.Equal(t, len(data), len(got))
	assert.True(t, bytes.Equal(data, got))
}

// unread is the number of bytes queued on c's receive side.
func unread(t *testing.T, c *net.TCPConn) int {
	rc, err := c.SyscallConn()
	require.NoError(t, err)
	n := 0
	require.NoError(t, rc.Control(func(fd uintptr) { n = ioctlInq(fd) }))
	return n
}

// A client that opens the data connection and then neither reads (RETR)
// nor sends (STOR) is cut off after the idle timeout: ErrPeerClosed, the
// connection and the file released, instead of both held for as long as
// the control connection lives.
func TestStalledClientTimesOut(t *testing.T) {
	path, _ := randomFile(t, 16<<20) // more than the socket buffers hold
	for _, ascii := range []bool{false, true} {
		srv, cli := pair(t)
		f, err := os.Open(path)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { _, err := dtp.Send(context.Background(), srv, f, ascii, 200*time.Millisecond); done <- err }()
		select {
		case err := <-done:
			assert.ErrorIs(t, err, dtp.ErrPeerClosed, "ascii=%v", ascii)
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		case <-time.After(safety):
			t.Fatalf("Send to a client that does not read never ended (ascii=%v)", ascii)
		}
		f.Close()
		cli.Close()
	}
	for name, dst := range map[string]io.Writer{"file (splice)": tempFile(t), "plain writer": writerOnly{io.Discard}} {
		srv, cli := pair(t)
		_, err := cli.Write([]byte("some data, then silence"))
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() {
			_, err := dtp.Receive(context.Background(), srv, dst, false, 200*time.Millisecond)
			done <- err
		}()
		select {
		case err := <-done:
			assert.ErrorIs(t, err, dtp.ErrPeerClosed, name)
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded, name)
		case <-time.After(safety):
			t.Fatalf("Receive from a client that went silent never ended (%s)", name)
		}
		cli.Close()
	}
}

// The idle timeout is about progress, not length: a transfer that keeps
// moving finishes however long it takes in total.
func TestSlowButSteadyClientIsNotCutOff(t *testing.T) {
	path, data := randomFile(t, 4<<20)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	srv, cli := pair(t)
	defer cli.Close()
	done := make(chan error, 1)
	go func() { _, err := dtp.Send(context.Background(), srv, f, false, time.Second); done <- err }()
	var got bytes.Buffer
	buf := make([]byte, 128<<10)
	for {
		n, err := cli.Read(buf) // ~2.5 MB/s: one idle step in ~0.1 s, a tenth of the timeout
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, <-done)
	assert.True(t, bytes.Equal(data, got.Bytes()))
}

func tempFile(t *testing.T) *os.File {
	f, err := os.Create(filepath.Join(t.TempDir(), "dst"))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// readSizes is a plain reader that records how much each Read asked for.
type readSizes struct {
	r     io.Reader
	sizes []int
}

func (s *readSizes) Read(p []byte) (int, error) {
	s.sizes = append(s.sizes, len(p))
	return s.r.Read(p)
}

// TestPlainSourcesAreReadInLargeSteps: a binary download from a source
// sendfile cannot take (an object store's body) asks it for 256 KiB at a
// time, a quarter of the reads (and of the data connection's writes) of
// the 32 KiB chunks ASCII uses: the system calls of an S3 RETR.
func TestPlainSourcesAreReadInLargeSteps(t *testing.T) {
	_, data := randomFile(t, 1<<20)
	for _, idle := range []time.Duration{0, time.Minute} {
		src := &readSizes{r: bytes.NewReader(data)}
		n, got := sendAllIdle(t, src, false, idle)
		assert.Equal(t, int64(len(data)), n)
		assert.True(t, bytes.Equal(data, got))
		require.NotEmpty(t, src.sizes)
		for _, s := range src.sizes {
			assert.Equal(t, 256<<10, s, "idle %v", idle)
		}
		assert.LessOrEqual(t, len(src.sizes), 5, "1 MiB in 4 reads and the one that finds the end")
	}
}
