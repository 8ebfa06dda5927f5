//go:build linux && amd64

package floor

import (
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// listing is a session's LIST memory, kept from one LIST to the next: the
// directory's getdents64 records, where each name starts, and one output
// buffer (and stat buffer) per part of the parallel split.
type listing struct {
	dir   int
	dents []byte
	names []nameRef
	parts []part
	wi    int // the part being written
	woff  int // how much of it is written
}

type nameRef struct{ off, n uint32 }

// part is one thread's share; padded so that two threads' stat buffers do
// not share a cache line.
type part struct {
	out []byte
	st  unix.Stat_t
	_   [64]byte
}

// job is a list thread's share of one LIST.
type job struct {
	ls           *listing
	part, lo, hi int
	now          int64
}

// getdentsRoom is the least free space handed to one getdents64 call.
const getdentsRoom = 64 << 10

// listing reads the whole directory (getdents64 until it returns 0), then
// stats and formats the entries, split over the loop's list threads and its
// own, and closes the directory.
func (l *loop) listing(s *session) {
	nparts := l.workers + 1
	if s.ls == nil {
		s.ls = &listing{parts: make([]part, nparts)}
	}
	ls := s.ls
	ls.dir, ls.dents, ls.names = s.dir, ls.dents[:0], ls.names[:0]
	for {
		if cap(ls.dents)-len(ls.dents) < getdentsRoom {
			grown := make([]byte, len(ls.dents), 2*cap(ls.dents)+getdentsRoom) // once per larger directory
			copy(grown, ls.dents)
			ls.dents = grown
		}
		base := len(ls.dents)
		n, e := sysGetdents(s.dir, ls.dents[base:cap(ls.dents)])
		if e != 0 || n <= 0 {
			break
		}
		ls.dents = ls.dents[:base+n]
		for off := base; off < base+n; {
			reclen := int(ls.dents[off+16]) | int(ls.dents[off+17])<<8
			name := off + 19
			k := name
			for k < off+reclen && ls.dents[k] != 0 {
				k++
			}
			if !(k-name == 1 && ls.dents[name] == '.') && !(k-name == 2 && ls.dents[name] == '.' && ls.dents[name+1] == '.') {
				ls.names = append(ls.names, nameRef{uint32(name), uint32(k - name)})
			}
			off += reclen
		}
	}
	now := time.Now().Unix()
	total := len(ls.names)
	for i := 1; i < nparts; i++ {
		l.work <- job{ls: ls, part: i, lo: total * i / nparts, hi: total * (i + 1) / nparts, now: now}
	}
	ls.format(0, 0, total/nparts, now)
	for i := 1; i < nparts; i++ {
		<-l.done
	}
	sysClose(s.dir)
	s.dir, ls.dir = -1, -1
	ls.wi, ls.woff = 0, 0
}

// format stats names[lo:hi] (one fstatat each) and formats them into part
// p's buffer. Entries that vanished since getdents64 are left out.
func (ls *listing) format(p, lo, hi int, now int64) {
	pt := &ls.parts[p]
	b := pt.out[:0]
	for _, nm := range ls.names[lo:hi] {
		if sysFstatat(ls.dir, &ls.dents[nm.off], &pt.st) != 0 {
			continue
		}
		b = appendLine(b, &pt.st, ls.dents[nm.off:nm.off+nm.n], now)
	}
	pt.out = b
}

// writeList writes the parts in order on the data connection until it is
// full (epoll then says when there is room) or all is sent.
func (l *loop) writeList(s *session) {
	ls := s.ls
	for ls.wi < len(ls.parts) {
		b := ls.parts[ls.wi].out[ls.woff:]
		if len(b) == 0 {
			ls.wi, ls.woff = ls.wi+1, 0
			continue
		}
		n, e := sysWrite(s.data, b)
		if e == unix.EAGAIN {
			l.watchData(s)
			return
		}
		if e != 0 {
			l.abort(s)
			return
		}
		ls.woff += n
	}
	l.finish(s, l.r.listOK)
}

const months = "JanFebMarAprMayJunJulAugSepOctNovDec"

// Six months back, an hour ahead: "HH:MM"; else the year (ftp/listing's
// rule, so that the floor formats the same bytes ftpd does).
const (
	recentWindow = 182 * 24 * 3600
	futureSlack  = 3600
)

// appendLine is ftp/listing.AppendLIST's line, from a Stat_t:
// "%s%s%4d %-9s %-9s %15d %12s %s\r\n" with numeric owner and group.
func appendLine(b []byte, st *unix.Stat_t, name []byte, now int64) []byte {
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		b = append(b, 'd')
	} else {
		b = append(b, '-')
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if st.Mode&(1<<uint(8-i)) != 0 {
			b = append(b, rwx[i])
		} else {
			b = append(b, '-')
		}
	}
	var num [20]byte
	b = padLeft(b, strconv.AppendUint(num[:0], uint64(st.Nlink), 10), 4)
	b = append(b, ' ')
	b = padRight(b, strconv.AppendUint(num[:0], uint64(st.Uid), 10))
	b = append(b, ' ')
	b = padRight(b, strconv.AppendUint(num[:0], uint64(st.Gid), 10))
	b = append(b, ' ')
	b = padLeft(b, strconv.AppendInt(num[:0], st.Size, 10), 15)
	b = append(b, ' ')
	sec := st.Mtim.Sec
	t := time.Unix(sec, 0).UTC()
	year, month, day := t.Date()
	b = append(b, months[3*(month-1):3*month]...)
	b = append(b, ' ')
	b = append(b, byte('0'+day/10), byte('0'+day%10))
	b = append(b, ' ')
	if sec > now-recentWindow && sec < now+futureSlack {
		h, m, _ := t.Clock()
		b = append(b, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10))
	} else {
		b = padLeft(b, strconv.AppendInt(num[:0], int64(year), 10), 5)
	}
	b = append(b, ' ')
	b = append(b, name...)
	return append(b, '\r', '\n')
}

func padLeft(b, s []byte, width int) []byte {
	for i := len(s); i < width; i++ {
		b = append(b, ' ')
	}
	return append(b, s...)
}

// padRight is "%-9s" of s cut to 8 bytes (the owner and group columns).
func padRight(b, s []byte) []byte {
	if len(s) > 8 {
		s = s[:8]
	}
	b = append(b, s...)
	for i := len(s); i < 9; i++ {
		b = append(b, ' ')
	}
	return b
}
