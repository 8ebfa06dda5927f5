package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gnetftp/gnetftp/ftp/ftptls"
)

// cert implements `ftpd cert --cert FILE --key FILE --host NAME...`: a
// self-signed ECDSA P-256 certificate for local use (clients must be told
// to trust it, or not to verify).
func cert(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ftpd cert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	certFile := fs.String("cert", "", "certificate file to write (PEM; required)")
	keyFile := fs.String("key", "", "key file to write (PEM, mode 0600; required)")
	var hosts []string
	fs.Var(listFlag{&hosts}, "host", "host name or IP address the certificate is for (repeatable; required)")
	days := fs.Int("days", 365, "days the certificate is valid")
	force := fs.Bool("force", false, "overwrite existing files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *certFile == "" || *keyFile == "" || len(hosts) == 0 || fs.NArg() > 0 || *days < 1 {
		return errors.New("usage: ftpd cert --cert FILE --key FILE --host NAME [--host NAME...] [--days N] [--force]")
	}
	certPEM, keyPEM, err := ftptls.SelfSigned(hosts, time.Duration(*days)*24*time.Hour)
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !*force {
		flags |= os.O_EXCL
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{*keyFile, keyPEM, 0o600}, {*certFile, certPEM, 0o644}} {
		out, err := os.OpenFile(f.path, flags, f.mode)
		if err != nil {
			return fmt.Errorf("writing %s: %w (--force overwrites)", f.path, err)
		}
		if _, err := out.Write(f.data); err != nil {
			out.Close()
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
		if err := out.Close(); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	fmt.Fprintf(stdout, "ftpd cert: wrote %s and %s (self-signed ECDSA P-256 for %v, %d days)\n", *certFile, *keyFile, hosts, *days)
	return nil
}
