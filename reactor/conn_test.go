package reactor_test

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/clock"
	"github.com/gnetftp/gnetftp/reactor"
)

// loopbackPair returns a connected client/server pair of TCP connections.
func loopbackPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	_ = client.SetDeadline(time.Now().Add(20 * time.Second))
	return client, server
}

func TestServeConnSameSemanticsAsTheLoop(t *testing.T) {
	clock := clock.NewManualClock()
	c, s := loopbackPair(t)
	defer c.Close()
	lost := make(chan error, 1)
	p := &lineProto{tag: "g", lost: lost}
	tr := reactor.ServeConn(s, p, reactor.ConnConfig{Clock: clock, Logger: quietLogger()})
	rd := bufio.NewReader(c)
	line := func() string {
		l, err := rd.ReadString('\n')
		require.NoError(t, err)
		return l
	}
	assert.Equal(t, "hello g\n", line())
	_, _ = c.Write([]byte("one\ntw"))
	_, _ = c.Write([]byte("o\npause\n"))
	assert.Equal(t, "g:one\n", line())
	assert.Equal(t, "g:two\n", line())
	assert.Equal(t, "paused\n", line())
	_, _ = c.Write([]byte("three\n")) // not read from the socket while paused
	require.Eventually(t, func() bool { return clock.Pending() > 0 }, 10*time.Second, time.Millisecond)
	clock.Advance(time.Second)
	assert.Equal(t, "resumed\n", line())
	assert.Equal(t, "g:three\n", line())

	_, _ = c.Write([]byte("quit\n"))
	assert.Equal(t, "bye\n", line())
	_, err := rd.ReadString('\n')
	assert.ErrorIs(t, err, io.EOF)
	assert.NoError(t, <-lost)
	<-tr.Done()
	assert.False(t, tr.CallFromThread(func() {}), "no work after ConnectionLost")
}

func TestServeConnPanicClosesOnlyThatConnection(t *testing.T) {
	c, s := loopbackPair(t)
	defer c.Close()
	lost := make(chan error, 1)
	tr := reactor.ServeConn(s, &lineProto{tag: "x", lost: lost}, reactor.ConnConfig{Logger: quietLogger()})
	rd := bufio.NewReader(c)
	_, err := rd.ReadString('\n')
	require.NoError(t, err)
	_, _ = c.Write([]byte("panic\n"))
	_, err = rd.ReadString('\n')
	assert.Error(t, err)
	<-lost
	<-tr.Done()
}

func TestServeConnPeerCloseReportsCleanLoss(t *testing.T) {
	c, s := loopbackPair(t)
	lost := make(chan error, 1)
	tr := reactor.ServeConn(s, &lineProto{tag: "x", lost: lost}, reactor.ConnConfig{Logger: quietLogger()})
	_, err := bufio.NewReader(c).ReadString('\n') // read the greeting: closing with unread data would be an RST
	require.NoError(t, err)
	c.Close()
	assert.NoError(t, <-lost)
	<-tr.Done()
}
