package ftpclient_test

import (
	"net"
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
}
