package listing_test

import (
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gnetftp/gnetftp/ftp/listing"
	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

type info struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
	sys   *syscall.Stat_t
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.size }
func (i info) Mode() fs.FileMode  { return i.mode }
func (i info) ModTime() time.Time { return i.mtime }
func (i info) IsDir() bool        { return i.mode.IsDir() }
func (i info) Sys() any {
	if i.sys == nil {
		return nil
	}
	return i.sys
}

type owned struct {
	info
	owner, group string
}

func (o owned) Owner() string { return o.owner }
func (o owned) Group() string { return o.group }

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func at(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

func TestLISTLinesInTwistedFormat(t *testing.T) {
	stat := &syscall.Stat_t{Nlink: 3, Uid: 1000, Gid: 100}
	cases := []struct {
		name string
		fi   fs.FileInfo
		want string
	}{
		{"Twisted's test_LISTUnicode line",
			owned{info{"my resum\xc3\xa9", 0, fs.ModeDir | 0o777, at(1970, 1, 1, 0, 0), nil}, "user", "group"},
			"drwxrwxrwx   0 user      group                   0 Jan 01  1970 my resum\xc3\xa9\r\n"},
		{"recent file, no owner: ftp ftp",
			info{"file.txt", 1234, 0o644, at(2026, 3, 5, 9, 7), nil},
			"-rw-r--r--   0 ftp       ftp                  1234 Mar 05 09:07 file.txt\r\n"},
		{"numeric ids and hard links from the OS stat",
			info{"data", 7, 0o640, at(2026, 5, 31, 23, 59), stat},
			"-rw-r-----   3 1000      100                     7 May 31 23:59 data\r\n"},
		{"names win over ids, nlink kept, cut to 8 bytes",
			owned{info{"x", 5, 0o600, at(2026, 1, 2, 3, 4), stat}, "averyverylongname", "staff-and-more"},
			"-rw-------   3 averyver  staff-an                5 Jan 02 03:04 x\r\n"},
		{"last December, within six months: time, not year",
			info{"dec", 1, 0o644, time.Date(2026, 1, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), nil},
			"-rw-r--r--   0 ftp       ftp                     1 Dec 31 23:30 dec\r\n"},
		{"same year but older than six months: year",
			info{"old", 1, 0o644, at(2025, 11, 30, 0, 0).Add(-24 * time.Hour), nil},
			"-rw-r--r--   0 ftp       ftp                     1 Nov 29  2025 old\r\n"},
		{"in the future beyond the slack: year",
			info{"future", 1, 0o644, at(2026, 6, 1, 14, 0), nil},
			"-rw-r--r--   0 ftp       ftp                     1 Jun 01  2026 future\r\n"},
		{"a moment after now: time",
			info{"justnow", 1, 0o644, at(2026, 6, 1, 12, 1), nil},
			"-rw-r--r--   0 ftp       ftp                     1 Jun 01 12:01 justnow\r\n"},
		{"size wider than 15 digits, odd bits ignored",
			info{"big", 1234567890123456789, 0o4751 | fs.ModeSetuid, at(1999, 12, 9, 0, 0), nil},
			"-rwxr-x--x   0 ftp       ftp       1234567890123456789 Dec 09  1999 big\r\n"},
		{"symlink shows as a file (Twisted has no 'l')",
			info{"link", 4, fs.ModeSymlink | 0o777, at(2026, 6, 1, 0, 0), nil},
			"-rwxrwxrwx   0 ftp       ftp                     4 Jun 01 00:00 link\r\n"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, string(listing.AppendLIST(nil, c.fi, now)), c.name)
	}
	assert.Equal(t, "a b\r\n", string(listing.AppendNLST(nil, "a b")))
	assert.Equal(t, "pre:a\r\n", string(listing.AppendNLST([]byte("pre:"), "a")), "appends")
}

// The lines match the client-side parser of Twisted's FTPFileListProtocol.
func TestLISTLinesParseWithTwistedsClientPattern(t *testing.T) {
	line := string(listing.AppendLIST(nil, owned{info{"name with spaces", 42, 0o644, at(2026, 4, 1, 8, 9), nil}, "u", "g"}, now))
	assert.Regexp(t, `^(?P<filetype>.)(?P<perms>.{9})\s+(?P<nlinks>\d*)\s*(?P<owner>\S+)\s+(?P<group>\S+)\s+(?P<size>\d+)\s+(?P<date>...\s+\d+\s+[\d:]+)\s+name with spaces\r\n$`, line)
}

func TestAppendLISTDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 4096)
	for _, fi := range []fs.FileInfo{
		info{"a", 1, 0o644, at(2026, 1, 1, 0, 0), nil},
		info{"b", 1, 0o644, at(2020, 1, 1, 0, 0), &syscall.Stat_t{Nlink: 1, Uid: 123456, Gid: 7}},
		owned{info{"c", 1, 0o644, at(2026, 1, 1, 0, 0), &syscall.Stat_t{Nlink: 2}}, "root", "wheel"},
	} {
		allocs := testing.AllocsPerRun(100, func() { buf = listing.AppendLIST(buf[:0], fi, now) })
		assert.Zero(t, allocs, fi.Name())
	}
}

func TestMatch(t *testing.T) {
	assert.True(t, listing.Match("*.txt", "a.txt"))
	assert.False(t, listing.Match("*.txt", "a.log"))
	assert.True(t, listing.Match("?b[cd]", "abd"))
	assert.False(t, listing.Match("*", "a/b"), "no crossing into subdirectories")
	assert.False(t, listing.Match("[", "["), "an invalid pattern matches nothing")
	assert.False(t, listing.Match("a[", "a"), "invalid even when the prefix matches")
	assert.True(t, listing.HasGlob("x*"))
	assert.True(t, listing.HasGlob("[ab]"))
	assert.False(t, listing.HasGlob("plain"))
}

func infos10000() []fs.FileInfo {
	infos := make([]fs.FileInfo, 10000)
	st := &syscall.Stat_t{Nlink: 1, Uid: 1000, Gid: 1000}
	for i := range infos {
		infos[i] = owned{info{fmt.Sprintf("file-%05d.dat", i), int64(i * 1000), 0o644, now.Add(-time.Duration(i) * time.Hour), st}, "alice", "users"}
	}
	return infos
}

// BenchmarkLIST formats a 10,000-entry directory listing, against the
// obvious fmt.Appendf of Twisted's format string as the reference.
func BenchmarkLIST(b *testing.B) {
	infos := infos10000()
	buf := make([]byte, 0, 80*len(infos))
	b.Run("AppendLIST", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			buf = buf[:0]
			for _, fi := range infos {
				buf = listing.AppendLIST(buf, fi, now)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/listing")
	})
	b.Run("reference-fmt", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			buf = buf[:0]
			for _, fi := range infos {
				o := fi.(listing.Owner)
				mt := fi.ModTime().UTC()
				date := mt.Format("Jan 02 15:04")
				if mt.Before(now.Add(-182 * 24 * time.Hour)) {
					date = mt.Format("Jan 02  2006")
				}
				d := "-"
				if fi.IsDir() {
					d = "d"
				}
				buf = fmt.Appendf(buf, "%s%s%4d %-9s %-9s %15d %12s %s\r\n", d, strings.TrimPrefix(fi.Mode().Perm().String(), "-"),
					fi.Sys().(*syscall.Stat_t).Nlink, o.Owner(), o.Group(), fi.Size(), date, fi.Name())
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/listing")
	})
}
