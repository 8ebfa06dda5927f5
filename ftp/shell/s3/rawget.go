package s3

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gnetftp/gnetftp/ftp/dtp"
)

// Downloads from a store over plain HTTP go through getTransport: it
// sends the GET the SDK built and signed on a TCP connection of its own
// and hands the response body over with the connection under it, so that
// ftpd's data connection can take the object with splice(2) from the
// store's socket (dtp.ConnSource) instead of reading it into a buffer
// and writing it out again: the one copy an FTP server in front of a
// store adds, which on a node whose store is on the same machine is CPU
// the store and the client need. Everything else (HTTPS, other
// requests, a framed or failed response) is the usual http.Transport's
// or read as any body.

// spliceKey marks the context of a GetObject whose body may be spliced.
type spliceKey struct{}

// withSplice marks ctx: the GET under it may go through getTransport.
func withSplice(ctx context.Context) context.Context {
	return context.WithValue(ctx, spliceKey{}, true)
}

// getIdleMax bounds the idle connections getTransport keeps per host,
// getIdleTime how long one is kept (less than stores' keep-alive
// timeouts: SeaweedFS and MinIO close after a minute or more).
const (
	getIdleMax  = 32
	getIdleTime = 30 * time.Second
)

// getTransport is an http.RoundTripper: marked GETs over http:// on
// connections it dials and keeps itself, anything else through base.
// Safe for concurrent use.
type getTransport struct {
	base *http.Transport
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu   sync.Mutex
	idle map[string][]*getConn // by host:port, most recent last
	// dials counts the connections dialled (tests: reuse).
	dials int
}

// getConn is a connection of getTransport with its reader.
type getConn struct {
	c     *net.TCPConn
	br    *bufio.Reader
	since time.Time // idle since
}

func (t *getTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.URL.Scheme != "http" || req.Context().Value(spliceKey{}) == nil ||
		(req.Body != nil && req.Body != http.NoBody) {
		return t.base.RoundTrip(req)
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	for {
		gc, reused, err := t.conn(req.Context(), addr)
		if err != nil {
			return nil, err
		}
		resp, err := gc.roundTrip(req)
		if err != nil {
			_ = gc.c.Close()
			if reused && req.Context().Err() == nil {
				continue // the store closed an idle connection: a fresh one, as http.Transport retries
			}
			return nil, err
		}
		return t.response(req, addr, gc, resp), nil
	}
}

// conn is an idle connection to addr, or a new one (reused false).
func (t *getTransport) conn(ctx context.Context, addr string) (*getConn, bool, error) {
	t.mu.Lock()
	for l := t.idle[addr]; len(l) > 0; l = t.idle[addr] {
		gc := l[len(l)-1]
		t.idle[addr] = l[:len(l)-1]
		if time.Since(gc.since) < getIdleTime {
			t.mu.Unlock()
			return gc, true, nil
		}
		_ = gc.c.Close()
	}
	t.dials++
	t.mu.Unlock()
	c, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		_ = c.Close()
		return nil, false, fmt.Errorf("s3: %s: not a TCP connection", addr)
	}
	return &getConn{c: tc, br: bufio.NewReaderSize(tc, 16<<10)}, false, nil
}

// put keeps gc for the next GET to addr, or closes it.
func (t *getTransport) put(addr string, gc *getConn) {
	_ = gc.c.SetDeadline(time.Time{})
	gc.since = time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if l := t.idle[addr]; len(l) < getIdleMax {
		if t.idle == nil {
			t.idle = map[string][]*getConn{}
		}
		t.idle[addr] = append(l, gc)
		return
	}
	_ = gc.c.Close()
}

// CloseIdleConnections closes the kept connections, and base's.
func (t *getTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, l := range idle {
		for _, gc := range l {
			_ = gc.c.Close()
		}
	}
	t.base.CloseIdleConnections()
}

// roundTrip writes req and reads the response's headers; the context's
// end closes the connection meanwhile.
func (gc *getConn) roundTrip(req *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(req.Context(), func() { _ = gc.c.Close() })
	defer stop()
	if err := req.Write(gc.c); err != nil {
		return nil, fmt.Errorf("s3: sending the GET: %w", err)
	}
	resp, err := http.ReadResponse(gc.br, req)
	if err != nil {
		return nil, fmt.Errorf("s3: reading the response: %w", err)
	}
	if err := req.Context().Err(); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// response gives resp a body that owns gc: a whole object or range with
// its length and no framing becomes a rawBody (spliceable, and gc is
// kept when it has been read to the end); any other body closes gc with
// it.
func (t *getTransport) response(req *http.Request, addr string, gc *getConn, resp *http.Response) *http.Response {
	ok := (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent) &&
		resp.ContentLength >= 0 && len(resp.TransferEncoding) == 0 && !resp.Close &&
		resp.Header.Get("Content-Encoding") == ""
	if !ok {
		resp.Body = &closingBody{ReadCloser: resp.Body, c: gc.c}
		return resp
	}
	b := &rawBody{t: t, addr: addr, gc: gc, n: resp.ContentLength}
	b.stop = context.AfterFunc(req.Context(), func() { _ = gc.c.Close() })
	resp.Body = b
	return resp
}

// closingBody is a response body whose Close closes its connection.
type closingBody struct {
	io.ReadCloser
	c *net.TCPConn
}

func (b *closingBody) Close() error {
	err := b.ReadCloser.Close()
	_ = b.c.Close()
	return err
}

// rawBody is the body of a GET that getTransport sent: its n bytes left
// are buffered in gc.br, then on gc.c. Read and the dtp.ConnSource
// methods are for one goroutine at a time; the request's context closes
// the connection (an abort, the stall watchdog).
type rawBody struct {
	t    *getTransport
	addr string
	gc   *getConn
	n    int64 // bytes of the body not yet read
	stop func() bool
	once sync.Once
}

var _ dtp.ConnSource = (*rawBody)(nil)

func (b *rawBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	var m int
	var err error
	if b.gc.br.Buffered() > 0 {
		m, err = b.gc.br.Read(p)
	} else {
		m, err = b.gc.c.Read(p) // straight into p, whatever its size: no copy through the buffer
	}
	b.n -= int64(m)
	if err == io.EOF && b.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	return m, err
}

// SourceConn is the rest of the body as a spliceable connection: the
// bytes already buffered first. Not for a small rest (dtp.SpliceMin).
func (b *rawBody) SourceConn() (dtp.SourceConn, bool) {
	head, _ := b.gc.br.Peek(int(min(int64(b.gc.br.Buffered()), b.n)))
	rest := b.n - int64(len(head))
	if rest < dtp.SpliceMin {
		return dtp.SourceConn{}, false
	}
	return dtp.SourceConn{Head: head, Conn: b.gc.c, N: rest}, true
}

// Spliced counts the n bytes Send took (first those buffered).
func (b *rawBody) Spliced(n int64) {
	buffered := min(int64(b.gc.br.Buffered()), n)
	_, _ = b.gc.br.Discard(int(buffered))
	b.n -= n
}

// Close keeps the connection for another GET if the body was read to its
// end (and the context has not closed it), else closes it.
func (b *rawBody) Close() error {
	b.once.Do(func() {
		if b.stop() && b.n == 0 && b.gc.br.Buffered() == 0 {
			b.t.put(b.addr, b.gc)
			return
		}
		_ = b.gc.c.Close()
	})
	return nil
}
