package prototest_test

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/linereceiver"
	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func TestFakeTransportRecordsAndCloses(t *testing.T) {
	tr := prototest.NewTransport()
	assert.NoError(t, tr.WriteSequence([][]byte{[]byte("a"), []byte("b")}))
	assert.Equal(t, "ab", tr.Take())
	tr.LoseConnection()
	assert.True(t, tr.Disconnecting())
	assert.ErrorIs(t, tr.Write([]byte("x")), net.ErrClosed)
}

func TestFakeLoopTimersAndQueue(t *testing.T) {
	l := prototest.NewLoop()
	var got []string
	l.CallLater(2*time.Second, func() { got = append(got, "timer") })
	go l.CallFromThread(func() { got = append(got, "thread") })
	assert.Equal(t, 1, l.WaitPending(10*time.Second))
	l.Advance(time.Second)
	assert.Equal(t, []string{"thread"}, got)
	l.Advance(time.Second)
	assert.Equal(t, []string{"thread", "timer"}, got)
	l.Stop()
	assert.False(t, l.CallFromThread(func() {}))
}

// authTLS is the pattern of the FTP PI's AUTH TLS, on a line protocol:
// reply in clear, drop what came behind the command, start TLS.
type authTLS struct {
	linereceiver.Protocol
	cfg  *tls.Config
	done []error
}

func (p *authTLS) ConnectionMade() { p.Start(p, -1) }

func (p *authTLS) LineReceived(line []byte) {
	if string(line) != "AUTH TLS" {
		_ = p.SendLine(append([]byte("echo "), line...))
		return
	}
	_ = p.SendLine([]byte("234 go"))
	p.ClearLineBuffer()
	st := p.Transport.(protocol.TLSStarter)
	if err := st.StartTLS(p.cfg, protocol.TLSOptions{Timeout: time.Minute}, func(cs tls.ConnectionState, err error) {
		p.done = append(p.done, err)
	}); err != nil {
		_ = p.SendLine([]byte("431 " + err.Error()))
	}
}

func TestFakeTransportStartTLS(t *testing.T) {
	cfg := &tls.Config{}
	t.Run("complete", func(t *testing.T) {
		tr := prototest.NewTransport()
		p := &authTLS{cfg: cfg}
		prototest.Connect(p, tr)
		_, ok := tr.TLSState()
		assert.False(t, ok)
		p.DataReceived([]byte("AUTH TLS\r\nUSER injected\r\n"))
		require.True(t, tr.TLS.Pending())
		assert.Same(t, cfg, tr.TLS.Config)
		assert.Equal(t, time.Minute, tr.TLS.Options.Timeout)
		assert.False(t, tr.TLS.Options.Client)
		assert.Equal(t, "234 go\r\n", tr.Out.String()[:tr.TLS.OutBefore], "the reply precedes TLS")
		assert.Equal(t, "234 go\r\n", tr.Take(), "and nothing was answered to the injected line")
		assert.Empty(t, p.done, "done waits for the test")

		tr.CompleteTLS(tls.ConnectionState{DidResume: true})
		assert.Equal(t, []error{nil}, p.done)
		cs, ok := tr.TLSState()
		require.True(t, ok)
		assert.Equal(t, uint16(tls.VersionTLS13), cs.Version)
		assert.True(t, cs.DidResume)
		assert.False(t, tr.TLS.Pending())

		p.DataReceived([]byte("AUTH TLS\r\n"))
		assert.Contains(t, tr.Take(), "431 ", "a second StartTLS is refused")
		p.DataReceived([]byte("hi\r\n"))
		assert.Equal(t, "echo hi\r\n", tr.Take())
	})
	t.Run("fail", func(t *testing.T) {
		tr := prototest.NewTransport()
		p := &authTLS{cfg: cfg}
		prototest.Connect(p, tr)
		p.DataReceived([]byte("AUTH TLS\r\n"))
		boom := errors.New("bad hello")
		tr.FailTLS(boom)
		assert.Equal(t, []error{boom}, p.done)
		assert.True(t, tr.Aborted, "a failed handshake closes the connection")
		_, ok := tr.TLSState()
		assert.False(t, ok)
		assert.Panics(t, func() { tr.CompleteTLS(tls.ConnectionState{}) }, "nothing pending")
	})
	t.Run("refusals", func(t *testing.T) {
		tr := prototest.NewTransport()
		assert.Error(t, tr.StartTLS(nil, protocol.TLSOptions{}, func(tls.ConnectionState, error) {}))
		tr.LoseConnection()
		assert.ErrorIs(t, tr.StartTLS(cfg, protocol.TLSOptions{}, func(tls.ConnectionState, error) {}), net.ErrClosed)
	})
}
