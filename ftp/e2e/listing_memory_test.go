package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/internal/ftptest"
	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/reactor"
)

// hugeDir fills dir with n empty files with names of 32 bytes, as a
// real upload directory might have.
func hugeDir(t *testing.T, dir string, n int) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for i := 0; i < n; i++ {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("upload-with-a-longer-name-%06d", i)), os.O_CREATE|os.O_WRONLY, 0o644)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
}

// dialSmallWindow connects to addr with a 4 KiB receive buffer, so that a
// peer that does not read stops the sender after a few KiB instead of
// the megabytes loopback's autotuning would take in.
func dialSmallWindow(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// settledRSS samples the server's RSS for a while and returns the
// highest figure: the transfers fill what they hold in the first
// moments after they start.
func settledRSS(t *testing.T, p *ftpdProc) int64 {
	t.Helper()
	var top int64
	for i := 0; i < 12; i++ {
		top = max(top, p.rss(t))
		time.Sleep(250 * time.Millisecond)
	}
	return top
}

// A directory of 50,000 entries listed by 40 sessions that never read the
// listing: half of them connect the data connection (with a tiny receive
// window) and read nothing, half never connect it. A listing streams in
// bounded pieces as the client reads, so the server's memory grows by a
// small amount per session instead of the whole listing (about 9.6 MB
// each on the server that built listings whole: 390 MB for the 40).
func TestHugeListingsOfNonReadingClientsStayInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 50,000 files")
	}
	const entries, sessions = 50_000, 40
	// Half of the sessions keep a passive listener open: no cap here.
	p := startFTPDProcess(t, "--data-timeout", "5m", "--max-passive-per-ip", "0", "--max-connections-per-ip", "0")
	hugeDir(t, filepath.Join(p.root, "big"), entries)

	// One complete listing first: it fills the listing cache (shared by
	// every session, and so not what this test is about).
	warm := rawDial(t, &p.server)
	warm.login()
	addr := pasvAddr(t, warm.cmd("PASV"))
	data, err := net.DialTimeout("tcp", addr, 10*time.Second)
	require.NoError(t, err)
	_, err = warm.c.Write([]byte("LIST big\r\n"))
	require.NoError(t, err)
	_ = data.SetDeadline(time.Now().Add(60 * time.Second))
	listing, err := io.ReadAll(data)
	require.NoError(t, err)
	data.Close()
	assert.Regexp(t, `^150`, warm.reply())
	assert.Regexp(t, `^226`, warm.reply())
	require.Equal(t, entries, strings.Count(string(listing), "\r\n"), "the whole listing")
	assert.Contains(t, string(listing), "upload-with-a-longer-name-049999\r\n")

	before := settledRSS(t, p)
	for i := 0; i < sessions; i++ {
		r := rawDial(t, &p.server)
		_ = r.c.SetDeadline(time.Now().Add(120 * time.Second))
		r.login()
		addr := pasvAddr(t, r.cmd("PASV"))
		if i%2 == 0 {
			dialSmallWindow(t, addr) // connected, never read
		}
		_, err := r.c.Write([]byte("LIST big\r\n"))
		require.NoError(t, err)
		require.Regexp(t, `^150`, r.reply())
	}
	after := settledRSS(t, p)
	growth := after - before
	t.Logf("server RSS: %.1f MiB before, %.1f MiB with %d sessions listing %d entries without reading: +%.1f MiB (%.0f KiB per session)",
		float64(before)/(1<<20), float64(after)/(1<<20), sessions, entries, float64(growth)/(1<<20), float64(growth)/sessions/1024)
	assert.Less(t, growth, int64(sessions)<<20, "at most 1 MiB per listing in progress, whatever the directory's size")

	// The server still answers, and a reading client gets the whole listing.
	r := rawDial(t, &p.server)
	r.login()
	addr = pasvAddr(t, r.cmd("PASV"))
	data, err = net.DialTimeout("tcp", addr, 10*time.Second)
	require.NoError(t, err)
	_, err = r.c.Write([]byte("NLST big\r\n"))
	require.NoError(t, err)
	_ = data.SetDeadline(time.Now().Add(60 * time.Second))
	names, err := io.ReadAll(data)
	require.NoError(t, err)
	data.Close()
	assert.Regexp(t, `^150`, r.reply())
	assert.Regexp(t, `^226`, r.reply())
	assert.Equal(t, entries, strings.Count(string(names), "\r\n"))
}

// gnetHasBackpressure reports whether the reactor's transports implement
// protocol.Backpressure, which a STAT listing needs to wait for a client
// that does not read its control connection.
func gnetHasBackpressure(t *testing.T) bool {
	t.Helper()
	got := make(chan bool, 1)
	r := reactor.New(reactor.Config{Logger: ftptest.Logger()})
	require.NoError(t, r.Listen("127.0.0.1:0", protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		return &probe{got: got}
	})))
	require.NoError(t, r.Start())
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	}()
	c, err := net.DialTimeout("tcp", r.Addrs()[0].String(), 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	select {
	case ok := <-got:
		return ok
	case <-time.After(10 * time.Second):
		t.Fatal("no connection made")
		return false
	}
}

type probe struct {
	protocol.BaseProtocol
	got chan bool
}

func (p *probe) ConnectionMade() {
	_, ok := p.Transport.(protocol.Backpressure)
	p.got <- ok
	p.Transport.LoseConnection()
}

// The same directory listed over the control connection (STAT with a
// path) by 40 sessions that never read their replies: each holds a chunk
// of the reply, not all of it.
func TestHugeSTATListingsOfNonReadingClientsStayInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 50,000 files")
	}
	if !gnetHasBackpressure(t) {
		t.Skip("the reactor's transport has no protocol.Backpressure yet: STAT cannot wait for a client that does not read")
	}
	const entries, sessions = 50_000, 40
	p := startFTPDProcess(t, "--max-connections-per-ip", "0") // 40 sessions from one address
	hugeDir(t, filepath.Join(p.root, "big"), entries)
	warm := rawDial(t, &p.server)
	warm.login()
	assert.Regexp(t, `^213 End of status`, warm.cmd("STAT big"), "a whole STAT listing")

	before := settledRSS(t, p)
	for i := 0; i < sessions; i++ {
		r := rawDial(t, &p.server)
		r.login()
		_, err := r.c.Write([]byte("STAT big\r\n")) // and never read again
		require.NoError(t, err)
	}
	after := settledRSS(t, p)
	growth := after - before
	t.Logf("server RSS: %.1f MiB before, %.1f MiB with %d sessions sent STAT of %d entries without reading: +%.1f MiB (%.0f KiB per session)",
		float64(before)/(1<<20), float64(after)/(1<<20), sessions, entries, float64(growth)/(1<<20), float64(growth)/sessions/1024)
	assert.Less(t, growth, int64(sessions)<<20, "at most 1 MiB per listing in progress")
}
