package linereceiver_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/linereceiver"
	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

func TestHoldNestsWithPause(t *testing.T) {
	r, _ := newRec("", 0)
	release1 := r.Hold()
	release2 := r.Hold()
	r.DataReceived([]byte("a\r\nb\r\n"))
	assert.Empty(t, r.events, "held")
	release1()
	release1() // twice: nothing more
	assert.Empty(t, r.events, "one hold is left")
	r.PauseLines()
	release2()
	assert.Empty(t, r.events, "paused too")
	assert.True(t, r.LinesPaused())
	r.ResumeLines()
	assert.Equal(t, []string{"L:a", "L:b"}, r.events)
	assert.False(t, r.Held())
}

// lookup is a toy request/response protocol: "GET key" is answered after
// a blocking lookup on the pool; lines pipelined behind it wait.
type lookup struct {
	protocol.BaseProtocol
	linereceiver.LineReceiver
	pool  deferred.Submitter
	table map[string]string
}

func (p *lookup) ConnectionMade()       { p.Init(p.Transport, p) }
func (p *lookup) DataReceived(b []byte) { p.LineReceiver.DataReceived(b) }
func (p *lookup) LineReceived(line []byte) {
	key, ok := strings.CutPrefix(string(line), "GET ")
	if !ok {
		_ = p.SendLine([]byte("ERR " + string(line)))
		return
	}
	linereceiver.Blocking(&p.LineReceiver, p.pool, func() (string, error) {
		v, found := p.table[key] // the blocking part (a disk, a database)
		if !found {
			return "", errors.New("not found")
		}
		return v, nil
	}, func(v string, err error) {
		if err != nil {
			_ = p.SendLine([]byte("ERR " + err.Error()))
			return
		}
		_ = p.SendLine([]byte("VAL " + v))
	})
}

func TestBlockingAnswersInOrderOneRequestAtATime(t *testing.T) {
	pool := deferred.NewPool(deferred.PoolConfig{Workers: 4})
	defer pool.Close()
	p := &lookup{pool: pool, table: map[string]string{"a": "1", "b": "2"}}
	tr := prototest.NewTransport()
	prototest.Connect(p, tr)
	p.DataReceived([]byte("GET a\r\nGET zz\r\nbad\r\nGET b\r\n"))
	assert.Empty(t, tr.Out.String(), "the first request holds the rest")
	var out string
	for deadline := time.Now().Add(10 * time.Second); strings.Count(out, "\n") < 4; {
		require.True(t, time.Now().Before(deadline), "replies so far: %q", out)
		tr.FakeLoop.WaitPending(50 * time.Millisecond)
		out += tr.Take()
	}
	assert.Equal(t, "VAL 1\r\nERR not found\r\nERR bad\r\nVAL 2\r\n", out)
	assert.False(t, p.Held())
}

func TestBlockingWithAFullPoolAnswers(t *testing.T) {
	pool := deferred.NewPool(deferred.PoolConfig{Workers: 1, Queue: 1})
	defer pool.Close()
	release, taken := make(chan struct{}), make(chan struct{})
	defer close(release)
	require.NoError(t, pool.Submit(func() { close(taken); <-release }))
	<-taken // the worker is busy
	require.NoError(t, pool.Submit(func() {}))
	var got error
	r, tr := newRec("", 0)
	linereceiver.Blocking(&r.LineReceiver, pool, func() (int, error) { return 1, nil }, func(_ int, err error) { got = err })
	r.DataReceived([]byte("a\r\n"))
	tr.FakeLoop.RunPending()
	assert.ErrorIs(t, got, deferred.ErrPoolFull)
	assert.Equal(t, []string{"L:a"}, r.events, "delivery goes on after the failure")
}
