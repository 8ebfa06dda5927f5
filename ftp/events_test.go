package ftp_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
)

// recorder keeps every event as a line; it runs on the loop, which in
// these tests is the test goroutine.
type recorder struct {
	lines []string
	last  ftp.TransferEvent
}

func (r *recorder) Login(e ftp.LoginEvent) {
	r.lines = append(r.lines, "login "+e.User+" "+map[bool]string{true: "ok", false: "failed"}[e.OK])
}

func (r *recorder) TransferDone(e ftp.TransferEvent) {
	r.last = e
	r.lines = append(r.lines, e.Command+" "+e.Path+" "+map[bool]string{true: "complete", false: "incomplete"}[e.Complete])
}

func (r *recorder) FileChanged(e ftp.FileEvent) {
	r.lines = append(r.lines, strings.TrimSpace(e.Command+" "+e.Path+" "+e.To))
}

// An embedder learns about logins, transfers (complete or not) and file
// changes from Config.Events, with the paths the shell saw.
func TestEventsReportLoginsTransfersAndChanges(t *testing.T) {
	rec := &recorder{}
	h := newPI(t, func(c *ftp.Config) { c.Events = rec; c.FailedLoginDelay = time.Second })
	h.next()
	h.cmd("USER alice")
	h.send("PASS wrong")
	waitDelayArmed(t, h)
	h.tr.FakeLoop.Advance(time.Second)
	assert.Equal(t, "530 Sorry, Authentication failed.", h.next())
	h.cmd("USER alice")
	assert.Equal(t, "230 User logged in, proceed", h.cmd("PASS secret"))

	h.cmd("MKD d")
	data := h.pasv()
	h.cmd("STOR d/f.txt")
	_, err := data.Write([]byte("hello"))
	require.NoError(t, err)
	data.Close()
	assert.Equal(t, "226 Transfer Complete.", h.next())
	assert.Equal(t, int64(5), rec.last.Bytes)
	assert.True(t, rec.last.Complete)
	assert.NoError(t, rec.last.Err)
	h.cmd("RNFR d/f.txt")
	h.cmd("RNTO d/g.txt")
	h.cmd("MFMT 20210101000000 d/g.txt")

	writeFile(t, h.root, "big.bin", strings.Repeat("z", 64<<20))
	data = h.pasv()
	h.cmd("RETR big.bin")
	h.send("ABOR")
	assert.Equal(t, "426 Transfer aborted.  Data connection closed.", h.next())
	assert.Equal(t, "226 Abort successful", h.next())
	data.Close()
	assert.False(t, rec.last.Complete)
	assert.ErrorIs(t, rec.last.Err, context.Canceled)

	h.cmd("DELE d/g.txt")
	h.cmd("RMD d")
	assert.Equal(t, []string{
		"login alice failed", "login alice ok",
		"MKD /d", "STOR /d/f.txt complete", "RNTO /d/f.txt /d/g.txt", "MFMT /d/g.txt",
		"RETR /big.bin incomplete", "DELE /d/g.txt", "RMD /d",
	}, rec.lines)
	_, err = os.Stat(filepath.Join(h.root, "d"))
	assert.True(t, os.IsNotExist(err))
}

type panickingEvents struct{ ftp.BaseEvents }

func (panickingEvents) FileChanged(ftp.FileEvent) { panic("embedder bug") }

func TestAPanickingEventsDoesNotStopTheSession(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) { c.Events = panickingEvents{} })
	h.login()
	assert.Equal(t, `257 "/d" created`, h.cmd("MKD d"))
	assert.Equal(t, "200 Command OK", h.cmd("NOOP"))
}
