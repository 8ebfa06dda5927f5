package lineecho_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/linereceiver/lineecho"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func TestIdleTimeoutCloses(t *testing.T) {
	f := &lineecho.Factory{Idle: time.Minute}
	p := f.BuildProtocol(nil)
	tr := prototest.NewTransport()
	prototest.Connect(p, tr)
	tr.FakeLoop.Advance(59 * time.Second)
	p.DataReceived([]byte("ping\r\n"))
	tr.FakeLoop.Advance(59 * time.Second)
	assert.False(t, tr.Lost, "activity resets the timer")
	tr.FakeLoop.Advance(time.Second)
	assert.True(t, tr.Lost)
	assert.Equal(t, "ping\r\n", tr.Take())
}

// A protocol is testable without sockets: feed bytes, read what it wrote.
func Example() {
	f := &lineecho.Factory{}
	p := f.BuildProtocol(nil)
	tr := prototest.NewTransport()
	prototest.Connect(p, tr)

	p.DataReceived([]byte("hello\r\nwor"))
	p.DataReceived([]byte("ld\r\nQUIT\r\n"))
	fmt.Printf("%q closed=%v\n", tr.Take(), tr.Lost)
	// Output: "hello\r\nworld\r\nBYE\r\n" closed=true
}
