package reactor_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/clock"
	"github.com/gnetftp/gnetftp/internal/testcert"
	"github.com/gnetftp/gnetftp/protocol"
	"github.com/gnetftp/gnetftp/reactor"
)

// tlsLine is the TLS test protocol, a line protocol ("\n") that greets
// with "hello" ("hello tls" on a connection that is already TLS) and
// answers:
//
//	starttls        "go", then StartTLS as the server; the rest of the read
//	                that carried the line is discarded, as the FTP PI must
//	starttls-early  the same, then "early" written while the handshake runs
//	starttls-twice  StartTLS, then StartTLS again: "refused: ..."
//	starttls-abort  StartTLS, then Abort
//	pause-starttls  pauses the transport, "paused"; after 1 s of clock:
//	                "go", StartTLS, resume
//	pause           pauses; after 1 s of clock "resumed", resume
//	state           "v=VERSION resumed=BOOL", or "plain"
//	quit            "bye", LoseConnection
//	anything else   "e:" and the line
type tlsLine struct {
	protocol.BaseProtocol
	cfg    *tls.Config
	buf    []byte
	events chan tlsEvent
}

type tlsEvent struct {
	kind  string // made, done, lost
	err   error
	state tls.ConnectionState
	tr    protocol.Transport
}

func (p *tlsLine) event(e tlsEvent) {
	e.tr = p.Transport
	select {
	case p.events <- e:
	default:
	}
}

func (p *tlsLine) write(s string) { _ = p.Transport.Write([]byte(s + "\n")) }

func (p *tlsLine) ConnectionMade() {
	p.event(tlsEvent{kind: "made"})
	if _, ok := p.Transport.(protocol.TLSStarter).TLSState(); ok {
		p.write("hello tls")
		return
	}
	p.write("hello")
}

func (p *tlsLine) ConnectionLost(err error) { p.event(tlsEvent{kind: "lost", err: err}) }

func (p *tlsLine) done(cs tls.ConnectionState, err error) {
	p.event(tlsEvent{kind: "done", err: err, state: cs})
}

func (p *tlsLine) startTLS() error {
	return p.Transport.(protocol.TLSStarter).StartTLS(p.cfg, protocol.TLSOptions{}, p.done)
}

func (p *tlsLine) DataReceived(data []byte) {
	p.buf = append(p.buf, data...)
	for !p.Transport.Disconnecting() {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return
		}
		line := string(p.buf[:i])
		p.buf = p.buf[i+1:]
		switch line {
		case "starttls", "starttls-early", "starttls-twice", "starttls-abort":
			p.write("go")
			if err := p.startTLS(); err != nil {
				p.write("refused: " + err.Error())
				return
			}
			p.buf = nil // what came with the command was never protected
			switch line {
			case "starttls-early":
				p.write("early")
			case "starttls-twice":
				p.write("refused: " + p.startTLS().Error())
			case "starttls-abort":
				p.Transport.Abort() // how a protocol cancels the handshake
			}
			return
		case "pause-starttls":
			p.Transport.PauseProducing()
			p.write("paused")
			p.Transport.Loop().CallLater(time.Second, func() {
				p.write("go")
				if err := p.startTLS(); err != nil {
					p.write("refused: " + err.Error())
				}
				p.buf = nil
				p.Transport.ResumeProducing()
			})
			return
		case "pause":
			p.Transport.PauseProducing()
			p.Transport.Loop().CallLater(time.Second, func() {
				p.write("resumed")
				p.Transport.ResumeProducing()
				p.DataReceived(nil) // the lines that came with "pause"
			})
			p.write("paused")
			return
		case "state":
			cs, ok := p.Transport.(protocol.TLSStarter).TLSState()
			if !ok {
				p.write("plain")
				continue
			}
			p.write(fmt.Sprintf("v=%s resumed=%v", tls.VersionName(cs.Version), cs.DidResume))
		case "quit":
			p.write("bye")
			p.Transport.LoseConnection()
			return
		default:
			p.write("e:" + line)
		}
	}
}

// tlsEnv is a reactor serving tlsLine on a plaintext listener (StartTLS)
// and an implicit-TLS one, on a manual clock.
type tlsEnv struct {
	pair           *testcert.Pair
	clock          *clock.ManualClock
	r              *reactor.Reactor
	plain, tlsAddr string
	events         chan tlsEvent
	builds         atomic.Int32 // protocols built for the implicit listener
	observed       chan error   // TLSHandshakeFailed reports
}

// tlsFactory builds tlsLine and observes failed implicit handshakes.
type tlsFactory struct {
	protocol.BaseFactory
	env *tlsEnv
}

func (f *tlsFactory) BuildProtocol(net.Addr) protocol.Protocol {
	f.env.builds.Add(1)
	return &tlsLine{cfg: f.env.pair.ServerConfig(), events: f.env.events}
}

func (f *tlsFactory) TLSHandshakeFailed(_ net.Addr, err error) {
	select {
	case f.env.observed <- err:
	default:
	}
}

func newTLSEnv(t *testing.T, cfg reactor.Config) *tlsEnv {
	t.Helper()
	env := &tlsEnv{pair: testcert.MustNew(), clock: clock.NewManualClock(),
		events: make(chan tlsEvent, 256), observed: make(chan error, 64)}
	serverCfg := env.pair.ServerConfig() // one Config: tickets resume across connections
	cfg.Clock = env.clock
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	env.r = reactor.New(cfg)
	plain := protocol.FactoryFunc(func(net.Addr) protocol.Protocol {
		return &tlsLine{cfg: serverCfg, events: env.events}
	})
	require.NoError(t, env.r.Listen("127.0.0.1:0", plain))
	require.NoError(t, env.r.ListenTLS("127.0.0.2:0", serverCfg, &tlsFactory{env: env}))
	require.NoError(t, env.r.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = env.r.Shutdown(ctx)
	})
	env.plain, env.tlsAddr = env.r.Addrs()[0].String(), env.r.Addrs()[1].String()
	return env
}

// next returns the next event of kind, skipping others.
func (env *tlsEnv) next(t *testing.T, kind string) tlsEvent {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e := <-env.events:
			if e.kind == kind {
				return e
			}
		case <-deadline:
			t.Fatalf("no %q event", kind)
		}
	}
}

// drain forgets the events so far.
func (env *tlsEnv) drain() {
	for {
		select {
		case <-env.events:
		default:
			return
		}
	}
}

// advancePast advances the clock by d once a timer is pending (so that the
// timer of interest has been armed before the clock moves).
func (env *tlsEnv) advancePast(t *testing.T, d time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return env.clock.Pending() > 0 }, 20*time.Second, time.Millisecond)
	env.clock.Advance(d)
}

// tlsClient is a client connection with a line reader over whatever it
// currently speaks.
type tlsClient struct {
	raw net.Conn
	tc  *tls.Conn
	rd  *bufio.Reader
}

func dialPlain(t *testing.T, addr string) *tlsClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // a safety net against hangs
	return &tlsClient{raw: c, rd: bufio.NewReader(c)}
}

func (c *tlsClient) line(t *testing.T) string {
	t.Helper()
	s, err := c.rd.ReadString('\n')
	require.NoError(t, err)
	return strings.TrimSuffix(s, "\n")
}

func (c *tlsClient) send(t *testing.T, s string) {
	t.Helper()
	var err error
	if c.tc != nil {
		_, err = c.tc.Write([]byte(s))
	} else {
		_, err = c.raw.Write([]byte(s))
	}
	require.NoError(t, err)
}

// handshake switches the client to TLS (the server has said "go").
func (c *tlsClient) handshake(t *testing.T, cfg *tls.Config) {
	t.Helper()
	require.Zero(t, c.rd.Buffered(), "nothing after the go-ahead")
	c.tc = tls.Client(c.raw, cfg)
	require.NoError(t, c.tc.Handshake())
	c.rd = bufio.NewReader(c.tc)
}

// ping makes a round trip (the server has finished its handshake then).
func (c *tlsClient) ping(t *testing.T) {
	t.Helper()
	c.send(t, "ping\n")
	require.Equal(t, "e:ping", c.line(t))
}

// closed reports whether the server closed the connection: reads end.
func (c *tlsClient) closed(t *testing.T) bool {
	t.Helper()
	var r io.Reader = c.rd
	_, err := io.Copy(io.Discard, r)
	return err == nil || !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// startTLS dials the plaintext listener and upgrades like an FTP client
// after AUTH TLS.
func (env *tlsEnv) startTLS(t *testing.T, cfg *tls.Config) *tlsClient {
	t.Helper()
	return env.startTLSWith(t, "starttls", cfg)
}

// startTLSWith connects in clear, sends cmd (a starttls variant), and
// makes the handshake once the server says go.
func (env *tlsEnv) startTLSWith(t *testing.T, cmd string, cfg *tls.Config) *tlsClient {
	t.Helper()
	c := dialPlain(t, env.plain)
	assert.Equal(t, "hello", c.line(t))
	c.send(t, cmd+"\n")
	assert.Equal(t, "go", c.line(t))
	c.handshake(t, cfg)
	return c
}

func dialTLS(t *testing.T, addr string, cfg *tls.Config) *tlsClient {
	t.Helper()
	c := dialPlain(t, addr)
	c.tc = tls.Client(c.raw, cfg)
	require.NoError(t, c.tc.Handshake())
	c.rd = bufio.NewReader(c.tc)
	return c
}

func TestStartTLSAfterAPlaintextLineAndResumption(t *testing.T) {
	forHandshakeModes(t, func(t *testing.T, share float64) {
		env := newTLSEnv(t, reactor.Config{Loops: 2, TLSHandshakeLoopShare: share})
		ccfg := env.pair.ClientConfig("localhost")

		c := dialPlain(t, env.plain)
		assert.Equal(t, "hello", c.line(t))
		c.send(t, "state\n")
		assert.Equal(t, "plain", c.line(t))
		c.send(t, "starttls\n")
		assert.Equal(t, "go", c.line(t), "the go-ahead goes out in clear")
		c.handshake(t, ccfg)
		done := env.next(t, "done")
		require.NoError(t, done.err)
		assert.Equal(t, uint16(tls.VersionTLS13), done.state.Version)
		assert.False(t, done.state.DidResume)
		c.send(t, "state\n")
		assert.Equal(t, "v=TLS 1.3 resumed=false", c.line(t))
		c.send(t, "one\ntwo\n")
		assert.Equal(t, "e:one", c.line(t))
		assert.Equal(t, "e:two", c.line(t))
		c.send(t, "quit\n")
		assert.Equal(t, "bye", c.line(t))
		_, err := c.rd.ReadByte()
		assert.ErrorIs(t, err, io.EOF, "close_notify, then the end")
		assert.NoError(t, env.next(t, "lost").err)

		// The session ticket from the first connection resumes the second.
		c2 := env.startTLS(t, ccfg)
		assert.True(t, c2.tc.ConnectionState().DidResume)
		require.NoError(t, env.next(t, "done").err)
		c2.send(t, "state\n")
		assert.Equal(t, "v=TLS 1.3 resumed=true", c2.line(t))
	})
}

func TestImplicitTLSBuildsTheProtocolAfterTheHandshake(t *testing.T) {
	forHandshakeModes(t, func(t *testing.T, share float64) {
		env := newTLSEnv(t, reactor.Config{Loops: 2, TLSHandshakeLoopShare: share})
		ccfg := env.pair.ClientConfig("localhost")

		c := dialTLS(t, env.tlsAddr, ccfg)
		assert.Equal(t, "hello tls", c.line(t), "ConnectionMade already sees TLS")
		c.send(t, "state\nping\n")
		assert.Equal(t, "v=TLS 1.3 resumed=false", c.line(t))
		assert.Equal(t, "e:ping", c.line(t))
		assert.Equal(t, int32(1), env.builds.Load())

		c2 := dialTLS(t, env.tlsAddr, ccfg)
		assert.Equal(t, "hello tls", c2.line(t))
		assert.True(t, c2.tc.ConnectionState().DidResume, "a client session cache resumes")
		c2.send(t, "state\n")
		assert.Equal(t, "v=TLS 1.3 resumed=true", c2.line(t))

		// A connection that never says hello gets no protocol, and is closed
		// at the handshake deadline.
		silent := dialPlain(t, env.tlsAddr)
		stall := dialPlain(t, env.tlsAddr)
		stall.send(t, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") // the start of a ClientHello
		require.Eventually(t, func() bool { return env.r.TLSHandshakes() == 1 }, 20*time.Second, time.Millisecond,
			"the partial hello has its handshake goroutine; the silent connection has none")
		env.advancePast(t, 30*time.Second)
		assert.True(t, silent.closed(t))
		assert.True(t, stall.closed(t))
		for range 2 {
			select {
			case err := <-env.observed:
				assert.ErrorIs(t, err, protocol.ErrTLSHandshakeTimeout)
			case <-time.After(20 * time.Second):
				t.Fatal("the factory did not hear of the timeout")
			}
		}
		assert.Equal(t, int32(2), env.builds.Load(), "no protocol for either")
		require.Eventually(t, func() bool { return env.r.TLSHandshakes() == 0 }, 20*time.Second, time.Millisecond)
		c.send(t, "still\n")
		assert.Equal(t, "e:still", c.line(t), "other connections are unaffected")
	})
}

func TestPlaintextAfterStartTLSIsNeverDelivered(t *testing.T) {
	forHandshakeModes(t, func(t *testing.T, share float64) {
		env := newTLSEnv(t, reactor.Config{Loops: 1, TLSHandshakeLoopShare: share})
		ccfg := env.pair.ClientConfig("localhost")

		t.Run("in the same read as the command", func(t *testing.T) {
			c := dialPlain(t, env.plain)
			assert.Equal(t, "hello", c.line(t))
			c.send(t, "starttls\nevil\n") // a man in the middle appends a command
			assert.Equal(t, "go", c.line(t))
			c.handshake(t, ccfg)
			c.send(t, "state\n")
			assert.Contains(t, c.line(t), "v=TLS 1.3 ", "no e:evil, in clear or in TLS")
		})

		t.Run("buffered by the transport", func(t *testing.T) {
			env.drain()
			c := dialPlain(t, env.plain)
			assert.Equal(t, "hello", c.line(t))
			c.send(t, "pause-starttls\n")
			assert.Equal(t, "paused", c.line(t))
			tr := env.next(t, "made").tr
			c.send(t, "evil\n")
			require.Eventually(t, func() bool {
				n := make(chan int, 1)
				tr.Loop().CallFromThread(func() { n <- reactor.InboundBuffered(tr) })
				return <-n == len("evil\n")
			}, 20*time.Second, time.Millisecond, "the paused transport holds the injected line")
			env.clock.Advance(time.Second)
			assert.Equal(t, "go", c.line(t))
			c.handshake(t, ccfg)
			c.send(t, "state\n")
			assert.Contains(t, c.line(t), "v=TLS 1.3 ", "the injected line was discarded")
		})
	})
}

func TestWritesDuringTheHandshakeGoOutEncryptedAfterIt(t *testing.T) {
	forHandshakeModes(t, func(t *testing.T, share float64) {
		env := newTLSEnv(t, reactor.Config{Loops: 1, TLSHandshakeLoopShare: share})
		c := env.startTLSWith(t, "starttls-early", env.pair.ClientConfig("localhost"))
		assert.Equal(t, "early", c.line(t))
	})
}

func TestStartTLSRefusesASecondStart(t *testing.T) {
	forHandshakeModes(t, func(t *testing.T, share float64) {
		env := newTLSEnv(t, reactor.Config{Loops: 1, TLSHandshakeLoopShare: share})
		c := env.startTLSWith(t, "starttls-twice", env.pair.ClientConfig("localhost"))
		l := c.line(t)
		assert.Contains(t, l, "refused: ")
		assert.Contains(t, l, protocol.ErrTLSStarted.Error())
	})
}

func TestClosingCancelsTheHandshake(t *testing.T) {
	forHandshakeModes(t, func(t *testing.T, share float64) {
		env := newTLSEnv(t, reactor.Config{Loops: 1, TLSHandshakeLoopShare: share})
		c := dialPlain(t, env.plain)
		assert.Equal(t, "hello", c.line(t))
		c.send(t, "starttls-abort\n")
		done := env.next(t, "done")
		assert.ErrorIs(t, done.err, net.ErrClosed)
		assert.Equal(t, done.err, env.next(t, "lost").err)
		assert.True(t, c.closed(t))
	})
}

func TestPauseWithTLSKeepsRecordsUntilResumed(t *testing.T) {
	forHandshakeModes(t, func(t *testing.T, share float64) {
		env := newTLSEnv(t, reactor.Config{Loops: 1, TLSHandshakeLoopShare: share})
		c := dialTLS(t, env.tlsAddr, env.pair.ClientConfig("localhost"))
		assert.Equal(t, "hello tls", c.line(t))
		c.send(t, "pause\n")
		assert.Equal(t, "paused", c.line(t))
		c.send(t, "x\n")
		c.send(t, "y\n")
		env.advancePast(t, time.Second)
		assert.Equal(t, "resumed", c.line(t))
		assert.Equal(t, "e:x", c.line(t))
		assert.Equal(t, "e:y", c.line(t))
	})
}

// Each hostile peer gets a closed connection (and StartTLS's done(err)),
// while a bystander goes on.
func TestTLSBadInputClosesOnlyThatConnection(t *testing.T) {
	forHandshakeModes(t, func(t *testing.T, share float64) {
		env := newTLSEnv(t, reactor.Config{Loops: 1, TLSHandshakeLoopShare: share})
		ccfg := env.pair.ClientConfig("localhost")
		bystander := dialTLS(t, env.tlsAddr, ccfg)
		assert.Equal(t, "hello tls", bystander.line(t))

		cases := []struct {
			name     string
			implicit bool
			peer     func(t *testing.T, c *tlsClient)
			doneErr  bool // StartTLS's done gets an error
			lostErr  bool // ConnectionLost gets an error
		}{
			{name: "garbage instead of a ClientHello", doneErr: true, lostErr: true,
				peer: func(t *testing.T, c *tlsClient) { c.send(t, "GET / HTTP/1.0\r\n\r\n") }},
			{name: "plaintext after StartTLS", doneErr: true, lostErr: true,
				peer: func(t *testing.T, c *tlsClient) { c.send(t, "USER anonymous\r\n") }},
			{name: "SSLv2 hello", doneErr: true, lostErr: true,
				peer: func(t *testing.T, c *tlsClient) { c.send(t, "\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10") }},
			{name: "an oversized record header", doneErr: true, lostErr: true,
				peer: func(t *testing.T, c *tlsClient) { c.send(t, "\x16\x03\x01\xff\xff") }},
			{name: "peer closes mid-handshake", doneErr: true, lostErr: true,
				peer: func(t *testing.T, c *tlsClient) {
					c.send(t, "\x16\x03\x01\x02\x00\x01\x00")
					_ = c.raw.(*net.TCPConn).CloseWrite()
				}},
			{name: "garbage on an implicit listener", implicit: true,
				peer: func(t *testing.T, c *tlsClient) { c.send(t, "USER anonymous\r\n") }},
			{name: "a plaintext alert record mid-stream", lostErr: true,
				peer: func(t *testing.T, c *tlsClient) {
					c.handshake(t, ccfg)
					c.ping(t)
					_, err := c.raw.Write([]byte("\x15\x03\x03\x00\x02\x02\x28")) // fatal handshake_failure, unprotected
					require.NoError(t, err)
				}},
			{name: "a corrupted record mid-stream", lostErr: true,
				peer: func(t *testing.T, c *tlsClient) {
					c.handshake(t, ccfg)
					c.ping(t)
					_, err := c.raw.Write([]byte("\x17\x03\x03\x00\x20" + strings.Repeat("\xaa", 0x20)))
					require.NoError(t, err)
				}},
			{name: "close_notify mid-stream",
				peer: func(t *testing.T, c *tlsClient) {
					c.handshake(t, ccfg)
					c.ping(t)
					require.NoError(t, c.tc.CloseWrite())
				}},
			{name: "peer closes mid-record",
				peer: func(t *testing.T, c *tlsClient) {
					c.handshake(t, ccfg)
					c.ping(t)
					_, err := c.raw.Write([]byte("\x17\x03\x03\x01\x00\x01\x02"))
					require.NoError(t, err)
					_ = c.raw.(*net.TCPConn).CloseWrite()
				}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var c *tlsClient
				if tc.implicit {
					c = dialPlain(t, env.tlsAddr)
				} else {
					c = dialPlain(t, env.plain)
					assert.Equal(t, "hello", c.line(t))
					c.send(t, "starttls\n")
					assert.Equal(t, "go", c.line(t))
				}
				tc.peer(t, c)
				assert.True(t, c.closed(t), "the server closes the connection")
				if tc.implicit {
					select {
					case err := <-env.observed:
						assert.Error(t, err)
					case <-time.After(20 * time.Second):
						t.Fatal("no handshake failure reported")
					}
				} else {
					done := env.next(t, "done")
					assert.Equal(t, tc.doneErr, done.err != nil, "done: %v", done.err)
					lost := env.next(t, "lost")
					assert.Equal(t, tc.lostErr, lost.err != nil, "lost: %v", lost.err)
					if tc.doneErr {
						assert.Equal(t, done.err, lost.err, "ConnectionLost gets done's error")
					}
				}
				bystander.send(t, "still here\n")
				assert.Equal(t, "e:still here", bystander.line(t))
			})
		}
		require.Eventually(t, func() bool { return env.r.TLSHandshakes() == 0 }, 20*time.Second, time.Millisecond)
	})
}

func TestStalledStartTLSTimesOut(t *testing.T) {
	forHandshakeModes(t, func(t *testing.T, share float64) {
		env := newTLSEnv(t, reactor.Config{Loops: 1, TLSHandshakeLoopShare: share})
		c := dialPlain(t, env.plain)
		assert.Equal(t, "hello", c.line(t))
		c.send(t, "starttls\n")
		assert.Equal(t, "go", c.line(t))
		c.send(t, "\x16\x03\x01\x02\x00") // a record header, then nothing
		require.Eventually(t, func() bool { return env.r.TLSHandshakes() == 1 }, 20*time.Second, time.Millisecond)
		env.clock.Advance(29 * time.Second)
		env.advancePast(t, time.Second)
		done := env.next(t, "done")
		assert.ErrorIs(t, done.err, protocol.ErrTLSHandshakeTimeout)
		assert.ErrorIs(t, env.next(t, "lost").err, protocol.ErrTLSHandshakeTimeout)
		assert.True(t, c.closed(t))
		require.Eventually(t, func() bool { return env.r.TLSHandshakes() == 0 }, 20*time.Second, time.Millisecond,
			"the handshake goroutine has ended")
	})
}

func TestMaxTLSHandshakesClosesTheExcess(t *testing.T) {
	forHandshakeModes(t, func(t *testing.T, share float64) {
		env := newTLSEnv(t, reactor.Config{Loops: 1, MaxTLSHandshakes: 1, TLSHandshakeLoopShare: share})
		ccfg := env.pair.ClientConfig("localhost")
		stall := dialPlain(t, env.tlsAddr)
		stall.send(t, "\x16\x03\x01\x02\x00")
		require.Eventually(t, func() bool { return env.r.TLSHandshakes() == 1 }, 20*time.Second, time.Millisecond)

		c := dialPlain(t, env.tlsAddr)
		tc := tls.Client(c.raw, ccfg)
		assert.Error(t, tc.Handshake(), "no room for a second handshake")
		select {
		case err := <-env.observed:
			assert.ErrorIs(t, err, protocol.ErrTooManyTLSHandshakes)
		case <-time.After(20 * time.Second):
			t.Fatal("no report")
		}

		env.advancePast(t, 30*time.Second)
		assert.True(t, stall.closed(t))
		require.Eventually(t, func() bool { return env.r.TLSHandshakes() == 0 }, 20*time.Second, time.Millisecond)
		ok := dialTLS(t, env.tlsAddr, ccfg)
		assert.Equal(t, "hello tls", ok.line(t), "the slot is free again")
	})
}

func TestManyConcurrentTLSConnections(t *testing.T) {
	forHandshakeModes(t, func(t *testing.T, share float64) {
		env := newTLSEnv(t, reactor.Config{Loops: 2, TLSHandshakeLoopShare: share})
		ccfg := env.pair.ClientConfig("localhost")
		const conns, msgs = 40, 20
		var wg sync.WaitGroup
		errs := make(chan error, conns)
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				raw, err := net.DialTimeout("tcp", env.tlsAddr, 10*time.Second)
				if err != nil {
					errs <- err
					return
				}
				defer raw.Close()
				_ = raw.SetDeadline(time.Now().Add(60 * time.Second))
				c := tls.Client(raw, ccfg)
				rd := bufio.NewReader(c)
				if s, err := rd.ReadString('\n'); err != nil || s != "hello tls\n" {
					errs <- fmt.Errorf("greeting %q %v", s, err)
					return
				}
				var out strings.Builder
				for j := range msgs {
					fmt.Fprintf(&out, "c%d-m%d-%s\n", i, j, strings.Repeat("x", j*100))
				}
				if _, err := c.Write([]byte(out.String())); err != nil {
					errs <- err
					return
				}
				for j := range msgs {
					s, err := rd.ReadString('\n')
					if want := fmt.Sprintf("e:c%d-m%d-%s\n", i, j, strings.Repeat("x", j*100)); err != nil || s != want {
						errs <- fmt.Errorf("got %q want %q (%v)", s, want, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestLargeRecordsBothWays(t *testing.T) {
	forHandshakeModes(t, func(t *testing.T, share float64) {
		env := newTLSEnv(t, reactor.Config{Loops: 1, TLSHandshakeLoopShare: share})
		c := dialTLS(t, env.tlsAddr, env.pair.ClientConfig("localhost"))
		assert.Equal(t, "hello tls", c.line(t))
		long := strings.Repeat("0123456789", 10_000) // 100 KB: several full records each way
		c.send(t, long+"\n")
		assert.Equal(t, "e:"+long, c.line(t))
	})
}

func TestShutdownEndsHandshakesInFlight(t *testing.T) {
	forHandshakeModes(t, func(t *testing.T, share float64) {
		env := newTLSEnv(t, reactor.Config{Loops: 1, TLSHandshakeLoopShare: share})
		stall := dialPlain(t, env.tlsAddr)
		stall.send(t, "\x16\x03\x01\x02\x00")
		require.Eventually(t, func() bool { return env.r.TLSHandshakes() == 1 }, 20*time.Second, time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, env.r.Shutdown(ctx))
		assert.Zero(t, env.r.TLSHandshakes())
		assert.True(t, stall.closed(t))
	})
}

// tlsClientProto is a client protocol: StartTLS as the client, at once
// (implicit TLS) or on a "234" line (AUTH TLS), then it sends "ping" and
// reports the lines it reads.
type tlsClientProto struct {
	protocol.BaseProtocol
	cfg       *tls.Config
	onLine    bool
	lines     chan string
	done      chan error
	buf       []byte
	tlsActive bool
}

func (p *tlsClientProto) start() {
	st := p.Transport.(protocol.TLSStarter)
	if err := st.StartTLS(p.cfg, protocol.TLSOptions{Client: true}, func(cs tls.ConnectionState, err error) {
		p.done <- err
	}); err != nil {
		p.done <- err
		return
	}
	p.tlsActive = true
	_ = p.Transport.Write([]byte("ping\n")) // kept until the handshake is done
}

func (p *tlsClientProto) ConnectionMade() {
	if !p.onLine {
		p.start()
	}
}

func (p *tlsClientProto) DataReceived(b []byte) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return
		}
		line := string(p.buf[:i])
		p.buf = p.buf[i+1:]
		if !p.tlsActive && line == "234 go" {
			p.start()
			p.buf = nil
			return
		}
		p.lines <- line
	}
}

// goTLSServer is crypto/tls's own echo server; with greet it first says
// "234 go" in clear and then starts TLS, as an FTP server after AUTH TLS.
func goTLSServer(t *testing.T, cfg *tls.Config, greet bool) net.Addr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		defer raw.Close()
		_ = raw.SetDeadline(time.Now().Add(30 * time.Second))
		if greet {
			if _, err := raw.Write([]byte("234 go\n")); err != nil {
				return
			}
		}
		c := tls.Server(raw, cfg)
		rd := bufio.NewReader(c)
		for {
			l, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := c.Write([]byte("echo:" + l)); err != nil {
				return
			}
		}
	}()
	return ln.Addr()
}

func TestClientStartTLSOnTheClientLoops(t *testing.T) {
	pair := testcert.MustNew()
	for _, onLine := range []bool{false, true} {
		t.Run(fmt.Sprintf("after a plaintext line=%v", onLine), func(t *testing.T) {
			addr := goTLSServer(t, pair.ServerConfig(), onLine)
			r := reactor.New(reactor.Config{Logger: quietLogger()})
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = r.Shutdown(ctx)
			})
			p := &tlsClientProto{cfg: pair.ClientConfig("localhost"), onLine: onLine, lines: make(chan string, 8), done: make(chan error, 2)}
			require.NoError(t, r.Connect(context.Background(), addr.String(),
				protocol.FactoryFunc(func(net.Addr) protocol.Protocol { return p }), 5*time.Second))
			select {
			case err := <-p.done:
				require.NoError(t, err)
			case <-time.After(20 * time.Second):
				t.Fatal("no handshake result")
			}
			select {
			case l := <-p.lines:
				assert.Equal(t, "echo:ping", l)
			case <-time.After(20 * time.Second):
				t.Fatal("no echo")
			}
			st := make(chan tls.ConnectionState, 1)
			p.Transport.Loop().CallFromThread(func() {
				cs, _ := p.Transport.(protocol.TLSStarter).TLSState()
				st <- cs
			})
			assert.Equal(t, uint16(tls.VersionTLS13), (<-st).Version)
		})
	}
}

// forHandshakeModes runs a test with handshakes on goroutines (share 0)
// and on the loops (share 1: every handshake inline).
func forHandshakeModes(t *testing.T, f func(t *testing.T, share float64)) {
	t.Run("goroutine", func(t *testing.T) { f(t, 0) })
	t.Run("inline", func(t *testing.T) { f(t, 1) })
}
