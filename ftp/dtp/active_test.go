package dtp_test

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
)

func TestActiveChecks(t *testing.T) {
	strict, open := dtp.Config{}, dtp.Config{AllowForeignPeers: true, AllowPrivilegedPorts: true}
	mapped := net.ParseIP("::ffff:127.0.0.1")
	cases := []struct {
		name   string
		cfg    dtp.Config
		peer   net.IP
		target *net.TCPAddr
		want   error
	}{
		{"the client itself", strict, loopback, &net.TCPAddr{IP: loopback, Port: 1024}, nil},
		{"mapped control peer", strict, mapped, &net.TCPAddr{IP: loopback, Port: 5000}, nil},
		{"third host", strict, loopback, &net.TCPAddr{IP: stranger, Port: 5000}, dtp.ErrForeignAddress},
		{"privileged port", strict, loopback, &net.TCPAddr{IP: loopback, Port: 1023}, dtp.ErrPrivilegedPort},
		{"port 21 of a third host", strict, loopback, &net.TCPAddr{IP: stranger, Port: 21}, dtp.ErrForeignAddress},
		{"FXP allowed", open, loopback, &net.TCPAddr{IP: stranger, Port: 21}, nil},
		{"no target", strict, loopback, nil, ftpwire.ErrSyntax},
	}
	for _, c := range cases {
		err := dtp.CheckActive(c.cfg, c.peer, c.target)
		if c.want == nil {
			assert.NoError(t, err, c.name)
		} else {
			assert.ErrorIs(t, err, c.want, c.name)
		}
	}
}

func TestDialRefusesBeforeConnecting(t *testing.T) {
	// A listener on 127.0.0.2 that must never see a connection.
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: stranger})
	require.NoError(t, err)
	defer ln.Close()
	_, err = dtp.Dial(context.Background(), dtp.Config{}, loopback, ln.Addr().(*net.TCPAddr))
	assert.ErrorIs(t, err, dtp.ErrForeignAddress)
	_, err = dtp.Dial(context.Background(), dtp.Config{}, loopback, &net.TCPAddr{IP: loopback, Port: 21})
	assert.ErrorIs(t, err, dtp.ErrPrivilegedPort)
	require.NoError(t, ln.SetDeadline(pastDeadline()))
	c, err := ln.Accept()
	if err == nil {
		c.Close()
	}
	assert.Error(t, err, "no connection reached the third host")
}

func TestDialConnectsToTheClient(t *testing.T) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: loopback})
	require.NoError(t, err)
	defer ln.Close()
	conn, err := dtp.Dial(context.Background(), dtp.Config{}, net.ParseIP("::ffff:127.0.0.1"), ln.Addr().(*net.TCPAddr))
	require.NoError(t, err)
	cli, err := ln.Accept()
	require.NoError(t, err)
	defer cli.Close()
	assert.NotEqual(t, "20", portOf(conn.LocalAddr()), "not port 20: not root")
	n, err := dtp.Send(context.Background(), conn, readerOnly{bytesReader("active")}, false, 0)
	require.NoError(t, err)
	assert.Equal(t, int64(6), n)
	got, err := io.ReadAll(cli)
	require.NoError(t, err)
	assert.Equal(t, "active", string(got))
}

func TestDialFailures(t *testing.T) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: loopback})
	require.NoError(t, err)
	closed := ln.Addr().(*net.TCPAddr)
	ln.Close()
	_, err = dtp.Dial(context.Background(), dtp.Config{}, loopback, closed)
	require.Error(t, err, "nothing listens there")
	assert.NotErrorIs(t, err, dtp.ErrForeignAddress)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = dtp.Dial(ctx, dtp.Config{}, loopback, closed)
	assert.ErrorIs(t, err, context.Canceled)
}

func portOf(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}
