package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/bench/ftpbench"
	s3shell "github.com/gnetftp/gnetftp/ftp/shell/s3"
	"github.com/gnetftp/gnetftp/internal/s3test"
)

// weed is the SeaweedFS store of the s3-retr and s3-stor tests.
var weed s3test.Shared

// TestS3DirectFromTheCommandLine: s3-stor writes an object of --size
// under the prefix and home, in several parts; s3-retr reads all of it
// back; both write the retr/stor JSON the report reads; a wrong secret
// fails the run with S3's reason.
func TestS3DirectFromTheCommandLine(t *testing.T) {
	srv := weed.Get(t)
	prefix := srv.Prefix(t.Name())
	storage := srv.StorageURL(prefix)
	for _, kv := range srv.Env() {
		k, v, _ := bytes.Cut([]byte(kv), []byte("="))
		t.Setenv(string(k), string(v))
	}
	dir := t.TempDir()
	ctx := context.Background()
	const size = 11 << 20 // three 5 MiB parts, the last short
	var out, errOut bytes.Buffer
	stor := filepath.Join(dir, "stor.json")
	require.NoError(t, run(ctx, []string{"s3-stor", "--storage", storage, "--home", "h", "--size", "11MiB", "--file", "big.bin", "--quiet", "--json", stor}, nil, &out, &errOut), errOut.String())
	var r ftpbench.RateResult
	b, err := os.ReadFile(stor)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &r))
	assert.Equal(t, 1, r.Ops, r.FirstErr)
	assert.Zero(t, r.Errors)
	assert.EqualValues(t, size, r.Bytes)
	assert.Positive(t, r.MBps)

	c, err := srv.Client()
	require.NoError(t, err)
	defer s3shell.CloseIdleConnections(c)
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	head, err := c.HeadObject(hctx, &awss3.HeadObjectInput{Bucket: aws.String(s3test.Bucket), Key: aws.String(prefix + "/h/big.bin")})
	require.NoError(t, err, "the object is under PREFIX/HOME/")
	assert.EqualValues(t, size, aws.ToInt64(head.ContentLength))

	retr := filepath.Join(dir, "retr.json")
	out.Reset()
	require.NoError(t, run(ctx, []string{"s3-retr", "--storage", storage, "--home", "h", "--file", "big.bin", "-c", "2", "--quiet", "--json", retr}, nil, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "| s3-retr big.bin straight through ftp/shell/s3, 2 streams | 2 ops | 0 errors |")
	b, err = os.ReadFile(retr)
	require.NoError(t, err)
	r = ftpbench.RateResult{}
	require.NoError(t, json.Unmarshal(b, &r))
	assert.Equal(t, 2, r.Ops, r.FirstErr)
	assert.EqualValues(t, 2*size, r.Bytes, "every byte of both downloads")

	// Without the object: the run reports the error, not a figure.
	out.Reset()
	require.NoError(t, run(ctx, []string{"s3-retr", "--storage", storage, "--home", "h", "--file", "nope.bin", "--quiet"}, nil, &out, &errOut))
	assert.Contains(t, out.String(), "| 0 ops | 1 errors |")
	assert.Contains(t, out.String(), "first error: s3 GET /nope.bin")

	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	err = run(ctx, []string{"s3-stor", "--storage", storage, "--home", "h", "--size", "1MiB", "--quiet"}, nil, &out, &errOut)
	require.Error(t, err, "the bucket check refuses a wrong secret")
	assert.Contains(t, err.Error(), "--storage")

	assert.ErrorContains(t, run(ctx, []string{"s3-retr", "--file", "x"}, nil, &out, &errOut), "--storage is required")
}
