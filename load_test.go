package smtp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailwire/smtp/smtptest"
)

// openFDs counts this process's open file descriptors, or -1 where
// /proc/self/fd does not exist.
func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// waitFDs waits until at most n descriptors are open, and returns the
// count.
func waitFDs(n int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := openFDs()
		if got <= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLoadPool sends 10,000 messages (100,000 with MAILWIRE_LOAD_LONG=1)
// through one Pool from 64 goroutines to smtptest, and checks that each
// arrived exactly once, and that no goroutine and no file descriptor
// outlived the pool and the server. Not parallel: it counts goroutines
// and descriptors.
func TestLoadPool(t *testing.T) {
	total := 10000
	if os.Getenv("MAILWIRE_LOAD_LONG") == "1" {
		total = 100000
	}
	const senders, maxConns = 64, 8

	goroutinesBefore := runtime.NumGoroutine()
	fdsBefore := openFDs()
	srv := smtptest.NewServer(&smtptest.Config{TLS: smtptest.NoTLS})
	d := &countingDialer{}
	opts := &Options{Security: Plaintext, Timeout: 10 * time.Second, Dialer: d}
	pool := mustPool(NewPool(srv.Addr(), opts, &PoolOptions{MaxConns: maxConns}))

	// Sample the peak of goroutines and descriptors while the senders run.
	var peakG, peakFD atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if g := int64(runtime.NumGoroutine()); g > peakG.Load() {
				peakG.Store(g)
			}
			if f := int64(openFDs()); f > peakFD.Load() {
				peakFD.Store(f)
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()

	var next atomic.Int64
	var failed atomic.Int64
	var errOnce sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				msg := fmt.Sprintf("X-Load-ID: %d\r\nSubject: load %d\r\n\r\nmessage %d\r\n", i, i, i)
				if _, err := pool.Send(context.Background(), realEnv, strings.NewReader(msg)); err != nil {
					failed.Add(1)
					errOnce.Do(func() { t.Errorf("Send %d: %v", i, err) })
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	<-sampled
	if err := pool.Close(); err != nil {
		t.Errorf("Pool.Close: %v", err)
	}
	msgs := srv.Messages()
	srv.Close()

	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d sends failed", n, total)
	}
	seen := make(map[string]int, total)
	queueIDs := make(map[string]bool, total)
	for _, m := range msgs {
		seen[m.Header.Get("X-Load-ID")]++
		queueIDs[m.ID] = true
	}
	dups := 0
	for _, n := range seen {
		if n > 1 {
			dups++
		}
	}
	missing := 0
	for i := range total {
		if seen[fmt.Sprint(i)] == 0 {
			missing++
		}
	}
	if len(msgs) != total || dups != 0 || missing != 0 || len(queueIDs) != total {
		t.Errorf("the server got %d messages, %d distinct ids, %d duplicated, %d missing, %d queue ids; want %d, each once",
			len(msgs), len(seen), dups, missing, len(queueIDs), total)
	}
	if m := d.maxOpen.Load(); m < 1 || m > maxConns {
		t.Errorf("%d connections open at once, want 1 to %d", m, maxConns)
	}
	if n := d.open.Load(); n != 0 {
		t.Errorf("%d connections still open after Pool.Close", n)
	}
	waitGoroutines(t, goroutinesBefore)
	fdsAfter := -1
	if fdsBefore >= 0 {
		if fdsAfter = waitFDs(fdsBefore); fdsAfter > fdsBefore {
			t.Errorf("%d file descriptors open after the run, %d before", fdsAfter, fdsBefore)
		}
	}
	t.Logf("%d messages from %d goroutines in %v: %.0f messages/s; %d connections made, %d at most at once; "+
		"goroutines %d before, %d at the peak, %d after; fds %d before, %d at the peak, %d after",
		total, senders, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), d.dials.Load(), d.maxOpen.Load(),
		goroutinesBefore, peakG.Load(), runtime.NumGoroutine(), fdsBefore, peakFD.Load(), fdsAfter)
}

// TestLoadPoolServerShutdowns sends 1,000 messages through a Pool from 64
// goroutines to a server that closes each connection with a 421 to the
// command after its 7th message, as servers limiting reuse do: the Pool
// must retry each refused message on a new connection, so that every
// message arrives exactly once and no Send fails.
func TestLoadPoolServerShutdowns(t *testing.T) {
	for _, cfg := range []struct {
		name string
		smtptest.Config
	}{
		{"BDAT pipelined", smtptest.Config{}},
		{"DATA pipelined", smtptest.Config{DisableChunking: true}},
		{"DATA", smtptest.Config{DisableChunking: true, DisablePipelining: true}},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			cfg.ShutdownAfter = 7
			loadShutdowns(t, &cfg.Config)
		})
	}
}

func loadShutdowns(t *testing.T, cfg *smtptest.Config) {
	total := 1000
	if testing.Short() {
		total = 300
	}
	const senders = 64
	goroutinesBefore := runtime.NumGoroutine()
	srv := smtptest.NewServer(cfg)
	d := &countingDialer{}
	pool := mustPool(NewPool(srv.Addr(), &Options{Security: Plaintext, Timeout: 10 * time.Second, Dialer: d}, &PoolOptions{MaxConns: 8}))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, total)
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(total); i = next.Add(1) - 1 {
				msg := fmt.Sprintf("X-Load-ID: %d\r\n\r\nmessage %d\r\n", i, i)
				if _, err := pool.Send(context.Background(), realEnv, strings.NewReader(msg)); err != nil {
					errs <- fmt.Errorf("Send %d: %w", i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	pool.Close()
	msgs := srv.Messages()
	srv.Close()
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Errorf("%d of %d sends failed", n, total)
	}
	seen := make(map[string]int, total)
	for _, m := range msgs {
		seen[m.Header.Get("X-Load-ID")]++
	}
	dups := 0
	for id, k := range seen {
		if k > 1 {
			if dups++; dups <= 5 {
				t.Errorf("message %s arrived %d times", id, k)
			}
		}
	}
	if len(seen) != total || dups > 0 {
		t.Errorf("%d messages, %d distinct, %d duplicated; want %d, each once", len(msgs), len(seen), dups, total)
	}
	if min := int64(total / 7); d.dials.Load() < min {
		t.Errorf("%d connections for %d messages at 7 per connection, want at least %d", d.dials.Load(), total, min)
	}
	if d.open.Load() != 0 {
		t.Errorf("%d connections still open after Pool.Close", d.open.Load())
	}
	waitGoroutines(t, goroutinesBefore)
	t.Logf("%d messages over %d connections", len(msgs), d.dials.Load())
}

// TestLoadPoolSilentServer: 64 goroutines send through a Pool to a server
// that never answers, each with a 300ms deadline. Every Send must fail
// with the deadline, in time, and the Pool and the server must close
// without leaving a goroutine or a descriptor behind.
func TestLoadPoolSilentServer(t *testing.T) {
	const senders = 64
	goroutinesBefore := runtime.NumGoroutine()
	fdsBefore := openFDs()
	srv := smtptest.NewServer(&smtptest.Config{ReplyDelay: time.Hour})
	d := &countingDialer{}
	pool := mustPool(NewPool(srv.Addr(), &Options{Security: Plaintext, Dialer: d}, &PoolOptions{MaxConns: 8}))
	var wg sync.WaitGroup
	var slow, wrong atomic.Int64
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := pool.Send(ctx, realEnv, strings.NewReader("x\r\n"))
			if time.Since(start) > 2*time.Second {
				slow.Add(1)
			}
			// A connect cut by the deadline included (it was not before
			// e700d74: TestConnectTimeoutIsDeadlineExceeded).
			if !errors.Is(err, context.DeadlineExceeded) {
				if wrong.Add(1) == 1 {
					t.Errorf("Send: %v, want the context's deadline", err)
				}
			}
		}()
	}
	wg.Wait()
	closed := make(chan struct{})
	go func() {
		pool.Close()
		srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Pool.Close and Server.Close did not return within 5s")
	}
	if n := slow.Load(); n > 0 {
		t.Errorf("%d Sends took more than 2s with a 300ms deadline", n)
	}
	if n := wrong.Load(); n > 0 {
		t.Errorf("%d of %d Sends did not fail with the deadline", n, senders)
	}
	if m := d.maxOpen.Load(); m > 8 {
		t.Errorf("%d connections open at once, want at most 8", m)
	}
	if n := d.open.Load(); n != 0 {
		t.Errorf("%d connections still open", n)
	}
	waitGoroutines(t, goroutinesBefore)
	if fdsBefore >= 0 {
		if after := waitFDs(fdsBefore); after > fdsBefore {
			t.Errorf("%d file descriptors open after the run, %d before", after, fdsBefore)
		}
	}
}

// TestLoadPoolDeliveryUnknown: a server that records each message and
// then drops the connection without its reply leaves every Send with
// ErrDeliveryUnknown; the Pool must not resend any of them, so each
// message arrives exactly once although every Send failed.
func TestLoadPoolDeliveryUnknown(t *testing.T) {
	const total, senders = 300, 64
	for _, cfg := range []struct {
		name string
		smtptest.Config
	}{
		{"BDAT", smtptest.Config{DropAt: smtptest.StepAfterData}},
		{"DATA", smtptest.Config{DropAt: smtptest.StepAfterData, DisableChunking: true}},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			goroutinesBefore := runtime.NumGoroutine()
			srv := smtptest.NewServer(&cfg.Config)
			pool := mustPool(NewPool(srv.Addr(), &Options{Security: Plaintext, Timeout: 10 * time.Second}, &PoolOptions{MaxConns: 8}))
			var next, unknown, other atomic.Int64
			var wg sync.WaitGroup
			for range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1) - 1; i < total; i = next.Add(1) - 1 {
						msg := fmt.Sprintf("X-Load-ID: %d\r\n\r\nmessage %d\r\n", i, i)
						_, err := pool.Send(context.Background(), realEnv, strings.NewReader(msg))
						switch {
						case errors.Is(err, ErrDeliveryUnknown):
							unknown.Add(1)
						default:
							if other.Add(1) == 1 {
								t.Errorf("Send %d: %v, want ErrDeliveryUnknown", i, err)
							}
						}
					}
				}()
			}
			wg.Wait()
			pool.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			msgs, _ := srv.WaitMessages(ctx, total)
			srv.Close()
			seen := map[string]int{}
			for _, m := range srv.Messages() {
				seen[m.Header.Get("X-Load-ID")]++
			}
			for id, n := range seen {
				if n > 1 {
					t.Errorf("message %s arrived %d times: the Pool resent it after ErrDeliveryUnknown", id, n)
				}
			}
			if len(msgs) != total || len(seen) != total || unknown.Load() != total {
				t.Errorf("%d messages, %d distinct, %d ErrDeliveryUnknown, %d other results; want %d of each",
					len(srv.Messages()), len(seen), unknown.Load(), other.Load(), total)
			}
			waitGoroutines(t, goroutinesBefore)
		})
	}
}
