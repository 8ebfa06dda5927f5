package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gnetftp/gnetftp/ftp/shell"
	s3shell "github.com/gnetftp/gnetftp/ftp/shell/s3"
)

// storageCheckTimeout bounds the start-up checks of --storage (the
// bucket answers, stale uploads cleaned).
const storageCheckTimeout = 60 * time.Second

// s3Storage is --storage s3://… made ready: the realm to serve and what
// to release at shutdown.
type s3Storage struct {
	realm shell.Realm
	close func()
	desc  string // for the "serving" line, without credentials
}

// openStorage makes the realm of --storage s3://BUCKET/PREFIX?…: the
// credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and
// AWS_SESSION_TOKEN), as for every S3 tool. At start it checks that the
// bucket answers and aborts the multipart uploads left under the prefix
// by a server that was killed (older than stale-upload-age, 1 h by
// default), and again every quarter of that age while it runs. Anonymous users see the prefix --anonymous-root (default
// "pub") under it, read-only.
func openStorage(o options, logger *slog.Logger) (*s3Storage, error) {
	u, err := s3shell.ParseStorageURL(o.storage)
	if err != nil {
		return nil, fmt.Errorf("--storage: %w", err)
	}
	c, err := s3shell.NewClient(u.ClientConfig(os.Getenv))
	if err != nil {
		return nil, fmt.Errorf("--storage: %w", err)
	}
	st, err := s3shell.NewStore(s3shell.Config{Client: c, Bucket: u.Bucket, Prefix: u.Prefix})
	if err != nil {
		return nil, fmt.Errorf("--storage: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storageCheckTimeout)
	defer cancel()
	if err := st.Check(ctx); err != nil {
		return nil, fmt.Errorf("--storage: %w", err)
	}
	clean := func(ctx context.Context) {
		n, err := st.CleanStaleUploads(ctx, u.StaleUploadAge)
		if err != nil {
			logger.Warn("cleaning stale multipart uploads", "err", err)
		} else if n > 0 {
			logger.Info("stale multipart uploads aborted", "count", n)
		}
	}
	clean(ctx)
	stopSweep := sweepStaleUploads(u.StaleUploadAge, clean)
	rc := s3shell.RealmConfig{Store: st}
	if o.anonymous {
		rc.AnonymousHome = strings.Trim(o.anonymousRoot, "/")
		if rc.AnonymousHome == "" {
			rc.AnonymousHome = "pub"
		}
	}
	realm, err := s3shell.NewRealm(rc)
	if err != nil {
		return nil, err
	}
	desc := "s3://" + u.Bucket + "/" + u.Prefix
	if u.Endpoint != "" {
		desc += " at " + u.Endpoint
	}
	return &s3Storage{realm: realm, close: func() { stopSweep(); s3shell.CloseIdleConnections(c) }, desc: desc}, nil
}

// sweepStaleUploads runs clean every quarter of age (at least a second,
// at most 15 minutes) until the returned stop is called: a node killed
// mid-upload leaves a multipart upload that the fleet's running nodes
// abort once it is age old, not only a node starting later. A negative
// age (abort every upload at start) sweeps only at start.
func sweepStaleUploads(age time.Duration, clean func(context.Context)) (stop func()) {
	if age == 0 {
		age = s3shell.DefaultStaleUploadAge
	}
	if age < 0 {
		return func() {}
	}
	every := min(max(age/4, time.Second), 15*time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				cctx, ccancel := context.WithTimeout(ctx, storageCheckTimeout)
				clean(cctx)
				ccancel()
			}
		}
	}()
	return func() { cancel(); <-done }
}
