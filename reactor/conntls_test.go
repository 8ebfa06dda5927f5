package reactor_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/clock"
	"github.com/gnetftp/gnetftp/internal/testcert"
	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/reactor"
)

// serveTLSLine serves tlsLine over one loopback connection with
// ServeConn and returns the client side.
func serveTLSLine(t *testing.T, pair *testcert.Pair, cfg *tls.Config, clk *clock.ManualClock) (*tlsClient, chan tlsEvent, *reactor.ConnTransport) {
	t.Helper()
	c, s := loopbackPair(t)
	t.Cleanup(func() { c.Close() })
	events := make(chan tlsEvent, 64)
	tr := reactor.ServeConn(s, &tlsLine{cfg: cfg, events: events}, reactor.ConnConfig{Clock: clk, Logger: quietLogger()})
	t.Cleanup(func() {
		c.Close()
		<-tr.Done()
	})
	return &tlsClient{raw: c, rd: bufio.NewReader(c)}, events, tr
}

func nextEvent(t *testing.T, events chan tlsEvent, kind string) tlsEvent {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e := <-events:
			if e.kind == kind {
				return e
			}
		case <-deadline:
			t.Fatalf("no %q event", kind)
		}
	}
}

func TestServeConnStartTLS(t *testing.T) {
	pair := testcert.MustNew()
	scfg, ccfg := pair.ServerConfig(), pair.ClientConfig("localhost")
	for i, want := range []string{"v=TLS 1.3 resumed=false", "v=TLS 1.3 resumed=true"} {
		c, events, _ := serveTLSLine(t, pair, scfg, clock.NewManualClock())
		assert.Equal(t, "hello", c.line(t))
		c.send(t, "starttls\nevil\n")
		assert.Equal(t, "go", c.line(t))
		c.handshake(t, ccfg)
		require.NoError(t, nextEvent(t, events, "done").err)
		c.send(t, "state\n")
		assert.Equal(t, want, c.line(t), "connection %d; the injected line is gone", i)
		c.send(t, "quit\n")
		assert.Equal(t, "bye", c.line(t))
		assert.NoError(t, nextEvent(t, events, "lost").err)
	}
}

func TestServeConnStartTLSPausedResumes(t *testing.T) {
	pair := testcert.MustNew()
	clk := clock.NewManualClock()
	c, events, _ := serveTLSLine(t, pair, pair.ServerConfig(), clk)
	assert.Equal(t, "hello", c.line(t))
	c.send(t, "starttls\n")
	assert.Equal(t, "go", c.line(t))
	c.handshake(t, pair.ClientConfig("localhost"))
	require.NoError(t, nextEvent(t, events, "done").err)
	c.send(t, "pause\n") // two records, likely in one read: the second waits in the session
	c.send(t, "x\ny\n")
	assert.Equal(t, "paused", c.line(t))
	require.Eventually(t, func() bool { return clk.Pending() > 0 }, 20*time.Second, time.Millisecond)
	clk.Advance(time.Second)
	assert.Equal(t, "resumed", c.line(t))
	assert.Equal(t, "e:x", c.line(t))
	assert.Equal(t, "e:y", c.line(t))
	c.send(t, "quit\n")
	assert.Equal(t, "bye", c.line(t))
	assert.NoError(t, nextEvent(t, events, "lost").err)
}

func TestServeConnStartTLSFailures(t *testing.T) {
	pair := testcert.MustNew()
	t.Run("garbage", func(t *testing.T) {
		c, events, _ := serveTLSLine(t, pair, pair.ServerConfig(), clock.NewManualClock())
		assert.Equal(t, "hello", c.line(t))
		c.send(t, "starttls\n")
		assert.Equal(t, "go", c.line(t))
		c.send(t, "USER anonymous\r\n")
		assert.True(t, c.closed(t))
		done := nextEvent(t, events, "done")
		assert.Error(t, done.err)
		assert.Equal(t, done.err, nextEvent(t, events, "lost").err)
	})
	t.Run("stall", func(t *testing.T) {
		clk := clock.NewManualClock()
		c, events, _ := serveTLSLine(t, pair, pair.ServerConfig(), clk)
		assert.Equal(t, "hello", c.line(t))
		c.send(t, "starttls\n")
		assert.Equal(t, "go", c.line(t))
		require.Eventually(t, func() bool { return clk.Pending() > 0 }, 20*time.Second, time.Millisecond)
		clk.Advance(30 * time.Second)
		assert.ErrorIs(t, nextEvent(t, events, "done").err, protocol.ErrTLSHandshakeTimeout)
		assert.ErrorIs(t, nextEvent(t, events, "lost").err, protocol.ErrTLSHandshakeTimeout)
		assert.True(t, c.closed(t))
	})
}

func TestServeConnClientStartTLS(t *testing.T) {
	pair := testcert.MustNew()
	addr := goTLSServer(t, pair.ServerConfig(), true)
	raw, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	require.NoError(t, err)
	p := &tlsClientProto{cfg: pair.ClientConfig("localhost"), onLine: true, lines: make(chan string, 8), done: make(chan error, 2)}
	tr := reactor.ServeConn(raw, p, reactor.ConnConfig{Logger: quietLogger()})
	defer func() {
		tr.CallFromThread(tr.LoseConnection)
		<-tr.Done()
	}()
	select {
	case err := <-p.done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("no handshake result")
	}
	select {
	case l := <-p.lines:
		assert.Equal(t, "echo:ping", l)
	case <-time.After(20 * time.Second):
		t.Fatal("no echo")
	}
}
