package protocol_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

type greeter struct{ protocol.BaseProtocol }

func (g *greeter) ConnectionMade() { _ = g.Transport.Write([]byte("hi\r\n")) }

func TestBaseProtocolKeepsTheTransport(t *testing.T) {
	g := &greeter{}
	tr := prototest.NewTransport()
	prototest.Connect(g, tr)
	assert.Same(t, tr, g.Transport)
	assert.Equal(t, "hi\r\n", tr.Take())
	g.DataReceived([]byte("ignored"))
	g.ConnectionLost(nil)
	assert.Empty(t, tr.Take())
}

func TestFactoryFunc(t *testing.T) {
	var f protocol.Factory = protocol.FactoryFunc(func(addr net.Addr) protocol.Protocol {
		if addr == nil {
			return nil
		}
		return &greeter{}
	})
	f.StartFactory()
	assert.NotNil(t, f.BuildProtocol(&net.TCPAddr{}))
	assert.Nil(t, f.BuildProtocol(nil), "a nil protocol refuses the connection")
	f.StopFactory()
}
