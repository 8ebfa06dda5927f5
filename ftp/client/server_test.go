package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp/client"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/internal/ftptest"
	"github.com/gnetftp/gnetftp/reactor"
)

// TestAgainstTheServer drives this project's FTP server over loopback
// with the library client, passive and active: login, directories,
// upload, listing, download (whole and from an offset), a refusal, quit.
// The files on disk and the bytes read back are compared.
func TestAgainstTheServer(t *testing.T) {
	f, root := ftptest.Factory(t, nil)
	addr := ftptest.Serve(t, f, "127.0.0.1:0")
	r := reactor.New(reactor.Config{Logger: ftptest.Logger()})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	})
	payload := make([]byte, 3<<20+17)
	_, _ = rand.Read(payload)

	for _, mode := range []struct {
		name   string
		active bool
	}{{"passive", false}, {"active", true}} {
		t.Run(mode.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, r, addr.String(), client.Config{Active: mode.active})
			require.NoError(t, err)
			call := func(fn func() *deferred.Deferred[ftpwire.Reply]) (ftpwire.Reply, error) {
				return deferred.Call(ctx, c.Loop(), fn)
			}
			count := func(fn func() *deferred.Deferred[int64]) (int64, error) {
				return deferred.Call(ctx, c.Loop(), fn)
			}

			rep, err := call(func() *deferred.Deferred[ftpwire.Reply] { return c.Login(ftptest.User, ftptest.Password) })
			require.NoError(t, err)
			assert.Equal(t, 230, rep.Code)
			dir := "up-" + mode.name
			_, err = call(func() *deferred.Deferred[ftpwire.Reply] { return c.Command("MKD " + dir) })
			require.NoError(t, err)
			_, err = call(func() *deferred.Deferred[ftpwire.Reply] { return c.Cwd(dir) })
			require.NoError(t, err)
			pwd, err := deferred.Call(ctx, c.Loop(), func() *deferred.Deferred[string] { return c.Pwd() })
			require.NoError(t, err)
			assert.Equal(t, "/"+dir, pwd)

			n, err := count(func() *deferred.Deferred[int64] { return c.Store("blob.bin", bytes.NewReader(payload)) })
			require.NoError(t, err)
			assert.Equal(t, int64(len(payload)), n)
			onDisk, err := os.ReadFile(filepath.Join(root, dir, "blob.bin"))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(payload, onDisk), "the upload is on disk byte for byte")

			var listing bytes.Buffer
			_, err = count(func() *deferred.Deferred[int64] { return c.List("", &listing) })
			require.NoError(t, err)
			assert.Contains(t, listing.String(), "blob.bin")
			assert.True(t, strings.HasSuffix(listing.String(), "\r\n"))

			var got bytes.Buffer
			n, err = count(func() *deferred.Deferred[int64] { return c.Retrieve("blob.bin", &got) })
			require.NoError(t, err)
			assert.Equal(t, int64(len(payload)), n)
			assert.True(t, bytes.Equal(payload, got.Bytes()), "the download matches")

			_, err = call(func() *deferred.Deferred[ftpwire.Reply] { return c.Rest(1000) })
			require.NoError(t, err)
			got.Reset()
			_, err = count(func() *deferred.Deferred[int64] { return c.Retrieve("blob.bin", &got) })
			require.NoError(t, err)
			assert.True(t, bytes.Equal(payload[1000:], got.Bytes()), "REST: from the offset")

			_, err = count(func() *deferred.Deferred[int64] { return c.Retrieve("missing", &got) })
			var re *client.ReplyError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, 550, re.Reply.Code)

			rep, err = call(func() *deferred.Deferred[ftpwire.Reply] { return c.Quit() })
			require.NoError(t, err)
			assert.Equal(t, 221, rep.Code)
		})
	}
}
