package ftp_test

import (
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/internal/ftptest"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

func pasvPort(t *testing.T, reply string) *net.TCPAddr {
	t.Helper()
	a, err := ftpwire.ParsePASVReply(reply)
	require.NoError(t, err, reply)
	return a
}

// A passive listener nobody uses is closed after the accept timeout, with
// no transfer command needed: its port is free again, and the next
// transfer command gets 425.
func TestUnusedPassiveListenerClosesAfterTheAcceptTimeout(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	a := pasvPort(t, h.cmd("PASV"))
	assert.Equal(t, 1, h.f.PassiveListeners("127.0.0.1"))
	h.tr.FakeLoop.Advance(dtp.DefaultAcceptTimeout - time.Second)
	assert.Equal(t, 1, h.f.PassiveListeners("127.0.0.1"), "still open before the timeout")
	h.tr.FakeLoop.Advance(time.Second)
	assert.Zero(t, h.f.PassiveListeners("127.0.0.1"))
	_, err := net.DialTimeout("tcp", a.String(), 5*time.Second)
	assert.Error(t, err, "the port is closed")
	assert.Equal(t, "425 Use PORT, PASV, EPRT or EPSV first.", h.cmd("LIST"))
	h.quiet()

	// A transfer command in time takes the listener: the timer is off and
	// Accept's own timeout applies.
	data := h.pasv()
	h.tr.FakeLoop.Advance(dtp.DefaultAcceptTimeout / 2)
	assert.Regexp(t, `^150`, h.cmd("NLST"))
	h.tr.FakeLoop.Advance(dtp.DefaultAcceptTimeout)
	readAll(t, data)
	assert.Equal(t, "226 Transfer Complete.", h.next())
	assert.Zero(t, h.f.PassiveListeners("127.0.0.1"), "released once the connection was accepted")

	// A PASV soon after another has the whole timeout too, though the
	// session has one timer for all (armed for the first, it waits again).
	assert.Regexp(t, `^227`, h.cmd("PASV"))
	h.tr.FakeLoop.Advance(10 * time.Second)
	assert.Regexp(t, `^200`, h.cmd("PORT 127,0,0,1,200,10"), "the first listener goes")
	assert.Regexp(t, `^227`, h.cmd("PASV"))
	h.tr.FakeLoop.Advance(dtp.DefaultAcceptTimeout - time.Second)
	assert.Equal(t, 1, h.f.PassiveListeners("127.0.0.1"), "still open: its own timeout has not passed")
	h.tr.FakeLoop.Advance(time.Second)
	assert.Zero(t, h.f.PassiveListeners("127.0.0.1"))
	assert.Equal(t, "425 Use PORT, PASV, EPRT or EPSV first.", h.cmd("RETR x"))
}

// Open passive listeners are capped per client IP: over the cap a new
// PASV or EPSV gets 425 and the open ones stay; a listener closed or used
// frees its place.
func TestPassiveListenersAreCappedPerIP(t *testing.T) {
	f, root := newFactory(t, func(c *ftp.Config) { c.MaxPassivePerIP = 2 })
	a, b, c := connectPI(t, f, root), connectPI(t, f, root), connectPI(t, f, root)
	for _, h := range []*pi{a, b, c} {
		h.login()
	}
	assert.Regexp(t, `^227`, a.cmd("PASV"))
	assert.Regexp(t, `^227`, a.cmd("PASV"), "a session's new PASV replaces its own listener")
	assert.Regexp(t, `^229`, b.cmd("EPSV"))
	assert.Equal(t, 2, f.PassiveListeners("127.0.0.1"))
	assert.Equal(t, "425 Can't open data connection: too many passive connections open from your address.", c.cmd("PASV"))
	assert.Equal(t, "425 Can't open data connection: too many passive connections open from your address.", c.cmd("EPSV"))
	assert.Equal(t, "425 Use PORT, PASV, EPRT or EPSV first.", c.cmd("LIST"))

	a.p.ConnectionLost(nil) // the session's end closes its listener
	a.tr.Lost = true
	assert.Equal(t, 1, f.PassiveListeners("127.0.0.1"))
	data := c.pasv()
	assert.Regexp(t, `^150`, c.cmd("NLST"))
	readAll(t, data)
	assert.Equal(t, "226 Transfer Complete.", c.next())
	assert.Equal(t, 1, f.PassiveListeners("127.0.0.1"), "c's was released when its connection came")
	assert.Regexp(t, `^200`, b.cmd("PORT 127,0,0,1,200,10"), "PORT closes b's listener")
	assert.Zero(t, f.PassiveListeners("127.0.0.1"))

	// The cap is per address: another client is not refused for these.
	assert.Regexp(t, `^227`, b.cmd("PASV"))
	assert.Regexp(t, `^227`, c.cmd("PASV"))
	tr := prototest.NewTransport()
	tr.Remote = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 1}
	p := f.BuildProtocol(tr.Remote)
	prototest.Connect(p, tr)
	t.Cleanup(func() { p.ConnectionLost(nil) })
	other := &pi{t: t, tr: tr, p: p, f: f, root: root}
	other.login()
	assert.Regexp(t, `^227`, other.cmd("PASV"))
	assert.Equal(t, 1, f.PassiveListeners("127.0.0.9"))
}

// BenchmarkPASV is the control side of every passive transfer: PASV
// (listen on a port of the range) and the listener's close, here by PORT.
func BenchmarkPASV(b *testing.B) {
	f, _ := ftptest.Factory(b, nil)
	b.Cleanup(f.StopFactory)
	tr := prototest.NewTransport()
	p := f.BuildProtocol(tr.Remote)
	prototest.Connect(p, tr)
	b.Cleanup(func() { p.ConnectionLost(nil) })
	for _, line := range []string{"USER alice", "PASS secret"} {
		p.DataReceived([]byte(line + "\r\n"))
		for !strings.Contains(tr.Out.String(), "230 ") {
			tr.FakeLoop.WaitPending(time.Second)
			if strings.Contains(line, "USER") {
				break
			}
		}
	}
	tr.Take()
	pasv, port := []byte("PASV\r\n"), []byte("PORT 127,0,0,1,200,10\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.DataReceived(pasv)
		p.DataReceived(port)
		tr.Out.Reset()
	}
}

// dialFrom connects to a from the local address ip; it reports an error
// when the connection is refused or reset before connect returns.
func dialFrom(t *testing.T, ip net.IP, a *net.TCPAddr) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", a.String())
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// assertReset asserts that c (if connect succeeded) gets no data and is
// reset or closed by the server.
func assertReset(t *testing.T, c net.Conn, err error, what string) {
	t.Helper()
	if err != nil {
		return // refused or reset before connect(2) returned
	}
	b, rerr := io.ReadAll(c)
	assert.Empty(t, b, what+" gets no data")
	assert.ErrorIs(t, rerr, syscall.ECONNRESET, what+" is reset, not left waiting")
}

// A session's passive listener is kept for its next transfer: the second
// PASV and EPSV announce the same port, and nobody who connected to it in
// between (a stranger, or the client's own stale connection) is taken
// for the next transfer's connection; a stranger connecting during the
// wait is refused as before. The session's end closes it.
func TestPassiveListenerIsKeptAcrossTransfers(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "f", "data")
	first := pasvPort(t, h.cmd("PASV"))
	c, err := net.DialTimeout("tcp", first.String(), 5*time.Second)
	require.NoError(t, err)
	assert.Regexp(t, `^150`, h.cmd("RETR f"))
	assert.Equal(t, "data", readAll(t, c))
	assert.Equal(t, "226 Transfer Complete.", h.next())
	assert.Zero(t, h.f.PassiveListeners("127.0.0.1"), "a kept listener waiting for no transfer is not counted")

	// While kept, connections queue but are not served; the next PASV
	// closes them.
	stranger, serr := dialFrom(t, net.IPv4(127, 0, 0, 2), first)
	require.NoError(t, serr, "the kept listener is still open")
	stale, err := dialFrom(t, net.IPv4(127, 0, 0, 1), first)
	require.NoError(t, err)
	second := pasvPort(t, h.cmd("PASV"))
	assert.Equal(t, first.Port, second.Port, "the same listener")
	assert.Equal(t, 1, h.f.PassiveListeners("127.0.0.1"), "counted again while it waits")
	assertReset(t, stranger, serr, "a stranger who connected between transfers")
	assertReset(t, stale, nil, "a connection made before this PASV")

	assert.Regexp(t, `^150`, h.cmd("RETR f"))
	s2, s2err := dialFrom(t, net.IPv4(127, 0, 0, 2), second)
	assertReset(t, s2, s2err, "a stranger during the wait")
	good, err := dialFrom(t, net.IPv4(127, 0, 0, 1), second)
	require.NoError(t, err)
	assert.Equal(t, "data", readAll(t, good))
	assert.Equal(t, "226 Transfer Complete.", h.next())

	// EPSV reuses it too.
	r := h.cmd("EPSV")
	assert.Equal(t, fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|).", first.Port), r)
	good, err = dialFrom(t, net.IPv4(127, 0, 0, 1), second)
	require.NoError(t, err)
	assert.Regexp(t, `^150`, h.cmd("NLST"))
	assert.Equal(t, "f\r\n", readAll(t, good))
	assert.Equal(t, "226 Transfer Complete.", h.next())

	h.p.ConnectionLost(nil)
	h.tr.Lost = true
	_, err = net.DialTimeout("tcp", first.String(), 5*time.Second)
	assert.Error(t, err, "the session's end closed the kept listener")
}

// A kept listener is closed like a waiting one when no PASV/EPSV takes it
// within the accept timeout, and at once by PORT and REIN.
func TestKeptPassiveListenerCloses(t *testing.T) {
	for _, c := range []struct {
		name  string
		close func(h *pi)
	}{
		{"accept timeout", func(h *pi) { h.tr.FakeLoop.Advance(dtp.DefaultAcceptTimeout) }},
		{"PORT", func(h *pi) { assert.Regexp(t, `^200`, h.cmd("PORT 127,0,0,1,200,10")) }},
		{"REIN", func(h *pi) { assert.Regexp(t, `^220`, h.cmd("REIN")) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newPI(t, nil)
			h.login()
			data := h.pasv()
			a := data.RemoteAddr().(*net.TCPAddr)
			assert.Regexp(t, `^150`, h.cmd("NLST"))
			readAll(t, data)
			assert.Equal(t, "226 Transfer Complete.", h.next())
			h.tr.FakeLoop.Advance(dtp.DefaultAcceptTimeout - time.Second)
			probe, err := net.DialTimeout("tcp", a.String(), 5*time.Second)
			require.NoError(t, err, "kept until then")
			probe.Close()
			c.close(h)
			_, err = net.DialTimeout("tcp", a.String(), 5*time.Second)
			assert.Error(t, err, "closed")
		})
	}
}
