// Package listing formats directory entries for LIST and NLST in
// Twisted's format (an "ls -l" line, dates in UTC), appending to a caller's
// buffer so a 10,000-entry listing is built without per-line allocation.
package listing

import (
	"io/fs"
	"path"
	"strconv"
	"syscall"
	"time"
)

// Owner is implemented by FileInfo values that know their owner and group
// names; others list as the numeric ids of their syscall.Stat_t, or "ftp".
type Owner interface {
	Owner() string
	Group() string
}

const months = "JanFebMarAprMayJunJulAugSepOctNovDec"

// AppendLIST appends one LIST line for fi and CRLF. now decides between
// "Mon DD HH:MM" (same year) and "Mon DD  YYYY", like Twisted.
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
	nlink, owner, group := uint64(0), "ftp", "ftp"
	var ownBuf, grpBuf [20]byte
	if o, ok := fi.(Owner); ok {
		owner, group = o.Owner(), o.Group()
	} else if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		nlink = uint64(st.Nlink)
		owner = string(strconv.AppendUint(ownBuf[:0], uint64(st.Uid), 10))
		group = string(strconv.AppendUint(grpBuf[:0], uint64(st.Gid), 10))
	}
	dst = appendPadLeft(dst, strconv.AppendUint(ownBuf[:0], nlink, 10), 4)
	dst = append(dst, ' ')
	dst = appendPadRight(dst, owner, 8, 9)
	dst = append(dst, ' ')
	dst = appendPadRight(dst, group, 8, 9)
	dst = append(dst, ' ')
	dst = appendPadLeft(dst, strconv.AppendInt(grpBuf[:0], fi.Size(), 10), 15)
	dst = append(dst, ' ')
	t := fi.ModTime().UTC()
	dst = append(dst, months[3*(t.Month()-1):3*t.Month()]...)
	dst = append(dst, ' ')
	dst = append2(dst, t.Day())
	dst = append(dst, ' ')
	if t.Year() == now.UTC().Year() {
		dst = append2(dst, t.Hour())
		dst = append(dst, ':')
		dst = append2(dst, t.Minute())
	} else {
		dst = appendPadLeft(dst, strconv.AppendInt(ownBuf[:0], int64(t.Year()), 10), 5)
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

// Match reports whether name matches the NLST glob pattern (path.Match;
// an invalid pattern matches nothing).
func Match(pattern, name string) bool {
	ok, err := path.Match(pattern, name)
	return err == nil && ok
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

func appendPadRight(dst []byte, s string, max, width int) []byte {
	if len(s) > max {
		s = s[:max]
	}
	dst = append(dst, s...)
	for i := len(s); i < width; i++ {
		dst = append(dst, ' ')
	}
	return dst
}
