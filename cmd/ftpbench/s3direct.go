package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gnetftp/gnetftp/bench/ftpbench"
	s3shell "github.com/gnetftp/gnetftp/ftp/shell/s3"
)

// s3Direct runs s3-retr or s3-stor: ftpbench.S3Direct on the store of
// --storage, with the credentials of the environment, as ftpd reads them.
// Its JSON has the retr or stor scenario's shape, so that report puts it
// beside ftpd's runs of the same scenario.
func s3Direct(ctx context.Context, o opts, scenario string, progress ftpbench.Progress, stdout io.Writer) error {
	if o.storage == "" {
		return errors.New("--storage is required")
	}
	u, err := s3shell.ParseStorageURL(o.storage)
	if err != nil {
		return fmt.Errorf("--storage: %w", err)
	}
	c, err := s3shell.NewClient(u.ClientConfig(os.Getenv))
	if err != nil {
		return fmt.Errorf("--storage: %w", err)
	}
	defer s3shell.CloseIdleConnections(c)
	st, err := s3shell.NewStore(s3shell.Config{Client: c, Bucket: u.Bucket, Prefix: u.Prefix})
	if err != nil {
		return fmt.Errorf("--storage: %w", err)
	}
	if err := st.Check(ctx); err != nil {
		return fmt.Errorf("--storage: %w", err)
	}
	name := strings.TrimPrefix(scenario, "s3-")
	var size int64
	if name == "stor" {
		if size, err = parseSize(o.size); err != nil {
			return err
		}
	} else if o.file == "" {
		return errors.New("--file is required")
	}
	count := o.count
	if count == 0 {
		count = o.c // one transfer per stream, as retr and stor
	}
	r := ftpbench.S3Direct(ctx, st.Shell(o.home), name, o.c, count, o.duration, o.file, size, progress)
	what := o.file
	if name == "stor" {
		what = o.size
	}
	printRate(stdout, fmt.Sprintf("%s %s straight through ftp/shell/s3, %d streams", scenario, what, o.c), "transfers/s", r)
	return writeJSON(o.json, r)
}
