package client_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/bench/tlsref"
	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp/client"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/internal/ftptest"
	"github.com/gnetftp/gnetftp/internal/testcert"
	"github.com/gnetftp/gnetftp/reactor"
)

// reuseServer is a crypto/tls FTP server (bench/tlsref) that refuses any
// PROT P data connection whose TLS session was not resumed, with 522, as
// vsftpd does by default, limited to TLS version v.
func reuseServer(t *testing.T, v uint16) (addr, root string) {
	t.Helper()
	pair := testcert.MustNew()
	cfg := pair.ServerConfig()
	cfg.MinVersion, cfg.MaxVersion = v, v
	root = t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s, err := tlsref.Serve(ln, tlsref.Config{TLS: cfg, User: "alice", Pass: "secret", Root: root, RequireReuse: true, DataTimeout: 10 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return ln.Addr().String(), root
}

func clientReactor(t *testing.T) *reactor.Reactor {
	r := reactor.New(reactor.Config{Logger: ftptest.Logger()})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	})
	return r
}

// TestFTPSDataConnectionsResumeTheControlSession: a tls.Config with
// neither ServerName nor ClientSessionCache (what a caller writes first)
// still resumes the control session on every data connection, under TLS
// 1.3 (whose ticket comes after the handshake) and TLS 1.2; uploads and
// downloads arrive byte for byte. The server refuses a data connection
// that does not resume, so each 226 proves a resumption.
func TestFTPSDataConnectionsResumeTheControlSession(t *testing.T) {
	r := clientReactor(t)
	payload := make([]byte, 1<<20+13)
	_, _ = rand.Read(payload)
	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLS1.3", tls.VersionTLS13}, {"TLS1.2", tls.VersionTLS12}} {
		t.Run(v.name, func(t *testing.T) {
			addr, root := reuseServer(t, v.version)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cfg := &tls.Config{InsecureSkipVerify: true}
			c, err := client.Dial(ctx, r, addr, client.Config{TLS: cfg})
			require.NoError(t, err)
			rep, err := deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[ftpwire.Reply] { return c.Login("alice", "secret") })
			require.NoError(t, err)
			assert.Equal(t, 230, rep.Code)

			n, err := deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[int64] { return c.Store("up.bin", bytes.NewReader(payload)) })
			require.NoError(t, err, "a first data connection resumes the control connection's session")
			assert.Equal(t, int64(len(payload)), n)
			onDisk, err := os.ReadFile(filepath.Join(root, "up.bin"))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(payload, onDisk), "the upload is on disk byte for byte")
			for i := 0; i < 3; i++ {
				var got bytes.Buffer
				_, err = deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[int64] { return c.Retrieve("up.bin", &got) })
				require.NoError(t, err, "data connection %d resumes too", i+2)
				assert.True(t, bytes.Equal(payload, got.Bytes()), "the download matches")
			}
			assert.Empty(t, cfg.ServerName, "the caller's Config is not changed")
			assert.Nil(t, cfg.ClientSessionCache)
			_, err = deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[ftpwire.Reply] { return c.Quit() })
			require.NoError(t, err)
		})
	}
}

// TestFTPSWithoutResumptionIsRefused is the control experiment: with
// session tickets off the data connection cannot resume, and the same
// server answers 522, which the client reports as a ReplyError.
func TestFTPSWithoutResumptionIsRefused(t *testing.T) {
	r := clientReactor(t)
	addr, root := reuseServer(t, tls.VersionTLS13)
	require.NoError(t, os.WriteFile(filepath.Join(root, "f"), []byte("data"), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, r, addr, client.Config{TLS: &tls.Config{InsecureSkipVerify: true, SessionTicketsDisabled: true}})
	require.NoError(t, err)
	_, err = deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[ftpwire.Reply] { return c.Login("alice", "secret") })
	require.NoError(t, err)
	var got bytes.Buffer
	_, err = deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[int64] { return c.Retrieve("f", &got) })
	var re *client.ReplyError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 522, re.Reply.Code)
	assert.Empty(t, got.Bytes())
}

// TestFTPSDataHandshakeWaitsForThe1xx: the client's ClientHello on a PROT
// P data connection comes only after the server's 150, as ftplib, curl
// and lftp send it (pyftpdlib stalls for good on one that comes before
// it has set up the transfer). The server here waits 200 ms after RETR
// and looks for early bytes on the data connection before it replies.
// Then an upload to a server that sends bytes after the handshake (as
// OpenSSL's TLS 1.3 session tickets come): the client reads them before
// it closes, so the server sees the end of the upload, not a reset
// (vsftpd answered 426 to that).
func TestFTPSDataHandshakeWaitsForThe1xx(t *testing.T) {
	cfg := testcert.MustNew().ServerConfig()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	early := make(chan bool, 1)
	stored := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		var w io.Writer = c
		r := bufio.NewReader(c)
		say := func(s string) { _, _ = io.WriteString(w, s+"\r\n") }
		say("220 hi")
		var data net.Listener
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			switch verb {
			case "AUTH":
				say("234 go")
				tc := tls.Server(c, cfg)
				if tc.Handshake() != nil {
					return
				}
				w, r = tc, bufio.NewReader(tc)
			case "EPSV":
				data, _ = net.Listen("tcp", "127.0.0.1:0")
				defer data.Close()
				say(fmt.Sprintf("229 ok (|||%d|)", data.Addr().(*net.TCPAddr).Port))
			case "RETR":
				dc, err := data.Accept()
				if err != nil {
					return
				}
				defer dc.Close()
				_ = dc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				n, _ := dc.Read(make([]byte, 1))
				early <- n > 0
				_ = dc.SetDeadline(time.Now().Add(10 * time.Second))
				say("150 here it comes")
				tc := tls.Server(dc, cfg)
				if n == 0 && tc.Handshake() == nil {
					_, _ = io.WriteString(tc, "payload")
					_ = tc.Close()
				}
				say("226 done")
			case "STOR":
				dc, err := data.Accept()
				if err != nil {
					return
				}
				defer dc.Close()
				_ = dc.SetDeadline(time.Now().Add(10 * time.Second))
				say("150 send it")
				tc := tls.Server(dc, cfg)
				if tc.Handshake() != nil {
					return
				}
				// Bytes the uploader does not expect, as an OpenSSL
				// server's session tickets after the handshake.
				_, _ = io.WriteString(tc, "late")
				time.Sleep(100 * time.Millisecond) // the client is done writing: a reset would come now
				n, err := io.Copy(io.Discard, tc)
				_ = tc.Close()
				stored <- err
				say(fmt.Sprintf("226 %d bytes", n))
			case "QUIT":
				say("221 bye")
				return
			default:
				say("200 ok")
			}
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })

	r := clientReactor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, r, ln.Addr().String(), client.Config{TLS: &tls.Config{InsecureSkipVerify: true}})
	require.NoError(t, err)
	var got bytes.Buffer
	_, err = deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[int64] { return c.Retrieve("f", &got) })
	require.NoError(t, err)
	assert.False(t, <-early, "no TLS byte on the data connection before the 150")
	assert.Equal(t, "payload", got.String())

	n, err := deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[int64] { return c.Store("g", bytes.NewReader(make([]byte, 16<<20))) })
	require.NoError(t, err)
	assert.Equal(t, int64(16<<20), n)
	assert.NoError(t, <-stored, "the upload ended with close_notify and a FIN, no reset for the bytes it did not read")
	_, err = deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[ftpwire.Reply] { return c.Quit() })
	require.NoError(t, err)
}
