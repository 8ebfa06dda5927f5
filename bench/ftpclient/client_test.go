package ftpclient_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/bench/ftpclient"
	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func TestRepliesGoToTheirCommandsInOrder(t *testing.T) {
	var greeting ftpclient.Reply
	c := &ftpclient.Client{OnGreeting: func(_ *ftpclient.Client, r ftpclient.Reply) { greeting = r }}
	tr := prototest.NewTransport()
	prototest.Connect(c, tr)
	c.DataReceived([]byte("220-Welcome\r\n more\r\n220 ready\r\n"))
	assert.Equal(t, 220, greeting.Code)
	assert.Len(t, greeting.Lines, 3)
	assert.Equal(t, "ready", greeting.Text())

	var got []int
	c.Login("alice", "pw", func(r ftpclient.Reply) { got = append(got, r.Code) })
	assert.Equal(t, "USER alice\r\n", tr.Take())
	c.DataReceived([]byte("331 pw please\r\n"))
	assert.Equal(t, "PASS pw\r\n", tr.Take(), "PASS follows the 331")
	c.DataReceived([]byte("230 in\r\n"))
	assert.Equal(t, []int{230}, got)

	// Pipelined: replies come back in command order.
	c.Do("FEAT", func(r ftpclient.Reply) { got = append(got, r.Code); assert.Len(t, r.Lines, 3) })
	var retr []int
	c.Do("RETR f", func(r ftpclient.Reply) { retr = append(retr, r.Code) })
	assert.Equal(t, "FEAT\r\nRETR f\r\n", tr.Take())
	c.DataReceived([]byte("211-Features:\r\n EPSV\r\n211 End\r\n150 opening\r\n226 done\r\n"))
	assert.Equal(t, []int{230, 211}, got)
	assert.Equal(t, []int{150, 226}, retr, "a 1xx reaches the callback, which stays for the final reply")
}

func TestPendingCommandsFailOnLoss(t *testing.T) {
	c := &ftpclient.Client{}
	tr := prototest.NewTransport()
	prototest.Connect(c, tr)
	c.DataReceived([]byte("220 hi\r\n"))
	var r ftpclient.Reply
	c.Do("NOOP", func(x ftpclient.Reply) { r = x; r.Code = x.Code + 1000 })
	c.ConnectionLost(nil)
	assert.Equal(t, 1000, r.Code, "code 0 means lost")
	called := false
	c.Do("NOOP", func(x ftpclient.Reply) { called = x.Code == 0 })
	assert.True(t, called)
}

func TestDataAddr(t *testing.T) {
	a, err := ftpclient.DataAddr(ftpclient.Reply{Code: 227, Lines: []string{"227 Entering Passive Mode (127,0,0,1,200,10)."}}, nil)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:51210", a)
	a, err = ftpclient.DataAddr(ftpclient.Reply{Code: 229, Lines: []string{"229 Entering Extended Passive Mode (|||6446|)"}},
		&net.TCPAddr{IP: net.IPv6loopback, Port: 21})
	require.NoError(t, err)
	assert.Equal(t, "[::1]:6446", a)
	_, err = ftpclient.DataAddr(ftpclient.Reply{Code: 500, Lines: []string{"500 no"}}, nil)
	assert.Error(t, err)

	// A 227 naming another host still goes to the control peer (curl's
	// default since 7.74): the server cannot redirect the load generator.
	a, err = ftpclient.DataAddr(ftpclient.Reply{Code: 227, Lines: []string{"227 Entering Passive Mode (10,9,8,7,4,1)"}},
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 5), Port: 21})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.5:1025", a)
	for _, bad := range []ftpclient.Reply{
		{Code: 227, Lines: []string{"227 (127,0,0,1,256,1)"}},
		{Code: 227, Lines: []string{"227 (127,0,0,1,0,0)"}},
		{Code: 227, Lines: []string{"227 (1270,0,0,1,4,1)"}},
		{Code: 229, Lines: []string{"229 (|||70000|)"}},
		{Code: 229, Lines: []string{"229 (|||0|)"}},
	} {
		_, err = ftpclient.DataAddr(bad, nil)
		assert.Error(t, err, bad.String())
	}
}

func TestRepliesWithoutACodeAreDroppedAndEndlessRepliesAborted(t *testing.T) {
	var got []ftpclient.Reply
	c := &ftpclient.Client{}
	tr := prototest.NewTransport()
	prototest.Connect(c, tr)
	c.DataReceived([]byte("220 hi\r\n"))
	c.Do("NOOP", func(r ftpclient.Reply) { got = append(got, r) })
	c.DataReceived([]byte("+20 signed\r\n-12 neg\r\n 200 space\r\n099 low\r\n600 high\r\n200 ok\r\n"))
	require.Len(t, got, 1)
	assert.Equal(t, 200, got[0].Code)

	c.Do("HELP", func(r ftpclient.Reply) { got = append(got, r) })
	c.DataReceived([]byte("214-start\r\n"))
	for i := 0; i < ftpclient.MaxReplyLines; i++ {
		c.DataReceived([]byte("more\r\n"))
	}
	assert.True(t, tr.Aborted, "a reply that never ends closes the connection")
	assert.Len(t, got, 1)
}

// FuzzReplies feeds arbitrary server output to a client with commands
// pending: no panic, and every reply delivered carries a code 100-599
// that its first line starts with.
//
//	go test -run '^$' -fuzz FuzzReplies ./bench/ftpclient
func FuzzReplies(f *testing.F) {
	f.Add([]byte("220 hi\r\n331 pw\r\n230-a\r\n b\r\n230 c\r\n150 x\r\n226 y\r\n"))
	f.Add([]byte("220-\r\n220\r\n220 \r\n1\r\n12\r\n123\r\n999 x\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &ftpclient.Client{OnGreeting: func(_ *ftpclient.Client, r ftpclient.Reply) { checkReply(t, r) }}
		tr := prototest.NewTransport()
		prototest.Connect(c, tr)
		for range 4 {
			c.Do("NOOP", func(r ftpclient.Reply) { checkReply(t, r) })
		}
		c.DataReceived(data)
		c.ConnectionLost(nil)
	})
}

func checkReply(t *testing.T, r ftpclient.Reply) {
	if r.Code == 0 {
		return // lost
	}
	if r.Code < 100 || r.Code > 599 || len(r.Lines) == 0 || r.Lines[0][:3] != strconv.Itoa(r.Code) {
		t.Fatalf("bad reply %d %q", r.Code, r.Lines)
	}
	if a, err := ftpclient.DataAddr(r, nil); err == nil {
		host, port, _ := net.SplitHostPort(a)
		if p, _ := strconv.Atoi(port); host != "127.0.0.1" || p < 1 || p > 65535 {
			t.Fatalf("DataAddr(%q) = %q", r.Lines, a)
		}
	}
}
