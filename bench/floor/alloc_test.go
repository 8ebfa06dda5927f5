//go:build linux && amd64

package floor

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// rawClient is a blocking FTP client on raw system calls with every
// buffer preallocated, so that testing.AllocsPerRun, which counts the
// whole process's allocations, sees only the floor's.
type rawClient struct {
	ctl, data unix.SockaddrInet4
	fd        int
	in        [4096]byte
	n         int
	got       []byte // the last transfer's bytes
	err       error  // the first failure
}

var (
	cmdUser = []byte("USER u\r\n")
	cmdPass = []byte("PASS p\r\n")
	cmdType = []byte("TYPE I\r\n")
	cmdEPSV = []byte("EPSV\r\n")
	cmdRetr = []byte("RETR small.bin\r\n")
	cmdList = []byte("LIST bigdir\r\n")
	cmdQuit = []byte("QUIT\r\n")
	errRaw  = fmt.Errorf("rawClient: unexpected reply")
)

func (c *rawClient) dial(sa *unix.SockaddrInet4) int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		err = unix.Connect(fd, sa)
	}
	if err != nil && c.err == nil {
		c.err = err
	}
	return fd
}

// reply reads one reply line and checks its code; it returns the line.
func (c *rawClient) reply(code string) []byte {
	for {
		if i := bytes.IndexByte(c.in[:c.n], '\n'); i >= 0 {
			line := c.in[:i+1]
			ok := bytes.HasPrefix(line, []byte(code))
			rest := c.n - (i + 1)
			var out []byte
			if ok {
				out = line
			}
			if !ok && c.err == nil {
				c.err = errRaw
			}
			// Callers use the line before the next read.
			copy(c.in[:], c.in[i+1:c.n])
			c.n = rest
			return out
		}
		k, err := unix.Read(c.fd, c.in[c.n:])
		if err != nil || k == 0 {
			if c.err == nil {
				c.err = errRaw
			}
			return nil
		}
		c.n += k
	}
}

func (c *rawClient) cmd(b []byte, code string) []byte {
	if _, err := unix.Write(c.fd, b); err != nil && c.err == nil {
		c.err = err
	}
	return c.reply(code)
}

func (c *rawClient) login() {
	c.fd, c.n = c.dial(&c.ctl), 0
	c.reply("220")
	c.cmd(cmdUser, "331")
	c.cmd(cmdPass, "230")
}

func (c *rawClient) quit() {
	c.cmd(cmdQuit, "221")
	_ = unix.Close(c.fd)
}

// transfer is EPSV, the data connection, the command, the data until
// the server closes it, and the 150 and 226.
func (c *rawClient) transfer(cmd []byte) {
	line := c.cmd(cmdEPSV, "229")
	port := 0
	if i := bytes.Index(line, []byte("|||")); i >= 0 {
		for _, d := range line[i+3:] {
			if d < '0' || d > '9' {
				break
			}
			port = port*10 + int(d-'0')
		}
	}
	c.data.Port, c.data.Addr = port, c.ctl.Addr
	dfd := c.dial(&c.data)
	if _, err := unix.Write(c.fd, cmd); err != nil && c.err == nil {
		c.err = err
	}
	c.got = c.got[:0]
	for {
		if len(c.got) == cap(c.got) {
			c.err = errRaw
			break
		}
		k, err := unix.Read(dfd, c.got[len(c.got):cap(c.got)])
		if err != nil || k == 0 {
			break
		}
		c.got = c.got[:len(c.got)+k]
	}
	_ = unix.Close(dfd)
	c.reply("150")
	c.reply("226")
}

// TestNoAllocationPerOperation: a login, a 4 KiB EPSV+RETR and a LIST
// allocate nothing in the floor once it has served one of each (its
// session, input and listing buffers are kept and reused), in both LIST
// modes. The rounding down of AllocsPerRun hides fewer than one allocation
// per run, not one per operation.
func TestNoAllocationPerOperation(t *testing.T) {
	root, small := tree(t)
	for _, threads := range []int{1, 3} {
		t.Run(fmt.Sprintf("list-threads=%d", threads), func(t *testing.T) {
			s := start(t, root, threads)
			c := &rawClient{ctl: unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: s.Port()}, got: make([]byte, 0, 1<<20)}

			logins := testing.AllocsPerRun(50, func() { c.login(); c.quit() })
			require.NoError(t, c.err)
			assert.Zero(t, logins, "allocations per login")

			c.login()
			c.cmd(cmdType, "200")
			retr := testing.AllocsPerRun(50, func() { c.transfer(cmdRetr) })
			require.NoError(t, c.err)
			assert.Equal(t, small, c.got)
			assert.Zero(t, retr, "allocations per 4 KiB EPSV+RETR")

			// AllocsPerRun counts the whole process and rounds down: a
			// thread the runtime starts now and then (the list threads
			// wake Ms) stays under 1 per run, an allocation per LIST
			// does not.
			list := testing.AllocsPerRun(20, func() { c.transfer(cmdList) })
			require.NoError(t, c.err)
			assert.Equal(t, entries, bytes.Count(c.got, []byte("\r\n")))
			assert.Zero(t, list, "allocations per LIST")
			c.quit()
		})
	}
}
