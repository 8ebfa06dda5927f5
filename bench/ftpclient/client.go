// Package ftpclient is an FTP client protocol on this project's layers
// (Twisted's FTPClientBasic): a LineReceiver on a reactor connection that
// sends commands and hands each reply to the callback given with it, on
// the connection's loop. A load generator drives tens of thousands of
// these from a few event loops, without a goroutine per connection.
package ftpclient

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/gnetftp/gnetftp/linereceiver"
	"github.com/gnetftp/gnetftp/protocol"
)

// Reply is a server reply; Code is 0 when the connection was lost first.
type Reply struct {
	Code  int
	Lines []string // every line, without CRLF
}

// Text is the text of the last line, without the code.
func (r Reply) Text() string {
	if len(r.Lines) == 0 {
		return ""
	}
	l := r.Lines[len(r.Lines)-1]
	if len(l) > 4 {
		return l[4:]
	}
	return ""
}

// OK reports a 1xx, 2xx or 3xx reply.
func (r Reply) OK() bool { return r.Code >= 100 && r.Code < 400 }

func (r Reply) String() string { return strings.Join(r.Lines, "\n") }

// ErrLost is the error of commands pending when the connection ends.
var ErrLost = errors.New("ftpclient: connection lost")

// Client is one control connection. Its methods are loop-only; from other
// goroutines use Transport.Loop().CallFromThread.
type Client struct {
	protocol.BaseProtocol
	linereceiver.LineReceiver

	// OnGreeting runs with the 220 (or 421) greeting.
	OnGreeting func(c *Client, r Reply)
	// OnLost runs when the connection ends.
	OnLost func(c *Client, err error)

	queue   []func(Reply)
	replies Assembler
	greeted bool
	lost    bool
}

// ConnectionMade starts the line receiver.
func (c *Client) ConnectionMade() { c.LineReceiver.Init(c.Transport, c) }

// DataReceived feeds the line receiver.
func (c *Client) DataReceived(b []byte) { c.LineReceiver.DataReceived(b) }

// MaxReplyLines bounds a multi-line reply: a server that never ends one
// loses its connection instead of growing the client's memory.
const MaxReplyLines = 10000

// ErrReplyTooLong: a multi-line reply went on past MaxReplyLines.
var ErrReplyTooLong = errors.New("ftpclient: multi-line reply longer than MaxReplyLines")

// Assembler puts reply lines together into replies (RFC 959 4.2): a
// reply is one "ddd text" line, or "ddd-text" up to a line that starts
// with the same code and a space. Lines outside a reply that do not start
// with a code (100-599) are dropped. The Client uses one; a blocking
// reader can use another. The zero value is ready.
type Assembler struct{ lines []string }

// Add takes one line without its CRLF and returns the reply it completes,
// if any; after MaxReplyLines lines of one reply it gives up with
// ErrReplyTooLong.
func (a *Assembler) Add(line string) (r Reply, done bool, err error) {
	a.lines = append(a.lines, line)
	first := a.lines[0]
	code, ok := replyCode(first)
	if !ok {
		a.lines = nil
		return Reply{}, false, nil
	}
	if len(first) > 3 && first[3] == '-' {
		if len(a.lines) == 1 || !(len(line) >= 4 && line[:3] == first[:3] && line[3] == ' ') {
			if len(a.lines) >= MaxReplyLines {
				a.lines = nil
				return Reply{}, false, ErrReplyTooLong
			}
			return Reply{}, false, nil // more to come
		}
	}
	r = Reply{Code: code, Lines: a.lines}
	a.lines = nil
	return r, true, nil
}

// LineReceived assembles replies (Assembler) and hands each to the
// greeting callback or to the command it answers.
func (c *Client) LineReceived(line []byte) {
	r, done, err := c.replies.Add(string(line))
	if err != nil {
		c.Transport.Abort()
		return
	}
	if !done {
		return
	}
	if !c.greeted {
		c.greeted = true
		if c.OnGreeting != nil {
			c.OnGreeting(c, r)
		}
		return
	}
	if r.Code >= 100 && r.Code < 200 {
		// A preliminary reply: the command's callback sees it and stays
		// for the final one.
		if len(c.queue) > 0 {
			c.queue[0](r)
		}
		return
	}
	if len(c.queue) == 0 {
		return // unsolicited (a 421 before closing)
	}
	cb := c.queue[0]
	c.queue = c.queue[1:]
	cb(r)
}

// Do sends a command; cb gets its final reply (and any 1xx before it).
func (c *Client) Do(cmd string, cb func(Reply)) {
	if c.lost {
		cb(Reply{})
		return
	}
	c.queue = append(c.queue, cb)
	_ = c.SendLine([]byte(cmd))
}

// Login sends USER and PASS; cb gets the final reply.
func (c *Client) Login(user, pass string, cb func(Reply)) {
	c.Do("USER "+user, func(r Reply) {
		if r.Code != 331 {
			cb(r)
			return
		}
		c.Do("PASS "+pass, cb)
	})
}

// ConnectionLost fails what is pending.
func (c *Client) ConnectionLost(err error) {
	c.lost = true
	q := c.queue
	c.queue = nil
	for _, cb := range q {
		cb(Reply{})
	}
	if c.OnLost != nil {
		c.OnLost(c, err)
	}
}

// replyCode reads the three-digit code (100-599) a reply line starts with.
func replyCode(line string) (int, bool) {
	if len(line) < 3 || line[0] < '1' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' {
		return 0, false
	}
	return int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0'), true
}

var pasvRE = regexp.MustCompile(`(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})`)
var epsvRE = regexp.MustCompile(`\(([^0-9])([^0-9])([^0-9])(\d{1,5})([^0-9])\)`)

// DataAddr turns a 227 or 229 reply into the address to connect to. The
// host is always the control connection's peer (127.0.0.1 when unknown):
// for 229 by definition, for 227 as curl does by default since 7.74
// (--ftp-skip-pasv-ip), so that a server cannot send the load generator's
// data connections to a third host. The port must be 1-65535.
func DataAddr(r Reply, controlPeer net.Addr) (string, error) {
	var port int
	switch r.Code {
	case 227:
		m := pasvRE.FindStringSubmatch(r.Text())
		if m == nil {
			return "", fmt.Errorf("ftpclient: bad PASV reply %q", r)
		}
		for _, n := range m[1:] {
			if v, _ := strconv.Atoi(n); v > 255 {
				return "", fmt.Errorf("ftpclient: bad PASV reply %q: %s is not a byte", r, n)
			}
		}
		p1, _ := strconv.Atoi(m[5])
		p2, _ := strconv.Atoi(m[6])
		port = p1*256 + p2
	case 229:
		m := epsvRE.FindStringSubmatch(r.Text())
		if m == nil {
			return "", fmt.Errorf("ftpclient: bad EPSV reply %q", r)
		}
		port, _ = strconv.Atoi(m[4])
	default:
		return "", fmt.Errorf("ftpclient: not a passive reply: %q", r)
	}
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("ftpclient: bad port %d in %q", port, r)
	}
	host := "127.0.0.1"
	if ta, ok := controlPeer.(*net.TCPAddr); ok {
		host = ta.IP.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// Passive asks for a passive data address: EPSV, falling back to PASV.
func (c *Client) Passive(cb func(addr string, err error)) {
	c.Do("EPSV", func(r Reply) {
		if r.Code == 229 {
			cb(DataAddr(r, c.Transport.RemoteAddr()))
			return
		}
		c.Do("PASV", func(r Reply) { cb(DataAddr(r, c.Transport.RemoteAddr())) })
	})
}
