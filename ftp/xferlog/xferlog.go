// Package xferlog writes the wu-ftpd transfer log ("xferlog", as ProFTPD's
// TransferLog, vsftpd's xferlog_std_format and pure-ftpd's AltLog
// xferlog write it) that log analysers read: one line per file transfer
// (RETR, STOR, APPE, STOU), complete or not, of 14 space-separated fields:
//
//	current-time transfer-time remote-host file-size filename transfer-type
//	special-action-flag direction access-mode username service-name
//	authentication-method authenticated-user-id completion-status
//
// e.g. "Mon Jan  1 00:00:01 2024 1 192.0.2.7 6000 /srv/ftp/u/a.txt b _ o r u ftp 0 * c".
// current-time is the local time the transfer ended (5 tokens);
// transfer-time whole seconds, at least 1 (as vsftpd: analysers divide by
// it); file-size the bytes moved; filename the server-side path with
// spaces and control characters as "_"; transfer-type "a" (ASCII) or "b";
// direction "o" (download) or "i" (upload); access-mode "a" (anonymous)
// or "r"; service "ftp", authentication "0", user id "*"; completion "c"
// or "i" (incomplete).
package xferlog

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gnetftp/gnetftp/ftp"
)

// Config tunes a Log. The zero value is usable.
type Config struct {
	// Location is the time zone of current-time; default time.Local.
	Location *time.Location
	// Queue bounds the lines waiting for the writer goroutine; default
	// 4096. A line over it is dropped (and counted: Dropped), never
	// waited for: the events run on the event loops.
	Queue int
	// Logger is told of write errors and drops (once per error, then
	// counted); default slog.Default().
	Logger *slog.Logger
	// Now gives the time a transfer is logged at; default time.Now.
	Now func() time.Time
}

// Log is an ftp.Events that writes TransferDone's file transfers as
// xferlog lines, from a goroutine of its own. Its event methods may be
// called from any goroutine; Close ends it.
type Log struct {
	ftp.BaseEvents
	cfg     Config
	mu      sync.Mutex // guards closed and the send on lines
	closed  bool
	lines   chan []byte
	done    chan struct{}
	w       io.Writer
	file    *os.File // when Open made it
	path    string
	reopen  chan chan error
	dropped atomic.Int64
}

// Open appends to the file at path (created 0640 if missing).
func Open(path string, cfg Config) (*Log, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("xferlog: %w", err)
	}
	l := New(f, cfg)
	l.file, l.path = f, path
	return l, nil
}

// New writes to w.
func New(w io.Writer, cfg Config) *Log {
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 4096
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Log{cfg: cfg, lines: make(chan []byte, cfg.Queue), done: make(chan struct{}), w: w, reopen: make(chan chan error)}
	go l.write()
	return l
}

// fileCommands are the transfers an xferlog records (listings are not).
var fileCommands = map[string]byte{"RETR": 'o', "STOR": 'i', "APPE": 'i', "STOU": 'i'}

// TransferDone queues the line of a file transfer.
func (l *Log) TransferDone(e ftp.TransferEvent) {
	if _, ok := fileCommands[e.Command]; !ok {
		return
	}
	line := AppendLine(nil, e, l.cfg.Now().In(l.cfg.Location))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	select {
	case l.lines <- line:
	default:
		if l.dropped.Add(1) == 1 {
			l.cfg.Logger.Warn("xferlog: writer behind, lines dropped (counted)")
		}
	}
}

// Dropped reports the lines dropped because the writer was behind.
func (l *Log) Dropped() int64 { return l.dropped.Load() }

// AppendLine appends e's xferlog line (with its newline), ended at end,
// to b.
func AppendLine(b []byte, e ftp.TransferEvent, end time.Time) []byte {
	b = end.AppendFormat(b, "Mon Jan _2 15:04:05 2006")
	secs := max(1, int64(math.Round(e.Duration.Seconds())))
	b = append(b, ' ')
	b = strconv.AppendInt(b, secs, 10)
	b = append(b, ' ')
	b = append(b, field(host(e.Peer))...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, ' ')
	name := e.LocalPath
	if name == "" {
		name = e.Path
	}
	b = append(b, field(name)...)
	kind := byte('b')
	if e.ASCII {
		kind = 'a'
	}
	dir := fileCommands[e.Command]
	mode := byte('r')
	if e.Anonymous {
		mode = 'a'
	}
	b = append(b, ' ', kind, ' ', '_', ' ', dir, ' ', mode, ' ')
	b = append(b, field(e.User)...)
	b = append(b, " ftp 0 * "...)
	if e.Complete {
		b = append(b, 'c')
	} else {
		b = append(b, 'i')
	}
	return append(b, '\n')
}

// field makes s one field: spaces and control characters become "_"
// (as ProFTPD), and an empty one is "_".
func field(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, s)
}

func host(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if a == nil {
		return ""
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// write is the writer goroutine: lines go out through a buffer flushed
// whenever the queue is empty.
func (l *Log) write() {
	defer close(l.done)
	bw := bufio.NewWriter(l.w)
	failed := false
	report := func(err error) {
		if err != nil && !failed {
			failed = true
			l.cfg.Logger.Error("xferlog: write failed (further failures not logged)", "path", l.path, "err", err)
		}
	}
	for {
		select {
		case line, ok := <-l.lines:
			if !ok {
				report(bw.Flush())
				return
			}
			_, err := bw.Write(line)
			report(err)
			if len(l.lines) == 0 {
				report(bw.Flush())
			}
		case answer := <-l.reopen:
			report(bw.Flush())
			err := l.reopenFile()
			bw.Reset(l.w)
			failed = false
			answer <- err
		}
	}
}

// reopenFile swaps the file for a new one at the same path (the writer
// goroutine only).
func (l *Log) reopenFile() error {
	if l.file == nil {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("xferlog: reopen: %w", err)
	}
	_ = l.file.Close()
	l.file, l.w = f, f
	return nil
}

// Reopen closes and opens the file again at its path, after logrotate
// moved it away (ftpd does it on SIGHUP). Lines queued before it go to
// the old file. Any goroutine but after Close.
func (l *Log) Reopen() error {
	answer := make(chan error, 1)
	select {
	case l.reopen <- answer:
		return <-answer
	case <-l.done:
		return nil
	}
}

// Close writes the lines queued, stops the writer and closes the file
// Open made. Later events are ignored.
func (l *Log) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.lines)
	}
	l.mu.Unlock()
	<-l.done
	if f := l.file; f != nil {
		l.file = nil
		if err := f.Close(); err != nil {
			return fmt.Errorf("xferlog: %w", err)
		}
	}
	return nil
}
