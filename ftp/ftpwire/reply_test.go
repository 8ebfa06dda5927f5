package ftpwire_test

import (
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/ftpwire"
)

// assemble feeds CRLF-separated output to an Assembler and returns the
// replies it completed.
func assemble(t *testing.T, a *ftpwire.Assembler, out string) []ftpwire.Reply {
	t.Helper()
	var got []ftpwire.Reply
	for _, line := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		r, done, err := a.Add(line)
		require.NoError(t, err)
		if done {
			got = append(got, r)
		}
	}
	return got
}

func TestAssemblerJoinsMultiLineReplies(t *testing.T) {
	var a ftpwire.Assembler
	got := assemble(t, &a, "220-Welcome\r\n more\r\n220-still\r\n220 ready\r\n150 opening\r\n226 done\r\n")
	require.Len(t, got, 3)
	assert.Equal(t, 220, got[0].Code)
	assert.Len(t, got[0].Lines, 4, "a line with the code and a dash is inside the reply")
	assert.Equal(t, "ready", got[0].Text())
	assert.True(t, got[1].Preliminary())
	assert.Equal(t, ftpwire.StatusTransferComplete, got[2].Code)
	assert.True(t, got[2].OK())
	assert.False(t, a.Pending())
}

func TestAssemblerDropsLinesWithoutACodeAndBoundsReplies(t *testing.T) {
	var a ftpwire.Assembler
	got := assemble(t, &a, "+20 signed\r\n-12 neg\r\n 200 space\r\n099 low\r\n600 high\r\n200 ok\r\n")
	require.Len(t, got, 1)
	assert.Equal(t, 200, got[0].Code)

	_, _, err := a.Add("214-start")
	require.NoError(t, err)
	assert.True(t, a.Pending())
	for i := 1; i < ftpwire.MaxReplyLines-1; i++ {
		_, _, err = a.Add("more")
		require.NoError(t, err)
	}
	_, _, err = a.Add("more")
	assert.ErrorIs(t, err, ftpwire.ErrReplyTooLong)
	assert.False(t, a.Pending(), "the assembler starts afresh")
}

// Multi-line replies go out in RFC 959's form, with a middle line that
// starts with a digit indented so that a client cannot take it for the
// last line; the assembler reads them back.
func TestAppendReplyRoundTrips(t *testing.T) {
	assert.Equal(t, "200 Command OK\r\n", string(ftpwire.AppendReply(nil, ftpwire.StatusCommandOK, "Command OK")))
	out := string(ftpwire.AppendReply(nil, ftpwire.StatusSystemStatus, "Features:\n UTF8\n211 End in the middle\nEnd"))
	assert.Equal(t, "211-Features:\r\n UTF8\r\n 211 End in the middle\r\n211 End\r\n", out)
	var a ftpwire.Assembler
	got := assemble(t, &a, out)
	require.Len(t, got, 1)
	assert.Equal(t, "End", got[0].Text())
	assert.Equal(t, "550 a\r\x00226 fake\r\n", string(ftpwire.AppendReply(nil, 550, "a\r226 fake")),
		"a CR in the text goes out as CR NUL (RFC 2640)")
}

func TestParsePassiveReplies(t *testing.T) {
	a, err := ftpwire.ParsePASVReply("Entering Passive Mode (127,0,0,1,200,10).")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:51210", a.String())
	a, err = ftpwire.ParsePASVReply("=10,9,8,7,4,1")
	require.NoError(t, err)
	assert.Equal(t, "10.9.8.7:1025", a.String())
	a, err = ftpwire.ParsePASVReply("Mode 1 (127,0,0,1,4,1)")
	require.NoError(t, err, "a lone number before the address is skipped")
	assert.Equal(t, "127.0.0.1:1025", a.String())
	for _, bad := range []string{"(127,0,0,1,256,1)", "(127,0,0,1,0,0)", "(1270,0,0,1,4,1)", "no address", "(1,2,3,4,5)"} {
		_, err = ftpwire.ParsePASVReply(bad)
		assert.ErrorIs(t, err, ftpwire.ErrSyntax, bad)
	}

	port, err := ftpwire.ParseEPSVReply("Entering Extended Passive Mode (|||6446|)")
	require.NoError(t, err)
	assert.Equal(t, 6446, port)
	port, err = ftpwire.ParseEPSVReply("ok (x) then (!!!21!)")
	require.NoError(t, err)
	assert.Equal(t, 21, port)
	for _, bad := range []string{"(|||70000|)", "(|||0|)", "(|||12)", "(||12|)", "(|!|12|)", "(111121)", "(|||-1|)", ""} {
		_, err = ftpwire.ParseEPSVReply(bad)
		assert.ErrorIs(t, err, ftpwire.ErrSyntax, bad)
	}
}

func TestFormatActive(t *testing.T) {
	assert.Equal(t, "127,0,0,1,4,1", ftpwire.FormatPORT(loopback, 1025))
	assert.Equal(t, "|1|127.0.0.1|1025|", ftpwire.FormatEPRT(net.ParseIP("::ffff:127.0.0.1"), 1025))
	assert.Equal(t, "|2|::1|1025|", ftpwire.FormatEPRT(net.IPv6loopback, 1025))
	a, err := ftpwire.ParseEPRT(ftpwire.FormatEPRT(net.IPv6loopback, 1025))
	require.NoError(t, err)
	assert.Equal(t, "[::1]:1025", a.String())
}

// FuzzPassiveReplies reads arbitrary reply text as a 227 and a 229: no
// panic, and an address read is one a client may connect to.
//
//	go test -run '^$' -fuzz FuzzPassiveReplies ./ftp/ftpwire
func FuzzPassiveReplies(f *testing.F) {
	f.Add("Entering Passive Mode (127,0,0,1,200,10).")
	f.Add("Entering Extended Passive Mode (|||6446|)")
	f.Add("((|||(|||1|)")
	f.Fuzz(func(t *testing.T, text string) {
		if a, err := ftpwire.ParsePASVReply(text); err == nil {
			if len(a.IP) != net.IPv4len || a.Port < 1 || a.Port > 65535 {
				t.Fatalf("ParsePASVReply(%q) = %v", text, a)
			}
		}
		if port, err := ftpwire.ParseEPSVReply(text); err == nil && (port < 1 || port > 65535) {
			t.Fatalf("ParseEPSVReply(%q) = %d", text, port)
		}
	})
}

// A reply sent in pieces (AppendReplyOpen, AppendReplyLines, then the
// closing AppendReply) is the reply AppendReply makes of the whole text.
func TestReplyInPiecesIsTheWholeReply(t *testing.T) {
	for _, c := range []struct{ head, middle, last string }{
		{"Status of /:", "-rw-r--r-- 1 a b 0 Jan 01 00:00 f\ndrwxr-xr-x 2 a b 0 Jan 01 00:00 d", "End of status"},
		{"Status of /a\rb:", "line with a CR\r in it\n226 looks like an end\n\n9", "End of status"},
		{"two\nline head", "x", "end"},
		{"", "", ""},
	} {
		whole := ftpwire.AppendReply(nil, 213, c.head+"\n"+c.middle+"\n"+c.last)
		pieces := ftpwire.AppendReplyOpen(nil, 213, c.head)
		pieces = ftpwire.AppendReplyLines(pieces, c.middle)
		pieces = ftpwire.AppendReply(pieces, 213, c.last)
		assert.Equal(t, string(whole), string(pieces), "%q", c)
		var a ftpwire.Assembler
		got := assemble(t, &a, string(pieces))
		require.Len(t, got, 1, "%q: one reply, whatever the lines hold", c)
	}
	assert.Equal(t, " 1\r\nx\r\x00y\r\n", string(ftpwire.AppendReplyLines(nil, []byte("1\nx\ry"))), "bytes as strings")
}
