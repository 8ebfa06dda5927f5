package client_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/client"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

// connect is a Client on a fake transport and manual clock.
func connect(cfg client.Config, onGreeting func(*client.Client, ftpwire.Reply, error)) (*client.Client, *prototest.Transport) {
	c := &client.Client{Config: cfg, OnGreeting: onGreeting}
	tr := prototest.NewTransport()
	prototest.Connect(c, tr)
	return c, tr
}

func TestRepliesGoToTheirCommandsInOrder(t *testing.T) {
	var greeting ftpwire.Reply
	c, tr := connect(client.Config{}, func(_ *client.Client, r ftpwire.Reply, err error) { greeting = r; require.NoError(t, err) })
	c.DataReceived([]byte("220-Welcome\r\n more\r\n220 ready\r\n"))
	assert.Equal(t, 220, greeting.Code)
	assert.Len(t, greeting.Lines, 3)
	assert.Equal(t, "ready", greeting.Text())

	var got []int
	var loginErr error
	c.Login("alice", "pw").AddBoth(func(r ftpwire.Reply, err error) { got = append(got, r.Code); loginErr = err })
	assert.Equal(t, "USER alice\r\n", tr.Take())
	c.DataReceived([]byte("331 pw please\r\n"))
	assert.Equal(t, "PASS pw\r\n", tr.Take(), "PASS follows the 331")
	c.DataReceived([]byte("230 in\r\n"))
	tr.FakeLoop.RunPending()
	assert.Equal(t, []int{230}, got)
	assert.NoError(t, loginErr)

	// Pipelined: replies come back in command order.
	c.Do("FEAT", func(r ftpwire.Reply) { got = append(got, r.Code); assert.Len(t, r.Lines, 3) })
	var retr []int
	c.Do("RETR f", func(r ftpwire.Reply) { retr = append(retr, r.Code) })
	assert.Equal(t, "FEAT\r\nRETR f\r\n", tr.Take())
	c.DataReceived([]byte("211-Features:\r\n EPSV\r\n211 End\r\n150 opening\r\n226 done\r\n"))
	assert.Equal(t, []int{230, 211}, got)
	assert.Equal(t, []int{150, 226}, retr, "a 1xx reaches the callback, which stays for the final reply")
}

func TestFailedLoginIsAReplyErrorWithoutThePassword(t *testing.T) {
	c, tr := connect(client.Config{}, nil)
	c.DataReceived([]byte("220 hi\r\n"))
	var err error
	c.Login("alice", "hunter2").AddBoth(func(_ ftpwire.Reply, e error) { err = e })
	c.DataReceived([]byte("331 pw\r\n530 Sorry\r\n"))
	tr.FakeLoop.RunPending()
	var re *client.ReplyError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 530, re.Reply.Code)
	assert.NotContains(t, err.Error(), "hunter2")
}

func TestPendingCommandsFailOnLoss(t *testing.T) {
	c, tr := connect(client.Config{}, nil)
	c.DataReceived([]byte("220 hi\r\n"))
	var r ftpwire.Reply
	c.Do("NOOP", func(x ftpwire.Reply) { r = x; r.Code = x.Code + 1000 })
	var cwdErr error
	c.Cwd("/x").AddBoth(func(_ ftpwire.Reply, err error) { cwdErr = err })
	c.ConnectionLost(nil)
	tr.FakeLoop.RunPending()
	assert.Equal(t, 1000, r.Code, "code 0 means lost")
	assert.ErrorIs(t, cwdErr, client.ErrLost)
	called := false
	c.Do("NOOP", func(x ftpwire.Reply) { called = x.Code == 0 })
	assert.True(t, called)
}

// Every reply is awaited at most ReplyTimeout: then the connection is
// aborted and what is pending fails with ErrTimeout. A reply that comes
// in time restarts the wait for the next.
func TestEveryReplyHasATimeout(t *testing.T) {
	var greetErr error
	c, tr := connect(client.Config{ReplyTimeout: 10 * time.Second}, func(_ *client.Client, _ ftpwire.Reply, err error) { greetErr = err })
	tr.FakeLoop.Advance(9 * time.Second)
	assert.False(t, tr.Aborted)
	c.DataReceived([]byte("220 hi\r\n"))
	require.NoError(t, greetErr)
	tr.FakeLoop.Advance(time.Hour)
	assert.False(t, tr.Aborted, "nothing awaited: no timeout")

	var err error
	c.Command("NOOP").AddBoth(func(_ ftpwire.Reply, e error) { err = e })
	tr.FakeLoop.Advance(9 * time.Second)
	c.DataReceived([]byte("200 ok\r\n"))
	tr.FakeLoop.RunPending()
	require.NoError(t, err)
	c.Command("NOOP").AddBoth(func(_ ftpwire.Reply, e error) { err = e })
	tr.FakeLoop.Advance(10 * time.Second)
	assert.True(t, tr.Aborted, "no reply in 10 s")
	c.ConnectionLost(nil) // what the transport does after Abort
	tr.FakeLoop.RunPending()
	assert.ErrorIs(t, err, client.ErrTimeout)
}

func TestNoGreetingTimesOut(t *testing.T) {
	var greetErr error
	c, tr := connect(client.Config{ReplyTimeout: time.Second}, func(_ *client.Client, _ ftpwire.Reply, err error) { greetErr = err })
	tr.FakeLoop.Advance(time.Second)
	require.True(t, tr.Aborted)
	c.ConnectionLost(nil)
	assert.ErrorIs(t, greetErr, client.ErrTimeout)
}

func TestPwdUnquotes(t *testing.T) {
	c, tr := connect(client.Config{}, nil)
	c.DataReceived([]byte("220 hi\r\n"))
	var dir string
	c.Pwd().AddBoth(func(d string, err error) { dir = d; require.NoError(t, err) })
	c.DataReceived([]byte("257 \"/a \"\"b\"\"\" is the current directory\r\n"))
	tr.FakeLoop.RunPending()
	assert.Equal(t, `/a "b"`, dir)
}

func TestRepliesWithoutACodeAreDroppedAndEndlessRepliesAborted(t *testing.T) {
	var got []ftpwire.Reply
	c, tr := connect(client.Config{}, nil)
	c.DataReceived([]byte("220 hi\r\n"))
	c.Do("NOOP", func(r ftpwire.Reply) { got = append(got, r) })
	c.DataReceived([]byte("+20 signed\r\n-12 neg\r\n 200 space\r\n099 low\r\n600 high\r\n200 ok\r\n"))
	require.Len(t, got, 1)
	assert.Equal(t, 200, got[0].Code)

	c.Do("HELP", func(r ftpwire.Reply) { got = append(got, r) })
	c.DataReceived([]byte("214-start\r\n"))
	for i := 0; i < ftpwire.MaxReplyLines; i++ {
		c.DataReceived([]byte("more\r\n"))
	}
	assert.True(t, tr.Aborted, "a reply that never ends closes the connection")
	assert.Len(t, got, 1)
}

// FuzzReplies feeds arbitrary server output to a client with commands
// pending: no panic, and every reply delivered carries a code 100-599
// that its first line starts with; a passive address read from it is the
// control peer's.
//
//	go test -run '^$' -fuzz FuzzReplies ./ftp/client
func FuzzReplies(f *testing.F) {
	f.Add([]byte("220 hi\r\n331 pw\r\n230-a\r\n b\r\n230 c\r\n150 x\r\n226 y\r\n"))
	f.Add([]byte("220-\r\n220\r\n220 \r\n1\r\n12\r\n123\r\n999 x\r\n"))
	f.Add([]byte("220 hi\r\n229 (|||6446|)\r\n227 (10,0,0,1,4,1)\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, tr := connect(client.Config{}, func(_ *client.Client, r ftpwire.Reply, _ error) { checkReply(t, r) })
		for range 4 {
			c.Do("NOOP", func(r ftpwire.Reply) { checkReply(t, r) })
		}
		c.Login("u", "p")
		c.DataReceived(data)
		c.ConnectionLost(nil)
		tr.FakeLoop.RunPending()
	})
}

func checkReply(t *testing.T, r ftpwire.Reply) {
	if r.Code == 0 {
		return // lost
	}
	if r.Code < 100 || r.Code > 599 || len(r.Lines) == 0 || r.Lines[0][:3] != strconv.Itoa(r.Code) {
		t.Fatalf("bad reply %d %q", r.Code, r.Lines)
	}
	if a, err := ftpwire.ParsePASVReply(r.Text()); err == nil && (a.Port < 1 || len(a.IP) != net.IPv4len) {
		t.Fatalf("ParsePASVReply(%q) = %v", r.Text(), a)
	}
}
