package e2e_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Sessions that open passive listeners and never connect cannot take the
// passive range: one address holds at most --max-passive-per-ip of them
// (16 by default); the others get 425, the server's descriptors stop
// growing with them, and every other client still gets its data
// connection.
func TestPassivePortsCannotBeHoardedFromOneAddress(t *testing.T) {
	p := startFTPDProcess(t, "--max-connections-per-ip", "0") // the passive cap, not the session cap, is under test
	base := p.fds(t)
	const sessions = 40
	refused := 0
	for i := 0; i < sessions; i++ {
		r := rawDial(t, &p.server)
		r.login()
		switch reply := r.cmd("EPSV"); {
		case strings.HasPrefix(reply, "229"):
		case strings.HasPrefix(reply, "425"):
			refused++
		default:
			t.Fatalf("EPSV: %q", reply)
		}
	}
	assert.Equal(t, sessions-16, refused, "16 open listeners for 127.0.0.1, then 425")
	assert.LessOrEqual(t, p.fds(t)-base, sessions+16+2, "a descriptor per session, 16 listeners (and the home opened on the first login)")

	// Another address is not refused for them.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", p.addr)
	require.NoError(t, err)
	r := &rawConn{t: t, c: c, rd: bufio.NewReader(c)}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r.expect("220")
	r.login()
	assert.Regexp(t, `^229`, r.cmd("EPSV"))
}
