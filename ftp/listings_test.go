package ftp_test

import (
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/listing"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/local"
)

// streamShell is a local shell whose List must not be used, and whose
// "/huge" is a made-up directory of n entries produced as Next is
// called: what a listing holds, and how far it has been read, can be
// counted.
type streamShell struct {
	*local.Local
	n              int
	nexts, closes  atomic.Int64
	listed, opened atomic.Int64
}

func (s *streamShell) List(p string) ([]fs.FileInfo, error) {
	s.listed.Add(1)
	return s.Local.List(p)
}

func (s *streamShell) OpenList(p string, namesOnly bool) (shell.Listing, error) {
	s.opened.Add(1)
	if p == "/huge" {
		return &madeUp{s: s}, nil
	}
	lst, err := s.Local.OpenList(p, namesOnly)
	if err != nil {
		return nil, err
	}
	return &counted{Listing: lst, s: s}, nil
}

// Stat says "/huge" is a directory (MLSD checks).
func (s *streamShell) Stat(p string) (fs.FileInfo, error) {
	if p == "/huge" {
		return s.Local.Stat("/")
	}
	return s.Local.Stat(p)
}

type counted struct {
	shell.Listing
	s *streamShell
}

func (c *counted) Next() ([]fs.FileInfo, error) { c.s.nexts.Add(1); return c.Listing.Next() }
func (c *counted) Close() error                 { c.s.closes.Add(1); return c.Listing.Close() }

// madeUp lists "/huge": entries f0000000, f0000001, ...
type madeUp struct {
	s     *streamShell
	pos   int
	batch []fs.FileInfo
	names []shell.NameInfo
}

func (m *madeUp) Next() ([]fs.FileInfo, error) {
	m.s.nexts.Add(1)
	if m.pos >= m.s.n {
		return nil, io.EOF
	}
	k := min(shell.MaxListBatch, m.s.n-m.pos)
	m.batch, m.names = m.batch[:0], m.names[:0]
	for i := 0; i < k; i++ {
		m.names = append(m.names, shell.NameInfo(fmt.Sprintf("f%07d", m.pos+i)))
	}
	for i := range m.names {
		m.batch = append(m.batch, &m.names[i])
	}
	m.pos += k
	return m.batch, nil
}

func (m *madeUp) Close() error { m.s.closes.Add(1); return nil }

func newStreamPI(t *testing.T, n int) (*pi, *streamShell) {
	var sh *streamShell
	h := newPI(t, func(c *ftp.Config) {
		l, err := local.New(c.Root)
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		sh = &streamShell{Local: l, n: n}
		c.Realm = shell.RealmFunc(func(shell.Login) (shell.Shell, error) { return sh, nil })
	})
	h.login()
	return h, sh
}

// pump runs the loop until cond holds (a bound against hangs, not a wait
// for an expected delay).
func (h *pi) pump(cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		require.True(h.t, time.Now().Before(deadline), "condition not reached; output %d bytes", h.tr.Out.Len())
		h.tr.FakeLoop.WaitPending(20 * time.Millisecond)
	}
}

// Every listing command goes through the shell's StreamLister, never its
// List, and closes the listing it opened.
func TestListingsStreamThroughOpenList(t *testing.T) {
	h, sh := newStreamPI(t, 0)
	writeFile(t, h.root, "a.txt", "a")
	writeFile(t, h.root, "d/b.txt", "bb")
	for _, c := range []struct{ cmd, want string }{
		{"LIST", "a.txt\r\n"}, {"NLST", "a.txt\r\nd\r\n"}, {"NLST *.txt", "a.txt\r\n"}, {"MLSD d", " b.txt\r\n"},
	} {
		data := h.pasv()
		assert.Regexp(t, `^150`, h.cmd(c.cmd))
		got := readAll(t, data)
		assert.Contains(t, got, c.want, c.cmd)
		assert.Equal(t, "226 Transfer Complete.", h.next(), c.cmd)
	}
	assert.Regexp(t, `^213-Status of /d:\n-rw-r--r-- .* b\.txt\n213 End of status$`, h.cmd("STAT d"))
	assert.Zero(t, sh.listed.Load(), "List is never called")
	assert.EqualValues(t, 5, sh.opened.Load())
	h.pump(func() bool { return sh.closes.Load() == 5 })
}

// A client that does not read its LIST holds up the listing where the
// socket filled: the transfer has read a bounded part of the directory,
// and goes on as the client reads.
func TestNonReadingClientHoldsAListingWhereItStopped(t *testing.T) {
	const n = 1_500_000 // 10 bytes a line: 15 MB, several times what the sockets hold
	h, sh := newStreamPI(t, n)
	r := h.cmd("PASV")
	a, err := ftpwire.ParsePASVReply(r)
	require.NoError(t, err)
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	data, err := d.Dial("tcp", a.String())
	require.NoError(t, err)
	defer data.Close()
	assert.Regexp(t, `^150`, h.cmd("NLST /huge"))
	total := int64(n/shell.MaxListBatch + 2)
	stalled := func() bool { // no Next for a while: blocked on the socket
		before := sh.nexts.Load()
		time.Sleep(100 * time.Millisecond)
		return before > 0 && sh.nexts.Load() == before
	}
	h.pump(stalled)
	held := sh.nexts.Load()
	t.Logf("%d of %d batches read while the client reads nothing", held, total)
	assert.Less(t, held, total/4, "the listing is read as the client takes it, not ahead")

	_ = data.SetDeadline(time.Now().Add(30 * time.Second))
	b, err := io.ReadAll(data)
	require.NoError(t, err)
	assert.Equal(t, n, strings.Count(string(b), "\r\n"))
	assert.True(t, strings.HasSuffix(string(b), fmt.Sprintf("f%07d\r\n", n-1)))
	assert.Equal(t, "226 Transfer Complete.", h.next())
	assert.EqualValues(t, 1, sh.closes.Load())
}

// STAT with a path streams over the control connection: one chunk, then
// the next only when the transport says the one before has drained
// (protocol.Backpressure). Commands wait for the end of the reply.
func TestSTATListingWaitsForTheClientToRead(t *testing.T) {
	const n = 5000 // about 60 bytes a line: 300 KB
	h, sh := newStreamPI(t, n)
	h.tr.Backlog = 1 << 20 // a client that does not read
	h.send("STAT /huge")
	h.send("NOOP")
	h.pump(func() bool { return h.tr.Out.Len() > 0 && sh.nexts.Load() > 0 })
	h.tr.FakeLoop.WaitPending(100 * time.Millisecond)
	first := h.tr.Out.Len()
	assert.Less(t, first, 3*32<<10, "one chunk, not the listing")
	assert.True(t, strings.HasPrefix(h.tr.Out.String(), "213-Status of /huge:\r\n"))

	pieces := 1
	for !strings.Contains(h.tr.Out.String(), "213 End of status\r\n") {
		before := h.tr.Out.Len()
		h.tr.Drain()
		h.tr.Backlog = 1 << 20
		h.pump(func() bool { return h.tr.Out.Len() > before })
		pieces++
		require.Less(t, pieces, 100)
	}
	assert.Greater(t, pieces, 3)
	h.tr.Backlog = 0
	out := h.tr.Take()
	lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
	assert.Equal(t, n+3, len(lines), "head, one line per entry, end, NOOP's reply")
	assert.Equal(t, "213 End of status", lines[n+1])
	assert.Equal(t, "200 Command OK", lines[n+2], "NOOP is answered after the whole STAT")
	assert.Regexp(t, `^-\S+ +0 ftp +ftp +0 .* f0004999$`, lines[n])
	assert.EqualValues(t, 1, sh.closes.Load())
}

// A client gone while its STAT listing waits for it to read: the listing
// is closed.
func TestSTATListingOfALostClientIsClosed(t *testing.T) {
	h, sh := newStreamPI(t, 5000)
	h.tr.Backlog = 1 << 20
	h.send("STAT /huge")
	h.pump(func() bool { return h.tr.Out.Len() > 0 && sh.nexts.Load() > 0 })
	h.tr.FakeLoop.WaitPending(100 * time.Millisecond)
	h.tr.Lost = true
	h.p.ConnectionLost(nil)
	h.tr.FakeLoop.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for sh.closes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.EqualValues(t, 1, sh.closes.Load())
}

// Globs beyond listing's limits are refused before anything is listed.
func TestOverlongGlobsAreRefused(t *testing.T) {
	h, sh := newStreamPI(t, 0)
	long := strings.Repeat("*a", listing.MaxGlobLen)
	for _, c := range []string{"NLST " + long, "LIST " + long, "STAT d/" + long} {
		if !strings.HasPrefix(c, "STAT") {
			h.pasv()
		}
		assert.Regexp(t, `^501 Syntax error in parameters or arguments: glob pattern too long`, h.cmd(c), c)
	}
	assert.Zero(t, sh.opened.Load())
	assert.Equal(t, "200 Command OK", h.cmd("NOOP"))
}

// listData runs one listing command over a passive connection and
// returns what came over it (after its 150 and 226).
func (h *pi) listData(cmd string) string {
	h.t.Helper()
	data := h.pasv()
	require.Regexp(h.t, `^150 `, h.cmd(cmd), cmd)
	got := readAll(h.t, data)
	require.Equal(h.t, "226 Transfer Complete.", h.next(), cmd)
	return got
}

// ls options as clients send them and vsftpd accepts them are options,
// never paths: -a -l -C -F -t -r -R -1 are ignored (alone, combined, or
// as separate words), -d lists the directory itself.
func TestListFlagsAreNeverPaths(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "d/b.txt", "bb")
	writeFile(t, h.root, "a.txt", "a")
	plain := h.listData("LIST")
	require.Contains(t, plain, " a.txt\r\n")
	for _, flags := range []string{"-a", "-l", "-la", "-C", "-F", "-t", "-r", "-R", "-1", "-a -l", "-lt -r", "-aCFrt"} {
		assert.Equal(t, plain, h.listData("LIST "+flags), "LIST %s", flags)
		assert.Equal(t, "a.txt\r\nd\r\n", h.listData("NLST "+flags), "NLST %s", flags)
		assert.Contains(t, h.listData("LIST "+flags+" d"), " b.txt\r\n", "LIST %s d", flags)
		assert.Regexp(t, `^213-Status of /:\n`, h.cmd("STAT "+flags), "STAT %s", flags)
	}
	d := h.listData("LIST -d d")
	assert.Regexp(t, `^d[rwx-]{9} .* d\r\n$`, d, "-d: the directory itself")
	assert.Regexp(t, `^d[rwx-]{9} .* \.\r\n$`, h.listData("LIST -ld"), "-d without a path: the working directory, as '.'")
	assert.Equal(t, "d\r\n", h.listData("NLST -d d"))
	assert.Equal(t, "a.txt\r\nd\r\n", h.listData("NLST -d *"), "-d with a glob: the matches, directories not entered")
	assert.Regexp(t, `^-rw-r--r-- .* d/b\.txt\r\n$`, h.listData("LIST -ld d/b.txt"))
	h.pasv()
	assert.Equal(t, "550 nope: No such file or directory.", h.cmd("LIST -d nope"))
	writeFile(t, h.root, "-x", "dash")
	assert.Contains(t, h.listData("LIST -x"), " -x\r\n", "a word with other letters than ls options is a path")
}

// NLST of a missing path answers 550, as LIST does (vsftpd, ProFTPD).
func TestNLSTOfNothingIs550(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	for _, c := range []string{"NLST missing", "NLST -l missing", "LIST missing", "NLST missing/*.txt"} {
		h.pasv()
		assert.Equal(t, "550 "+strings.TrimPrefix(strings.Fields(c)[len(strings.Fields(c))-1], "")+": No such file or directory.", h.cmd(c), c)
	}
	writeFile(t, h.root, "a.txt", "a")
	assert.Equal(t, "", h.listData("NLST *.bin"), "a glob that matches nothing is an empty listing")
}

// A name with a LF or CR in it is left out of every listing: a client
// that splits the listing into lines would see phantom entries.
func TestNamesWithLineBreaksAreLeftOut(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "d/ok.txt", "1")
	writeFile(t, h.root, "d/evil\n-rw-r--r-- 1 root root 0 Jan 1 00:00 phantom", "2")
	writeFile(t, h.root, "d/cr\rname", "3")
	nlst := h.listData("NLST d")
	assert.Equal(t, "ok.txt\r\n", nlst)
	list := h.listData("LIST d")
	assert.Equal(t, 1, strings.Count(list, "\n"), "%q", list)
	assert.NotContains(t, list, "phantom")
	mlsd := h.listData("MLSD d")
	assert.Equal(t, 1, strings.Count(mlsd, "\n"), "%q", mlsd)
	stat := h.cmd("STAT d")
	assert.NotContains(t, stat, "phantom")
	assert.Equal(t, 3, strings.Count(stat, "\n")+1, "%q", stat)
}
