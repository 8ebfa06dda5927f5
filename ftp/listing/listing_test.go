package listing_test

import (
	"fmt"
	"io/fs"
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
	owner string
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.size }
func (i info) Mode() fs.FileMode  { return i.mode }
func (i info) ModTime() time.Time { return i.mtime }
func (i info) IsDir() bool        { return i.mode.IsDir() }
func (i info) Sys() any           { return nil }

type owned struct{ info }

func (o owned) Owner() string { return o.owner }
func (o owned) Group() string { return "staff-and-more" }

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestLISTLinesInTwistedFormat(t *testing.T) {
	cases := []struct {
		fi   fs.FileInfo
		want string
	}{
		{info{"file.txt", 1234, 0o644, time.Date(2026, 3, 5, 9, 7, 0, 0, time.UTC), ""},
			"-rw-r--r--   0 ftp       ftp                  1234 Mar 05 09:07 file.txt\r\n"},
		{info{"old dir", 0, fs.ModeDir | 0o755, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), ""},
			"drwxr-xr-x   0 ftp       ftp                     0 Jan 01  1970 old dir\r\n"},
		{owned{info{"résumé", 5, 0o600, time.Date(2025, 12, 31, 23, 59, 0, 0, time.FixedZone("x", 3600)), "averyverylongname"}},
			"-rw-------   0 averyver  staff-an                5 Dec 31  2025 résumé\r\n"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, string(listing.AppendLIST(nil, c.fi, now)))
	}
	assert.Equal(t, "a b\r\n", string(listing.AppendNLST(nil, "a b")))
}

func TestMatch(t *testing.T) {
	assert.True(t, listing.Match("*.txt", "a.txt"))
	assert.False(t, listing.Match("*.txt", "a.log"))
	assert.True(t, listing.Match("?b[cd]", "abd"))
	assert.False(t, listing.Match("[", "["), "an invalid pattern matches nothing")
	assert.True(t, listing.HasGlob("x*"))
	assert.False(t, listing.HasGlob("plain"))
}

// BenchmarkLIST formats a 10,000-entry directory listing.
func BenchmarkLIST(b *testing.B) {
	infos := make([]fs.FileInfo, 10000)
	for i := range infos {
		infos[i] = info{fmt.Sprintf("file-%05d.dat", i), int64(i * 1000), 0o644, now.Add(-time.Duration(i) * time.Hour), ""}
	}
	buf := make([]byte, 0, 80*len(infos))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = buf[:0]
		for _, fi := range infos {
			buf = listing.AppendLIST(buf, fi, now)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/listing")
}
