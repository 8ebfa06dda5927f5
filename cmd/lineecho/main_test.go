package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func TestServesTheEchoProtocol(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--listen", "127.0.0.1:0"}, pw, &bytes.Buffer{}); pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	addr := strings.TrimSpace(strings.TrimPrefix(line, "lineecho: listening on "))
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = c.Write([]byte("hello\r\nQUIT\r\n"))
	rd := bufio.NewReader(c)
	for _, want := range []string{"hello\r\n", "BYE\r\n"} {
		got, err := rd.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	cancel()
	assert.NoError(t, <-done)
	assert.Error(t, run(context.Background(), []string{"--listen", "udp://x"}, &bytes.Buffer{}, &bytes.Buffer{}))
}
