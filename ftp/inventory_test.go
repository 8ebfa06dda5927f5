package ftp_test

// Twisted's test_ftp.py inventory (research/twisted-ftp.md section 9)
// items not covered by pi_test.go, and the departures from Twisted that
// each need a test saying so.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/local"
)

func TestBeforeLoginOnlyPublicCommandsRun(t *testing.T) {
	h := newPI(t, nil)
	h.next()
	for _, c := range []string{"CDUP", "CWD /", "LIST", "NLST", "MODE S", "STRU F", "PASV", "EPSV", "PORT 127,0,0,1,4,1",
		"PWD", "XPWD", "RETR x", "STOR x", "SYST", "TYPE I", "MKD d", "DELE f", "SIZE f", "MDTM f", "STAT",
		"NOOP", "ABOR", "REST 0", "RNFR a", "RNTO b", "SITE HELP", "ALLO 5"} {
		assert.Equal(t, "530 Please login with USER and PASS.", h.cmd(c), c)
	}
	assert.Regexp(t, `^211-Features:\n`, h.cmd("FEAT"), "FEAT is public (Twisted's PUBLIC_COMMANDS)")
	assert.Equal(t, "200 UTF8 mode is always on.", h.cmd("OPTS UTF8 ON"), "OPTS is public: lftp sends it right after AUTH TLS, before USER")
	assert.Regexp(t, `^214-The following commands are recognized:\n`, h.cmd("HELP"))
	assert.Equal(t, "214 USER <name>: log in as name", h.cmd("HELP USER"))
	assert.Equal(t, "500 Syntax error: command 'FROB' unrecognized.", h.cmd("FROB"),
		"an unknown command is 500 in every state (Twisted: 530 before login)")
	assert.Equal(t, "221 Goodbye.", h.cmd("QUIT"))
	assert.True(t, h.tr.Lost)
}

func TestMalformedArguments(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "f.txt", "12345")
	require.NoError(t, os.Mkdir(filepath.Join(h.root, "dir"), 0o755))
	cases := []struct{ line, want string }{
		{"TYPE A X", "504 Not implemented for parameter 'A X'."},
		{"TYPE E", "504 Not implemented for parameter 'E'."},
		{"TYPE L 7", "504 Not implemented for parameter 'L 7'."},
		{"TYPE a  n", "200 Type set to A."},
		{"STRU P", "504 Not implemented for parameter 'P'."},
		{"MODE C", "504 Not implemented for parameter 'C'."},
		{"REST 99999999999999999999", "501 syntax error in argument(s) 99999999999999999999."},
		{"REST 1.5", "501 syntax error in argument(s) 1.5."},
		{"PORT 127,0,0,1,256,1", "501 syntax error in argument(s) 127,0,0,1,256,1."},
		{"PORT 127,0,0,1,4,1,9", "501 syntax error in argument(s) 127,0,0,1,4,1,9."},
		{"PORT a,b,c,d,e,f", "501 syntax error in argument(s) a,b,c,d,e,f."},
		{"EPRT |1|::1|5000|", "501 syntax error in argument(s) |1|::1|5000|."},
		{"EPRT |1|127.0.0.1|0|", "501 syntax error in argument(s) |1|127.0.0.1|0|."},
		{"EPRT |1|127.0.0.1|70000|", "501 syntax error in argument(s) |1|127.0.0.1|70000|."},
		{"EPSV ALLX", "501 syntax error in argument(s) ALLX."},
		{"SIZE dir", "550 dir: is a directory"},
		{"SIZE nope", "550 nope: No such file or directory."},
		{"MDTM nope", "550 nope: No such file or directory."},
		{"DELE nope", "550 nope: No such file or directory."},
		{"RMD nope", "550 nope: No such file or directory."},
		{"MKD /", "550 /: File exists"},
		{"CWD ../..", "550 ../..: No such file or directory."},
		{"OPTS UTF8 OFF", "502 Option 'UTF8 OFF' not implemented."},
		{"SIZE f\x00.txt", "550 f\x00.txt: No such file or directory."},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, h.cmd(c.line), "%q", c.line)
	}
	assert.Equal(t, "213 5", h.cmd("size F.TXT/../f.txt"), "the command name is case-insensitive, the path is not")
}

func TestMDTMIsUTC(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "f", "x")
	when := time.Date(2021, 2, 3, 4, 5, 6, 0, time.FixedZone("X", 7*3600))
	require.NoError(t, os.Chtimes(filepath.Join(h.root, "f"), when, when))
	assert.Equal(t, "213 20210202210506", h.cmd("MDTM f"))
}

func TestStoreErrors(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	require.NoError(t, os.Mkdir(filepath.Join(h.root, "folder"), 0o755))
	h.pasv()
	assert.Equal(t, "550 folder: is a directory", h.cmd("STOR folder"))
	h.pasv()
	assert.Equal(t, "550 missing/x: No such file or directory.", h.cmd("STOR missing/x"))
	assert.Equal(t, "425 Use PORT, PASV, EPRT or EPSV first.", h.cmd("STOR x"),
		"a STOR refused by the shell uses up (and closes) the passive listener")
	assert.Equal(t, "550 ../x: No such file or directory.", h.cmd("STOR ../x"), "nothing above the root")

	anon := newPI(t, nil)
	anon.next()
	anon.cmd("USER ftp")
	assert.Equal(t, "230 Anonymous login ok, access restrictions apply.", anon.cmd("PASS"))
	anon.pasv()
	assert.Equal(t, "550 up.txt: Permission denied.", anon.cmd("STOR up.txt"))
	anon.pasv()
	assert.Equal(t, "550 up.txt: Permission denied.", anon.cmd("APPE up.txt"))
	_, err := os.Stat(filepath.Join(anon.root, "up.txt"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestRestartedStoreOverwritesFromTheOffset(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "f", "0123456789")
	h.cmd("REST 5")
	data := h.pasv()
	assert.Equal(t, "150 File status okay; about to open data connection.", h.cmd("STOR f"))
	_, _ = data.Write([]byte("XYZ"))
	data.Close()
	assert.Equal(t, "226 Transfer Complete.", h.next())
	b, _ := os.ReadFile(filepath.Join(h.root, "f"))
	assert.Equal(t, "01234XYZ", string(b))

	// REST applies to the next transfer only.
	data = h.pasv()
	h.cmd("RETR f")
	assert.Equal(t, "01234XYZ", readAll(t, data))
	assert.Equal(t, "226 Transfer Complete.", h.next())
}

func TestListingsOfFilesTheWorkingDirectoryAndUnicodeNames(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "sub/héllo wörld.txt", "1")
	writeFile(t, h.root, "sub/日本.bin", "22")
	writeFile(t, h.root, "top.txt", "333")

	data := h.pasv()
	h.cmd("NLST sub")
	assert.Equal(t, "héllo wörld.txt\r\n日本.bin\r\n", readAll(t, data), "names go out as UTF-8 bytes")
	assert.Equal(t, "226 Transfer Complete.", h.next())

	data = h.pasv()
	h.cmd("LIST top.txt")
	assert.Regexp(t, `^-rw-r--r-- .* 3 \w{3} .* top\.txt\r\n$`, readAll(t, data), "LIST of a file lists that file")
	h.next()

	data = h.pasv()
	h.cmd("NLST top.txt")
	assert.Equal(t, "top.txt\r\n", readAll(t, data))
	h.next()

	assert.Equal(t, "250 Requested File Action Completed OK", h.cmd("CWD sub"))
	data = h.pasv()
	h.cmd("LIST -al")
	lines := strings.Split(strings.TrimSuffix(readAll(t, data), "\r\n"), "\r\n")
	require.Len(t, lines, 2, "LIST with flags lists the working directory")
	assert.True(t, strings.HasSuffix(lines[0], " héllo wörld.txt"), lines[0])
	h.next()

	data = h.pasv()
	h.cmd("LIST -l ..")
	assert.Contains(t, readAll(t, data), " top.txt\r\n", "flags followed by a path")
	h.next()

	data = h.pasv()
	h.cmd("NLST /sub/*.bin")
	assert.Equal(t, "日本.bin\r\n", readAll(t, data), "a glob in the last segment")
	h.next()

	empty := filepath.Join(h.root, "empty")
	require.NoError(t, os.Mkdir(empty, 0o755))
	data = h.pasv()
	h.cmd("LIST /empty")
	assert.Equal(t, "", readAll(t, data))
	assert.Equal(t, "226 Transfer Complete.", h.next())
}

func TestTotalConnectionLimit(t *testing.T) {
	f, root := newFactory(t, func(c *ftp.Config) { c.MaxConnections = 2 })
	a := connectPI(t, f, root)
	a.next()
	b := connectPI(t, f, root)
	b.tr.Remote = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 1}
	b.next()
	c := connectPI(t, f, root)
	assert.Equal(t, "421 Too many users right now, try again in a few minutes.", c.next())
	assert.True(t, c.tr.Lost)
	assert.Equal(t, 3, f.Connections(), "the refused one counts until its ConnectionLost")
	c.p.ConnectionLost(nil)
	c.tr.Lost = true
	assert.Equal(t, 2, f.Connections())
}

func TestQUITDuringATransferEndsBoth(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "big.bin", strings.Repeat("z", 32<<20))
	data := h.pasv()
	h.cmd("RETR big.bin") // the client does not read: the transfer stalls
	// QUIT stops the transfer at once; the transfer's own reply comes
	// first (RFC 959: the result is sent, then the connection closes).
	assert.Equal(t, "426 Transfer aborted.  Data connection closed.", h.cmd("QUIT"))
	assert.Equal(t, "221 Goodbye.", h.next())
	assert.True(t, h.tr.Lost)
	h.p.ConnectionLost(nil)
	// The transfer goroutine was cancelled: the data connection ends.
	_ = data.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, data)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the data connection stayed open: %v", err)
}

func TestConnectionLostDuringAnUploadLeavesNoTemporaryFile(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "keep.txt", "precious")
	data := h.pasv()
	h.cmd("STOR keep.txt")
	_, _ = data.Write([]byte("partial"))
	h.p.ConnectionLost(nil) // the control connection drops mid-upload
	h.tr.Lost = true
	require.Eventually(t, func() bool {
		h.tr.FakeLoop.RunPending()
		entries, _ := os.ReadDir(h.root)
		return len(entries) == 1
	}, 10*time.Second, 5*time.Millisecond, "the temporary upload file is removed")
	b, _ := os.ReadFile(filepath.Join(h.root, "keep.txt"))
	assert.Equal(t, "precious", string(b))
}

func TestEPSVAllRefusesEveryOtherDataCommand(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	assert.Equal(t, "200 EPSV ALL OK", h.cmd("epsv all"))
	assert.Equal(t, "503 Incorrect sequence of commands: may not send EPRT after EPSV ALL", h.cmd("EPRT |1|127.0.0.1|5000|"))
	assert.Equal(t, "503 Incorrect sequence of commands: may not send PASV after EPSV ALL", h.cmd("PASV"))
	assert.Regexp(t, `^229 Entering Extended Passive Mode \(\|\|\|\d+\|\)\.$`, h.cmd("EPSV 1"))
}

// A second PASV before any transfer keeps one listener, not two: the
// same port, with the connection made after the first PASV closed rather
// than taken for the transfer.
func TestASecondPASVReusesTheFirstListener(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	first, err := ftpwire.ParsePASVReply(h.cmd("PASV"))
	require.NoError(t, err)
	early, err := net.DialTimeout("tcp", first.String(), 5*time.Second)
	require.NoError(t, err)
	defer early.Close()
	second := h.pasv()
	assert.Equal(t, first.String(), second.RemoteAddr().String())
	assert.Equal(t, 1, h.f.PassiveListeners("127.0.0.1"))
	_ = early.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(early)
	assert.Empty(t, b)
	assert.ErrorIs(t, err, syscall.ECONNRESET, "the first PASV's connection is reset, not left waiting")
}

func TestSTATWithAPathIsRefusedDuringATransfer(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "big.bin", strings.Repeat("z", 32<<20))
	data := h.pasv()
	h.cmd("RETR big.bin")
	assert.Equal(t, "503 Incorrect sequence of commands: transfer in progress", h.cmd("STAT /"))
	stat := h.cmd("STAT")
	assert.Contains(t, stat, "\n Logged in as alice\n")
	assert.Contains(t, stat, "\n TYPE: BINARY, STRUcture: File, MODE: Stream\n")
	h.send("ABOR")
	assert.Equal(t, "426 Transfer aborted.  Data connection closed.", h.next())
	assert.Equal(t, "226 Abort successful", h.next())
	data.Close()
}

func TestFailedLoginHoldsPipelinedCommandsUntilTheDelay(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) { c.FailedLoginDelay = 3 * time.Second })
	h.next()
	h.p.DataReceived([]byte("USER alice\r\nPASS wrong\r\nUSER alice\r\nPASS secret\r\nPWD\r\n"))
	assert.Equal(t, "331 Password required for alice.", h.next())
	waitDelayArmed(t, h)
	h.tr.FakeLoop.Advance(2999 * time.Millisecond)
	h.quiet() // the second try waits behind the first one's delay
	h.tr.FakeLoop.Advance(time.Millisecond)
	assert.Equal(t, "530 Sorry, Authentication failed.", h.next())
	assert.Equal(t, "331 Password required for alice.", h.next())
	assert.Equal(t, "230 User logged in, proceed", h.next())
	assert.Equal(t, `257 "/" is the current directory`, h.next())
}

// syncBuffer is a log sink written from the loop and from transfers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestLogsNameTransfersAndNeverAPassword(t *testing.T) {
	var logs syncBuffer
	h := newPI(t, func(c *ftp.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		c.FailedLoginDelay = time.Second
	})
	h.next()
	h.cmd("USER alice")
	h.send("PASS hunter2-wrong")
	waitDelayArmed(t, h)
	h.tr.FakeLoop.Advance(time.Second)
	h.next()
	h.cmd("USER alice")
	h.cmd("PASS secret")
	data := h.pasv()
	h.cmd("STOR logged.txt")
	_, _ = data.Write([]byte("12345"))
	data.Close()
	require.Equal(t, "226 Transfer Complete.", h.next())
	h.cmd("QUIT")
	h.p.ConnectionLost(nil)

	out := logs.String()
	assert.NotContains(t, out, "hunter2")
	assert.NotContains(t, out, "secret")
	var sawStart, sawEnd, sawXfer, sawFail bool
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		switch rec["msg"] {
		case "ftp session start":
			sawStart = rec["peer"] == "127.0.0.1:54321"
		case "ftp session end":
			sawEnd = rec["user"] == "alice"
		case "ftp login failed":
			sawFail = rec["user"] == "alice"
		case "ftp transfer":
			_, numeric := rec["duration_ms"].(float64)
			sawXfer = rec["user"] == "alice" && rec["ftp_path"] == "/logged.txt" && rec["bytes"] == float64(5) &&
				rec["path"] == filepath.Join(h.root, "logged.txt") && rec["kind"] == "STOR" && numeric
		}
	}
	assert.True(t, sawStart && sawEnd && sawXfer && sawFail, "start %v end %v transfer %v failed login %v\n%s",
		sawStart, sawEnd, sawXfer, sawFail, out)
}

// explosive is a Shell whose file contents panic when read: the panic
// happens on the transfer's goroutine, not on the loop.
type explosive struct{ shell.Shell }

type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("backend bug while reading") }
func (panicReader) Close() error             { return nil }

func (explosive) OpenForReading(string, int64) (io.ReadCloser, error) { return panicReader{}, nil }

func TestPanicDuringATransferGives451AndTheSessionGoesOn(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) {
		c.Realm = shell.RealmFunc(func(shell.Login) (shell.Shell, error) {
			l, err := local.New(c.Root)
			return explosive{l}, err
		})
	})
	h.login()
	data := h.pasv()
	assert.Equal(t, "150 File status okay; about to open data connection.", h.cmd("RETR anything"))
	assert.Equal(t, "451 Requested action aborted. Local error in processing.", h.next())
	_ = data.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.Copy(io.Discard, data)
	assert.Equal(t, "200 Command OK", h.cmd("NOOP"))
}

func TestTelnetInterruptBeforeABORAndSTAT(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	assert.Regexp(t, `^211-FTP server status:\n`, h.cmd("\xff\xf4\xff\xf2STAT"), "IAC IP IAC DM in the stream")
	writeFile(t, h.root, "big.bin", strings.Repeat("z", 32<<20))
	data := h.pasv()
	h.cmd("RETR big.bin") // the client does not read: the transfer stalls
	// The first IAC went out of band (old lftp, mplayer): the rest is here.
	h.send("\xf4\xff\xf2ABOR")
	assert.Equal(t, "426 Transfer aborted.  Data connection closed.", h.next())
	assert.Equal(t, "226 Abort successful", h.next())
	data.Close()
	assert.Equal(t, "200 Command OK", h.cmd("\xff\xf4\xffNOOP"))
	assert.Equal(t, "500 Syntax error: command '?' unrecognized.", h.cmd("\xff\x7f"),
		"only bytes from 0xF0 up are Telnet noise")
}

func TestPASVOnAnIPv4MappedControlAddress(t *testing.T) {
	h := newPI(t, nil)
	// A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
	h.tr.Local = &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 21}
	h.login()
	writeFile(t, h.root, "f", "mapped")
	data := h.pasv() // asserts the 227 names 127,0,0,1 and connects there
	assert.Equal(t, "150 File status okay; about to open data connection.", h.cmd("RETR f"))
	assert.Equal(t, "mapped", readAll(t, data))
	assert.Equal(t, "226 Transfer Complete.", h.next())
}

// failing is a Shell whose uploads hit a full disk or an exhausted quota
// and whose downloads fail with an I/O error after a few bytes.
type failing struct {
	shell.Shell
	writeErr error
}

type failingWriter struct {
	err     error
	aborted *bool
}

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }
func (w failingWriter) Commit() error             { return nil }
func (w failingWriter) Abort() error              { *w.aborted = true; return nil }

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n > 0 {
		return 0, &os.PathError{Op: "read", Path: "/f", Err: syscall.EIO}
	}
	r.n = copy(p, "abc")
	return r.n, nil
}
func (r *failingReader) Close() error { return nil }

func (f failing) OpenForReading(string, int64) (io.ReadCloser, error) { return &failingReader{}, nil }

func TestStorageAndReadErrorsDuringTransfers(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, "452 Requested action aborted. Insufficient storage."},
		{&os.PathError{Op: "write", Path: "/x", Err: syscall.EDQUOT}, "552 Requested file action aborted, exceeded file storage allocation"},
		{errors.New("backend went away"), "451 Requested action aborted. Local error in processing."},
	} {
		var aborted bool
		h := newPI(t, func(cfg *ftp.Config) {
			cfg.Realm = shell.RealmFunc(func(shell.Login) (shell.Shell, error) {
				l, err := local.New(cfg.Root)
				return writeFailing{failing{l, c.err}, &aborted}, err
			})
		})
		h.login()
		data := h.pasv()
		assert.Equal(t, "150 File status okay; about to open data connection.", h.cmd("STOR x"))
		_, _ = data.Write([]byte("some bytes"))
		data.Close()
		assert.Equal(t, c.want, h.next())
		assert.True(t, aborted, "a failed upload is aborted, not committed")

		data = h.pasv()
		h.cmd("RETR f")
		_ = data.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.Copy(io.Discard, data)
		assert.Equal(t, "451 Requested action aborted. Local error in processing.", h.next(), "a read error mid-RETR")
		assert.Equal(t, "200 Command OK", h.cmd("NOOP"))
	}
}

// writeFailing adds the failing uploads to failing.
type writeFailing struct {
	failing
	aborted *bool
}

func (w writeFailing) OpenForWriting(string, int64, bool) (shell.WriteFile, error) {
	return failingWriter{err: w.writeErr, aborted: w.aborted}, nil
}

// listOnly is a shell without the NameLister capability.
type listOnly struct{ shell.Shell }

// NLST reads names only when the shell can (shell.NameLister); other
// shells give the same listing through List.
func TestNLSTWithAndWithoutNameLister(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(*local.Local) shell.Shell
	}{
		{"NameLister", func(l *local.Local) shell.Shell { return l }},
		{"List only", func(l *local.Local) shell.Shell { return listOnly{l} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newPI(t, func(c *ftp.Config) {
				c.Realm = shell.RealmFunc(func(shell.Login) (shell.Shell, error) {
					l, err := local.New(c.Root)
					return tc.wrap(l), err
				})
			})
			_, isNL := tc.wrap(nil).(shell.NameLister)
			require.Equal(t, tc.name == "NameLister", isNL)
			h.login()
			writeFile(t, h.root, "d/b.txt", "1")
			writeFile(t, h.root, "d/a.bin", "22")
			require.NoError(t, os.Mkdir(filepath.Join(h.root, "d", "sub"), 0o755))
			for cmd, want := range map[string]string{
				"NLST d":       "a.bin\r\nb.txt\r\nsub\r\n",
				"NLST d/*.txt": "b.txt\r\n",
				"NLST d/b.txt": "b.txt\r\n",
				"NLST d/*.no":  "",
			} {
				data := h.pasv()
				h.cmd(cmd)
				assert.Equal(t, want, readAll(t, data), cmd)
				assert.Equal(t, "226 Transfer Complete.", h.next(), cmd)
			}
			h.pasv()
			assert.Equal(t, "550 nothing: No such file or directory.", h.cmd("NLST nothing"), "as LIST")
		})
	}
}

// MLSD and MLST (RFC 3659), which pure-ftpd, ProFTPD and pyftpdlib have
// and Twisted lacks: machine-readable facts, UTC times, perm from what the
// user may do, facts chosen with OPTS MLST.
func TestMLSDAndMLST(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "d/f.txt", "abc")
	require.NoError(t, os.Mkdir(filepath.Join(h.root, "d", "sub"), 0o755))
	mtime := time.Date(2025, 12, 31, 23, 59, 58, 0, time.UTC)
	require.NoError(t, os.Chtimes(filepath.Join(h.root, "d", "f.txt"), mtime, mtime))

	data := h.pasv()
	assert.Equal(t, "150 File status okay; about to open data connection.", h.cmd("MLSD d"))
	lines := strings.Split(strings.TrimSuffix(readAll(t, data), "\r\n"), "\r\n")
	assert.Equal(t, "226 Transfer Complete.", h.next())
	require.Len(t, lines, 2)
	assert.Regexp(t, `^type=file;size=3;modify=20251231235958;perm=adfrw;unix\.mode=0644;unix\.owner=[^;]+;unix\.group=[^;]+;unique=[0-9a-f]+g[0-9a-f]+; f\.txt$`, lines[0])
	assert.Regexp(t, `^type=dir;size=\d+;modify=\d{14};perm=cdeflmp;unix\.mode=0755;.* sub$`, lines[1])

	assert.Regexp(t, `^250-Listing /d/f\.txt\n type=file;size=3;modify=20251231235958;perm=adfrw;.*; /d/f\.txt\n250 End$`, h.cmd("MLST d/f.txt"))
	assert.Regexp(t, `^250-Listing /\n type=dir;.*; /\n250 End$`, h.cmd("MLST"), "no argument: the working directory")
	assert.Equal(t, "550 nothing: No such file or directory.", h.cmd("MLST nothing"))
	h.pasv()
	assert.Equal(t, "550 d/f.txt: is not a directory", h.cmd("MLSD d/f.txt"), "MLSD lists directories; MLST describes files")

	assert.Equal(t, "200 MLST OPTS type;size;", h.cmd("OPTS MLST size;Type;bogus;"))
	assert.Equal(t, "250-Listing /d/f.txt\n type=file;size=3; /d/f.txt\n250 End", h.cmd("MLST d/f.txt"))
	assert.Contains(t, h.cmd("FEAT"), "\n MLST type*;size*;modify;perm;")

	anon := newPI(t, nil)
	anon.loginAnonymous()
	writeFile(t, anon.root, "pub/r.txt", "r")
	data = anon.pasv()
	anon.cmd("MLSD /")
	assert.Regexp(t, `^type=dir;[^ ]*perm=el;[^ ]* pub\r\n$`, readAll(t, data), "read-only: enter and list")
	anon.next()
	assert.Regexp(t, `perm=r;.* /pub/r\.txt\n`, anon.cmd("MLST /pub/r.txt"), "read-only: retrieve only")
}

func TestMFMTSetsTheModificationTime(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "f.txt", "x")
	assert.Equal(t, "213 Modify=20200229123456; /f.txt", h.cmd("MFMT 20200229123456 f.txt"))
	fi, err := os.Stat(filepath.Join(h.root, "f.txt"))
	require.NoError(t, err)
	assert.Equal(t, time.Date(2020, 2, 29, 12, 34, 56, 0, time.UTC), fi.ModTime().UTC(), "the file on disk")
	assert.Equal(t, "213 20200229123456", h.cmd("MDTM f.txt"))
	assert.Equal(t, "213 Modify=20210101000000; /f.txt", h.cmd("MFMT 20210101000000.123 f.txt"), "fractions dropped")
	for _, bad := range []string{"MFMT 2020 f.txt", "MFMT 20201301000000 f.txt", "MFMT 20200229123456", "MFMT f.txt"} {
		assert.Regexp(t, `^501 `, h.cmd(bad), bad)
	}
	assert.Equal(t, "550 nothing: No such file or directory.", h.cmd("MFMT 20200229123456 nothing"))

	anon := newPI(t, nil)
	anon.loginAnonymous()
	assert.Equal(t, "550 f.txt: Permission denied.", anon.cmd("MFMT 20200229123456 f.txt"))
}

func TestRETROfAFIFOIs550NotAHang(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	require.NoError(t, syscall.Mkfifo(filepath.Join(h.root, "fifo"), 0o644))
	h.pasv()
	assert.Equal(t, "550 fifo: not a regular file", h.cmd("RETR fifo"))
	h.pasv()
	assert.Equal(t, "550 fifo: not a regular file", h.cmd("APPE fifo"))
	assert.Equal(t, "200 Command OK", h.cmd("NOOP"))
}
