// Listings: LIST and NLST (over a data connection), MLSD and MLST (RFC
// 3659), and the listing behind STAT with a path.
//
// A listing is never built whole: the shell hands it over a batch at a
// time (shell.OpenListing; the local shell reads a cached directory
// straight from the snapshot every session shares), and it is formatted
// a chunk at a time as the client takes it. Over a data connection the
// transfer goroutine blocks on the socket when the client does not read;
// over the control connection (STAT) the next chunk is made only once the
// previous one has drained (protocol.Backpressure). A listing in
// progress holds one batch and one chunk, whatever the directory's size.

package ftp

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/listing"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/protocol"
)

// listChunk is about how much of a listing is formatted before it is
// written: a data connection's write, or one STAT piece.
const listChunk = 32 << 10

// listKind is what a listing sends of each entry.
type listKind int

const (
	listLong  listKind = iota // LIST, STAT: "ls -l" lines
	listNames                 // NLST: names
	listFacts                 // MLSD: RFC 3659 facts
)

// listSpec is a listing command's request, parsed on the loop.
type listSpec struct {
	kind    listKind
	p       string        // the resolved path
	glob    *listing.Glob // filters names; nil for none
	now     time.Time     // LIST dates
	facts   listing.Facts // MLSD
	perms   listing.Perms // MLSD perm fact
	dirOnly bool          // ls -d: the entry of p itself, not its entries
	name    string        // ls -d: the name it is listed by (the argument, as ls does)
	text    string        // the path as the client wrote it, without options: error replies quote it
}

// lsFlags are the ls options a LIST/NLST/STAT argument may start with,
// as clients send them and vsftpd accepts them ("-la", "-a -l", "-1",
// "-C", "-F", "-d", "-t", "-r", "-R"): a word of these letters after a
// dash is an option, never a path. Only -d changes anything (the
// directory itself, not its entries); the others are ignored: listings
// are always long (LIST) or names (NLST), sorted by name, every entry
// shown but an upload in progress, and not recursive.
const lsFlags = "1aACdFghlLnRrSstU"

// listSpec parses a LIST/NLST/STAT argument: leading option words (see
// lsFlags), then a path whose last segment may be a glob that filters
// names (within listing's limits: 501 beyond them).
func (s *session) listSpec(arg string, kind listKind) (listSpec, error) {
	arg = strings.TrimSpace(arg)
	dirOnly := false
	for len(arg) > 1 && arg[0] == '-' {
		flag, rest, _ := strings.Cut(arg, " ")
		if strings.Trim(flag[1:], lsFlags) != "" {
			break
		}
		dirOnly = dirOnly || strings.Contains(flag, "d")
		arg = strings.TrimSpace(rest)
	}
	spec := s.newSpec(kind)
	spec.dirOnly, spec.text = dirOnly, arg
	if spec.name = arg; arg == "" {
		spec.name = "."
	}
	if dir, base := path.Split(arg); listing.HasGlob(base) {
		// -d with a glob: the matches themselves, which is what a glob
		// lists anyway (a matching directory is not entered).
		spec.dirOnly = false
		g, err := listing.CompileGlob(base)
		if err != nil {
			return spec, ftpwire.Errorf(ftpwire.StatusArgSyntaxError,
				"Syntax error in parameters or arguments: glob pattern too long (at most %d bytes and %d wildcards or characters).",
				listing.MaxGlobLen, listing.MaxGlobElements)
		}
		spec.glob, arg = g, dir
	}
	p, err := s.path(arg)
	if err != nil {
		return spec, err
	}
	spec.p = p
	return spec, nil
}

// newSpec is a listing of kind with the session's settings.
func (s *session) newSpec(kind listKind) listSpec {
	return listSpec{kind: kind, now: s.Transport.Loop().Now(), facts: s.facts, perms: s.perms()}
}

// listStream is a listing on its way to the client: the shell's batches,
// formatted about listChunk bytes at a time into one reused buffer. It is
// used by one goroutine at a time (the transfer's, or the pool's for
// STAT), and owns the Listing until Close.
type listStream struct {
	lst     shell.Listing
	spec    listSpec
	control bool // STAT: lines go inside a 213 reply
	buf     []byte
	line    []byte // STAT: one LIST line before it goes into the reply
	pending []byte // Read: formatted, not yet read
	done    bool
}

// openListing opens the listing of spec on the pool and hands it, or
// the error about spec.p, to then on the loop; a listing that arrives
// after the connection is gone is closed.
func (s *session) openListing(spec listSpec, then func(ls *listStream, err error)) {
	sh := s.sh
	blockingOwned(s, func() (*listStream, error) {
		if spec.kind == listFacts {
			fi, err := sh.Stat(spec.p)
			if err != nil {
				return nil, err
			}
			if !fi.IsDir() {
				return nil, shell.ErrNotDir
			}
		}
		if spec.dirOnly {
			fi, err := sh.Stat(spec.p)
			if err != nil {
				return nil, err
			}
			return &listStream{lst: shell.SliceListing([]fs.FileInfo{namedInfo{fi, spec.name}}), spec: spec}, nil
		}
		lst, err := shell.OpenListing(sh, spec.p, spec.kind == listNames)
		if err != nil {
			return nil, err
		}
		return &listStream{lst: lst, spec: spec}, nil
	}, then, func(ls *listStream) { _ = ls.Close() })
}

// fill formats the next entries into ls.buf, until it holds listChunk
// bytes or the listing has ended (ls.done), and returns it.
func (ls *listStream) fill() ([]byte, error) {
	ls.buf = ls.buf[:0]
	for !ls.done && len(ls.buf) < listChunk {
		batch, err := ls.lst.Next()
		if errors.Is(err, io.EOF) {
			ls.done = true
			break
		}
		if err != nil {
			return nil, err
		}
		for _, fi := range batch {
			ls.buf = ls.appendEntry(ls.buf, fi)
		}
	}
	return ls.buf, nil
}

// appendEntry formats one entry as the listing's command sends it. A
// name with a CR or LF in it is left out: a client splits listings into
// lines, so it would see phantom entries (part of a name taken for a
// name of its own), and no command line can name such a file anyway.
func (ls *listStream) appendEntry(dst []byte, fi fs.FileInfo) []byte {
	sp := &ls.spec
	name := fi.Name()
	if strings.ContainsAny(name, "\r\n") || (sp.glob != nil && !sp.glob.Match(name)) {
		return dst
	}
	switch {
	case ls.control:
		ls.line = listing.AppendLIST(ls.line[:0], fi, sp.now)
		return ftpwire.AppendReplyLines(dst, ls.line[:len(ls.line)-2]) // without its CRLF
	case sp.kind == listNames:
		return listing.AppendNLST(dst, fi.Name())
	case sp.kind == listFacts:
		return listing.AppendMLSx(dst, fi, fi.Name(), sp.facts, sp.perms, true)
	}
	return listing.AppendLIST(dst, fi, sp.now)
}

// WriteTo writes the whole listing to w (the data connection: dtp.Send
// takes this path), a chunk at a time; a client that does not read
// blocks it in w.Write.
func (ls *listStream) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for !ls.done {
		chunk, err := ls.fill()
		if err != nil {
			return n, err
		}
		if len(chunk) > 0 {
			m, err := w.Write(chunk)
			n += int64(m)
			if err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// Read is WriteTo's counterpart for copies that read.
func (ls *listStream) Read(p []byte) (int, error) {
	for len(ls.pending) == 0 {
		if ls.done {
			return 0, io.EOF
		}
		chunk, err := ls.fill()
		if err != nil {
			return 0, err
		}
		ls.pending = chunk
	}
	n := copy(p, ls.pending)
	ls.pending = ls.pending[n:]
	return n, nil
}

// Close releases the shell's listing.
func (ls *listStream) Close() error { return ls.lst.Close() }

func (s *session) cmdLIST(arg string) { s.list(arg, listLong) }

// cmdNLST accepts a bare NLST (Twisted requires an argument; RFC 959 and
// every client say it is optional). A missing path is 550, as for LIST
// (vsftpd, ProFTPD; Twisted sends an empty listing); a glob that matches
// nothing is an empty listing.
func (s *session) cmdNLST(arg string) { s.list(arg, listNames) }

// cmdMLSD sends the facts of every entry of a directory (RFC 3659 7);
// a file is 550 "is not a directory" (as ProFTPD; MLST describes files).
func (s *session) cmdMLSD(arg string) { s.list(arg, listFacts) }

// perms is what the session's user may do, for the MLSx perm fact: read
// only (anonymous, a read-only shell), what its permissions grant (a
// shell.PermissionShell: a user with limits), or everything.
func (s *session) perms() listing.Perms {
	if s.anonymous || shell.IsReadOnly(s.sh) {
		return listing.ReadOnlyPerms
	}
	if ps, ok := s.sh.(shell.PermissionShell); ok {
		return listing.PermsFor(ps.Granted)
	}
	return listing.AllPerms
}

// transferNames are the commands' names in transfer logs and events.
var transferNames = map[listKind]string{listLong: "LIST", listNames: "NLST", listFacts: "MLSD"}

// list runs LIST, NLST or MLSD: the listing is opened on the pool (its
// errors answered before 150), then streamed on the transfer's goroutine.
func (s *session) list(arg string, kind listKind) {
	s.rest = 0 // a REST applies to the next transfer, whatever it is (vsftpd)
	d, ok := s.takeData()
	if !ok {
		return
	}
	var spec listSpec
	var err error
	if kind == listFacts {
		spec = s.newSpec(kind) // a path, no ls flags or globs (RFC 3659 7.1)
		spec.p, err = s.path(arg)
	} else {
		spec, err = s.listSpec(arg, kind)
	}
	if kind == listFacts {
		spec.text = arg
	}
	if err != nil {
		d.Close()
		s.replyErr(err, spec.text)
		return
	}
	s.openListing(spec, func(ls *listStream, err error) {
		var src io.Reader = ls
		if err != nil {
			d.Close()
			s.replyErr(err, spec.text)
			return
		}
		s.runTransfer(transferNames[kind], spec.p, "", d, func(ctx context.Context, conn dataConn) (int64, error) {
			return conn.send(ctx, src, false, s.f.cfg.Data.IdleTimeout)
		}, func(error) error {
			if ls == nil {
				return nil
			}
			return ls.Close()
		})
	})
}

// cmdMLST answers with the facts of one entry on the control connection:
// "250-Listing PATH", " facts PATH", "250 End".
func (s *session) cmdMLST(arg string) {
	p, err := s.path(arg)
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	sh, facts, perms := s.sh, s.facts, s.perms()
	blocking(s, func() (fs.FileInfo, error) { return sh.Stat(p) }, func(fi fs.FileInfo, err error) {
		if err != nil {
			s.replyErr(err, arg)
			return
		}
		line := listing.AppendMLSx(nil, fi, p, facts, perms, false)
		s.reply(ftpwire.StatusFileActionOK, "Listing "+p+"\n "+string(line)+"\nEnd")
	})
}

// statListing answers STAT with a path: a 213 reply holding the LIST
// lines of the path, sent over the control connection in pieces.
func (s *session) statListing(arg string) {
	spec, err := s.listSpec(arg, listLong)
	if err != nil {
		s.replyErr(err, spec.text)
		return
	}
	s.openListing(spec, func(ls *listStream, err error) {
		if err != nil {
			s.replyErr(err, spec.text)
			return
		}
		ls.control = true
		s.streamStat(ls)
	})
}

// streamStat sends ls as STAT's reply: "213-Status of P:", the lines, a
// chunk at a time (each made on the pool), "213 End of status". On a
// transport with protocol.Backpressure a chunk is made only once the one
// before has drained, so a client that does not read holds one chunk of
// the server's memory, not the listing. Commands wait meanwhile (one
// command at a time); a connection lost on the way closes the listing.
func (s *session) streamStat(ls *listStream) {
	release := s.LineReceiver.Hold()
	s.statList = ls
	s.out = ftpwire.AppendReplyOpen(s.out[:0], ftpwire.StatusFileStatus, "Status of "+ls.spec.p+":")
	_ = s.Transport.Write(s.out)
	finish := func(last string) {
		s.statList = nil
		s.reply(ftpwire.StatusFileStatus, last)
		release()
		s.resume()
	}
	var step func()
	step = func() {
		s.statBusy = true
		blockingOwned(s, func() ([]byte, error) {
			chunk, err := ls.fill()
			if err != nil || ls.done {
				_ = ls.Close() // here, on the pool: it may block
			}
			return chunk, err
		}, func(chunk []byte, err error) {
			s.statBusy = false
			if err != nil {
				_, text := toReply(err, ls.spec.p)
				s.warn("ftp STAT listing failed", "path", logText(ls.spec.p), "err", err)
				finish("End of status (incomplete: " + text + ")")
				return
			}
			if len(chunk) > 0 {
				_ = s.Transport.Write(chunk)
			}
			switch bp, ok := s.Transport.(protocol.Backpressure); {
			case ls.done:
				finish("End of status")
			case ok:
				bp.WhenDrained(step)
			default:
				step()
			}
		}, func([]byte) { _ = ls.Close() })
	}
	step()
}

// closeStatList releases a STAT listing left waiting for the client to
// read when the connection is lost (a chunk being made on the pool is
// released by its own drop path).
func (s *session) closeStatList() {
	if s.statList == nil || s.statBusy {
		return
	}
	ls := s.statList
	s.statList = nil
	if err := s.f.cfg.Pool.Submit(func() { _ = ls.Close() }); err != nil {
		_ = ls.Close()
	}
}

// namedInfo is an entry under another name than its own (ls -d).
type namedInfo struct {
	fs.FileInfo
	name string
}

func (n namedInfo) Name() string { return n.name }

// Owner and Group pass the entry's own through (shell.FileInfoOwner).
func (n namedInfo) Owner() string {
	if o, ok := n.FileInfo.(shell.FileInfoOwner); ok {
		return o.Owner()
	}
	return "ftp"
}

// Group: see Owner.
func (n namedInfo) Group() string {
	if o, ok := n.FileInfo.(shell.FileInfoOwner); ok {
		return o.Group()
	}
	return "ftp"
}
