// Listings: LIST and NLST (over a data connection), MLSD and MLST (RFC
// 3659), and the listing behind STAT with a path.

package ftp

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"path"
	"strings"

	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/listing"
	"github.com/gnetftp/gnetftp/ftp/shell"
)

// listing builds a LIST (long) or NLST (names) listing on the pool. A
// leading "-a"/"-l"/"-la" style argument is ignored, as ls flags sent by
// clients; a glob in the last segment filters names.
func (s *session) listing(arg string, namesOnly bool, then func(buf []byte, err error, p string)) {
	arg = strings.TrimSpace(arg)
	for strings.HasPrefix(arg, "-") {
		flag, rest, _ := strings.Cut(arg, " ")
		if strings.Trim(flag, "-aAlLRtrhF1") != "" {
			break
		}
		arg = strings.TrimSpace(rest)
	}
	pattern := ""
	if dir, base := path.Split(arg); listing.HasGlob(base) {
		pattern, arg = base, dir
	}
	p, err := s.path(arg)
	if err != nil {
		then(nil, err, arg)
		return
	}
	sh := s.sh
	now := s.Transport.Loop().Now()
	blocking(s, func() ([]byte, error) {
		if nl, ok := sh.(shell.NameLister); ok && namesOnly {
			// NLST needs no stat per entry: names straight from the directory.
			names, err := nl.ListNames(p)
			if err != nil {
				return nil, err
			}
			var buf []byte
			for _, n := range names {
				if pattern == "" || listing.Match(pattern, n) {
					buf = listing.AppendNLST(buf, n)
				}
			}
			return buf, nil
		}
		infos, err := sh.List(p)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, 0, 80*len(infos))
		for _, fi := range infos {
			if pattern != "" && !listing.Match(pattern, fi.Name()) {
				continue
			}
			if namesOnly {
				buf = listing.AppendNLST(buf, fi.Name())
			} else {
				buf = listing.AppendLIST(buf, fi, now)
			}
		}
		return buf, nil
	}, func(buf []byte, err error) { then(buf, err, p) })
}

func (s *session) cmdLIST(arg string) { s.list(arg, false) }

// writable is whether the session's user may change files, for the MLSx
// perm fact.
func (s *session) writable() bool { return !s.anonymous && !shell.IsReadOnly(s.sh) }

// cmdMLSD sends the facts of every entry of a directory (RFC 3659 7);
// a file is 550 "is not a directory" (as ProFTPD; MLST describes files).
func (s *session) cmdMLSD(arg string) {
	s.rest = 0
	p, err := s.path(arg)
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	d, ok := s.takeData()
	if !ok {
		return
	}
	sh, facts, writable := s.sh, s.facts, s.writable()
	blocking(s, func() ([]byte, error) {
		fi, err := sh.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, shell.ErrNotDir
		}
		infos, err := sh.List(p)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, 0, 128*len(infos))
		for _, fi := range infos {
			buf = listing.AppendMLSx(buf, fi, fi.Name(), facts, writable, true)
		}
		return buf, nil
	}, func(buf []byte, err error) {
		if err != nil {
			d.Close()
			s.replyErr(err, arg)
			return
		}
		s.runTransfer("MLSD", p, d, func(ctx context.Context, conn *net.TCPConn) (int64, error) {
			return dtp.Send(ctx, conn, bytes.NewReader(buf), false, s.f.cfg.Data.IdleTimeout)
		}, nil)
	})
}

// cmdMLST answers with the facts of one entry on the control connection:
// "250-Listing PATH", " facts PATH", "250 End".
func (s *session) cmdMLST(arg string) {
	p, err := s.path(arg)
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	sh, facts, writable := s.sh, s.facts, s.writable()
	blocking(s, func() (fs.FileInfo, error) { return sh.Stat(p) }, func(fi fs.FileInfo, err error) {
		if err != nil {
			s.replyErr(err, arg)
			return
		}
		line := listing.AppendMLSx(nil, fi, p, facts, writable, false)
		s.reply(ftpwire.StatusFileActionOK, "Listing "+p+"\n "+string(line)+"\nEnd")
	})
}

// cmdNLST accepts a bare NLST (Twisted requires an argument; RFC 959 and
// every client say it is optional).
func (s *session) cmdNLST(arg string) { s.list(arg, true) }

func (s *session) list(arg string, namesOnly bool) {
	s.rest = 0 // a REST applies to the next transfer, whatever it is (vsftpd)
	d, ok := s.takeData()
	if !ok {
		return
	}
	kind := map[bool]string{false: "LIST", true: "NLST"}[namesOnly]
	s.listing(arg, namesOnly, func(buf []byte, err error, p string) {
		if err != nil && namesOnly && errors.Is(err, fs.ErrNotExist) {
			buf, err = nil, nil // NLST of nothing is an empty listing (Twisted)
		}
		if err != nil {
			d.Close()
			s.replyErr(err, arg)
			return
		}
		s.runTransfer(kind, p, d, func(ctx context.Context, conn *net.TCPConn) (int64, error) {
			return dtp.Send(ctx, conn, bytes.NewReader(buf), false, s.f.cfg.Data.IdleTimeout)
		}, nil)
	})
}
