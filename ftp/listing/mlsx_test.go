package listing_test

import (
	"io/fs"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gnetftp/gnetftp/ftp/listing"
)

func TestMLSxFactLines(t *testing.T) {
	mtime := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600)) // 04:06:07 UTC
	stat := &syscall.Stat_t{Dev: 0x803, Ino: 0x1f2e, Uid: 1000, Gid: 100}
	file := info{name: "a b.txt", size: 1234, mode: 0o644, mtime: mtime, sys: stat}
	dir := owned{info{name: "sub", size: 4096, mode: fs.ModeDir | fs.ModeSetgid | 0o755, mtime: mtime, sys: stat}, "alice", "staff"}
	cases := []struct {
		fi       fs.FileInfo
		writable bool
		facts    listing.Facts
		want     string
	}{
		{file, true, listing.AllFacts,
			"type=file;size=1234;modify=20260304040607;perm=adfrw;unix.mode=0644;unix.owner=1000;unix.group=100;unique=803g1f2e; a b.txt\r\n"},
		{file, false, listing.FactType | listing.FactPerm, "type=file;perm=r; a b.txt\r\n"},
		{dir, true, listing.AllFacts,
			"type=dir;size=4096;modify=20260304040607;perm=cdeflmp;unix.mode=2755;unix.owner=alice;unix.group=staff;unique=803g1f2e; sub\r\n"},
		{dir, false, listing.FactPerm, "perm=el; sub\r\n"},
		{info{name: "p", mode: fs.ModeNamedPipe | 0o600, mtime: mtime}, false, listing.FactType | listing.FactUnixOwner | listing.FactUnique,
			"type=OS.unix=special; p\r\n"}, // no stat: no owner, no unique
		{file, false, 0, " a b.txt\r\n"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, string(listing.AppendMLSx(nil, c.fi, c.fi.Name(), c.facts, permsOf(c.writable), true)))
	}
	assert.Equal(t, "type=file; /x/a b.txt", string(listing.AppendMLSx(nil, file, "/x/a b.txt", listing.FactType, listing.ReadOnlyPerms, false)),
		"MLST: the path as given, no CRLF")
	buf := make([]byte, 0, 512)
	var boxed fs.FileInfo = dir
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		buf = listing.AppendMLSx(buf[:0], boxed, "sub", listing.AllFacts, listing.AllPerms, true)
	}), "no allocation per line when the buffer has room")
}

func TestMLSTFactSelection(t *testing.T) {
	f := listing.ParseFacts("Type;SIZE;nope;modify;")
	assert.Equal(t, listing.FactType|listing.FactSize|listing.FactModify, f)
	assert.Equal(t, "type;size;modify;", f.String())
	assert.Equal(t, "MLST type*;size*;modify*;perm;unix.mode;unix.owner;unix.group;unique;", f.Feature())
	assert.Equal(t, listing.Facts(0), listing.ParseFacts(""), "OPTS MLST with no facts turns them all off")
	assert.Equal(t, "MLST type*;size*;modify*;perm*;unix.mode*;unix.owner*;unix.group*;unique*;", listing.AllFacts.Feature())
}

func permsOf(writable bool) listing.Perms {
	if writable {
		return listing.AllPerms
	}
	return listing.ReadOnlyPerms
}

// A user's permission letters map to the perm fact's: no delete and no
// rename drop d, p and f.
func TestPermsFor(t *testing.T) {
	all := listing.PermsFor(func(byte) bool { return true })
	assert.Equal(t, listing.AllPerms, all)
	noDelRen := listing.PermsFor(func(c byte) bool { return c != 'd' && c != 'f' })
	assert.Equal(t, listing.Perms{File: "arw", Dir: "celm"}, noDelRen)
	ro := listing.PermsFor(func(c byte) bool { return c == 'e' || c == 'l' || c == 'r' })
	assert.Equal(t, listing.ReadOnlyPerms, ro)
}
