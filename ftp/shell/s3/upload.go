package s3

import (
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// errFinished is the failure of a second Commit, or of a Write after one.
var errFinished = errors.New("upload already finished")

// minBuffer is where an upload's buffer starts: a small file never
// costs a whole part.
const minBuffer = 64 << 10

// upload is a STOR in progress. Data collects in a buffer of at most
// Config.PartSize bytes; each full buffer is sent as the next part of a
// multipart upload (created with the first full part), in the
// background while the next buffer fills: two parts of memory at most,
// one of them only for files larger than a part, and the store's
// latency hidden behind the client's data. Commit
// sends what is left and completes the upload, or, for a file smaller
// than one part, PUTs it whole; until then nothing is visible at the key
// and the old object, if any, is intact. Abort aborts the multipart
// upload (its parts are freed). It is an io.ReaderFrom: the data
// connection is read straight into the buffer.
type upload struct {
	s             *Shell
	r, vpath, key string
	buf           []byte
	id            *string // the multipart upload, once started
	parts         []types.CompletedPart
	spare         []byte          // the other buffer, while a part is in flight
	inflight      chan partResult // the part being sent, nil when none
	done          bool
	err           error // a part that failed: the upload is lost
	partSize      int
}

var _ io.ReaderFrom = (*upload)(nil)

func (u *upload) size() int {
	if u.partSize == 0 {
		u.partSize = u.s.st.cfg.PartSize
	}
	return u.partSize
}

// grow makes room for at least one more byte (up to a part).
func (u *upload) grow() {
	if len(u.buf) < cap(u.buf) {
		return
	}
	n := min(max(2*cap(u.buf), minBuffer), u.size())
	nb := make([]byte, len(u.buf), n)
	copy(nb, u.buf)
	u.buf = nb
}

// Write buffers p, sending each full part.
func (u *upload) Write(p []byte) (int, error) {
	if err := u.usable(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		if len(u.buf) == u.size() {
			if err := u.flush(); err != nil {
				return n, err
			}
		}
		u.grow()
		c := copy(u.buf[len(u.buf):cap(u.buf)], p)
		u.buf = u.buf[:len(u.buf)+c]
		p, n = p[c:], n+c
	}
	return n, nil
}

// ReadFrom reads r into the buffer until its end, sending each full part.
func (u *upload) ReadFrom(r io.Reader) (int64, error) {
	if err := u.usable(); err != nil {
		return 0, err
	}
	var n int64
	for {
		if len(u.buf) == u.size() {
			if err := u.flush(); err != nil {
				return n, err
			}
		}
		u.grow()
		m, err := r.Read(u.buf[len(u.buf):cap(u.buf)])
		u.buf = u.buf[:len(u.buf)+m]
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (u *upload) usable() error {
	switch {
	case u.done:
		return shell.Wrap("write", u.vpath, errFinished)
	case u.err != nil:
		return u.err
	}
	return nil
}

// partResult is a part sent in the background.
type partResult struct {
	part types.CompletedPart
	buf  []byte
	err  error
}

// wait waits for the part in flight, if any.
func (u *upload) wait() error {
	if u.inflight == nil {
		return nil
	}
	r := <-u.inflight
	u.inflight, u.spare = nil, r.buf[:0]
	if r.err != nil {
		u.err = shell.Wrap("upload", u.vpath, mapErr(r.err))
		return u.err
	}
	u.parts = append(u.parts, r.part)
	return nil
}

// flush starts sending the buffer as the next part, once the previous
// one is through, and goes on with the other buffer.
func (u *upload) flush() error {
	if err := u.wait(); err != nil {
		return err
	}
	st := u.s.st
	if u.id == nil {
		ctx, cancel := st.ctx(context.Background())
		out, err := st.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &st.cfg.Bucket, Key: &u.key})
		cancel()
		if err != nil {
			u.err = shell.Wrap("upload", u.vpath, mapErr(err))
			return u.err
		}
		u.id = out.UploadId
	}
	n, buf, id := int32(len(u.parts)+1), u.buf, u.id
	ch := make(chan partResult, 1)
	u.inflight = ch
	go func() {
		ctx, cancel := st.ctx(context.Background())
		defer cancel()
		out, err := st.client.UploadPart(ctx, &awss3.UploadPartInput{Bucket: &st.cfg.Bucket, Key: &u.key, UploadId: id,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(buf), ContentLength: aws.Int64(int64(len(buf)))})
		r := partResult{buf: buf, err: err}
		if err == nil {
			r.part = types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag}
		}
		ch <- r
	}()
	u.buf = u.spare
	if u.buf == nil {
		u.buf = make([]byte, 0, u.size())
	}
	u.spare = nil
	return nil
}

// Commit makes the object appear: the last part and
// CompleteMultipartUpload, or one PUT for a file smaller than a part.
// The directory must still exist (it may have been renamed or removed
// meanwhile: the upload is then aborted, fs.ErrNotExist).
func (u *upload) Commit() error {
	if u.done {
		return shell.Wrap("commit", u.vpath, errFinished)
	}
	if u.err != nil {
		_ = u.Abort()
		return u.err
	}
	if err := u.s.parentDir(u.r); err != nil {
		_ = u.Abort()
		return shell.Wrap("commit", u.vpath, err)
	}
	st := u.s.st
	if u.id == nil {
		u.done = true
		ctx, cancel := st.ctx(context.Background())
		defer cancel()
		_, err := st.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: &st.cfg.Bucket, Key: &u.key,
			Body: bytes.NewReader(u.buf), ContentLength: aws.Int64(int64(len(u.buf)))})
		u.buf = nil
		return shell.Wrap("commit", u.vpath, mapErr(err))
	}
	if len(u.buf) > 0 {
		if err := u.flush(); err != nil {
			_ = u.Abort()
			return err
		}
	}
	if err := u.wait(); err != nil {
		_ = u.Abort()
		return err
	}
	u.buf, u.spare = nil, nil
	ctx, cancel := st.ctx(context.Background())
	defer cancel()
	_, err := st.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: &st.cfg.Bucket, Key: &u.key,
		UploadId: u.id, MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts}})
	if err != nil {
		_ = u.Abort()
		return shell.Wrap("commit", u.vpath, mapErr(err))
	}
	u.done = true
	return nil
}

// Abort discards the upload: the multipart upload, if one was started,
// is aborted; the key keeps its old object. After Commit it does nothing.
func (u *upload) Abort() error {
	if u.done {
		return nil
	}
	_ = u.wait() // the part in flight ends before the upload is aborted
	u.done, u.buf, u.spare = true, nil, nil
	if u.id == nil {
		return nil
	}
	st := u.s.st
	ctx, cancel := st.ctx(context.Background())
	defer cancel()
	_, err := st.client.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: &st.cfg.Bucket, Key: &u.key, UploadId: u.id})
	if err != nil && !isNotFound(err) {
		return shell.Wrap("abort", u.vpath, mapErr(err))
	}
	return nil
}
