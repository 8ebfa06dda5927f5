package ftp_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/local"
)

func TestGreetingAndLoginStates(t *testing.T) {
	h := newPI(t, nil)
	assert.Equal(t, "220 gnetftp FTP server ready.", h.next())
	for _, c := range []string{"NOOP", "SYST", "LIST", "PWD", "TYPE I", "RETR x"} {
		assert.Equal(t, "530 Please login with USER and PASS.", h.cmd(c), c)
	}
	assert.Equal(t, "503 Incorrect sequence of commands: USER required before PASS", h.cmd("PASS x"))
	assert.Equal(t, "501 Syntax error: USER requires an argument.", h.cmd("USER"))
	assert.Equal(t, "331 Password required for alice.", h.cmd("USER alice"))
	assert.Equal(t, "503 Incorrect sequence of commands: PASS required after USER", h.cmd("PWD"))
	assert.Equal(t, "230 User logged in, proceed", h.cmd("PASS secret"))
	assert.Equal(t, `257 "/" is the current directory`, h.cmd("PWD"))
	assert.Equal(t, "503 Incorrect sequence of commands: already logged in", h.cmd("USER bob"))
	assert.Equal(t, "211-Features:\n EPRT\n EPSV\n HOST\n MDTM\n MFMT\n PASV\n REST STREAM\n SIZE\n TVFS\n TYPE A;I\n UTF8\n MLST type*;size*;modify*;perm*;unix.mode*;unix.owner*;unix.group*;unique*;\n211 End", h.cmd("FEAT"))
	assert.Equal(t, "221 Goodbye.", h.cmd("QUIT"))
	assert.True(t, h.tr.Lost)
}

func TestAnonymousLoginIsReadOnly(t *testing.T) {
	h := newPI(t, nil)
	writeFile(t, h.root, "pub/a.txt", "x")
	h.next()
	assert.Equal(t, "331 Guest login ok, type your email address as password.", h.cmd("USER anonymous"))
	assert.Equal(t, "230 Anonymous login ok, access restrictions apply.", h.cmd("PASS me@example.com"))
	assert.Equal(t, "550 /new: Permission denied.", h.cmd("MKD /new"))
	assert.Equal(t, "550 pub/a.txt: Permission denied.", h.cmd("DELE pub/a.txt"))
	assert.Equal(t, "350 Requested file action pending further information.", h.cmd("RNFR pub/a.txt"))
	assert.Equal(t, "550 b.txt: Permission denied.", h.cmd("RNTO b.txt"))
}

func TestFailedLoginWaitsTheSameDelayThenRefuses(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) { c.FailedLoginDelay = 2 * time.Second })
	h.next()
	for i, creds := range [][2]string{{"alice", "wrong"}, {"mallory", "secret"}} {
		h.cmd("USER " + creds[0])
		h.send("PASS " + creds[1])
		// bcrypt runs on the pool; the reply waits for the manual clock.
		waitDelayArmed(t, h)
		h.tr.FakeLoop.Advance(1999 * time.Millisecond)
		h.quiet()
		h.tr.FakeLoop.Advance(time.Millisecond)
		assert.Equal(t, "530 Sorry, Authentication failed.", h.next(), "attempt %d", i)
	}
	h.cmd("USER alice")
	h.send("PASS nope")
	waitDelayArmed(t, h)
	h.tr.FakeLoop.Advance(2 * time.Second)
	assert.Equal(t, "530 Sorry, Authentication failed.", h.next())
	assert.Equal(t, "421 Too many failed logins, closing control connection.", h.next())
	assert.True(t, h.tr.Lost)
}

// waitDelayArmed waits until bcrypt has run on the pool and the failed
// login delay is armed beside the idle timer.
func waitDelayArmed(t *testing.T, h *pi) {
	t.Helper()
	require.Eventually(t, func() bool { h.tr.FakeLoop.RunPending(); return h.tr.FakeLoop.Clock.Pending() == 2 }, 10*time.Second, time.Millisecond)
}

func TestUnknownUnimplementedAndMalformedCommands(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	cases := map[string]string{
		"FROB":                     "500 Syntax error: command 'FROB' unrecognized.",
		"SITE CHMOD 7":             "501 Syntax error: SITE CHMOD <octal mode> <path> (got '7').",
		"STOU":                     "425 Use PORT, PASV, EPRT or EPSV first.",
		"TYPE":                     "501 Syntax error: TYPE requires an argument.",
		"TYPE X":                   "504 Not implemented for parameter 'X'.",
		"TYPE A N":                 "200 Type set to A.",
		"TYPE L 8":                 "200 Type set to I.",
		"TYPE i":                   "200 Type set to I.",
		"STRU R":                   "504 Not implemented for parameter 'R'.",
		"STRU F":                   "200 Command OK",
		"MODE B":                   "504 Not implemented for parameter 'B'.",
		"MODE S":                   "200 Command OK",
		"NOOP extra":               "501 Syntax error: NOOP takes no argument.",
		"MKD":                      "501 Syntax error: MKD requires an argument.",
		"REST -5":                  "501 syntax error in argument(s) -5.",
		"REST abc":                 "501 syntax error in argument(s) abc.",
		"ALLO 100":                 "202 Command not implemented, superfluous at this site",
		"OPTS UTF8 ON":             "200 UTF8 mode is always on.",
		"OPTS MLST x":              "200 MLST OPTS ", // unknown facts are left out (RFC 3659 7.9)
		"OPTS MODE Z":              "502 Option 'MODE Z' not implemented.",
		"PORT 1,2,3":               "501 syntax error in argument(s) 1,2,3.",
		"PORT 300,0,0,1,4,1":       "501 syntax error in argument(s) 300,0,0,1,4,1.",
		"EPRT |3|x|1|":             "522 Network protocol not supported, use (1,2)",
		"EPRT garbage":             "501 syntax error in argument(s) garbage.",
		"EPSV 7":                   "522 Network protocol not supported, use (1,2)",
		"EPSV x":                   "501 syntax error in argument(s) x.",
		"RNTO x":                   "503 Incorrect sequence of commands: RNFR required before RNTO",
		"RETR missing":             "425 Use PORT, PASV, EPRT or EPSV first.",
		"SIZE ../../../etc/passwd": "550 ../../../etc/passwd: No such file or directory.",
		"CWD /..":                  "550 /..: No such file or directory.",
		"HELP NOPE":                "501 Unknown command NOPE.",
		"HELP cwd":                 "214 CWD <dir>: change the working directory",
		"":                         "500 Syntax error: empty command.",
	}
	for c, want := range cases {
		assert.Equal(t, want, h.cmd(c), "%q", c)
	}
	assert.Regexp(t, `^214-The following commands are recognized:\n`, h.cmd("HELP"))
	assert.Equal(t, `257 "/" is the current directory`, h.cmd("XPWD"), "alias")
}

func TestPORTRefusesThirdHostsAndPrivilegedPorts(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	assert.Equal(t, "500 Illegal PORT command: data connection to a third host refused.", h.cmd("PORT 10,0,0,1,200,10"))
	assert.Equal(t, "500 Illegal PORT command: data connection to a privileged port refused.", h.cmd("PORT 127,0,0,1,0,25"))
	assert.Equal(t, "500 Illegal EPRT command: data connection to a third host refused.", h.cmd("EPRT |1|127.0.0.2|5000|"))
	assert.Equal(t, "522 Network protocol not supported, use (1)", h.cmd("EPRT |2|::1|5000|"), "IPv6 from an IPv4 control connection (RFC 2428)")
	assert.Equal(t, "200 PORT OK", h.cmd("PORT 127,0,0,1,200,10"))
	assert.Equal(t, "200 EPSV ALL OK", h.cmd("EPSV ALL"))
	assert.Equal(t, "503 Incorrect sequence of commands: may not send PASV after EPSV ALL", h.cmd("PASV"))
	assert.Equal(t, "503 Incorrect sequence of commands: may not send PORT after EPSV ALL", h.cmd("PORT 127,0,0,1,200,10"))
	assert.Regexp(t, `^229 Entering Extended Passive Mode \(\|\|\|\d+\|\)\.$`, h.cmd("EPSV"))
}

func TestDirectoriesAndRenames(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	assert.Equal(t, `257 "/a""b" created`, h.cmd(`MKD a"b`), "quotes doubled")
	assert.Equal(t, "250 Requested File Action Completed OK", h.cmd(`CWD a"b`))
	assert.Equal(t, `257 "/a""b" is the current directory`, h.cmd("PWD"))
	assert.Equal(t, "250 Requested File Action Completed OK", h.cmd("CDUP"))
	assert.Equal(t, "550 a\"b: File exists", h.cmd(`MKD a"b`))
	assert.Equal(t, "550 nope: No such file or directory.", h.cmd("CWD nope"))
	writeFile(t, h.root, "f.txt", "12345")
	assert.Equal(t, "550 f.txt: is not a directory", h.cmd("CWD f.txt"))
	assert.Equal(t, "550 f.txt: is not a directory", h.cmd("RMD f.txt"))
	writeFile(t, h.root, "full/x", "x")
	assert.Equal(t, "550 full: Directory not empty", h.cmd("RMD full"), "not \"File exists\"")
	require.NoError(t, os.RemoveAll(filepath.Join(h.root, "full")))
	assert.Equal(t, `550 a"b: is a directory`, h.cmd(`DELE a"b`))
	assert.Equal(t, "213 5", h.cmd("SIZE f.txt"))
	assert.Regexp(t, `^213 \d{14}$`, h.cmd("MDTM f.txt"))
	assert.Equal(t, "550 ghost: No such file or directory.", h.cmd("RNFR ghost"))
	assert.Equal(t, "350 Requested file action pending further information.", h.cmd("RNFR f.txt"))
	assert.Equal(t, "503 Incorrect sequence of commands: RNTO required after RNFR", h.cmd("NOOP"))
	assert.Equal(t, "350 Requested file action pending further information.", h.cmd("RNFR f.txt"))
	assert.Equal(t, "250 Requested File Action Completed OK", h.cmd("RNTO g.txt"))
	_, err := os.Stat(filepath.Join(h.root, "g.txt"))
	assert.NoError(t, err)
	assert.Equal(t, "250 Requested File Action Completed OK", h.cmd("DELE g.txt"))
	assert.Equal(t, "250 Requested File Action Completed OK", h.cmd(`RMD a"b`))
	entries, _ := os.ReadDir(h.root)
	assert.Empty(t, entries)
}

// A CR in a path goes out as CR NUL, and CR NUL in a command is a CR
// (RFC 2640 section 3.1): a name cannot end a reply line early and make
// the client read a reply the server never sent.
func TestCarriageReturnInPathsIsPaddedWithNUL(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	assert.Equal(t, "257 \"/a\r\x00226 fake\" created", h.cmd("MKD a\r226 fake"))
	assert.DirExists(t, filepath.Join(h.root, "a\r226 fake"))
	assert.Equal(t, "257 \"/c\r\x00d\" created", h.cmd("MKD c\r\x00d"))
	assert.DirExists(t, filepath.Join(h.root, "c\rd"))
	assert.Equal(t, "550 x\r\x00y: No such file or directory.", h.cmd("CWD x\ry"))
}

func TestPipelinedCommandsAnsweredInOrderOneAtATime(t *testing.T) {
	h := newPI(t, nil)
	h.next()
	h.p.DataReceived([]byte("USER alice\r\nPASS secret\r\nMKD d\r\nCWD d\r\nPWD\nNOOP\r\n"))
	assert.Equal(t, "331 Password required for alice.", h.next())
	assert.Equal(t, "230 User logged in, proceed", h.next())
	assert.Equal(t, `257 "/d" created`, h.next())
	assert.Equal(t, "250 Requested File Action Completed OK", h.next())
	assert.Equal(t, `257 "/d" is the current directory`, h.next(), "bare LF ends a line too")
	assert.Equal(t, "200 Command OK", h.next())
}

func TestOverlongLineClosesWithoutRunningIt(t *testing.T) {
	h := newPI(t, nil)
	h.next()
	h.p.DataReceived([]byte("USER " + strings.Repeat("x", 17000) + "\r\n"))
	assert.Equal(t, "500 Command line too long.", h.next())
	assert.True(t, h.tr.Lost)
}

func TestIdleTimeoutSends421(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) { c.IdleTimeout = time.Minute })
	h.login()
	h.tr.FakeLoop.Advance(59 * time.Second)
	assert.Equal(t, "200 Command OK", h.cmd("NOOP"))
	h.tr.FakeLoop.Advance(59 * time.Second)
	assert.False(t, h.tr.Lost, "activity reset the timer")
	h.tr.FakeLoop.Advance(time.Second)
	assert.Equal(t, "421 Timeout: closing control connection.", h.next())
	assert.True(t, h.tr.Lost)
}

func TestConnectionLimitsPerIP(t *testing.T) {
	f, root := newFactory(t, func(c *ftp.Config) { c.MaxConnectionsPerIP = 1 })
	a := connectPI(t, f, root)
	assert.Equal(t, "220 gnetftp FTP server ready.", a.next())
	b := connectPI(t, f, root)
	assert.Equal(t, "421 Too many users right now, try again in a few minutes.", b.next())
	assert.True(t, b.tr.Lost)
	b.p.ConnectionLost(nil)
	a.p.ConnectionLost(nil)
	a.tr.Lost = true
	c := connectPI(t, f, root)
	assert.Equal(t, "220 gnetftp FTP server ready.", c.next(), "slots are released")
}

func TestStoreThenRetrieveOverRealDataConnections(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	payload := bytes.Repeat([]byte("0123456789abcdef\n"), 50000)

	data := h.pasv()
	assert.Equal(t, "150 File status okay; about to open data connection.", h.cmd("STOR up.bin"))
	_, err := data.Write(payload)
	require.NoError(t, err)
	data.Close()
	assert.Equal(t, "226 Transfer Complete.", h.next())
	onDisk, err := os.ReadFile(filepath.Join(h.root, "up.bin"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(payload, onDisk))

	data = h.pasv()
	assert.Equal(t, "150 File status okay; about to open data connection.", h.cmd("RETR up.bin"))
	assert.Equal(t, string(payload), readAll(t, data))
	assert.Equal(t, "226 Transfer Complete.", h.next())

	assert.Equal(t, "350 Restarting at 10. Send STOR or RETR to initiate transfer.", h.cmd("REST 10"))
	data = h.pasv()
	h.cmd("RETR up.bin")
	assert.Equal(t, string(payload[10:]), readAll(t, data))
	assert.Equal(t, "226 Transfer Complete.", h.next())

	assert.Equal(t, "350 Restarting at 5. Send STOR or RETR to initiate transfer.", h.cmd("REST 5"))
	data = h.pasv()
	h.cmd("NLST")
	readAll(t, data)
	h.next()
	data = h.pasv()
	h.cmd("RETR up.bin")
	assert.Equal(t, len(payload), len(readAll(t, data)), "a LIST/NLST consumes the REST offset")
	h.next()

	data = h.pasv()
	h.cmd("APPE up.bin")
	_, _ = data.Write([]byte("tail"))
	data.Close()
	assert.Equal(t, "226 Transfer Complete.", h.next())
	onDisk, _ = os.ReadFile(filepath.Join(h.root, "up.bin"))
	assert.Equal(t, len(payload)+4, len(onDisk))
}

func TestASCIIModeConvertsLineEnds(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	assert.Equal(t, "200 Type set to A.", h.cmd("TYPE A"))
	data := h.pasv()
	h.cmd("STOR t.txt")
	_, _ = data.Write([]byte("one\r\ntwo\r\nlone\rcr\r\n"))
	data.Close()
	assert.Equal(t, "226 Transfer Complete.", h.next())
	b, _ := os.ReadFile(filepath.Join(h.root, "t.txt"))
	assert.Equal(t, "one\ntwo\nlone\rcr\n", string(b), "CRLF becomes LF on STOR (Twisted converts the wrong way)")

	data = h.pasv()
	h.cmd("RETR t.txt")
	assert.Equal(t, "one\r\ntwo\r\nlone\rcr\r\n", readAll(t, data), "LF becomes CRLF on RETR")
	assert.Equal(t, "226 Transfer Complete.", h.next())
}

func TestListAndNlst(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "b.txt", "bb")
	writeFile(t, h.root, "a.log", "a")
	require.NoError(t, os.Mkdir(filepath.Join(h.root, "dir"), 0o755))

	data := h.pasv()
	h.cmd("NLST")
	assert.Equal(t, "a.log\r\nb.txt\r\ndir\r\n", readAll(t, data), "bare NLST lists the working directory")
	assert.Equal(t, "226 Transfer Complete.", h.next())

	data = h.pasv()
	h.cmd("NLST *.txt")
	assert.Equal(t, "b.txt\r\n", readAll(t, data))
	h.next()

	data = h.pasv()
	h.cmd("LIST -la")
	lines := strings.Split(strings.TrimSuffix(readAll(t, data), "\r\n"), "\r\n")
	require.Len(t, lines, 3)
	assert.Regexp(t, `^-rw-r--r-- +\d+ \S+ +\S+ +1 \w{3} \d\d (\d\d:\d\d| \d{4}) a\.log$`, lines[0])
	assert.Regexp(t, `^drwxr-xr-x .* dir$`, lines[2])
	h.next()

	h.pasv()
	assert.Equal(t, "550 nothing-here: No such file or directory.", h.cmd("NLST nothing-here"), "as LIST")

	h.pasv()
	assert.Equal(t, "550 nothing-here: No such file or directory.", h.cmd("LIST nothing-here"))

	assert.Equal(t, "213-Status of /:\n"+strings.Join(lines, "\n")+"\n213 End of status", h.cmd("STAT /"),
		"listing lines start with a letter, so they go unprefixed")
	assert.Regexp(t, `^211-FTP server status:\n`, h.cmd("STAT"))
}

func TestClientClosingMidRetrieveGives426AndTheSessionGoesOn(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "big.bin", strings.Repeat("z", 64<<20))
	data := h.pasv()
	h.cmd("RETR big.bin")
	buf := make([]byte, 1000)
	_, err := io.ReadFull(data, buf)
	require.NoError(t, err)
	_ = data.SetLinger(0)
	data.Close()
	assert.Equal(t, "426 Transfer aborted.  Data connection closed.", h.next())
	assert.Equal(t, "200 Command OK", h.cmd("NOOP"))
}

func TestFailedUploadKeepsTheOldFile(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "keep.txt", "precious")
	data := h.pasv()
	h.cmd("STOR keep.txt")
	_, _ = data.Write([]byte("half an upl"))
	// An abortive close (RST) is a failed upload, not an end of file.
	time.Sleep(50 * time.Millisecond) // let the bytes land before the RST
	_ = data.SetLinger(0)
	data.Close()
	assert.Equal(t, "426 Transfer aborted.  Data connection closed.", h.next())
	b, _ := os.ReadFile(filepath.Join(h.root, "keep.txt"))
	assert.Equal(t, "precious", string(b))
	entries, _ := os.ReadDir(h.root)
	assert.Len(t, entries, 1, "the temporary file is gone")
}

func TestABORAndCommandsDuringATransfer(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "big.bin", strings.Repeat("z", 64<<20))
	data := h.pasv()
	h.cmd("RETR big.bin")
	// Not reading: the transfer is stuck on a full socket buffer.
	assert.Equal(t, "200 Command OK", h.cmd("NOOP"), "NOOP is answered during a transfer")
	assert.Regexp(t, `Data transfer in progress`, h.cmd("STAT"), "so is STAT")
	h.send("PWD")
	h.send("NOOP")
	h.send("STAT")
	h.send("ABOR")
	// ABOR stops the transfer at once from behind the queued commands;
	// every reply keeps the place of its command.
	assert.Equal(t, "426 Transfer aborted.  Data connection closed.", h.next())
	assert.Equal(t, `257 "/" is the current directory`, h.next(), "PWD waited for the transfer's end")
	assert.Equal(t, "200 Command OK", h.next(), "a NOOP behind a queued command keeps its place")
	assert.Regexp(t, `No data connection`, h.next(), "so does STAT")
	assert.Equal(t, "226 Abort successful", h.next(), "ABOR's own reply comes in its turn")
	data.Close()
	assert.Equal(t, "225 No transfer to abort.", h.cmd("ABOR"))
}

func TestDataConnectionFromAStrangerIsRefused(t *testing.T) {
	logs := &syncBuffer{}
	h := newPI(t, func(c *ftp.Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	h.login()
	writeFile(t, h.root, "f", "data")
	r := h.cmd("PASV")
	a, err := ftpwire.ParsePASVReply(r)
	require.NoError(t, err)
	port := a.Port
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	assert.Equal(t, "150 File status okay; about to open data connection.", h.cmd("RETR f"))
	if stranger, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(port))); err == nil {
		_ = stranger.SetDeadline(time.Now().Add(10 * time.Second))
		stolen, _ := io.ReadAll(stranger) // reset by the server
		assert.Empty(t, stolen, "the stranger gets nothing")
		stranger.Close()
	}
	good, err := net.Dial("tcp", a.String())
	require.NoError(t, err)
	_ = good.SetDeadline(time.Now().Add(10 * time.Second))
	assert.Equal(t, "data", readAll(t, good))
	assert.Equal(t, "226 Transfer Complete.", h.next())
	assert.Contains(t, logs.String(), "from=127.0.0.2:", "the refused stranger is logged")
}

// panicky is a Shell whose listing panics: the session must survive.
type panicky struct{ shell.Shell }

func (panicky) List(string) ([]fs.FileInfo, error) { panic("backend bug") }
func (panicky) Access(string) error                { return errors.New("backend down") }

func TestPanickingShellGives451AndTheSessionGoesOn(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) {
		c.Realm = shell.RealmFunc(func(shell.Login) (shell.Shell, error) {
			l, err := local.New(c.Root)
			return panicky{l}, err
		})
	})
	h.login()
	h.pasv()
	assert.Equal(t, "451 Requested action aborted. Local error in processing.", h.cmd("LIST"))
	assert.Equal(t, "451 Requested action aborted. Local error in processing.", h.cmd("CWD x"))
	assert.Equal(t, "200 Command OK", h.cmd("NOOP"))
}

func TestShutdownSays421(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	h.p.(interface{ ShutdownRequested() }).ShutdownRequested()
	assert.Equal(t, "421 Service not available, closing control connection.", h.next())
	assert.True(t, h.tr.Lost)
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
func itoa(n int) string { return strconv.Itoa(n) }

func TestAnonymousRefusedWhenNotAllowed(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) { c.AllowAnonymous = false; c.FailedLoginDelay = time.Second })
	h.next()
	assert.Equal(t, "331 Password required for anonymous.", h.cmd("USER anonymous"))
	h.send("PASS guest@")
	waitDelayArmed(t, h)
	h.tr.FakeLoop.Advance(time.Second)
	assert.Equal(t, "530 Sorry, Authentication failed.", h.next())
	assert.Equal(t, "530 Please login with USER and PASS.", h.cmd("PWD"))
}

func TestPassiveAddressing(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) { c.PublicHost = "192.0.2.7" })
	h.login()
	assert.Regexp(t, `^227 Entering Passive Mode \(192,0,2,7,\d+,\d+\)\.$`, h.cmd("PASV"), "the public host is announced")
	assert.Equal(t, "522 Network protocol not supported, use (1)", h.cmd("EPSV 2"), "no IPv6 data connection on an IPv4 control connection (Twisted binds IPv4 for EPSV 2)")
	assert.Regexp(t, `^229 `, h.cmd("EPSV 1"))

	v6 := newPI(t, nil)
	v6.tr.Local = &net.TCPAddr{IP: net.IPv6loopback, Port: 21}
	v6.login()
	assert.Equal(t, "502 PASV available only for IPv4 (use EPSV instead)", v6.cmd("PASV"))
	assert.Equal(t, "522 Network protocol not supported, use (2)", v6.cmd("EPSV 1"))
}

func TestRetrieveADirectoryAndActiveConnectFailure(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	require.NoError(t, os.Mkdir(filepath.Join(h.root, "folder"), 0o755))
	h.pasv()
	assert.Equal(t, "550 folder: is a directory", h.cmd("RETR folder"))

	writeFile(t, h.root, "f", "x")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there any more
	assert.Equal(t, "200 EPRT OK", h.cmd("EPRT |1|127.0.0.1|"+itoa(port)+"|"))
	assert.Equal(t, "150 File status okay; about to open data connection.", h.cmd("RETR f"))
	assert.Equal(t, "425 Can't open data connection.", h.next())
	assert.Equal(t, "200 Command OK", h.cmd("NOOP"))
}

func TestActiveModeTransfer(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "f", "active data")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	assert.Equal(t, "200 PORT OK", h.cmd("PORT 127,0,0,1,"+itoa(port>>8)+","+itoa(port&0xff)))
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(got)
			return
		}
		b, _ := io.ReadAll(c)
		c.Close()
		got <- string(b)
	}()
	assert.Equal(t, "150 File status okay; about to open data connection.", h.cmd("RETR f"))
	assert.Equal(t, "226 Transfer Complete.", h.next())
	assert.Equal(t, "active data", <-got)
}

func TestIdleTimeoutIsOffDuringATransfer(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) { c.IdleTimeout = time.Minute })
	h.login()
	writeFile(t, h.root, "big.bin", strings.Repeat("z", 32<<20))
	data := h.pasv()
	h.cmd("RETR big.bin") // the client does not read: the transfer stalls
	h.tr.FakeLoop.Advance(10 * time.Minute)
	assert.False(t, h.tr.Lost, "a long transfer is not an idle session")
	_ = data.SetLinger(0)
	data.Close()
	assert.Equal(t, "426 Transfer aborted.  Data connection closed.", h.next())
	h.tr.FakeLoop.Advance(time.Minute)
	assert.Equal(t, "421 Timeout: closing control connection.", h.next(), "the timeout is back after the transfer")
}

// A data connection on which nothing moves for Data.IdleTimeout is cut
// off with 426 (vsftpd and pyftpdlib time out too, after 300 s by
// default); the session goes on, and a stalled upload leaves no file.
func TestStalledDataConnectionTimesOut(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) { c.Data.IdleTimeout = 300 * time.Millisecond })
	h.login()
	writeFile(t, h.root, "big.bin", strings.Repeat("z", 32<<20))
	data := h.pasv()
	assert.Equal(t, "150 File status okay; about to open data connection.", h.cmd("RETR big.bin"))
	// the client does not read
	assert.Equal(t, "426 Transfer aborted.  Data connection closed.", h.next())
	data.Close()
	assert.Equal(t, "200 Command OK", h.cmd("NOOP"))

	data = h.pasv()
	assert.Equal(t, "150 File status okay; about to open data connection.", h.cmd("STOR up.bin"))
	_, err := data.Write([]byte("the start of an upload, then nothing"))
	require.NoError(t, err)
	assert.Equal(t, "426 Transfer aborted.  Data connection closed.", h.next())
	data.Close()
	_, err = os.Stat(filepath.Join(h.root, "up.bin"))
	assert.ErrorIs(t, err, os.ErrNotExist, "the aborted upload did not replace anything")
	assert.Equal(t, "200 Command OK", h.cmd("NOOP"))
}

// A host name for PublicHost is resolved (localhost: 127.0.0.1 from
// /etc/hosts, no network), and an IPv6-only address is refused with a
// reason: PASV can announce IPv4 only.
func TestPublicHostName(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) { c.PublicHost = "localhost" })
	h.login()
	assert.Regexp(t, `^227 Entering Passive Mode \(127,0,0,1,\d+,\d+\)\.$`, h.cmd("PASV"))
	require.NoError(t, h.f.ResolvePublicHost(), "resolved again (SIGHUP)")

	_, err := ftp.NewFactory(ftp.Config{Root: t.TempDir(), PublicHost: "::1"})
	assert.ErrorContains(t, err, "no IPv4 address")
}
