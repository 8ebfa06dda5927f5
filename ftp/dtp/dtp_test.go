package dtp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

var loopback = net.IPv4(127, 0, 0, 1)

func TestParsePORT(t *testing.T) {
	a, err := dtp.ParsePORT("127,0,0,1,200,10")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:51210", a.String())
	a, err = dtp.ParsePORT(" 10, 1,2,3 ,0,21")
	require.NoError(t, err)
	assert.Equal(t, "10.1.2.3:21", a.String())
	for _, bad := range []string{"", "1,2,3,4,5", "1,2,3,4,5,6,7", "256,0,0,1,1,1", "a,b,c,d,e,f", "1,2,3,4,-1,2", "127,0,0,1,0,0"} {
		_, err := dtp.ParsePORT(bad)
		assert.ErrorIs(t, err, dtp.ErrSyntax, bad)
	}
}

func TestParseEPRT(t *testing.T) {
	a, err := dtp.ParseEPRT("|1|132.235.1.2|6275|")
	require.NoError(t, err)
	assert.Equal(t, "132.235.1.2:6275", a.String())
	a, err = dtp.ParseEPRT("!2!::1!5282!")
	require.NoError(t, err)
	assert.Equal(t, "[::1]:5282", a.String())
	_, err = dtp.ParseEPRT("|3|1.2.3.4|5|")
	assert.ErrorIs(t, err, dtp.ErrUnsupportedNetwork)
	for _, bad := range []string{"", "|1|1.2.3.4|", "|1|::1|5|", "|2|1.2.3.4|5|", "|1|1.2.3.4|0|", "|1|1.2.3.4|70000|", "|x|1.2.3.4|5|", "1|1.2.3.4|5|"} {
		_, err := dtp.ParseEPRT(bad)
		assert.ErrorIs(t, err, dtp.ErrSyntax, bad)
	}
}

func TestFormatPASV(t *testing.T) {
	assert.Equal(t, "127,0,0,1,200,10", dtp.FormatPASV(loopback, 51210))
}

func FuzzParseAddresses(f *testing.F) {
	for _, s := range []string{"127,0,0,1,200,10", "|1|1.2.3.4|5|", "|2|::1|21|", ",,,,,", "||||"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if a, err := dtp.ParsePORT(s); err == nil {
			if a.IP.To4() == nil || a.Port <= 0 || a.Port > 65535 {
				t.Fatalf("ParsePORT(%q) = %v", s, a)
			}
			again, err := dtp.ParsePORT(dtp.FormatPASV(a.IP, a.Port))
			if err != nil || !again.IP.Equal(a.IP) || again.Port != a.Port {
				t.Fatalf("round trip of %q: %v %v", s, again, err)
			}
		}
		if a, err := dtp.ParseEPRT(s); err == nil && (a.Port <= 0 || a.Port > 65535 || a.IP == nil) {
			t.Fatalf("ParseEPRT(%q) = %v", s, a)
		}
	})
}

func TestActiveChecks(t *testing.T) {
	cfg := dtp.Config{}
	assert.ErrorIs(t, dtp.CheckActive(cfg, loopback, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5000}), dtp.ErrForeignAddress)
	assert.ErrorIs(t, dtp.CheckActive(cfg, loopback, &net.TCPAddr{IP: loopback, Port: 1023}), dtp.ErrPrivilegedPort)
	assert.NoError(t, dtp.CheckActive(cfg, loopback, &net.TCPAddr{IP: loopback, Port: 1024}))
	open := dtp.Config{AllowForeignPeers: true, AllowPrivilegedPorts: true}
	assert.NoError(t, dtp.CheckActive(open, loopback, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 21}))
	_, err := dtp.Dial(context.Background(), cfg, loopback, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5000})
	assert.ErrorIs(t, err, dtp.ErrForeignAddress, "refused before any packet is sent")
}

func TestPassiveAcceptsOnlyThePeer(t *testing.T) {
	p, err := dtp.Listen(dtp.Config{AcceptTimeout: 10 * time.Second}, nil, loopback)
	require.NoError(t, err)
	addr := net.JoinHostPort("127.0.0.1", itoa(p.Port()))
	got := make(chan *net.TCPConn, 1)
	go func() {
		c, err := p.Accept(context.Background(), loopback)
		if err == nil {
			got <- c
		}
		close(got)
	}()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}}
	if stranger, err := d.Dial("tcp", addr); err == nil {
		_ = stranger.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(stranger)
		assert.Empty(t, b)
		stranger.Close()
	}
	good, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer good.Close()
	c := <-got
	require.NotNil(t, c)
	defer c.Close()
	assert.Equal(t, good.LocalAddr().String(), c.RemoteAddr().String())
	_, err = net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "one connection per passive listener: it is closed after")
}

func TestPassiveTimeoutAndCancel(t *testing.T) {
	p, err := dtp.Listen(dtp.Config{AcceptTimeout: 50 * time.Millisecond}, nil, loopback)
	require.NoError(t, err)
	_, err = p.Accept(context.Background(), loopback)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())

	p, err = dtp.Listen(dtp.Config{AcceptTimeout: time.Minute}, nil, loopback)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	_, err = p.Accept(ctx, loopback)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestPortRangeExhaustionAndRelease(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	ports := dtp.NewPorts(base, base+1)
	a, err := dtp.Listen(dtp.Config{}, ports, loopback)
	require.NoError(t, err)
	b, err := dtp.Listen(dtp.Config{}, ports, loopback)
	require.NoError(t, err)
	assert.ElementsMatch(t, []int{base, base + 1}, []int{a.Port(), b.Port()})
	_, err = dtp.Listen(dtp.Config{}, ports, loopback)
	assert.ErrorIs(t, err, dtp.ErrNoPort)
	require.NoError(t, a.Close())
	c, err := dtp.Listen(dtp.Config{}, ports, loopback)
	require.NoError(t, err, "a released port is handed out again")
	assert.Equal(t, a.Port(), c.Port())
	b.Close()
	c.Close()
}

// pair returns a passive data connection (server side) and the client.
func pair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	p, err := dtp.Listen(dtp.Config{AcceptTimeout: 10 * time.Second}, nil, loopback)
	require.NoError(t, err)
	cli, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(p.Port())))
	require.NoError(t, err)
	srv, err := p.Accept(context.Background(), loopback)
	require.NoError(t, err)
	_ = cli.SetDeadline(time.Now().Add(30 * time.Second))
	return srv, cli.(*net.TCPConn)
}

func TestBinaryRoundTripByteForByte(t *testing.T) {
	data := make([]byte, 3<<20+5)
	_, _ = rand.Read(data)
	src := filepath.Join(t.TempDir(), "src")
	require.NoError(t, os.WriteFile(src, data, 0o644))
	f, err := os.Open(src)
	require.NoError(t, err)
	defer f.Close()
	srv, cli := pair(t)
	done := make(chan error, 1)
	go func() { _, err := dtp.Send(context.Background(), srv, f, false); done <- err }()
	got, err := io.ReadAll(cli)
	require.NoError(t, err)
	require.NoError(t, <-done)
	assert.True(t, bytes.Equal(data, got))
	cli.Close()

	dst, err := os.Create(filepath.Join(t.TempDir(), "dst"))
	require.NoError(t, err)
	defer dst.Close()
	srv, cli = pair(t)
	go func() { _, _ = cli.Write(data); cli.Close() }()
	n, err := dtp.Receive(context.Background(), srv, dst, false)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), n)
	onDisk, _ := os.ReadFile(dst.Name())
	assert.True(t, bytes.Equal(data, onDisk))
}

func TestASCIIConversionsAtEverySplit(t *testing.T) {
	cases := []struct{ disk, wire string }{
		{"a\nb\n", "a\r\nb\r\n"},
		{"no newline", "no newline"},
		{"\n\n", "\r\n\r\n"},
		{"lone\rcr\n", "lone\rcr\r\n"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		w := dtp.NewCRLFWriter(&out)
		for i := 0; i < len(c.disk); i++ { // byte at a time: every split
			_, _ = w.Write([]byte{c.disk[i]})
		}
		require.NoError(t, w.Flush())
		assert.Equal(t, c.wire, out.String(), "RETR %q", c.disk)
	}
	for _, c := range []struct{ wire, disk string }{
		{"a\r\nb\r\n", "a\nb\n"},
		{"lone\rcr\r\n", "lone\rcr\n"},
		{"ends in cr\r", "ends in cr\r"},
		{"\r\r\n", "\r\n"},
	} {
		for split := 0; split <= len(c.wire); split++ {
			srv, cli := pair(t)
			go func() {
				_, _ = cli.Write([]byte(c.wire[:split]))
				time.Sleep(time.Millisecond)
				_, _ = cli.Write([]byte(c.wire[split:]))
				cli.Close()
			}()
			var got bytes.Buffer
			_, err := dtp.Receive(context.Background(), srv, &got, true)
			require.NoError(t, err)
			assert.Equal(t, c.disk, got.String(), "STOR %q split %d", c.wire, split)
		}
	}
}

func TestClientGoneMidSendIsPeerClosed(t *testing.T) {
	srv, cli := pair(t)
	_ = cli.SetLinger(0)
	cli.Close()
	_, err := dtp.Send(context.Background(), srv, bytes.NewReader(make([]byte, 8<<20)), false)
	assert.ErrorIs(t, err, dtp.ErrPeerClosed)
}

func TestCancelAbortsATransfer(t *testing.T) {
	srv, cli := pair(t)
	defer cli.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := dtp.Send(ctx, srv, bytes.NewReader(make([]byte, 64<<20)), false)
		done <- err
	}()
	cancel() // the client never reads: only ABOR can end this
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(20 * time.Second):
		t.Fatal("cancel did not abort the transfer")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestDefaultPassiveRangeAvoidsTheEphemeralRange(t *testing.T) {
	lo, hi := dtp.DefaultPassiveRange()
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		assert.Equal(t, [2]int{0, 0}, [2]int{lo, hi})
		return
	}
	var start int
	_, _ = fmt.Sscan(string(b), &start)
	if start-1 < 2048 {
		assert.Equal(t, [2]int{0, 0}, [2]int{lo, hi})
		return
	}
	assert.Equal(t, 1024, lo)
	assert.Equal(t, start-1, hi)
	p, err := dtp.Listen(dtp.Config{}, dtp.NewPorts(lo, hi), loopback)
	require.NoError(t, err)
	assert.Less(t, p.Port(), start)
	p.Close()
}
