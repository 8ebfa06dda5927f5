package ftpbench

import (
	"context"
	"fmt"
	"io"
	"path"
	"sync/atomic"
	"time"

	s3shell "github.com/gnetftp/gnetftp/ftp/shell/s3"
)

// S3Direct is the reference the retr and stor scenarios through ftpd's
// --storage s3 are divided by: the same bytes moved straight through
// ftp/shell/s3 (the aws-sdk-go-v2 client, the streamed GET and the
// multipart pipeline of two 5 MiB buffers that ftpd's S3 backend uses),
// with no FTP session, data connection or event loop in between. sh is
// the shell of the home the FTP user sees (Store.Shell).
//
// name "retr" downloads file `count` times into io.Discard; "stor"
// uploads size zero bytes (what ftpbench stor sends) `count` times, each
// under a new name (or under file, when it is given), and commits it. c streams run at once, as -c does for
// the FTP scenarios; the run ends after count operations or dur.
func S3Direct(ctx context.Context, sh *s3shell.Shell, name string, c, count int, dur time.Duration, file string, size int64, progress Progress) RateResult {
	file = path.Join("/", file) // a shell takes virtual paths, from the home
	var seq atomic.Int64
	seq.Store(time.Now().UnixNano())
	return loop(ctx, c, count, dur, progress, "s3-"+name, func() (func() (int64, error), func(), error) {
		switch name {
		case "retr":
			return func() (int64, error) {
				r, err := sh.OpenForReading(file, 0)
				if err != nil {
					return 0, fmt.Errorf("s3 GET %s: %w", file, err)
				}
				n, err := io.Copy(io.Discard, r)
				if cerr := r.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return n, fmt.Errorf("s3 GET %s: %w", file, err)
				}
				return n, nil
			}, func() {}, nil
		case "stor":
			return func() (int64, error) {
				key := file
				if key == "/" {
					key = fmt.Sprintf("/ftpbench-direct-%d.bin", seq.Add(1))
				}
				w, err := sh.OpenForWriting(key, 0, false)
				if err != nil {
					return 0, fmt.Errorf("s3 upload %s: %w", key, err)
				}
				n, err := io.Copy(w, io.LimitReader(zeroReader{}, size))
				if err != nil {
					_ = w.Abort()
					return n, fmt.Errorf("s3 upload %s: %w", key, err)
				}
				if err := w.Commit(); err != nil {
					return n, fmt.Errorf("s3 upload %s: commit: %w", key, err)
				}
				return n, nil
			}, func() {}, nil
		}
		return nil, nil, fmt.Errorf("s3 direct: unknown scenario %q (want retr or stor)", name)
	})
}
