// Filesystem commands answered on the control connection: PWD, CWD,
// CDUP, MKD, RMD, DELE, RNFR/RNTO, SIZE, MDTM, MFMT.

package ftp

import (
	"io/fs"
	"strings"
	"time"

	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/shell"
)

func (s *session) cmdPWD(string) {
	s.reply(ftpwire.StatusPathCreated, s.quote(s.cwd)+" is the current directory")
}

func (s *session) quote(p string) string { return `"` + strings.ReplaceAll(p, `"`, `""`) + `"` }

func (s *session) cmdCWD(arg string) {
	p, err := s.path(arg)
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	sh := s.sh
	blocking(s, func() (struct{}, error) { return struct{}{}, sh.Access(p) }, func(_ struct{}, err error) {
		if err != nil {
			s.replyErr(err, arg)
			return
		}
		s.cwd = p
		s.reply(ftpwire.StatusFileActionOK, "Requested File Action Completed OK")
	})
}

func (s *session) cmdCDUP(string) { s.cmdCWD("..") }

// simple runs one shell mutation and replies ok on success.
func (s *session) simple(arg string, op func(shell.Shell, string) error, ok func(p string)) {
	p, err := s.path(arg)
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	sh := s.sh
	blocking(s, func() (struct{}, error) { return struct{}{}, op(sh, p) }, func(_ struct{}, err error) {
		if err != nil {
			s.changeFailed(p, err)
			s.replyErr(err, arg)
			return
		}
		ok(p)
	})
}

func (s *session) cmdMKD(arg string) {
	s.simple(arg, shell.Shell.MakeDirectory, func(p string) {
		s.changed("MKD", p, "")
		s.reply(ftpwire.StatusPathCreated, s.quote(p)+" created")
	})
}

func (s *session) cmdRMD(arg string) {
	s.simple(arg, shell.Shell.RemoveDirectory, func(p string) {
		s.changed("RMD", p, "")
		s.reply(ftpwire.StatusFileActionOK, "Requested File Action Completed OK")
	})
}

func (s *session) cmdDELE(arg string) {
	s.simple(arg, shell.Shell.RemoveFile, func(p string) {
		s.changed("DELE", p, "")
		s.reply(ftpwire.StatusFileActionOK, "Requested File Action Completed OK")
	})
}

// RNFR checks that the source exists (as vsftpd and pyftpdlib do; Twisted
// does not), so a client learns about a typo before RNTO.
func (s *session) cmdRNFR(arg string) {
	s.simple(arg, func(sh shell.Shell, p string) error { _, err := sh.Stat(p); return err }, func(p string) {
		s.renameFrom = p
		s.state = stateRenaming
		s.reply(ftpwire.StatusPending, "Requested file action pending further information.")
	})
}

func (s *session) cmdRNTO(arg string) {
	from := s.renameFrom
	s.renameFrom = ""
	s.state = stateAuthed
	s.simple(arg, func(sh shell.Shell, p string) error { return sh.Rename(from, p) }, func(p string) {
		s.changed("RNTO", from, p)
		s.reply(ftpwire.StatusFileActionOK, "Requested File Action Completed OK")
	})
}

// stat runs Stat on the pool and hands a found entry to found.
func (s *session) stat(arg string, found func(fi fs.FileInfo)) {
	p, err := s.path(arg)
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	sh := s.sh
	blocking(s, func() (fs.FileInfo, error) { return sh.Stat(p) }, func(fi fs.FileInfo, err error) {
		if err != nil {
			s.replyErr(err, arg)
			return
		}
		found(fi)
	})
}

func (s *session) cmdSIZE(arg string) {
	s.stat(arg, func(fi fs.FileInfo) {
		if fi.IsDir() {
			s.replyf(ftpwire.StatusFileUnavailable, "%s: is a directory", printable(arg))
			return
		}
		s.replyf(ftpwire.StatusFileStatus, "%d", fi.Size())
	})
}

func (s *session) cmdMDTM(arg string) {
	s.stat(arg, func(fi fs.FileInfo) {
		s.reply(ftpwire.StatusFileStatus, fi.ModTime().UTC().Format("20060102150405"))
	})
}

// cmdMFMT sets a file's modification time: "MFMT YYYYMMDDHHMMSS path"
// (UTC, draft-somers-ftp-mfxx, as pure-ftpd, ProFTPD and pyftpdlib);
// lftp and FileZilla send it after an upload to keep the original's time.
func (s *session) cmdMFMT(arg string) {
	stamp, name, ok := strings.Cut(strings.TrimLeft(arg, " "), " ")
	stamp, _, _ = strings.Cut(stamp, ".") // fractions of a second are dropped
	t, err := time.ParseInLocation("20060102150405", stamp, time.UTC)
	if !ok || err != nil || strings.TrimSpace(name) == "" {
		s.replyf(ftpwire.StatusArgSyntaxError, "Syntax error: MFMT YYYYMMDDHHMMSS path (got '%s').", printable(arg))
		return
	}
	s.setModTime("MFMT", name, t, "Command 'MFMT' not implemented for this filesystem", func(p string) {
		s.replyf(ftpwire.StatusFileStatus, "Modify=%s; %s", t.Format("20060102150405"), p)
	})
}

// setModTime sets name's modification time for cmd (MFMT, SITE UTIME):
// 502 with unsupported where the shell cannot, else done with the path
// once it is set.
func (s *session) setModTime(cmd, name string, t time.Time, unsupported string, done func(p string)) {
	ts, can := s.sh.(shell.TimeSetter)
	if !can {
		s.reply(ftpwire.StatusNotImplemented, unsupported)
		return
	}
	p, err := s.path(name)
	if err != nil {
		s.replyErr(err, name)
		return
	}
	blocking(s, func() (struct{}, error) { return struct{}{}, ts.SetModTime(p, t) }, func(_ struct{}, err error) {
		if err != nil {
			s.logChangeFailed(cmd, p, err)
			s.replyErr(err, name)
			return
		}
		s.changed(cmd, p, "")
		done(p)
	})
}
