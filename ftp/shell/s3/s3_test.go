package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/s3"
	"github.com/gnetftp/gnetftp/ftp/shell/shelltest"
	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/internal/s3test"
)

// weed is the SeaweedFS every test of this binary shares, each under a
// prefix of its own.
var weed s3test.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	weed.Stop()
	if code == 0 {
		if err := goleak.Find(leaktest.Options()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// store is a Store on a fresh prefix of the shared SeaweedFS.
func store(t *testing.T) (*s3.Store, *awss3.Client) {
	t.Helper()
	srv := weed.Get(t)
	c, err := srv.Client()
	require.NoError(t, err)
	t.Cleanup(func() { s3.CloseIdleConnections(c) })
	st, err := s3.NewStore(s3.Config{Client: c, Bucket: s3test.Bucket, Prefix: srv.Prefix(t.Name())})
	require.NoError(t, err)
	return st, c
}

func newShell(t *testing.T) (shell.Shell, string) {
	st, _ := store(t)
	return st.Shell(""), ""
}

func TestS3Conformance(t *testing.T) {
	shelltest.RunSkipping(t, newShell, map[string]string{
		"AppendAndOffsetWrites":  "S3 cannot append to an object or write one from an offset: APPE and REST+STOR are refused (TestAppendAndRestartRefused)",
		"RestartPointPastTheEnd": "REST+STOR is refused whatever the offset (TestAppendAndRestartRefused); REST+RETR past the end is checked there",
	})
}

func put(t *testing.T, sh shell.Shell, p string, data []byte) {
	t.Helper()
	w, err := sh.OpenForWriting(p, 0, false)
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Commit())
}

func get(t *testing.T, sh shell.Shell, p string, off int64) []byte {
	t.Helper()
	r, err := sh.OpenForReading(p, off)
	require.NoError(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return b
}

func TestAppendAndRestartRefused(t *testing.T) {
	sh, _ := newShell(t)
	put(t, sh, "/f", []byte("12345"))
	for _, w := range []struct {
		off    int64
		append bool
	}{{-1, true}, {0, true}, {5, false}, {2, false}, {1 << 40, false}} {
		_, err := sh.OpenForWriting("/f", w.off, w.append)
		assert.ErrorIs(t, err, shell.ErrUnsupported, "%+v", w)
	}
	_, err := sh.OpenForWriting("/new", -1, true)
	assert.ErrorIs(t, err, shell.ErrUnsupported)
	_, err = sh.Stat("/new")
	assert.ErrorIs(t, err, fs.ErrNotExist, "nothing created")
	assert.Equal(t, "12345", string(get(t, sh, "/f", 0)))
	assert.Equal(t, "345", string(get(t, sh, "/f", 2)), "REST + RETR is a ranged GET")
	assert.Empty(t, get(t, sh, "/f", 5), "REST at the end reads nothing")
	for _, off := range []int64{6, 1 << 40} {
		_, err := sh.OpenForReading("/f", off)
		assert.ErrorIs(t, err, shell.ErrBadOffset, "read at %d", off)
	}
}

// multipartUploads lists the multipart uploads in progress under prefix.
func multipartUploads(t *testing.T, c *awss3.Client, prefix string) []string {
	t.Helper()
	out, err := c.ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: aws.String(s3test.Bucket), Prefix: aws.String(prefix)})
	require.NoError(t, err)
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

// A large STOR goes up in parts while it is written: the object appears
// only at Commit, as one multipart object; an aborted one leaves the old
// object and no upload behind.
func TestUploadStreamsInParts(t *testing.T) {
	st, c := store(t)
	sh := st.Shell("")
	put(t, sh, "/big", []byte("old"))
	data := make([]byte, 2*s3.DefaultPartSize+12345)
	_, _ = rand.Read(data)

	w, err := sh.OpenForWriting("/big", 0, false)
	require.NoError(t, err)
	rf, ok := w.(io.ReaderFrom)
	require.True(t, ok, "the data connection is read straight into the part buffer")
	n, err := rf.ReadFrom(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), n)
	assert.LessOrEqual(t, s3.UploadBuffer(w), s3.DefaultPartSize, "bounded memory: one part, not the file")
	assert.Equal(t, []string{st.Prefix() + "big"}, multipartUploads(t, c, st.Prefix()), "parts went up during the transfer")
	assert.Equal(t, "old", string(get(t, sh, "/big", 0)), "the old object until Commit")
	require.NoError(t, w.Commit())
	assert.Empty(t, multipartUploads(t, c, st.Prefix()))
	assert.True(t, bytes.Equal(data, get(t, sh, "/big", 0)), "byte for byte")
	assert.True(t, bytes.Equal(data[s3.DefaultPartSize+7:], get(t, sh, "/big", s3.DefaultPartSize+7)), "ranged GET across a part boundary")
	hd, err := c.HeadObject(context.Background(), &awss3.HeadObjectInput{Bucket: aws.String(s3test.Bucket), Key: aws.String(st.Prefix() + "big")})
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(strings.Trim(aws.ToString(hd.ETag), `"`), "-3"), "three parts: %s", aws.ToString(hd.ETag))
	fi, err := sh.Stat("/big")
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), fi.Size(), "SIZE from HEAD")

	w, err = sh.OpenForWriting("/big", 0, false)
	require.NoError(t, err)
	_, err = w.Write(data[:s3.DefaultPartSize+1])
	require.NoError(t, err)
	require.Len(t, multipartUploads(t, c, st.Prefix()), 1)
	require.NoError(t, w.Abort())
	assert.Empty(t, multipartUploads(t, c, st.Prefix()), "Abort aborts the multipart upload")
	assert.True(t, bytes.Equal(data, get(t, sh, "/big", 0)), "the old object is intact")
}

func TestCleanStaleUploads(t *testing.T) {
	st, c := store(t)
	_, err := c.CreateMultipartUpload(context.Background(), &awss3.CreateMultipartUploadInput{Bucket: aws.String(s3test.Bucket), Key: aws.String(st.Prefix() + "killed")})
	require.NoError(t, err)
	n, err := st.CleanStaleUploads(context.Background(), 0)
	require.NoError(t, err)
	assert.Equal(t, 0, n, "a recent upload may be another node's, in progress")
	assert.Len(t, multipartUploads(t, c, st.Prefix()), 1)
	n, err = st.CleanStaleUploads(context.Background(), -1)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Empty(t, multipartUploads(t, c, st.Prefix()))
}

// S3 lists a directory "a" as "a/", after "a-b" and "a.txt"; the listing
// still comes out sorted by name, across pages, and through the lookup
// path when too many entries would wait.
func TestListingSortedByName(t *testing.T) {
	for _, held := range []int{0, 10} {
		t.Run(fmt.Sprint("held", held), func(t *testing.T) {
			st, c := store(t)
			if held > 0 {
				s3.SetMaxHeld(st, held)
			}
			sh := st.Shell("")
			var want []string
			keys := []string{"a/", "a-c/", "a/in", "zz"}
			for i := range 1100 {
				keys = append(keys, fmt.Sprintf("a-%04d", i))
				want = append(want, fmt.Sprintf("a-%04d", i))
			}
			want = append([]string{"a"}, want...)
			want = append(want, "a-c", "zz")
			var wg sync.WaitGroup
			errs := make(chan error, len(keys))
			sem := make(chan struct{}, 8)
			for _, k := range keys {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					_, err := c.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(s3test.Bucket), Key: aws.String(st.Prefix() + k),
						Body: bytes.NewReader(nil), ContentLength: aws.Int64(0)})
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			// By key "a/" comes after every "a-…" (across two pages of
			// 1,000); by name "a" comes first.
			infos, err := sh.List("/")
			require.NoError(t, err)
			var got []string
			for _, fi := range infos {
				got = append(got, fi.Name())
			}
			require.Equal(t, want, got)
			assert.True(t, infos[0].IsDir())
		})
	}
}

func TestRealmHomes(t *testing.T) {
	st, _ := store(t)
	require.NoError(t, st.Shell("").MakeDirectory("/pub"))
	put(t, st.Shell(""), "/pub/hello", []byte("hi"))
	r, err := s3.NewRealm(s3.RealmConfig{Store: st, AnonymousHome: "pub"})
	require.NoError(t, err)
	_, ok := r.ReadyShell(shell.Login{User: "alice"})
	assert.False(t, ok, "not opened yet")
	alice, err := r.Shell(shell.Login{User: "alice"})
	require.NoError(t, err)
	again, ok := r.ReadyShell(shell.Login{User: "alice"})
	assert.True(t, ok)
	assert.Same(t, alice, again)
	bob, err := r.Shell(shell.Login{User: "bob", Home: "/homes/../b"})
	require.NoError(t, err)
	put(t, alice, "/a.txt", []byte("alice"))
	_, err = bob.Stat("/a.txt")
	assert.ErrorIs(t, err, fs.ErrNotExist, "homes are apart")
	whole := st.Shell("")
	assert.Equal(t, "alice", string(get(t, whole, "/alice/a.txt", 0)), "a home is a prefix")
	require.NoError(t, whole.Access("/b"), "the home's marker was written at login")
	_, err = r.Shell(shell.Login{User: ".."})
	assert.Error(t, err)

	anon, err := r.Shell(shell.Login{User: "anonymous", Anonymous: true})
	require.NoError(t, err)
	assert.Equal(t, "hi", string(get(t, anon, "/hello", 0)))
	_, err = anon.OpenForWriting("/x", 0, false)
	assert.ErrorIs(t, err, shell.ErrReadOnly)
	assert.True(t, shell.IsReadOnly(anon))
}

func TestKeysTooLong(t *testing.T) {
	sh, _ := newShell(t)
	long := "/" + strings.Repeat("k", 1100)
	_, err := sh.OpenForWriting(long, 0, false)
	assert.ErrorIs(t, err, shell.ErrNameTooLong, "S3 keys have at most 1,024 bytes")
	assert.ErrorIs(t, sh.MakeDirectory(long), shell.ErrNameTooLong)
	_, err = sh.Stat(long)
	assert.ErrorIs(t, err, shell.ErrNameTooLong)
}

func TestParseStorageURL(t *testing.T) {
	u, err := s3.ParseStorageURL("s3://bkt/a/b/?endpoint=http://127.0.0.1:8333&region=eu-west-1&stale-upload-age=2h")
	require.NoError(t, err)
	assert.Equal(t, s3.StorageURL{Bucket: "bkt", Prefix: "a/b", Endpoint: "http://127.0.0.1:8333", Region: "eu-west-1", PathStyle: true, StaleUploadAge: 2 * time.Hour}, u)
	u, err = s3.ParseStorageURL("s3://bkt")
	require.NoError(t, err)
	assert.Equal(t, s3.StorageURL{Bucket: "bkt"}, u, "AWS itself: virtual-hosted buckets")
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "AWS_SESSION_TOKEN": "ST"}
	assert.Equal(t, s3.ClientConfig{Endpoint: "", Region: "", AccessKey: "AK", SecretKey: "SK", SessionToken: "ST"},
		u.ClientConfig(func(k string) string { return env[k] }), "the credentials from the environment")
	for _, bad := range []string{"file:///x", "s3:///p", "s3://b?endpoint=ftp://x", "s3://b?regoin=x", "s3://b?path-style=maybe", "s3://b?stale-upload-age=soon"} {
		_, err := s3.ParseStorageURL(bad)
		assert.Error(t, err, bad)
	}
}

func TestNoCredentials(t *testing.T) {
	_, err := s3.NewClient(s3.ClientConfig{Endpoint: "http://127.0.0.1:9"})
	assert.Error(t, err)
	_, err = s3.NewStore(s3.Config{})
	assert.Error(t, err)
	st, c := store(t)
	bad, err := s3.NewStore(s3.Config{Client: c, Bucket: "no-such-bucket-here"})
	require.NoError(t, err)
	assert.Error(t, bad.Check(context.Background()), "a missing bucket fails at start")
	require.NoError(t, st.Check(context.Background()))
}
