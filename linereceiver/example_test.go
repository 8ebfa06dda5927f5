package linereceiver_test

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/linereceiver"
	"github.com/gnetftp/gnetftp/protocol/prototest"
)

// Mailbox is a POP3-like toy written only against the public layers:
// "USER name" picks a mailbox, "STAT" counts its messages with a blocking
// lookup on the worker pool (a disk or a database in a real server),
// "QUIT" ends. Lines pipelined behind STAT wait for its answer.
type Mailbox struct {
	linereceiver.Protocol

	Pool  deferred.Submitter
	Count func(user string) (int, error) // blocking
	user  string
}

func (m *Mailbox) ConnectionMade() {
	m.Start(m, 10*time.Minute) // lines to m; closed after 10 idle minutes
	_ = m.SendLine([]byte("+OK ready"))
}

func (m *Mailbox) LineReceived(line []byte) {
	cmd, arg, _ := bytes.Cut(line, []byte(" "))
	switch strings.ToUpper(string(cmd)) {
	case "USER":
		m.user = string(arg)
		_ = m.SendLine([]byte("+OK " + m.user))
	case "STAT":
		user := m.user
		linereceiver.Blocking(&m.LineReceiver, m.Pool, func() (int, error) { return m.Count(user) },
			func(n int, err error) {
				if err != nil {
					_ = m.SendLine([]byte("-ERR " + err.Error()))
					return
				}
				_ = m.SendLine([]byte(fmt.Sprintf("+OK %d messages", n)))
			})
	case "QUIT":
		_ = m.SendLine([]byte("+OK bye"))
		m.Transport.LoseConnection()
	default:
		_ = m.SendLine([]byte("-ERR unknown command"))
	}
}

// A line protocol with blocking work on the pool, tested without sockets.
// To serve it: r.Listen(addr, protocol.FactoryFunc(func(net.Addr)
// protocol.Protocol { return &Mailbox{Pool: pool, Count: count} })).
func ExampleBlocking() {
	pool := deferred.NewPool(deferred.PoolConfig{})
	defer pool.Close()
	m := &Mailbox{Pool: pool, Count: func(user string) (int, error) {
		if user == "alice" {
			return 3, nil
		}
		return 0, fmt.Errorf("no mailbox %s", user)
	}}
	tr := prototest.NewTransport()
	prototest.Connect(m, tr)
	m.DataReceived([]byte("USER alice\r\nSTAT\r\nUSER bob\r\nSTAT\r\nQUIT\r\n"))
	for i := 0; !tr.Lost && i < 100; i++ { // the test goroutine plays the loop
		tr.FakeLoop.WaitPending(time.Second)
	}
	fmt.Print(strings.ReplaceAll(tr.Take(), "\r\n", "\n"))
	// Output:
	// +OK ready
	// +OK alice
	// +OK 3 messages
	// +OK bob
	// -ERR no mailbox bob
	// +OK bye
}
