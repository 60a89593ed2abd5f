package smtp

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

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
