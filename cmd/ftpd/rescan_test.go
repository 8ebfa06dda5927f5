package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	s3shell "github.com/gnetftp/gnetftp/ftp/shell/s3"
	"github.com/gnetftp/gnetftp/internal/pgtest"
	"github.com/gnetftp/gnetftp/internal/s3test"
)

// A fleet node counts a home once; files put there behind its back are
// not in the database's usage until `ftpd user rescan` counts the home
// again, and from then on the running node refuses what the quota no
// longer allows (curl, a real client, against the real ftpd process).
func TestUserRescanCorrectsARunningNodesQuota(t *testing.T) {
	curl := needTool(t, "curl")
	dsn := pgtest.DSN(t)
	var out, errOut bytes.Buffer
	do := func(stdin string, args ...string) int {
		out.Reset()
		errOut.Reset()
		return run(append([]string{"user"}, args...), strings.NewReader(stdin), &out, &errOut)
	}
	require.Equal(t, 0, do("secret\n", "add", "--users", dsn, "--cost", "4", "--quota", "2KiB", "alice"), errOut.String())

	p := startFTPDProcess(t, 0, "--users", dsn)
	root := rootOf(t, p)
	home := filepath.Join(root, "alice")
	require.NoError(t, os.MkdirAll(filepath.Join(home, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(home, "sub", "old"), make([]byte, 1000), 0o644))
	small := filepath.Join(t.TempDir(), "small")
	require.NoError(t, os.WriteFile(small, make([]byte, 100), 0o644))
	url := "ftp://alice:secret@" + p.Addr + "/"

	// The first upload makes the node count the home: 1000 + 100.
	runClient(t, 0, curl, "-sS", "-T", small, url+"one")
	// 1000 bytes more behind the node's back: 2100 on disk, the quota
	// 2048, and the node still sees 1100 of it.
	require.NoError(t, os.WriteFile(filepath.Join(home, "behind"), make([]byte, 1000), 0o644))
	runClient(t, 0, curl, "-sS", "-T", small, url+"two")

	require.Equal(t, 0, do("", "rescan", "--users", dsn, "--root", root, "alice"), errOut.String())
	assert.Equal(t, "ftpd user: alice uses 2200 in 4 files (was 1200 in 3)\n", out.String())
	require.Equal(t, 0, do("", "list", "--users", dsn), errOut.String())
	assert.Regexp(t, `alice\s.*\s2200/4\s+0`, out.String())

	// 70: curl's "Exceeded storage allocation", its word for a 552
	runClient(t, 70, curl, "-sS", "-T", small, url+"three")
	_, err := os.Stat(filepath.Join(home, "three"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a refused upload leaves nothing")

	// Deleting behind the node's back and rescanning frees the space.
	require.NoError(t, os.Remove(filepath.Join(home, "behind")))
	require.Equal(t, 0, do("", "rescan", "--users", dsn, "--root", root, "alice"), errOut.String())
	assert.Equal(t, "ftpd user: alice uses 1200 in 3 files (was 2200 in 4)\n", out.String())
	runClient(t, 0, curl, "-sS", "-T", small, url+"three")
}

// On S3 storage, rescan counts the objects under the user's home prefix
// (directory markers are not files) with the credentials from the
// environment, as ftpd --storage does.
func TestUserRescanOnS3(t *testing.T) {
	srv := weed.Get(t)
	prefix := srv.Prefix(t.Name())
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	c, err := srv.Client()
	require.NoError(t, err)
	defer s3shell.CloseIdleConnections(c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for key, size := range map[string]int{"alice/a": 1000, "alice/d/b": 24, "alice/d/": 0, "bob/c": 5} {
		_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(s3test.Bucket), Key: aws.String(prefix + "/" + key),
			Body: bytes.NewReader(make([]byte, size))})
		require.NoError(t, err, key)
	}
	dsn := pgtest.DSN(t)
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"user", "add", "--users", dsn, "--cost", "4", "alice"}, strings.NewReader("pw\n"), &out, &errOut), errOut.String())
	out.Reset()
	require.Equal(t, 0, run([]string{"user", "rescan", "--users", dsn, "--storage", srv.StorageURL(prefix), "alice"}, strings.NewReader(""), &out, &errOut), errOut.String())
	assert.Equal(t, "ftpd user: alice uses 1KiB in 2 files (was 0 in 0)\n", out.String())
}

// What rescan refuses, each with a message that says why.
func TestUserRescanRefusals(t *testing.T) {
	dsn := pgtest.DSN(t)
	root := t.TempDir()
	var out, errOut bytes.Buffer
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--root", root, "alice"}, "--users"},
		{[]string{"--users", usersFile(t), "--root", root, "alice"}, "is a file"},
		{[]string{"--users", dsn, "--root", root}, "NAME"},
		{[]string{"--users", dsn, "--root", root, "nobody"}, "no user nobody"},
		{[]string{"--users", dsn, "--root", filepath.Join(root, "missing"), "nobody"}, "--root"},
	} {
		out.Reset()
		errOut.Reset()
		assert.Equal(t, 1, run(append([]string{"user", "rescan"}, c.args...), strings.NewReader(""), &out, &errOut), c.args)
		assert.Contains(t, errOut.String(), c.want, c.args)
	}
}
