package smtp

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailwire/smtp/internal/peer"
)

// greeting and ehlo build the opening of a scripted session.
const greeting = peer.Greeting

func ehlo(exts ...string) string { return peer.EHLO(exts...) }

// plainOpts are the options of a test over the scripted peer: no TLS, a
// short timeout so that a test stuck on a wrong script fails fast.
func plainOpts() *Options {
	return &Options{Security: Plaintext, Timeout: 3 * time.Second}
}

// dialScript starts a scripted peer running script and dials it.
func dialScript(t *testing.T, script string) (*Client, *peer.Server) {
	t.Helper()
	srv := peer.New(peer.Script(script))
	t.Cleanup(srv.Close)
	c, err := Dial(context.Background(), srv.Addr(), plainOpts())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, srv
}

// finish closes the client and returns the peer's result, failing the test
// on any deviation from the script.
func finish(t *testing.T, c *Client, srv *peer.Server) *peer.Result {
	t.Helper()
	c.Close()
	res := srv.Wait()
	if len(res) == 0 {
		t.Fatal("the peer saw no connection")
	}
	if err := res[0].Err; err != nil {
		t.Errorf("peer: %v", err)
	}
	return res[0]
}

func pemOf(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// dialRefused dials a fresh listener with opts and returns Dial's error,
// failing the test if Dial made a connection at all: a bad option must be
// refused before anything reaches the network.
func dialRefused(t *testing.T, opts *Options) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, dialErr := Dial(context.Background(), ln.Addr().String(), opts)
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(50 * time.Millisecond))
	if conn, err := ln.Accept(); err == nil {
		conn.Close()
		t.Errorf("Dial connected before refusing the options (%v)", dialErr)
	}
	return dialErr
}

// onLines is a Trace that hands the lines sent and received to the given
// funcs (either may be nil).
func onLines(sent, received func(string)) *Trace {
	return &Trace{Event: func(ev Event) {
		switch {
		case ev.Kind == EventLineSent && sent != nil:
			sent(ev.Line)
		case ev.Kind == EventLineReceived && received != nil:
			received(ev.Line)
		}
	}}
}

// memConn is an in-memory connection for fuzzing: the server's side is a
// fixed byte stream, read as the client asks for it and ending in EOF; what
// the client writes is recorded. It needs no goroutine, so the outcome of
// an input never depends on scheduling, and a client waiting for more than
// the stream holds gets EOF at once rather than a timeout.
type memConn struct {
	mu     sync.Mutex
	r      *bytes.Reader
	wrote  bytes.Buffer
	closed bool
}

func newMemConn(server []byte) *memConn { return &memConn{r: bytes.NewReader(server)} }

func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.r.Read(p)
}

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.wrote.Write(p)
}

func (c *memConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *memConn) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.wrote.Bytes()...)
}

func (c *memConn) LocalAddr() net.Addr                { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr               { return memAddr{} }
func (c *memConn) SetDeadline(t time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }

// latencyProxy forwards connections on 127.0.0.1 to target, delaying every
// chunk by delay in each direction and keeping their order: a round trip
// through it costs 2×delay, as on a real network.
type latencyProxy struct {
	ln     net.Listener
	target string
	delay  time.Duration
	wg     sync.WaitGroup
}

func newLatencyProxy(tb testing.TB, target string, delay time.Duration) *latencyProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &latencyProxy{ln: ln, target: target, delay: delay}
	p.wg.Add(1)
	go p.serve()
	tb.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *latencyProxy) Addr() string { return p.ln.Addr().String() }

func (p *latencyProxy) serve() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

// pipe copies src to dst, each chunk delivered delay after it was read.
func (p *latencyProxy) pipe(src, dst net.Conn) {
	defer p.wg.Done()
	type chunk struct {
		at   time.Time
		data []byte
	}
	queue := make(chan chunk, 1024)
	go func() {
		defer dst.Close()
		for c := range queue {
			time.Sleep(time.Until(c.at))
			if _, err := dst.Write(c.data); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			queue <- chunk{time.Now().Add(p.delay), append([]byte(nil), buf[:n]...)}
		}
		if err != nil {
			close(queue)
			return
		}
	}
}

// countingDialer dials like net.Dialer and counts connections: made, and
// open at once at most.
type countingDialer struct {
	dials, open, maxOpen atomic.Int64
}

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.dials.Add(1)
	n := d.open.Add(1)
	for {
		m := d.maxOpen.Load()
		if n <= m || d.maxOpen.CompareAndSwap(m, n) {
			break
		}
	}
	return &countedConn{Conn: conn, d: d}, nil
}

type countedConn struct {
	net.Conn
	d    *countingDialer
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.d.open.Add(-1) })
	return c.Conn.Close()
}

// txnToData is the most common scripted transaction: alice to bob,
// pipelined, up to the message content read by the peer.
const txnToData = `
C: MAIL FROM:<alice@example.com>
C: RCPT TO:<bob@example.com>
C: DATA
S: 250 Ok
S: 250 Ok
S: 354 go
C: <data>
`
