// Package s3 is a shell.Shell on an S3 bucket (any S3-compatible store:
// SeaweedFS, versitygw, Ceph, AWS), with SFTPGo's semantics:
//
//   - A file is an object whose key is the store's prefix plus the
//     virtual path without its leading slash. RETR streams a GET (REST: a
//     ranged GET); SIZE and MDTM come from HEAD.
//   - STOR streams a multipart upload through a buffer of
//     Config.PartSize bytes (5 MiB; a second one while a part is sent):
//     the object appears only when the upload is complete (a file
//     smaller than one part is a single PUT), an aborted upload is
//     aborted, and multipart uploads left by a server that was killed
//     are aborted by CleanStaleUploads at start.
//   - APPE and REST+STOR are refused (shell.ErrUnsupported): an object
//     cannot be appended to nor written from an offset.
//   - Directories are key prefixes: MKD writes a marker object "dir/",
//     RMD removes it when nothing else is under the prefix; a prefix with
//     objects and no marker (written by another S3 client) is a directory
//     too, and disappears with its last object.
//   - RNFR/RNTO of a file is a server-side copy and a delete (not atomic:
//     for a moment both names exist); of a directory, the same for every
//     key under it, at most Config.MaxRenameKeys of them.
//   - LIST, NLST and MLSD stream ListObjectsV2 with delimiter "/", one
//     page (1,000 keys) at a time (shell.StreamLister), sorted by name.
//
// Every method blocks on the network: the server calls shells on its
// worker pool, never on an event loop. A Shell is safe for concurrent use.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// Defaults of Config.
const (
	// DefaultPartSize is S3's smallest part (the last one may be smaller):
	// the memory one upload holds.
	DefaultPartSize = 5 << 20
	// DefaultRequestTimeout bounds one request that is not a transfer's
	// body (HEAD, LIST, PUT of a part, COPY...).
	DefaultRequestTimeout = 60 * time.Second
	// DefaultStallTimeout aborts a download whose body gave no byte for
	// this long (the FTP side has its own data timeout).
	DefaultStallTimeout = 60 * time.Second
	// DefaultMaxRenameKeys bounds the objects one directory rename copies.
	DefaultMaxRenameKeys = 1000
	// DefaultStaleUploadAge: CleanStaleUploads aborts multipart uploads
	// started longer ago than this.
	DefaultStaleUploadAge = time.Hour
)

// Config configures a Store. Durations: 0 means the default, negative
// means none.
type Config struct {
	// Client talks to the store (NewClient makes one); required.
	Client *awss3.Client
	// Bucket holds the files; required (it must exist).
	Bucket string
	// Prefix is the key prefix of the root ("" is the whole bucket);
	// leading and trailing slashes are ignored.
	Prefix string
	// PartSize is the buffer of one upload and the size of its parts;
	// default DefaultPartSize, at least 5 MiB.
	PartSize int
	// RequestTimeout bounds each request but a download's body; default
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// StallTimeout aborts a download whose body stalls this long; default
	// DefaultStallTimeout.
	StallTimeout time.Duration
	// MaxRenameKeys bounds the objects a directory rename may copy
	// (beyond it: shell.ErrUnsupported); default DefaultMaxRenameKeys.
	MaxRenameKeys int
}

// Store is a bucket and key prefix: the root of every shell made from it.
// Safe for concurrent use.
type Store struct {
	cfg     Config
	client  *awss3.Client
	prefix  string // "" or "a/b/"
	maxHeld int    // see listing (tests lower it)
}

// NewStore checks cfg and applies the defaults. It does not reach the
// store: Check does.
func NewStore(cfg Config) (*Store, error) {
	if cfg.Client == nil || cfg.Bucket == "" {
		return nil, errors.New("s3: Config.Client and Config.Bucket are required")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < 5<<20 {
		return nil, fmt.Errorf("s3: part size %d is below S3's minimum of 5 MiB", cfg.PartSize)
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.StallTimeout == 0 {
		cfg.StallTimeout = DefaultStallTimeout
	}
	if cfg.MaxRenameKeys <= 0 {
		cfg.MaxRenameKeys = DefaultMaxRenameKeys
	}
	p := strings.Trim(cfg.Prefix, "/")
	if p != "" {
		p += "/"
	}
	return &Store{cfg: cfg, client: cfg.Client, prefix: p, maxHeld: maxHeld}, nil
}

// Prefix is the root's key prefix ("" or ending in "/").
func (st *Store) Prefix() string { return st.prefix }

// Check reaches the bucket (HeadBucket): a wrong endpoint, bucket or
// key fails here, at start, rather than at the first login.
func (st *Store) Check(ctx context.Context) error {
	ctx, cancel := st.ctx(ctx)
	defer cancel()
	if _, err := st.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &st.cfg.Bucket}); err != nil {
		return fmt.Errorf("s3: bucket %s: %w", st.cfg.Bucket, err)
	}
	return nil
}

// CleanStaleUploads aborts the multipart uploads under the store's prefix
// started more than age ago (0: DefaultStaleUploadAge; negative: every
// one started before now): the parts of uploads whose server was killed,
// which S3 keeps (and bills) until they are aborted. On a fleet sharing
// the prefix, age must exceed the longest upload, or another node's
// upload in progress would be aborted. It returns how many it aborted.
func (st *Store) CleanStaleUploads(ctx context.Context, age time.Duration) (int, error) {
	if age == 0 {
		age = DefaultStaleUploadAge
	}
	cutoff := time.Now().Add(-max(age, 0))
	n := 0
	var keyMarker, idMarker *string
	for {
		lctx, cancel := st.ctx(ctx)
		out, err := st.client.ListMultipartUploads(lctx, &awss3.ListMultipartUploadsInput{
			Bucket: &st.cfg.Bucket, Prefix: aws.String(st.prefix), KeyMarker: keyMarker, UploadIdMarker: idMarker})
		cancel()
		if err != nil {
			return n, fmt.Errorf("s3: listing multipart uploads: %w", err)
		}
		for _, u := range out.Uploads {
			if u.Initiated != nil && !u.Initiated.Before(cutoff) {
				continue
			}
			actx, cancel := st.ctx(ctx)
			_, err := st.client.AbortMultipartUpload(actx, &awss3.AbortMultipartUploadInput{Bucket: &st.cfg.Bucket, Key: u.Key, UploadId: u.UploadId})
			cancel()
			if err != nil && !isNotFound(err) {
				return n, fmt.Errorf("s3: aborting upload of %s: %w", aws.ToString(u.Key), err)
			}
			n++
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, nil
		}
		keyMarker, idMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// ctx is a request's context: RequestTimeout from parent.
func (st *Store) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	if st.cfg.RequestTimeout < 0 {
		return context.WithCancel(parent)
	}
	return context.WithTimeout(parent, st.cfg.RequestTimeout)
}

// Shell returns the shell rooted at home, a directory under the store's
// prefix ("" or "/": the prefix itself). It does not create it.
func (st *Store) Shell(home string) *Shell {
	h := strings.Trim(path.Clean("/"+home), "/")
	root := st.prefix
	if h != "" {
		root += h + "/"
	}
	return &Shell{st: st, root: root}
}

// Shell is a shell.Shell on the keys under one prefix (a user's home).
type Shell struct {
	st   *Store
	root string // key prefix: "" or "home/"
}

var (
	_ shell.Shell        = (*Shell)(nil)
	_ shell.StreamLister = (*Shell)(nil)
)

// rel maps a virtual path to its name under the shell's root ("" for
// the root itself); a key longer than S3 allows is shell.ErrNameTooLong.
func (s *Shell) rel(op, p string) (string, error) {
	r, err := shell.RootRelative(p)
	if err != nil {
		return "", shell.Wrap(op, p, err)
	}
	if r == "." {
		return "", nil
	}
	if len(s.root)+len(r)+1 > maxKey { // +1: a directory's marker
		return "", shell.PathError(op, p, shell.ErrNameTooLong, nil)
	}
	return r, nil
}

// maxKey is S3's longest key, in bytes.
const maxKey = 1024

func (s *Shell) key(r string) string { return s.root + r }

// dirPrefix is the key prefix of the directory r ("" is the root).
func (s *Shell) dirPrefix(r string) string {
	if r == "" {
		return s.root
	}
	return s.root + r + "/"
}

// head returns the object r's size and time, or fs.ErrNotExist.
func (s *Shell) head(r string) (*awss3.HeadObjectOutput, error) {
	ctx, cancel := s.st.ctx(context.Background())
	defer cancel()
	out, err := s.st.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &s.st.cfg.Bucket, Key: aws.String(s.key(r))})
	return out, mapErr(err)
}

// dirTime reports whether the directory r exists (its marker, or any key
// under it), with the marker's time (the epoch when it has none).
func (s *Shell) dirTime(r string) (bool, time.Time, error) {
	if r == "" {
		return true, time.Unix(0, 0).UTC(), nil
	}
	ctx, cancel := s.st.ctx(context.Background())
	defer cancel()
	pre := s.dirPrefix(r)
	out, err := s.st.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &s.st.cfg.Bucket, Prefix: &pre, MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, time.Time{}, mapErr(err)
	}
	if len(out.Contents) == 0 {
		return false, time.Time{}, nil
	}
	if c := out.Contents[0]; aws.ToString(c.Key) == pre && c.LastModified != nil {
		return true, c.LastModified.UTC(), nil
	}
	return true, time.Unix(0, 0).UTC(), nil
}

// kind says what r is: a file, a directory, or nothing (a file wins when
// another S3 client made both "a" and "a/b").
type kind int

const (
	kindNone kind = iota
	kindFile
	kindDir
)

func (s *Shell) kindOf(r string) (kind, error) {
	if r == "" {
		return kindDir, nil
	}
	if _, err := s.head(r); err == nil {
		return kindFile, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return kindNone, err
	}
	ok, _, err := s.dirTime(r)
	if err != nil || !ok {
		return kindNone, err
	}
	return kindDir, nil
}

// parentDir checks that the parent of r is a directory: fs.ErrNotExist
// when it is missing, shell.ErrNotDir when it is a file.
func (s *Shell) parentDir(r string) error {
	parent := path.Dir(r)
	if parent == "." {
		return nil
	}
	k, err := s.kindOf(parent)
	switch {
	case err != nil:
		return err
	case k == kindFile:
		return shell.ErrNotDir
	case k == kindNone:
		return fs.ErrNotExist
	}
	return nil
}

// MakeDirectory writes the marker "dir/"; the parent must exist.
func (s *Shell) MakeDirectory(p string) error {
	r, err := s.rel("mkdir", p)
	if err != nil {
		return err
	}
	if r == "" {
		return shell.Wrap("mkdir", p, fs.ErrExist)
	}
	if err := s.parentDir(r); err != nil {
		return shell.Wrap("mkdir", p, err)
	}
	if k, err := s.kindOf(r); err != nil {
		return shell.Wrap("mkdir", p, err)
	} else if k != kindNone {
		return shell.Wrap("mkdir", p, fs.ErrExist)
	}
	return shell.Wrap("mkdir", p, s.putMarker(r))
}

func (s *Shell) putMarker(r string) error {
	ctx, cancel := s.st.ctx(context.Background())
	defer cancel()
	_, err := s.st.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: &s.st.cfg.Bucket, Key: aws.String(s.dirPrefix(r)),
		Body: bytes.NewReader(nil), ContentLength: aws.Int64(0)})
	return mapErr(err)
}

// RemoveDirectory removes the marker of an empty directory: one with
// other keys under it is shell.ErrNotEmpty (and fs.ErrExist), a file shell.ErrNotDir, the root
// fs.ErrPermission.
func (s *Shell) RemoveDirectory(p string) error {
	r, err := s.rel("rmdir", p)
	if err != nil {
		return err
	}
	if r == "" {
		return shell.Wrap("rmdir", p, fs.ErrPermission)
	}
	pre := s.dirPrefix(r)
	ctx, cancel := s.st.ctx(context.Background())
	defer cancel()
	out, err := s.st.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &s.st.cfg.Bucket, Prefix: &pre, MaxKeys: aws.Int32(2)})
	if err != nil {
		return shell.Wrap("rmdir", p, mapErr(err))
	}
	marker := false
	for _, c := range out.Contents {
		if aws.ToString(c.Key) != pre {
			// Not empty: the kind the local shell gives (ENOTEMPTY
			// matches fs.ErrExist too).
			return shell.PathError("rmdir", p, shell.ErrNotEmpty, syscall.ENOTEMPTY)
		}
		marker = true
	}
	if !marker {
		if _, err := s.head(r); err == nil {
			return shell.Wrap("rmdir", p, shell.ErrNotDir)
		}
		return shell.Wrap("rmdir", p, fs.ErrNotExist)
	}
	return shell.Wrap("rmdir", p, s.deleteKey(ctx, pre))
}

func (s *Shell) deleteKey(ctx context.Context, key string) error {
	_, err := s.st.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &s.st.cfg.Bucket, Key: &key})
	return mapErr(err)
}

// RemoveFile deletes the object; a directory is shell.ErrIsDir.
func (s *Shell) RemoveFile(p string) error {
	r, err := s.rel("remove", p)
	if err != nil {
		return err
	}
	k, err := s.kindOf(r)
	switch {
	case err != nil:
		return shell.Wrap("remove", p, err)
	case k == kindDir:
		return shell.Wrap("remove", p, shell.ErrIsDir)
	case k == kindNone:
		return shell.Wrap("remove", p, fs.ErrNotExist)
	}
	ctx, cancel := s.st.ctx(context.Background())
	defer cancel()
	return shell.Wrap("remove", p, s.deleteKey(ctx, s.key(r)))
}

// Rename copies from to to on the server side, then deletes from (an
// existing file at to is replaced). A directory is renamed key by key, at
// most Config.MaxRenameKeys of them, and onto nothing that exists.
func (s *Shell) Rename(from, to string) error {
	rf, err := s.rel("rename", from)
	if err != nil {
		return err
	}
	rt, err := s.rel("rename", to)
	if err != nil {
		return err
	}
	if rf == "" || rt == "" {
		return shell.Wrap("rename", from, fs.ErrPermission)
	}
	if rf == rt {
		return nil
	}
	k, err := s.kindOf(rf)
	if err != nil {
		return shell.Wrap("rename", from, err)
	}
	if k == kindNone {
		return shell.Wrap("rename", from, fs.ErrNotExist)
	}
	if err := s.parentDir(rt); err != nil {
		return shell.Wrap("rename", to, err)
	}
	kt, err := s.kindOf(rt)
	if err != nil {
		return shell.Wrap("rename", to, err)
	}
	if k == kindFile {
		if kt == kindDir {
			return shell.Wrap("rename", to, shell.ErrIsDir)
		}
		hd, err := s.head(rf)
		if err != nil {
			return shell.Wrap("rename", from, err)
		}
		if err := s.copyObject(s.key(rf), s.key(rt), aws.ToInt64(hd.ContentLength)); err != nil {
			return shell.Wrap("rename", from, err)
		}
		ctx, cancel := s.st.ctx(context.Background())
		defer cancel()
		return shell.Wrap("rename", from, s.deleteKey(ctx, s.key(rf)))
	}
	if kt != kindNone {
		return shell.Wrap("rename", to, fs.ErrExist)
	}
	if strings.HasPrefix(rt+"/", rf+"/") {
		return shell.Wrap("rename", to, fs.ErrInvalid) // into itself
	}
	return shell.Wrap("rename", from, s.renameDir(s.dirPrefix(rf), s.dirPrefix(rt)))
}

// renameDir copies every key under the prefix from to the prefix to,
// then deletes the originals.
func (s *Shell) renameDir(from, to string) error {
	var objs []types.Object
	var token *string
	for {
		ctx, cancel := s.st.ctx(context.Background())
		out, err := s.st.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &s.st.cfg.Bucket, Prefix: &from, ContinuationToken: token})
		cancel()
		if err != nil {
			return mapErr(err)
		}
		objs = append(objs, out.Contents...)
		if len(objs) > s.st.cfg.MaxRenameKeys {
			return fmt.Errorf("renaming a directory of more than %d objects: %w", s.st.cfg.MaxRenameKeys, shell.ErrUnsupported)
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		token = out.NextContinuationToken
	}
	for _, o := range objs {
		k := aws.ToString(o.Key)
		dst := to + strings.TrimPrefix(k, from)
		if strings.HasSuffix(k, "/") {
			// A directory's marker is written anew: SeaweedFS keeps
			// "dir/" as a directory of its filer, which CopyObject does
			// not find.
			if err := s.putMarker(strings.TrimPrefix(strings.TrimSuffix(dst, "/"), s.root)); err != nil {
				return err
			}
			continue
		}
		if err := s.copyObject(k, dst, aws.ToInt64(o.Size)); err != nil {
			return err
		}
	}
	for _, o := range objs {
		ctx, cancel := s.st.ctx(context.Background())
		err := s.deleteKey(ctx, aws.ToString(o.Key))
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// maxCopy is the largest object one CopyObject copies; larger ones are
// copied in parts of copyPart.
const (
	maxCopy  = 5 << 30
	copyPart = 512 << 20
)

// copyObject copies the object src (of size bytes) to dst.
func (s *Shell) copyObject(src, dst string, size int64) error {
	b := &s.st.cfg.Bucket
	source := copySource(*b, src)
	if size <= maxCopy {
		ctx, cancel := s.st.ctx(context.Background())
		defer cancel()
		_, err := s.st.client.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: b, Key: &dst, CopySource: &source})
		return mapErr(err)
	}
	ctx, cancel := s.st.ctx(context.Background())
	up, err := s.st.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: &dst})
	cancel()
	if err != nil {
		return mapErr(err)
	}
	abort := func() {
		ctx, cancel := s.st.ctx(context.Background())
		defer cancel()
		_, _ = s.st.client.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: b, Key: &dst, UploadId: up.UploadId})
	}
	var parts []types.CompletedPart
	for off, n := int64(0), int32(1); off < size; off, n = off+copyPart, n+1 {
		end := min(off+copyPart, size) - 1
		ctx, cancel := s.st.ctx(context.Background())
		out, err := s.st.client.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: b, Key: &dst, UploadId: up.UploadId,
			PartNumber: aws.Int32(n), CopySource: &source, CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, end))})
		cancel()
		if err != nil {
			abort()
			return mapErr(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.CopyPartResult.ETag})
	}
	ctx, cancel = s.st.ctx(context.Background())
	defer cancel()
	_, err = s.st.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: &dst, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		abort()
	}
	return mapErr(err)
}

// copySource is CopyObject's "bucket/key", the key URL-escaped.
func copySource(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, sg := range segs {
		segs[i] = url.PathEscape(sg)
	}
	return bucket + "/" + strings.Join(segs, "/")
}

// Access reports nil for a directory; a file is shell.ErrNotDir.
func (s *Shell) Access(p string) error {
	r, err := s.rel("cwd", p)
	if err != nil {
		return err
	}
	k, err := s.kindOf(r)
	switch {
	case err != nil:
		return shell.Wrap("cwd", p, err)
	case k == kindFile:
		return shell.Wrap("cwd", p, shell.ErrNotDir)
	case k == kindNone:
		return shell.Wrap("cwd", p, fs.ErrNotExist)
	}
	return nil
}

// Stat describes p: an object from HEAD, or a directory.
func (s *Shell) Stat(p string) (fs.FileInfo, error) {
	r, err := s.rel("stat", p)
	if err != nil {
		return nil, err
	}
	if r == "" {
		return &entry{name: "/", dir: true, mod: time.Unix(0, 0).UTC()}, nil
	}
	hd, err := s.head(r)
	if err == nil {
		return &entry{name: path.Base(r), size: aws.ToInt64(hd.ContentLength), mod: aws.ToTime(hd.LastModified).UTC()}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, shell.Wrap("stat", p, err)
	}
	ok, mod, err := s.dirTime(r)
	if err != nil {
		return nil, shell.Wrap("stat", p, err)
	}
	if !ok {
		return nil, shell.Wrap("stat", p, fs.ErrNotExist)
	}
	return &entry{name: path.Base(r), dir: true, mod: mod}, nil
}

// List returns what OpenList streams, all at once.
func (s *Shell) List(p string) ([]fs.FileInfo, error) {
	l, err := s.OpenList(p, false)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	var all []fs.FileInfo
	for {
		b, err := l.Next()
		if err == io.EOF {
			return all, nil
		}
		if err != nil {
			return nil, err
		}
		for _, fi := range b {
			e := *fi.(*entry)
			all = append(all, &e)
		}
	}
}

// OpenForReading streams a GET of the object, ranged from offset (REST).
// The body is read as the client takes it: memory stays what the HTTP
// client buffers. A body that stalls for Config.StallTimeout fails.
func (s *Shell) OpenForReading(p string, offset int64) (io.ReadCloser, error) {
	r, err := s.rel("open", p)
	if err != nil {
		return nil, err
	}
	if r == "" {
		return nil, shell.Wrap("open", p, shell.ErrIsDir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &awss3.GetObjectInput{Bucket: &s.st.cfg.Bucket, Key: aws.String(s.key(r))}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	// The request (up to the response's headers) is bounded like any
	// other; the body by the stall watchdog.
	var headers *time.Timer
	if s.st.cfg.RequestTimeout > 0 {
		headers = time.AfterFunc(s.st.cfg.RequestTimeout, cancel)
	}
	out, err := s.st.client.GetObject(ctx, in)
	if headers != nil && !headers.Stop() && err == nil {
		// The timeout fired as the headers came: the body is cancelled.
		out.Body.Close()
		cancel()
		return nil, shell.Wrap("open", p, context.DeadlineExceeded)
	}
	if err != nil {
		cancel()
		err = mapErr(err)
		switch {
		case errors.Is(err, errInvalidRange):
			hd, herr := s.head(r)
			if herr != nil {
				return nil, shell.Wrap("open", p, herr)
			}
			if offset == aws.ToInt64(hd.ContentLength) {
				return io.NopCloser(bytes.NewReader(nil)), nil
			}
			return nil, shell.Wrap("open", p, shell.ErrBadOffset)
		case errors.Is(err, fs.ErrNotExist):
			if ok, _, derr := s.dirTime(r); derr == nil && ok {
				return nil, shell.Wrap("open", p, shell.ErrIsDir)
			}
		}
		return nil, shell.Wrap("open", p, err)
	}
	return newBody(out.Body, cancel, s.st.cfg.StallTimeout), nil
}

// body is a download's body with a stall watchdog: every Read that makes
// progress moves the deadline on.
type body struct {
	rc     io.ReadCloser
	cancel context.CancelFunc
	timer  *time.Timer
	stall  time.Duration
	once   sync.Once
}

func newBody(rc io.ReadCloser, cancel context.CancelFunc, stall time.Duration) *body {
	b := &body{rc: rc, cancel: cancel, stall: stall}
	if stall > 0 {
		b.timer = time.AfterFunc(stall, cancel)
	}
	return b
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 && b.timer != nil {
		b.timer.Reset(b.stall)
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("reading the object: %w", err)
	}
	return n, err
}

func (b *body) Close() error {
	var err error
	b.once.Do(func() {
		if b.timer != nil {
			b.timer.Stop()
		}
		err = b.rc.Close()
		b.cancel()
	})
	return err
}

// OpenForWriting starts an upload of p (see upload). APPE and a REST
// offset are shell.ErrUnsupported (after the checks of p itself, so that
// a directory is still shell.ErrIsDir): an object is written whole.
func (s *Shell) OpenForWriting(p string, offset int64, appendMode bool) (shell.WriteFile, error) {
	r, err := s.rel("open", p)
	if err != nil {
		return nil, err
	}
	if r == "" {
		return nil, shell.Wrap("open", p, shell.ErrIsDir)
	}
	if err := s.parentDir(r); err != nil {
		return nil, shell.Wrap("open", p, err)
	}
	if ok, _, err := s.dirTime(r); err != nil {
		return nil, shell.Wrap("open", p, err)
	} else if ok {
		return nil, shell.Wrap("open", p, shell.ErrIsDir)
	}
	if appendMode || offset != 0 {
		return nil, shell.Wrap("open", p, shell.ErrUnsupported)
	}
	return &upload{s: s, r: r, vpath: p, key: s.key(r)}, nil
}

// entry is a listed or stat'ed object or directory.
type entry struct {
	name string
	size int64
	mod  time.Time
	dir  bool
}

func (e *entry) Name() string       { return e.name }
func (e *entry) Size() int64        { return e.size }
func (e *entry) ModTime() time.Time { return e.mod }
func (e *entry) IsDir() bool        { return e.dir }
func (e *entry) Sys() any           { return nil }
func (e *entry) Mode() fs.FileMode {
	if e.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

// errInvalidRange is a ranged GET past the end (HTTP 416).
var errInvalidRange = errors.New("range not satisfiable")

// mapErr gives S3 failures their kinds: 404 is fs.ErrNotExist, 403
// fs.ErrPermission, 416 errInvalidRange.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case 404:
			return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
		case 403:
			return fmt.Errorf("%w: %w", fs.ErrPermission, err)
		case 416:
			return fmt.Errorf("%w: %w", errInvalidRange, err)
		}
	}
	return err
}

func isNotFound(err error) bool { return errors.Is(mapErr(err), fs.ErrNotExist) }
