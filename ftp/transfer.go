package ftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/listing"
	"github.com/gnetftp/gnetftp/ftp/shell"
)

// dataSource is how the transfer goroutine gets its data connection.
type dataSource struct {
	pasv   *dtp.Passive
	active *net.TCPAddr
	peer   net.IP
	cfg    dtp.Config
}

func (d dataSource) open(ctx context.Context) (*net.TCPConn, error) {
	if d.pasv != nil {
		return d.pasv.Accept(ctx, d.peer)
	}
	return dtp.Dial(ctx, d.cfg, d.peer, d.active)
}

// takeData hands the prepared data connection to a transfer; a transfer
// command without PASV/EPSV/PORT/EPRT first gets 425 (as in vsftpd;
// Twisted says 503).
func (s *Session) takeData() (dataSource, bool) {
	if s.pasv == nil && s.active == nil {
		s.reply(ftpwire.StatusCantOpenData, "Use PORT, PASV, EPRT or EPSV first.")
		return dataSource{}, false
	}
	d := dataSource{pasv: s.pasv, active: s.active, peer: s.peerIP, cfg: s.f.cfg.Data}
	s.pasv, s.active = nil, nil
	return d, true
}

// run starts a transfer goroutine: 150 now, then work, then the final
// reply on the loop. The idle timeout is off meanwhile; commands other
// than ABOR/STAT/NOOP/QUIT wait for the end.
func (s *Session) runTransfer(kind, p string, d dataSource, work func(ctx context.Context, conn *net.TCPConn) (int64, error), cleanup func(err error) error) {
	ctx, cancel := context.WithCancel(context.Background())
	x := &transfer{cancel: cancel}
	s.xfer = x
	prevTimeout := s.SetTimeout(0)
	s.reply(ftpwire.StatusFileStatusOK, "File status okay; about to open data connection.")
	start := time.Now()
	loop := s.Transport.Loop()
	go func() {
		var n int64
		conn, err := d.open(ctx)
		openErr := err
		if err == nil {
			n, err = s.safely(func() (int64, error) { return work(ctx, conn) })
			if _, panicked := err.(*deferred.PanicError); panicked {
				conn.Close()
			}
		}
		if cleanup != nil {
			if _, cerr := s.safely(func() (int64, error) { return 0, cleanup(err) }); err == nil {
				err = cerr
			}
		}
		loop.CallFromThread(func() {
			cancel()
			s.xfer = nil
			if prevTimeout > 0 {
				s.SetTimeout(prevTimeout)
			}
			s.finishTransfer(x, kind, p, n, time.Since(start), openErr, err)
			s.resume()
		})
	}()
}

// safely runs part of a transfer on its goroutine. The shell's readers
// and writers are pluggable code outside this package: a panic in one of
// them becomes a *deferred.PanicError (a 451 for this transfer) instead of
// ending the whole server, as a handler's panic on the loop does.
func (s *Session) safely(fn func() (int64, error)) (n int64, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.f.cfg.Logger.Error("ftp transfer panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = &deferred.PanicError{Value: v}
		}
	}()
	return fn()
}

func (s *Session) finishTransfer(x *transfer, kind, p string, n int64, took time.Duration, openErr, err error) {
	if s.logs() {
		s.f.cfg.Logger.Info("ftp transfer", "peer", s.Transport.RemoteAddr().String(), "user", s.user,
			"kind", kind, "path", p, "bytes", n, "duration", took.Round(time.Microsecond).String(), "ok", err == nil, "err", errString(err))
	}
	switch {
	case x.aborted:
		s.reply(ftpwire.StatusTransferAborted, "Transfer aborted.  Data connection closed.")
		s.reply(ftpwire.StatusTransferComplete, "Abort successful")
	case openErr != nil:
		s.reply(ftpwire.StatusCantOpenData, "Can't open data connection.")
	case err == nil:
		s.reply(ftpwire.StatusTransferComplete, "Transfer Complete.")
	case errors.Is(err, dtp.ErrPeerClosed), errors.Is(err, context.Canceled):
		s.reply(ftpwire.StatusTransferAborted, "Transfer aborted.  Data connection closed.")
	default:
		s.replyErr(err, p)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// prepare resolves a transfer's path and takes the data channel and the
// REST offset; it has replied when ok is false.
func (s *Session) prepare(arg string) (p string, d dataSource, offset int64, ok bool) {
	p, err := s.path(arg)
	if err != nil {
		s.replyErr(err, arg)
		return "", d, 0, false
	}
	if d, ok = s.takeData(); !ok {
		return "", d, 0, false
	}
	offset, s.rest = s.rest, 0
	return p, d, offset, true
}

func (s *Session) cmdRETR(arg string) {
	p, d, offset, ok := s.prepare(arg)
	if !ok {
		return
	}
	sh, ascii := s.sh, s.ascii
	blockingOwned(s, func() (io.ReadCloser, error) { return sh.OpenForReading(p, offset) }, func(f io.ReadCloser, err error) {
		if err != nil {
			d.close()
			s.replyErr(err, arg)
			return
		}
		s.runTransfer("RETR", p, d, func(ctx context.Context, conn *net.TCPConn) (int64, error) {
			return dtp.Send(ctx, conn, f, ascii, d.cfg.IdleTimeout)
		}, func(error) error { return f.Close() })
	}, func(f io.ReadCloser) { f.Close(); d.close() })
}

func (d dataSource) close() {
	if d.pasv != nil {
		d.pasv.Close()
	}
}

func (s *Session) cmdSTOR(arg string) { s.store(arg, false) }
func (s *Session) cmdAPPE(arg string) { s.store(arg, true) }

func (s *Session) store(arg string, appendMode bool) {
	p, d, offset, ok := s.prepare(arg)
	if !ok {
		return
	}
	if appendMode {
		offset = -1
	}
	sh, ascii := s.sh, s.ascii
	kind := map[bool]string{false: "STOR", true: "APPE"}[appendMode]
	blockingOwned(s, func() (shell.WriteFile, error) { return sh.OpenForWriting(p, offset, appendMode) }, func(w shell.WriteFile, err error) {
		if err != nil {
			d.close()
			s.replyErr(err, arg)
			return
		}
		s.runTransfer(kind, p, d, func(ctx context.Context, conn *net.TCPConn) (int64, error) {
			return dtp.Receive(ctx, conn, w, ascii, d.cfg.IdleTimeout)
		}, func(err error) error {
			if err != nil {
				_ = w.Abort() // the old file stays as it was
				return nil
			}
			return w.Commit()
		})
	}, func(w shell.WriteFile) { _ = w.Abort(); d.close() })
}

// listing builds a LIST (long) or NLST (names) listing on the pool. A
// leading "-a"/"-l"/"-la" style argument is ignored, as ls flags sent by
// clients; a glob in the last segment filters names.
func (s *Session) listing(arg string, namesOnly bool, then func(buf []byte, err error, p string)) {
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

func (s *Session) cmdLIST(arg string) { s.list(arg, false) }

// writable is whether the session's user may change files, for the MLSx
// perm fact.
func (s *Session) writable() bool { return !s.anonymous && !shell.IsReadOnly(s.sh) }

// cmdMLSD sends the facts of every entry of a directory (RFC 3659 7);
// a file is 550 "is not a directory" (as ProFTPD; MLST describes files).
func (s *Session) cmdMLSD(arg string) {
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
			d.close()
			s.replyErr(err, arg)
			return
		}
		s.runTransfer("MLSD", p, d, func(ctx context.Context, conn *net.TCPConn) (int64, error) {
			return dtp.Send(ctx, conn, bytes.NewReader(buf), false, d.cfg.IdleTimeout)
		}, nil)
	})
}

// cmdMLST answers with the facts of one entry on the control connection:
// "250-Listing PATH", " facts PATH", "250 End".
func (s *Session) cmdMLST(arg string) {
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
func (s *Session) cmdNLST(arg string) { s.list(arg, true) }

func (s *Session) list(arg string, namesOnly bool) {
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
			d.close()
			s.replyErr(err, arg)
			return
		}
		s.runTransfer(kind, p, d, func(ctx context.Context, conn *net.TCPConn) (int64, error) {
			return dtp.Send(ctx, conn, bytes.NewReader(buf), false, d.cfg.IdleTimeout)
		}, nil)
	})
}
