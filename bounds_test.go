package smtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Bounds: whatever a server sends, the client's memory and waits stay
// within fixed limits, and it reports the excess as an error.

// rawServer accepts one connection on 127.0.0.1 and hands it to serve,
// then closes it. The test's cleanup waits for serve to return.
func rawServer(t *testing.T, serve func(conn net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		serve(conn)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// openThen is a server that greets, answers EHLO without PIPELINING, and
// then, after reading the next command, runs flood.
func openThen(flood func(conn net.Conn)) func(conn net.Conn) {
	return func(conn net.Conn) {
		br := bufio.NewReader(conn)
		conn.Write([]byte("220 bounds.test ESMTP\r\n"))
		if _, err := br.ReadString('\n'); err != nil {
			return
		}
		conn.Write([]byte("250-bounds.test\r\n250 8BITMIME\r\n"))
		if _, err := br.ReadString('\n'); err != nil {
			return
		}
		flood(conn)
	}
}

// repeatWrite writes chunk until total bytes went out or the client is gone.
func repeatWrite(conn net.Conn, chunk []byte, total int64) {
	for sent := int64(0); sent < total; sent += int64(len(chunk)) {
		if _, err := conn.Write(chunk); err != nil {
			return
		}
	}
}

// countingConn counts the bytes the client read.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countingReadDialer struct{ n atomic.Int64 }

func (d *countingReadDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return countingConn{conn, &d.n}, nil
}

func isProtocolError(err error) bool {
	var pe *protocolError
	return errors.As(err, &pe)
}

func TestBoundsReplyLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		line    string // the greeting's text
		wantErr bool
	}{
		{"64 KiB with CRLF", strings.Repeat("a", maxReplyLine-len("220 \r\n")), false},
		{"64 KiB and one byte", strings.Repeat("a", maxReplyLine-len("220 \r\n")+1), true},
		{"1 MiB", strings.Repeat("a", 1<<20), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := rawServer(t, func(conn net.Conn) {
				br := bufio.NewReader(conn)
				conn.Write([]byte("220 " + tt.line + "\r\n"))
				if line, _ := br.ReadString('\n'); line == "EHLO localhost\r\n" {
					conn.Write([]byte("250 bounds.test\r\n"))
					br.ReadString('\n')
				}
			})
			c, err := Dial(context.Background(), addr, plainOpts())
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("Dial: no error for an overlong greeting")
			}
			if !isProtocolError(err) || !strings.Contains(err.Error(), "longer than 65536 bytes") {
				t.Errorf("Dial: %v; want the protocol error of a line longer than 65536 bytes", err)
			}
		})
	}
}

func TestBoundsReplyLines(t *testing.T) {
	t.Parallel()
	for _, lines := range []int{maxReplyLines, maxReplyLines + 1, 100000} {
		t.Run(strconv.Itoa(lines), func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			b.WriteString("250-bounds.test\r\n")
			for i := 1; i < lines-1; i++ {
				b.WriteString("250-X-EXT" + strconv.Itoa(i) + "\r\n")
			}
			b.WriteString("250 8BITMIME\r\n")
			addr := rawServer(t, func(conn net.Conn) {
				br := bufio.NewReader(conn)
				conn.Write([]byte("220 bounds.test ESMTP\r\n"))
				br.ReadString('\n')
				conn.Write([]byte(b.String()))
				br.ReadString('\n')
			})
			c, err := Dial(context.Background(), addr, plainOpts())
			if lines <= maxReplyLines {
				if err != nil {
					t.Fatalf("Dial with an EHLO reply of %d lines: %v", lines, err)
				}
				defer c.Close()
				if ok, _ := c.Extension("x-ext998"); !ok {
					t.Errorf("the %d-line EHLO reply lost its extensions", lines)
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatalf("Dial with an EHLO reply of %d lines: no error", lines)
			}
			if !isProtocolError(err) || !strings.Contains(err.Error(), "more than 1000 lines") {
				t.Errorf("Dial: %v; want the protocol error of a reply of more than 1000 lines", err)
			}
		})
	}
}

// allocBound is the most a Client may allocate while a server floods it
// with 64 MiB. The reader's own needs are one line buffer of maxReplyLine
// (64 KiB; built by append, so about twice that allocated in all) and
// bufio's 4 KiB; the error and the closing of the connection add a few
// KiB. 1 MiB is eight times that, for the runtime's noise, and 64 times
// less than the flood: a client whose memory grew with the input would
// exceed it by far.
const allocBound = 1 << 20

// measureAlloc returns the bytes allocated on the heap while f ran. The
// caller must not run in parallel with other tests.
func measureAlloc(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestBoundsFloodWithoutLF: a server that sends 64 MiB without a line
// feed costs the client one line's buffer, and an error once the line
// passes 64 KiB. Not parallel: it measures the heap.
func TestBoundsFloodWithoutLF(t *testing.T) {
	garbage := bytes.Repeat([]byte("garbage without a line feed "), 64<<10/28)
	for _, at := range []string{"greeting", "multiline EHLO", "MAIL"} {
		t.Run(at, func(t *testing.T) {
			flood := func(conn net.Conn) { repeatWrite(conn, garbage, 64<<20) }
			var serve func(net.Conn)
			switch at {
			case "greeting":
				serve = func(conn net.Conn) { conn.Write([]byte("220 ")); flood(conn) }
			case "multiline EHLO":
				serve = func(conn net.Conn) {
					conn.Write([]byte("220 bounds.test\r\n"))
					bufio.NewReader(conn).ReadString('\n')
					conn.Write([]byte("250-bounds.test\r\n250-PIPELINING\r\n250-"))
					flood(conn)
				}
			case "MAIL":
				serve = openThen(func(conn net.Conn) { conn.Write([]byte("250 ")); flood(conn) })
			}
			addr := rawServer(t, serve)
			d := &countingReadDialer{}
			opts := plainOpts()
			opts.Dialer = d
			var err error
			alloc := measureAlloc(func() {
				var c *Client
				c, err = Dial(context.Background(), addr, opts)
				if err == nil {
					_, err = c.Send(context.Background(), realEnv, strings.NewReader("x\r\n"))
					c.Close()
				}
			})
			if !isProtocolError(err) || !strings.Contains(err.Error(), "longer than 65536 bytes") {
				t.Errorf("got %v; want the protocol error of a line longer than 65536 bytes", err)
			}
			if n := d.n.Load(); n > 1<<20 {
				t.Errorf("the client read %d bytes of a line it should have given up on at 64 KiB", n)
			}
			if alloc > allocBound {
				t.Errorf("the client allocated %d bytes, want less than %d", alloc, allocBound)
			}
			t.Logf("%v after reading %d bytes, %d bytes allocated", err, d.n.Load(), alloc)
		})
	}
}

// TestBoundsFloodOfLines: a reply of 1000 lines of almost 64 KiB each,
// 64 MiB in all, is read line by line in one reused buffer and refused at
// its 1001st line. Not parallel: it measures the heap.
func TestBoundsFloodOfLines(t *testing.T) {
	line := []byte("250-" + strings.Repeat("L", maxReplyLine-6) + "\r\n")
	addr := rawServer(t, openThen(func(conn net.Conn) { repeatWrite(conn, line, 1100*int64(len(line))) }))
	d := &countingReadDialer{}
	opts := plainOpts()
	opts.Dialer = d
	c, err := Dial(context.Background(), addr, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	alloc := measureAlloc(func() {
		_, err = c.Send(context.Background(), realEnv, strings.NewReader("x\r\n"))
	})
	if !isProtocolError(err) || !strings.Contains(err.Error(), "more than 1000 lines") {
		t.Errorf("Send: %v; want the protocol error of a reply of more than 1000 lines", err)
	}
	if n := d.n.Load(); n < 1000*int64(len(line)) {
		t.Errorf("the client read %d bytes, want the whole 1000 lines (%d)", n, 1000*len(line))
	}
	if alloc > allocBound {
		t.Errorf("reading %d MiB the client allocated %d bytes, want less than %d", d.n.Load()>>20, alloc, allocBound)
	}
	t.Logf("%v after reading %d bytes, %d bytes allocated", err, d.n.Load(), alloc)
}

// TestBoundsReplyText: the text kept of one reply (an EHLO reply, or a
// refusal) stops at 1 MiB even when every line is within bounds.
func TestBoundsReplyText(t *testing.T) {
	t.Parallel()
	line := "550-" + strings.Repeat("T", 60<<10) + "\r\n"
	addr := rawServer(t, openThen(func(conn net.Conn) { repeatWrite(conn, []byte(line), 40*int64(len(line))) }))
	c, err := Dial(context.Background(), addr, plainOpts())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	_, err = c.Send(context.Background(), realEnv, strings.NewReader("x\r\n"))
	if !isProtocolError(err) || !strings.Contains(err.Error(), "reply longer than") {
		t.Errorf("Send: %v; want the protocol error of a reply text over 1 MiB", err)
	}
	if len(err.Error()) > 1024 {
		t.Errorf("the error is %d bytes long: a server can flood the caller's log", len(err.Error()))
	}
}

// TestBoundsTrickle: a server sending one byte every 50 ms keeps every
// read short, but the wait for a whole reply is bounded all the same.
func TestBoundsTrickle(t *testing.T) {
	t.Parallel()
	trickle := func(conn net.Conn, text string) {
		for i := 0; ; i++ {
			if _, err := conn.Write([]byte{text[i%len(text)]}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	tests := []struct {
		name   string
		serve  func(net.Conn)
		useCtx bool
	}{
		{"greeting/Timeout", func(conn net.Conn) { trickle(conn, "220-slow\r\n") }, false},
		{"greeting/ctx", func(conn net.Conn) { trickle(conn, "220-slow\r\n") }, true},
		{"one endless line/Timeout", func(conn net.Conn) { trickle(conn, "220 ") }, false},
		{"MAIL reply/Timeout", openThen(func(conn net.Conn) { trickle(conn, "250-slow\r\n") }), false},
		{"MAIL reply/ctx", openThen(func(conn net.Conn) { trickle(conn, "250-slow\r\n") }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := rawServer(t, tt.serve)
			opts := plainOpts()
			ctx := context.Background()
			if tt.useCtx {
				opts.Timeout = 0
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 500*time.Millisecond)
				defer cancel()
			} else {
				opts.Timeout = 500 * time.Millisecond
			}
			start := time.Now()
			c, err := Dial(ctx, addr, opts)
			if err == nil {
				_, err = c.Send(ctx, realEnv, strings.NewReader("x\r\n"))
				c.Close()
			}
			elapsed := time.Since(start)
			if err == nil || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %v; want a timeout", err)
			}
			if elapsed > 1500*time.Millisecond {
				t.Errorf("gave up after %v, want about 500ms", elapsed)
			}
		})
	}
}
