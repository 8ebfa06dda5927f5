package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/local"
	s3shell "github.com/gnetftp/gnetftp/ftp/shell/s3"
)

// rescanTimeout bounds one user's rescan: the walk of its home and the
// update of its usage row.
const rescanTimeout = 10 * time.Minute

// userRescan implements `ftpd user rescan --users postgres://… [--root DIR
// | --storage URL] NAME...`: each NAME's home is walked again and the
// fleet's recorded quota usage set to what is there now (after a home
// was moved, or changed behind ftpd's back). Running nodes need no
// restart: every upload reserves against the database's figure. With a
// users file there is nothing to rescan: each server walks the homes
// itself when it starts.
func userRescan(args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("ftpd user rescan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	users := fs.String("users", "", "users database")
	root := fs.String("root", "ftproot", "served directory")
	storage := fs.String("storage", "", "s3://BUCKET/PREFIX?…")
	var names []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case *users == "":
		return errors.New("--users postgres://… is required")
	case !isDatabase(*users):
		return fmt.Errorf("--users %s is a file: a server counts its users' homes itself when it starts (restart it); rescan is for a fleet's database", *users)
	case len(names) == 0:
		return errors.New("give one or more user NAMEs")
	}
	st, err := openUserStore(*users)
	if err != nil {
		return err
	}
	defer st.Close()
	db := st.(*dbUsers).db
	realm, closeRealm, err := rescanRealm(*root, *storage)
	if err != nil {
		return err
	}
	defer closeRealm()
	for _, name := range names {
		usr, ok, err := st.Lookup(name)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no user %s in %s", name, st.Where())
		}
		sh, err := realm.Shell(shell.Login{User: usr.Name, Home: usr.Home})
		if err != nil {
			return fmt.Errorf("%s's home: %w", name, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), rescanTimeout)
		before, after, err := db.RescanUsage(ctx, name, func() (int64, int64, error) { return shell.WalkUsage(sh) })
		cancel()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "ftpd user: %s uses %s in %d files (was %s in %d)\n", name,
			orZero(auth.FormatSize(after.Bytes)), after.Files, orZero(auth.FormatSize(before.Bytes)), before.Files)
	}
	return nil
}

// rescanRealm is the realm whose homes a rescan walks: the S3 storage
// when one is given, else the local root (which must exist: a rescan
// creates no root).
func rescanRealm(root, storage string) (shell.Realm, func(), error) {
	if storage != "" {
		u, err := s3shell.ParseStorageURL(storage)
		if err != nil {
			return nil, nil, fmt.Errorf("--storage: %w", err)
		}
		c, err := s3shell.NewClient(u.ClientConfig(os.Getenv))
		if err != nil {
			return nil, nil, fmt.Errorf("--storage: %w", err)
		}
		store, err := s3shell.NewStore(s3shell.Config{Client: c, Bucket: u.Bucket, Prefix: u.Prefix})
		if err != nil {
			return nil, nil, fmt.Errorf("--storage: %w", err)
		}
		r, err := s3shell.NewRealm(s3shell.RealmConfig{Store: store})
		if err != nil {
			return nil, nil, err
		}
		return r, func() { s3shell.CloseIdleConnections(c) }, nil
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, nil, err
	}
	if fi, err := os.Stat(abs); err != nil {
		return nil, nil, fmt.Errorf("--root: %w", err)
	} else if !fi.IsDir() {
		return nil, nil, fmt.Errorf("--root %s: not a directory", abs)
	}
	r, err := local.NewRealm(local.RealmConfig{Root: abs})
	if err != nil {
		return nil, nil, err
	}
	return r, func() { r.Close() }, nil
}
