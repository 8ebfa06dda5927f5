package listing

import (
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Facts is a set of MLST/MLSD facts (RFC 3659 section 7.5), the ones a
// session sends; OPTS MLST chooses them.
type Facts uint16

// The facts this server knows, in the order they are written.
const (
	FactType Facts = 1 << iota
	FactSize
	FactModify
	FactPerm
	FactUnixMode
	FactUnixOwner
	FactUnixGroup
	FactUnique

	// AllFacts is every fact above: what a session sends until OPTS MLST.
	AllFacts = FactUnique<<1 - 1
)

// factNames are the facts' names, bit i for FactType<<i.
var factNames = [...]string{"type", "size", "modify", "perm", "unix.mode", "unix.owner", "unix.group", "unique"}

// ParseFacts reads OPTS MLST's argument, "type;size;" (any case); unknown
// names are left out, as RFC 3659 7.9 says.
func ParseFacts(s string) Facts {
	var f Facts
	for _, name := range strings.Split(s, ";") {
		for i, n := range factNames {
			if strings.EqualFold(strings.TrimSpace(name), n) {
				f |= 1 << i
			}
		}
	}
	return f
}

// String is the facts as OPTS MLST's reply lists them: "type;size;".
func (f Facts) String() string {
	var b strings.Builder
	for i, n := range factNames {
		if f&(1<<i) != 0 {
			b.WriteString(n)
			b.WriteByte(';')
		}
	}
	return b.String()
}

// Feature is FEAT's MLST line: every known fact, the ones in f marked
// with '*'.
func (f Facts) Feature() string {
	var b strings.Builder
	b.WriteString("MLST ")
	for i, n := range factNames {
		b.WriteString(n)
		if f&(1<<i) != 0 {
			b.WriteByte('*')
		}
		b.WriteByte(';')
	}
	return b.String()
}

// Perms are the perm fact's letters (RFC 3659 7.5.5): what the user may
// do with a file and with a directory.
type Perms struct{ File, Dir string }

// The perm facts of a user who may do everything, and of one who may
// only read.
var (
	AllPerms      = Perms{File: "adfrw", Dir: "cdeflmp"} // APPE DELE RNFR RETR STOR; STOR in, RMD, CWD, RNFR, LIST, MKD, DELE in
	ReadOnlyPerms = Perms{File: "r", Dir: "el"}          // RETR; CWD, LIST
)

// permLetters map a user's permissions (pyftpdlib's letters, as in
// auth.PermLetters) to the perm fact's: file letters, then directory
// letters, that each grants.
var permLetters = []struct {
	user      byte
	file, dir string
}{
	{'a', "a", ""}, {'d', "d", "dp"}, {'f', "f", "f"}, {'r', "r", ""}, {'w', "w", "c"},
	{'e', "", "e"}, {'l', "", "l"}, {'m', "", "m"},
}

// PermsFor is the perm facts of a user granted the permission letters
// for which granted is true.
func PermsFor(granted func(letter byte) bool) Perms {
	var file, dir []byte
	for _, p := range permLetters {
		if granted(p.user) {
			file = append(file, p.file...)
			dir = append(dir, p.dir...)
		}
	}
	return Perms{File: sortedLetters(file), Dir: sortedLetters(dir)}
}

func sortedLetters(b []byte) string {
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	return string(b)
}

// AppendMLSx appends fi's facts in f, a space and name (RFC 3659 7.2):
// "type=file;size=3;modify=20261124120000;perm=r; name". MLSD lines end
// with CRLF (crlf true); an MLST line goes inside a reply. Times are UTC;
// unique is the device and inode in hex; owner and group come from an
// Owner FileInfo or the numeric ids. It does not allocate when dst has room.
func AppendMLSx(dst []byte, fi fs.FileInfo, name string, f Facts, perms Perms, crlf bool) []byte {
	mode := fi.Mode()
	st, hasStat := fi.Sys().(*syscall.Stat_t)
	var num [20]byte
	if f&FactType != 0 {
		dst = append(dst, "type="...)
		switch {
		case mode.IsDir():
			dst = append(dst, "dir"...)
		case mode.IsRegular():
			dst = append(dst, "file"...)
		case mode&fs.ModeSymlink != 0:
			dst = append(dst, "OS.unix=symlink"...)
		default:
			dst = append(dst, "OS.unix=special"...)
		}
		dst = append(dst, ';')
	}
	if f&FactSize != 0 {
		dst = append(dst, "size="...)
		dst = strconv.AppendInt(dst, fi.Size(), 10)
		dst = append(dst, ';')
	}
	if f&FactModify != 0 {
		t := fi.ModTime().UTC()
		year, month, day := t.Date()
		hour, minute, sec := t.Clock()
		dst = append(dst, "modify="...)
		dst = appendZeroPad(dst, num[:0], uint64(max(year, 0)), 10, 4)
		for _, v := range [...]int{int(month), day, hour, minute, sec} {
			dst = append2(dst, v)
		}
		dst = append(dst, ';')
	}
	if f&FactPerm != 0 {
		dst = append(dst, "perm="...)
		if mode.IsDir() {
			dst = append(dst, perms.Dir...)
		} else {
			dst = append(dst, perms.File...)
		}
		dst = append(dst, ';')
	}
	if f&FactUnixMode != 0 {
		dst = append(dst, "unix.mode="...)
		perm := uint64(mode.Perm())
		if mode&fs.ModeSetuid != 0 {
			perm |= 0o4000
		}
		if mode&fs.ModeSetgid != 0 {
			perm |= 0o2000
		}
		if mode&fs.ModeSticky != 0 {
			perm |= 0o1000
		}
		dst = appendZeroPad(dst, num[:0], perm, 8, 4)
		dst = append(dst, ';')
	}
	if o, hasOwner := fi.(Owner); f&(FactUnixOwner|FactUnixGroup) != 0 && (hasOwner || hasStat) {
		var owner, group string
		var uid, gid uint32
		if hasOwner {
			owner, group = o.Owner(), o.Group()
		} else {
			uid, gid = st.Uid, st.Gid
		}
		if f&FactUnixOwner != 0 {
			dst = appendIDFact(dst, "unix.owner=", owner, hasOwner, uid)
		}
		if f&FactUnixGroup != 0 {
			dst = appendIDFact(dst, "unix.group=", group, hasOwner, gid)
		}
	}
	if f&FactUnique != 0 && hasStat {
		dst = append(dst, "unique="...)
		dst = strconv.AppendUint(dst, uint64(st.Dev), 16)
		dst = append(dst, 'g')
		dst = strconv.AppendUint(dst, st.Ino, 16)
		dst = append(dst, ';')
	}
	dst = append(dst, ' ')
	dst = append(dst, name...)
	if crlf {
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// appendZeroPad appends v in base, zero-padded to width digits (scratch
// holds the digits on the way).
func appendZeroPad(dst, scratch []byte, v uint64, base, width int) []byte {
	digits := strconv.AppendUint(scratch, v, base)
	for i := len(digits); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, digits...)
}

// appendIDFact appends fact (with its '='), then the owner or group name
// when byName, else the numeric id, then ';'.
func appendIDFact(dst []byte, fact, name string, byName bool, id uint32) []byte {
	dst = append(dst, fact...)
	if byName {
		dst = append(dst, name...)
	} else {
		dst = strconv.AppendUint(dst, uint64(id), 10)
	}
	return append(dst, ';')
}
