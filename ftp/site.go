// SITE and its subcommands (RFC 959 4.1.3: "services specific to this
// system"): HELP, CHMOD and UTIME, as vsftpd, ProFTPD and pure-ftpd
// have them, from a table like the commands'.

package ftp

import (
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/shell"
)

// siteCommand is one row of the SITE table.
type siteCommand struct {
	name string
	help string
	run  func(s *session, arg string)
}

// siteTable is every SITE subcommand the server knows, by name.
func siteTable() map[string]*siteCommand {
	rows := []*siteCommand{
		{name: "HELP", help: "SITE HELP [command]: the SITE commands, or one's syntax", run: (*session).siteHELP},
		{name: "CHMOD", help: "SITE CHMOD <mode> <path>: set permission bits (octal, e.g. 644; no setuid/setgid)", run: (*session).siteCHMOD},
		{name: "UTIME", help: "SITE UTIME <path> <YYYYMMDDHHMMSS> | <YYYYMMDDHHMMSS> <path> | <path> <atime> <mtime> <ctime> UTC: set the modification time (UTC)", run: (*session).siteUTIME},
	}
	t := make(map[string]*siteCommand, len(rows))
	for _, r := range rows {
		t[r.name] = r
	}
	return t
}

// cmdSITE runs a SITE subcommand; an unknown one is 500 (vsftpd's and
// ProFTPD's answer).
func (s *session) cmdSITE(arg string) {
	name, rest, _ := strings.Cut(strings.TrimLeft(arg, " "), " ")
	c := s.f.site[strings.ToUpper(name)]
	if c == nil {
		s.replyf(ftpwire.StatusSyntaxError, "Unknown SITE command '%s' (SITE HELP lists them).", printable(name))
		return
	}
	c.run(s, rest)
}

// siteHelp is the 214 text for HELP SITE and SITE HELP: every SITE
// command's syntax, or one's.
func (s *session) siteHelp(name string) (int, string) {
	if name = strings.ToUpper(strings.TrimSpace(name)); name != "" {
		c := s.f.site[name]
		if c == nil {
			return ftpwire.StatusArgSyntaxError, fmt.Sprintf("Unknown SITE command %s.", printable(name))
		}
		return ftpwire.StatusHelp, c.help
	}
	names := make([]string, 0, len(s.f.site))
	for n := range s.f.site {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("The following SITE commands are recognized:\n")
	for _, n := range names {
		b.WriteString(" " + s.f.site[n].help + "\n")
	}
	b.WriteString("Help OK.")
	return ftpwire.StatusHelp, b.String()
}

func (s *session) siteHELP(arg string) { s.reply(s.siteHelp(arg)) }

// siteCHMOD sets a file's permission bits: "SITE CHMOD 644 path", the
// mode in octal (lftp's mirror -R sends it after every upload). Setuid
// and setgid are refused: a server running as root would otherwise let
// a user make set-id programs.
func (s *session) siteCHMOD(arg string) {
	modeText, name, _ := strings.Cut(strings.TrimLeft(arg, " "), " ")
	m, err := strconv.ParseUint(modeText, 8, 32)
	if err != nil || len(modeText) > 4 || strings.TrimSpace(name) == "" {
		s.replyf(ftpwire.StatusArgSyntaxError, "Syntax error: SITE CHMOD <octal mode> <path> (got '%s').", printable(arg))
		return
	}
	if m&0o6000 != 0 {
		s.replyf(ftpwire.StatusFileUnavailable, "%s: setuid and setgid bits are not allowed.", name)
		return
	}
	mode := fs.FileMode(m & 0o777)
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	ms, can := s.sh.(shell.ModeSetter)
	if !can {
		s.reply(ftpwire.StatusNotImplemented, "SITE CHMOD not implemented for this filesystem.")
		return
	}
	p, err := s.path(name)
	if err != nil {
		s.replyErr(err, name)
		return
	}
	blocking(s, func() (struct{}, error) { return struct{}{}, ms.SetMode(p, mode) }, func(_ struct{}, err error) {
		if err != nil {
			s.logChangeFailed("SITE CHMOD", p, err)
			s.replyErr(err, name)
			return
		}
		s.changed("SITE CHMOD", p, "")
		s.reply(ftpwire.StatusCommandOK, "SITE CHMOD command ok.")
	})
}

// utimeLayouts are the time stamps SITE UTIME takes, UTC: with seconds,
// or without (ProFTPD's YYYYMMDDhhmm).
var utimeLayouts = map[int]string{14: "20060102150405", 12: "200601021504"}

// parseUTIME reads SITE UTIME's argument in the forms clients send:
// "path YYYYMMDDHHMMSS", "YYYYMMDDHHMMSS path" (ProFTPD's) and
// "path atime mtime ctime UTC" (NcFTP's and pure-ftpd's, of which the
// modification time is taken). The path may hold spaces.
func parseUTIME(arg string) (name string, t time.Time, ok bool) {
	arg = strings.TrimLeft(arg, " ")
	stamp := func(w string) (time.Time, bool) {
		layout, ok := utimeLayouts[len(w)]
		if !ok {
			return time.Time{}, false
		}
		t, err := time.ParseInLocation(layout, w, time.UTC)
		return t, err == nil
	}
	words := strings.FieldsFunc(arg, func(r rune) bool { return r == ' ' }) // as the cuts below: spaces only
	if f := words; len(f) >= 5 && strings.EqualFold(f[len(f)-1], "UTC") {
		_, okA := stamp(f[len(f)-4])
		mt, okM := stamp(f[len(f)-3])
		_, okC := stamp(f[len(f)-2])
		if okA && okM && okC {
			name = strings.TrimRight(arg, " ")
			for range 4 {
				name = strings.TrimRight(name[:strings.LastIndexByte(name, ' ')], " ")
			}
			return name, mt, name != ""
		}
	}
	if first, rest, cut := strings.Cut(arg, " "); cut {
		if t, ok := stamp(first); ok && strings.TrimSpace(rest) != "" {
			return rest, t, true
		}
	}
	trimmed := strings.TrimRight(arg, " ")
	if i := strings.LastIndexByte(trimmed, ' '); i > 0 {
		if t, ok := stamp(trimmed[i+1:]); ok && strings.TrimSpace(trimmed[:i]) != "" {
			return trimmed[:i], t, true
		}
	}
	return "", time.Time{}, false
}

// siteUTIME sets a file's modification time (as MFMT does).
func (s *session) siteUTIME(arg string) {
	name, t, ok := parseUTIME(arg)
	if !ok {
		s.replyf(ftpwire.StatusArgSyntaxError, "Syntax error: SITE UTIME <path> <YYYYMMDDHHMMSS> (got '%s').", printable(arg))
		return
	}
	s.setModTime("SITE UTIME", name, t, "SITE UTIME not implemented for this filesystem.", func(string) {
		s.reply(ftpwire.StatusCommandOK, "SITE UTIME command ok.")
	})
}
