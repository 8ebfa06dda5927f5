// Package listing formats directory entries for LIST and NLST in
// Twisted's format (an "ls -l" line, dates in UTC), appending to a caller's
// buffer so a 10,000-entry listing is built without per-line allocation.
package listing

import (
	"io/fs"
	"strconv"
	"syscall"
	"time"
)

// Owner is implemented by FileInfo values that know their owner and group
// names (shell.FileInfoOwner has the same methods); others list as the
// numeric ids of their *syscall.Stat_t, or "ftp" when they have none.
type Owner interface {
	Owner() string
	Group() string
}

const months = "JanFebMarAprMayJunJulAugSepOctNovDec"

// recentWindow is how far in the past a time shows as "HH:MM" instead of
// the year: six months, as ls, vsftpd and ProFTPD do (182 days, vsftpd's
// figure). Clients infer the year of an "HH:MM" date as the one that puts
// it within the last six months, so this rule never makes them guess
// wrong, whereas Twisted's "same year as now" shows a file from later this
// year, or last December seen in January, with a date clients misread.
const recentWindow = 182 * 24 * time.Hour

// futureSlack lets a file written moments after the listing's now (clock
// steps, a STOR finishing during the LIST) still count as recent.
const futureSlack = time.Hour

// AppendLIST appends one LIST line for fi and CRLF, in Twisted's format:
//
//	"%s%s%4d %-9s %-9s %15d %12s %s\r\n" % (d, perms, nlink, owner, group, size, date, name)
//
// d is "d" for a directory, else "-" (no "l": LIST shows what a symlink
// inside the root leads to); perms are the nine rwx bits; nlink comes from
// the *syscall.Stat_t behind fi (0 without one); owner and group are cut
// to 8 bytes; the date is in UTC, "Mon DD HH:MM" within six months before
// now, else "Mon DD  YYYY" (day zero-padded, as Twisted does). It does not
// allocate when dst has room.
func AppendLIST(dst []byte, fi fs.FileInfo, now time.Time) []byte {
	mode := fi.Mode()
	if mode.IsDir() {
		dst = append(dst, 'd')
	} else {
		dst = append(dst, '-')
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if mode&(1<<uint(8-i)) != 0 {
			dst = append(dst, rwx[i])
		} else {
			dst = append(dst, '-')
		}
	}
	var num [20]byte
	st, hasStat := fi.Sys().(*syscall.Stat_t)
	nlink := uint64(0)
	if hasStat {
		nlink = uint64(st.Nlink)
	}
	dst = appendPadLeft(dst, strconv.AppendUint(num[:0], nlink, 10), 4)
	dst = append(dst, ' ')
	switch o, ok := fi.(Owner); {
	case ok:
		dst = appendPadRight(dst, o.Owner())
		dst = append(dst, ' ')
		dst = appendPadRight(dst, o.Group())
	case hasStat:
		dst = appendPadRight(dst, strconv.AppendUint(num[:0], uint64(st.Uid), 10))
		dst = append(dst, ' ')
		dst = appendPadRight(dst, strconv.AppendUint(num[:0], uint64(st.Gid), 10))
	default:
		dst = append(dst, "ftp       ftp      "...)
	}
	dst = append(dst, ' ')
	dst = appendPadLeft(dst, strconv.AppendInt(num[:0], fi.Size(), 10), 15)
	dst = append(dst, ' ')
	mtime := fi.ModTime()
	t := mtime.UTC()
	year, month, day := t.Date()
	dst = append(dst, months[3*(month-1):3*month]...)
	dst = append(dst, ' ')
	dst = append2(dst, day)
	dst = append(dst, ' ')
	if mtime.After(now.Add(-recentWindow)) && mtime.Before(now.Add(futureSlack)) {
		hour, minute, _ := t.Clock()
		dst = append2(dst, hour)
		dst = append(dst, ':')
		dst = append2(dst, minute)
	} else {
		dst = appendPadLeft(dst, strconv.AppendInt(num[:0], int64(year), 10), 5)
	}
	dst = append(dst, ' ')
	dst = append(dst, fi.Name()...)
	return append(dst, '\r', '\n')
}

// AppendNLST appends a bare name line.
func AppendNLST(dst []byte, name string) []byte {
	dst = append(dst, name...)
	return append(dst, '\r', '\n')
}

// Match reports whether name matches the NLST glob pattern (path.Match's
// syntax and result; an invalid pattern, or one over the limits of
// CompileGlob, matches nothing). A listing compiles its pattern once with
// CompileGlob instead.
func Match(pattern, name string) bool {
	g, err := CompileGlob(pattern)
	return err == nil && g.Match(name)
}

// HasGlob reports whether s has glob metacharacters.
func HasGlob(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[':
			return true
		}
	}
	return false
}

func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

func appendPadLeft(dst, s []byte, width int) []byte {
	for i := len(s); i < width; i++ {
		dst = append(dst, ' ')
	}
	return append(dst, s...)
}

// nameWidth and nameMax are Twisted's "%-9s" of a name cut to 8 bytes.
const (
	nameMax   = 8
	nameWidth = 9
)

// appendPadRight appends s cut to nameMax bytes and padded to nameWidth
// (owner and group columns), for names held as string or []byte.
func appendPadRight[T string | []byte](dst []byte, s T) []byte {
	if len(s) > nameMax {
		s = s[:nameMax]
	}
	dst = append(dst, s...)
	for i := len(s); i < nameWidth; i++ {
		dst = append(dst, ' ')
	}
	return dst
}
