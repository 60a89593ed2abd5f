package smtp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/mailwire/smtp/smtptest"
)

// countingLimiter records what a Pool asks of a Limiter.
type countingLimiter struct {
	calls, units atomic.Int64
}

func (l *countingLimiter) WaitN(ctx context.Context, n int) error {
	l.calls.Add(1)
	l.units.Add(int64(n))
	return ctx.Err()
}

// A Pool asks its MessageRate for one unit a message and its
// RecipientRate for one a recipient, whatever connection a Send takes.
func TestPoolAsksItsLimiters(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	msgs, rcpts := &countingLimiter{}, &countingLimiter{}
	pool := mustPool(NewPool(srv.Addr(), realOpts(srv, Plaintext), &PoolOptions{MaxConns: 3, MessageRate: msgs, RecipientRate: rcpts}))
	defer pool.Close()
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			env := &Envelope{From: "a@example.com", To: recipients(i%3+1, 1)}
			if _, err := pool.Send(context.Background(), env, strings.NewReader("x\r\n")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if msgs.calls.Load() != 12 || msgs.units.Load() != 12 || rcpts.units.Load() != 4*(1+2+3) {
		t.Errorf("MessageRate: %d calls for %d units; RecipientRate: %d units; want 12, 12, 24", msgs.calls.Load(), msgs.units.Load(), rcpts.units.Load())
	}
}

// One x/time/rate limiter shared by the Pool's four connections keeps all
// of them to its rate: 40 messages at 100 a second, a burst of 1, cannot
// take less than 390 ms however many senders. (A lower bound only: a slow
// machine is never too fast.) An envelope larger than the recipient
// bucket is waited on a unit at a time, not refused.
func TestPoolSharedRate(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	popts := &PoolOptions{MaxConns: 4, MessageRate: rate.NewLimiter(100, 1), RecipientRate: rate.NewLimiter(rate.Inf, 2)}
	pool := mustPool(NewPool(srv.Addr(), realOpts(srv, Plaintext), popts))
	defer pool.Close()
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				env := &Envelope{From: "a@example.com", To: recipients(3, 1)}
				if _, err := pool.Send(context.Background(), env, strings.NewReader("x\r\n")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d < 390*time.Millisecond {
		t.Errorf("40 messages in %v at 100 a second", d)
	}
	if n := len(srv.Messages()); n != 40 {
		t.Errorf("%d messages, want 40", n)
	}
}

// A throttling reply (421 to MAIL here, as a server over its connection
// rate says it) makes every sender of the Pool wait, says so in the
// trace, and the Send is tried again within MaxThrottleRetries, never
// delivered twice.
func TestPoolThrottleBackoffAndRetry(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{CommandErrorsTimes: 2, CommandErrors: map[string]*smtptest.Reply{
		"MAIL": {Code: 451, EnhancedCode: smtptest.EnhancedCode{4, 7, 1}, Message: "Rate limited, slow down"},
	}})
	var log strings.Builder
	var mu sync.Mutex
	opts := realOpts(srv, Plaintext)
	opts.Trace = &Trace{Event: func(ev Event) {
		if ev.Kind == EventThrottled {
			mu.Lock()
			fmt.Fprintf(&log, "%s (%v)\n", ev.Line, ev.Err)
			mu.Unlock()
		}
	}}
	pool := mustPool(NewPool(srv.Addr(), opts, &PoolOptions{MaxConns: 1, MaxThrottleRetries: 2}))
	defer pool.Close()
	start := time.Now()
	if _, err := pool.Send(context.Background(), realEnv, strings.NewReader("x\r\n")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	// Two throttling replies: waits of 0.5-1.5 s, then 1-3 s.
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Errorf("two throttled tries and the message took only %v", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Count(log.String(), "the server throttles: every sender of the pool waits") != 2 || !strings.Contains(log.String(), "451 4.7.1 Rate limited") {
		t.Errorf("trace:\n%s", log.String())
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

// Throttled past the budget: the error is the server's, and nothing was
// sent. A throttle after the message was taken (at the end of data) is
// never retried.
func TestPoolThrottleBudget(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{CommandErrors: map[string]*smtptest.Reply{
		"MAIL": {Code: 421, EnhancedCode: smtptest.EnhancedCode{4, 7, 0}, Message: "Too many connections"},
	}})
	pool := mustPool(NewPool(srv.Addr(), realOpts(srv, Plaintext), &PoolOptions{MaxThrottleRetries: 1}))
	defer pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := pool.Send(ctx, realEnv, strings.NewReader("x\r\n"))
	var e *Error
	if !errors.As(err, &e) || e.Code != 421 {
		t.Fatalf("Send: %v, want the 421", err)
	}
	mails := 0
	for _, c := range srv.Commands() {
		if c.Verb == "MAIL" {
			mails++
		}
	}
	if mails != 2 || len(srv.Messages()) != 0 {
		t.Errorf("%d MAIL commands and %d messages, want 2 tries (MaxThrottleRetries 1) and none", mails, len(srv.Messages()))
	}
	// The backoff holds the next Send: a context shorter than it ends it.
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := pool.Send(short, realEnv, strings.NewReader("x\r\n")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a Send during the backoff: %v, want the context's deadline", err)
	}
}

func TestThrottled(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		e    *Error
		want bool
	}{
		{&Error{Reply: Reply{Code: 421}}, true},
		{&Error{Reply: Reply{Code: 421, Enhanced: EnhancedCode{4, 7, 0}}}, true},
		{&Error{Reply: Reply{Code: 421, Enhanced: EnhancedCode{4, 4, 2}}}, false},
		{&Error{Reply: Reply{Code: 421, Enhanced: EnhancedCode{4, 3, 0}}}, false},
		{&Error{Reply: Reply{Code: 451, Enhanced: EnhancedCode{4, 3, 2}}}, true},
		{&Error{Reply: Reply{Code: 450, Enhanced: EnhancedCode{4, 7, 1}}}, true},
		{&Error{Reply: Reply{Code: 451, Enhanced: EnhancedCode{4, 3, 0}}}, false},
		{&Error{Reply: Reply{Code: 550, Enhanced: EnhancedCode{5, 7, 1}}}, false},
		{&Error{Reply: Reply{Code: 452, Enhanced: EnhancedCode{4, 2, 2}}}, false},
	} {
		if got := throttled(tt.e); got != tt.want {
			t.Errorf("throttled(%d %v) = %v", tt.e.Code, tt.e.Enhanced, got)
		}
	}
}
