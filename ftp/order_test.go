package ftp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPipelinedCommandsDuringATransferAreAnsweredOnceInOrder sends
// sequences in one segment while a download is stuck (the client does
// not read) and checks the exact replies: every command gets exactly one
// reply, in the order of the commands (RFC 959 section 4.2), ABOR's 426
// (the transfer's reply) and 226 (ABOR's own) included. NOOP and STAT are
// answered at once only when nothing before them waits; ABOR and QUIT
// stop the transfer at once wherever they stand, and their replies keep
// their places.
func TestPipelinedCommandsDuringATransferAreAnsweredOnceInOrder(t *testing.T) {
	const (
		aborted  = "426 Transfer aborted.  Data connection closed."
		abortOK  = "226 Abort successful"
		noAbort  = "225 No transfer to abort."
		noop     = "200 Command OK"
		pwd      = `257 "/" is the current directory`
		goodbye  = "221 Goodbye."
		statBusy = "211 ... Data transfer in progress"
		statIdle = "211 ... No data connection"
	)
	cases := []struct {
		name  string
		lines []string
		want  []string
		lost  bool
	}{
		{"ABOR ABOR NOOP", []string{"ABOR", "ABOR", "NOOP"}, []string{aborted, abortOK, noAbort, noop}, false},
		{"STAT NOOP ABOR", []string{"STAT", "NOOP", "ABOR"}, []string{statBusy, noop, aborted, abortOK}, false},
		{"NOOP QUIT", []string{"NOOP", "QUIT"}, []string{noop, aborted, goodbye}, true},
		{"ABOR QUIT", []string{"ABOR", "QUIT"}, []string{aborted, abortOK, goodbye}, true},
		{"PWD QUIT", []string{"PWD", "QUIT"}, []string{aborted, pwd, goodbye}, true},
		{"PWD NOOP STAT ABOR", []string{"PWD", "NOOP", "STAT", "ABOR"}, []string{aborted, pwd, noop, statIdle, abortOK}, false},
		{"NOOP PWD ABOR NOOP", []string{"NOOP", "PWD", "ABOR", "NOOP"}, []string{noop, aborted, pwd, abortOK, noop}, false},
		{"ABOR STAT NOOP", []string{"ABOR", "STAT", "NOOP"}, []string{aborted, abortOK, statIdle, noop}, false},
		{"STAT ABOR ABOR", []string{"STAT", "ABOR", "ABOR"}, []string{statBusy, aborted, abortOK, noAbort}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newPI(t, nil)
			h.login()
			writeFile(t, h.root, "big.bin", strings.Repeat("z", 64<<20))
			data := h.pasv()
			defer data.Close()
			require.Equal(t, "150 File status okay; about to open data connection.", h.cmd("RETR big.bin"))
			h.p.DataReceived([]byte(strings.Join(tc.lines, "\r\n") + "\r\n"))
			var got []string
			for range tc.want {
				got = append(got, summary(h.next()))
			}
			assert.Equal(t, tc.want, got)
			h.tr.FakeLoop.WaitPending(100 * time.Millisecond)
			h.quiet() // exactly one reply each: nothing more comes
			assert.Equal(t, tc.lost, h.tr.Lost)
			if !tc.lost {
				assert.Equal(t, noop, h.cmd("NOOP"), "the session goes on")
			}
		})
	}
}

// summary shortens a STAT reply to its code and the line that says
// whether a transfer runs.
func summary(r string) string {
	if !strings.HasPrefix(r, "211-FTP server status:") {
		return r
	}
	for _, l := range []string{"Data transfer in progress", "No data connection"} {
		if strings.Contains(r, "\n "+l+"\n") {
			return "211 ... " + l
		}
	}
	return r
}
