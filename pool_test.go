package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailwire/smtp/internal/peer"
	"github.com/mailwire/smtp/smtptest"
)

// waitGoroutines waits until the goroutine count is back to at most n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPoolConcurrentSenders(t *testing.T) {
	srv := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	before := runtime.NumGoroutine()
	d := &countingDialer{}
	opts := realOpts(srv, StartTLS)
	opts.Dialer = d
	pool := mustPool(NewPool(srv.Addr(), opts, &PoolOptions{MaxConns: 4}))
	const senders, each = 16, 1000 / 16
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				msg := fmt.Sprintf("Subject: %d-%d\r\n\r\nbody\r\n", g, i)
				if _, err := pool.Send(bg, realEnv, strings.NewReader(msg)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Send: %v", err)
	}
	if err := pool.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	msgs := srv.Messages()
	seen := map[string]int{}
	for _, m := range msgs {
		seen[m.Header.Get("Subject")]++
	}
	if len(msgs) != senders*each || len(seen) != senders*each {
		t.Errorf("%d messages, %d distinct, want %d each delivered once", len(msgs), len(seen), senders*each)
	}
	if m := d.maxOpen.Load(); m > 4 || m < 1 {
		t.Errorf("%d connections open at once, want at most 4", m)
	}
	if d.open.Load() != 0 {
		t.Errorf("%d connections still open after Close", d.open.Load())
	}
	waitGoroutines(t, before)
	t.Logf("%d messages over %d connections, %d at most at once", len(msgs), d.dials.Load(), d.maxOpen.Load())
}

// A connection the server dropped while idle is found before reuse, by a
// look at what arrived (the server's 421 or its close), without a round
// trip and without a retry: the message goes once, on a new connection.
func TestPoolRecoversFromIdleDrop(t *testing.T) {
	t.Parallel()
	// The server drops clients idle for 200ms; the pool's health check
	// is off (1h).
	srv := newServer(t, &smtptest.Config{ReadTimeout: 200 * time.Millisecond})
	d := &countingDialer{}
	var log bytes.Buffer
	var mu sync.Mutex
	opts := realOpts(srv, Plaintext)
	opts.Dialer = d
	opts.Trace = eventLog(lockedWriter{&mu, &log})
	pool := mustPool(NewPool(srv.Addr(), opts, &PoolOptions{MaxConns: 1, HealthCheckAfter: time.Hour}))
	defer pool.Close()
	if _, err := pool.Send(bg, realEnv, strings.NewReader("Subject: 1\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := pool.Send(bg, realEnv, strings.NewReader("Subject: 2\r\n\r\nx\r\n")); err != nil {
		t.Fatalf("Send after the server dropped the idle connection: %v", err)
	}
	if n := len(srv.Messages()); n != 2 || d.dials.Load() != 2 {
		t.Errorf("%d messages over %d connections, want 2 over 2", n, d.dials.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(log.String(), "closing: closed by the server while idle") || strings.Count(log.String(), "sent: MAIL FROM") != 2 {
		t.Errorf("want the dead connection retired before use, and two MAIL in all:\n%s", log.String())
	}
}

// A reused connection that turns out dead at MAIL (no time to notice it
// idle) is the retry path: the Pool sends again on a new connection.
func TestPoolRetriesWhenReusedConnectionDiesAtMail(t *testing.T) {
	t.Parallel()
	srv := peer.New(peer.Script(greeting+ehlo("PIPELINING")+txnToData+`
		S: 250 2.0.0 queued as A
		C: MAIL FROM:<alice@example.com>
		close
	`), peer.Script(greeting+ehlo("PIPELINING")+txnToData+`
		S: 250 2.0.0 queued as B
	`))
	defer srv.Close()
	d := &countingDialer{}
	pool := mustPool(NewPool(srv.Addr(), &Options{Security: Plaintext, Timeout: 3 * time.Second, Dialer: d}, &PoolOptions{MaxConns: 1}))
	defer pool.Close()
	for _, msg := range []io.Reader{strings.NewReader("one\r\n"), io.MultiReader(strings.NewReader("two\r\n"))} {
		if _, err := pool.Send(bg, realEnv, msg); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.dials.Load(); n != 2 {
		t.Errorf("%d connections, want the retry on a second", n)
	}
	pool.Close()
	if res := srv.Wait(); len(res) != 2 || len(res[1].Data) != 1 || string(res[1].Data[0]) != "two\r\n.\r\n" {
		t.Errorf("the retry did not send the message whole: %+v", res)
	}
}

func TestPoolHealthCheck(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	var log bytes.Buffer
	var mu sync.Mutex
	opts := realOpts(srv, Plaintext)
	opts.Trace = eventLog(lockedWriter{&mu, &log})
	pool := mustPool(NewPool(srv.Addr(), opts, &PoolOptions{MaxConns: 1, HealthCheckAfter: 100 * time.Millisecond}))
	defer pool.Close()
	for i := range 2 {
		if _, err := pool.Send(bg, realEnv, strings.NewReader("x\r\n")); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(log.String(), "#0 reused") || !strings.Contains(log.String(), "#0 sent: NOOP") {
		t.Errorf("the log does not show the reuse and the NOOP check:\n%s", log.String())
	}
	if len(srv.Messages()) != 2 {
		t.Errorf("%d messages, want 2", len(srv.Messages()))
	}
}

// eventLog is a Trace that writes each event on a line of w: "#0 sent:
// NOOP", "#1 reused", "#0 closing: why", the connections numbered in the
// order they appear.
func eventLog(w io.Writer) *Trace {
	var mu sync.Mutex
	numbers := map[int64]int{}
	return &Trace{Event: func(ev Event) {
		mu.Lock()
		n, ok := numbers[ev.Conn]
		if !ok {
			n = len(numbers)
			numbers[ev.Conn] = n
		}
		mu.Unlock()
		line := fmt.Sprintf("#%d %s", n, ev.Kind)
		if ev.Line != "" {
			line += ": " + ev.Line
		}
		io.WriteString(w, line+"\n")
	}}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestPoolRecoversFrom421(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{ShutdownAfter: 3})
	pool := mustPool(NewPool(srv.Addr(), realOpts(srv, Plaintext), &PoolOptions{MaxConns: 1}))
	defer pool.Close()
	for i := range 10 {
		if _, err := pool.Send(bg, realEnv, strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i))); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if n := len(srv.Messages()); n != 10 {
		t.Errorf("%d messages, want each of 10 once", n)
	}
	if c := srv.Connections(); c != 4 {
		t.Errorf("%d connections, want 4 (3 messages each before the 421)", c)
	}
}

func TestPoolMaxMessagesPerConn(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	var log bytes.Buffer
	opts := realOpts(srv, Plaintext)
	opts.Trace = eventLog(&log)
	pool := mustPool(NewPool(srv.Addr(), opts, &PoolOptions{MaxConns: 1, MaxMessagesPerConn: 5}))
	for range 20 {
		if _, err := pool.Send(bg, realEnv, strings.NewReader("x\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	pool.Close()
	perConn := map[int]int{}
	for _, m := range srv.Messages() {
		perConn[m.ConnID]++
	}
	if len(perConn) != 4 {
		t.Errorf("messages per connection = %v, want 4 connections of 5", perConn)
	}
	for id, n := range perConn {
		if n > 5 {
			t.Errorf("connection %d carried %d messages", id, n)
		}
	}
	if !strings.Contains(log.String(), "#0 closing: sent 5 messages, the most per connection (MaxMessagesPerConn)") {
		t.Errorf("the log does not say why connection #0 was retired:\n%s", log.String())
	}
}

func TestPoolNeverRetriesUnknownDelivery(t *testing.T) {
	t.Parallel()
	// One connection: a message accepted, then the next one's reply is
	// lost after the final dot.
	srv := peer.New(peer.Script(greeting + ehlo("PIPELINING") + txnToData + `
		S: 250 2.0.0 queued as A` + txnToData + `
		close
	`))
	defer srv.Close()
	d := &countingDialer{}
	pool := mustPool(NewPool(srv.Addr(), &Options{Security: Plaintext, Timeout: 3 * time.Second, Dialer: d}, &PoolOptions{MaxConns: 1}))
	defer pool.Close()
	if _, err := pool.Send(bg, realEnv, io.MultiReader(strings.NewReader("one\r\n"))); err != nil {
		t.Fatal(err)
	}
	_, err := pool.Send(bg, realEnv, io.MultiReader(strings.NewReader("two\r\n")))
	if !errors.Is(err, ErrDeliveryUnknown) {
		t.Errorf("Send = %v, want ErrDeliveryUnknown", err)
	}
	if n := d.dials.Load(); n != 1 {
		t.Errorf("%d connections: the message was retried", n)
	}
}

func TestPoolWaitHonoursContext(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	pool := mustPool(NewPool(srv.Addr(), realOpts(srv, Plaintext), &PoolOptions{MaxConns: 1}))
	defer pool.Close()
	// The only connection is busy with a message that has not finished.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := pool.Send(bg, realEnv, pr)
		done <- err
	}()
	pw.Write([]byte("Subject: slow\r\n"))
	ctx, cancel := context.WithCancel(bg)
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := pool.Send(ctx, realEnv, strings.NewReader("x\r\n"))
	if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Errorf("waiting Send = %v after %v, want context.Canceled at once", err, time.Since(start))
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Errorf("the busy Send: %v", err)
	}
}

func TestPoolClose(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	pool := mustPool(NewPool(srv.Addr(), realOpts(srv, Plaintext), nil))
	if _, err := pool.Send(bg, realEnv, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Send(bg, realEnv, strings.NewReader("x\r\n")); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("Send after Close = %v, want ErrPoolClosed", err)
	}
	var quits int
	for _, c := range srv.Commands() {
		if c.Verb == "QUIT" {
			quits++
		}
	}
	if quits != 1 {
		t.Errorf("%d QUITs, want the idle connection closed with QUIT", quits)
	}
}

// BenchmarkPool sends through a Pool of 4 connections at concurrency 1, 4
// and 16, with 1 ms of one-way latency between client and server.
func BenchmarkPool(b *testing.B) {
	for _, conc := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			proxy := newLatencyProxy(b, sink(b), time.Millisecond)
			pool := mustPool(NewPool(proxy.Addr(), &Options{Security: Plaintext}, &PoolOptions{MaxConns: 4}))
			defer pool.Close()
			env := &Envelope{From: "alice@example.com", To: []string{"bob@example.com"}}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var next atomic.Int64
			var wg sync.WaitGroup
			for range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var msg bytes.Reader
					for next.Add(1) <= int64(b.N) {
						msg.Reset(benchMessage)
						if _, err := pool.Send(bg, env, &msg); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// eightBitMsg needs the 8-bit downgrade on a server without 8BITMIME; the
// downgrade reads the caller's reader to its end before MAIL is sent.
const eightBitMsg = "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ncaf\xc3\xa9\r\n"

// A reused connection that dies at MAIL after the 8-bit downgrade has read
// the message: the Pool sends it again only when it can rewind the
// message, and then sends all of it; never an empty message.
func TestPoolRetryAfterDowngrade(t *testing.T) {
	t.Parallel()
	first := greeting + ehlo("PIPELINING") + txnToData + `
		S: 250 2.0.0 queued as A
		C: MAIL FROM:<alice@example.com>
		close
	`
	second := greeting + ehlo("PIPELINING") + txnToData + `
		S: 250 2.0.0 queued as B
	`
	for _, tt := range []struct {
		name      string
		msg       func() io.Reader
		wantRetry bool
	}{
		{"rewindable", func() io.Reader { return strings.NewReader(eightBitMsg) }, true},
		{"not rewindable", func() io.Reader { return bytes.NewBufferString(eightBitMsg) }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := peer.New(peer.Script(first), peer.Script(second))
			defer srv.Close()
			d := &countingDialer{}
			pool := mustPool(NewPool(srv.Addr(), &Options{Security: Plaintext, Timeout: 3 * time.Second, Dialer: d}, &PoolOptions{MaxConns: 1}))
			defer pool.Close()
			if _, err := pool.Send(bg, realEnv, strings.NewReader("Subject: 1\r\n\r\none\r\n")); err != nil {
				t.Fatal(err)
			}
			r, err := pool.Send(bg, realEnv, tt.msg())
			if !tt.wantRetry {
				if err == nil || d.dials.Load() != 1 {
					t.Fatalf("Send = %v over %d connections; want the failure, not a retry of a drained reader", err, d.dials.Load())
				}
				return
			}
			if err != nil || r.Reply.Message != "2.0.0 queued as B" && !strings.Contains(r.Reply.Message, "queued as B") {
				t.Fatalf("Send = %+v, %v; want it retried and queued as B", r, err)
			}
			pool.Close()
			res := srv.Wait()
			if len(res) != 2 || len(res[1].Data) != 1 {
				t.Fatalf("want the message sent on a second connection, got %d connections", len(res))
			}
			if data := string(res[1].Data[0]); !strings.Contains(data, "caf=C3=A9") || !strings.Contains(data, "Subject: x") {
				t.Errorf("the retry sent %q, want the whole downgraded message", data)
			}
		})
	}
}

// A 421 to RCPT after the content went out with BDAT LAST in the same
// flight: the server may have taken the message for the recipients it
// accepted, so the Pool does not send it again.
func TestPoolNoRetryOnceContentSent(t *testing.T) {
	t.Parallel()
	srv := peer.New(peer.Script(greeting+ehlo("PIPELINING", "CHUNKING")+`
		C: MAIL FROM:<alice@example.com>
		C: RCPT TO:<bob@example.com>
		C: BDAT 5 LAST
		C: <chunk 5>
		S: 250 Ok
		S: 250 Ok
		S: 250 2.0.0 queued as A
		C: MAIL FROM:<alice@example.com>
		C: RCPT TO:<bob@example.com>
		C: RCPT TO:<carol@example.com>
		C: BDAT 5 LAST
		C: <chunk 5>
		S: 250 Ok
		S: 250 Ok
		S: 421 4.3.2 going down
		close
	`), peer.Script(greeting+ehlo("PIPELINING", "CHUNKING")+"hang"))
	defer srv.Close()
	d := &countingDialer{}
	pool := mustPool(NewPool(srv.Addr(), &Options{Security: Plaintext, Timeout: 3 * time.Second, Dialer: d}, &PoolOptions{MaxConns: 1}))
	defer pool.Close()
	if _, err := pool.Send(bg, realEnv, strings.NewReader("one\r\n")); err != nil {
		t.Fatal(err)
	}
	two := &Envelope{From: "alice@example.com", To: []string{"bob@example.com", "carol@example.com"}}
	_, err := pool.Send(bg, two, strings.NewReader("two\r\n"))
	if err == nil {
		t.Fatal("Send succeeded; want the 421's failure")
	}
	if n := d.dials.Load(); n != 1 {
		t.Errorf("%d connections: the message went again after its content was on the wire (%v)", n, err)
	}
}

// mustPool is NewPool's pool, for tests whose arguments are right.
func mustPool(p *Pool, err error) *Pool {
	if err != nil {
		panic(err)
	}
	return p
}

// NewPool refuses at once what every Send would refuse, and its dry run of
// the options makes no connection event.
func TestNewPoolRefusesBadArguments(t *testing.T) {
	t.Parallel()
	for name, args := range map[string]struct {
		addr  string
		opts  *Options
		popts *PoolOptions
	}{
		"no port":        {"mail.example.com", nil, nil},
		"malformed pin":  {"mail.example.com:587", &Options{Pins: []string{"sha256//x"}}, nil},
		"bad LocalName":  {"mail.example.com:587", &Options{LocalName: "a b"}, nil},
		"negative limit": {"mail.example.com:587", nil, &PoolOptions{MaxConns: -1}},
	} {
		if p, err := NewPool(args.addr, args.opts, args.popts); p != nil || !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: NewPool = %v, %v; want ErrInvalidArgument", name, p, err)
		}
	}
	srv := newServer(t, &smtptest.Config{TLS: smtptest.NoTLS})
	var conns []int64
	opts := realOpts(srv, Plaintext)
	opts.Trace = &Trace{Event: func(ev Event) {
		if ev.Kind == EventConnectStart {
			conns = append(conns, ev.Conn)
		}
	}}
	pool := mustPool(NewPool(srv.Addr(), opts, nil))
	defer pool.Close()
	if _, err := pool.Send(bg, realEnv, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	if len(conns) != 1 || conns[0] == 0 {
		t.Errorf("connection ids %v, want one, not 0", conns)
	}
}
