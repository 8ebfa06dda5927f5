package prototest_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gnetftp/gnetftp/internal/leaktest"
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
