package smtp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Limiter paces sends: WaitN returns once n units may go, or with the
// context's error. A *rate.Limiter of golang.org/x/time/rate is one (a
// token bucket); a limiter shared by several processes, on Redis say, can
// be another. See PoolOptions.MessageRate.
type Limiter interface {
	WaitN(ctx context.Context, n int) error
}

// waitFor takes n units from l. A bucket smaller than n (a *rate.Limiter
// refuses n above its burst) is waited on a unit at a time.
func waitFor(ctx context.Context, l Limiter, n int) error {
	if l == nil || n <= 0 {
		return nil
	}
	err := l.WaitN(ctx, n)
	if err == nil || ctx.Err() != nil || n == 1 {
		return err
	}
	for range n {
		if err := l.WaitN(ctx, 1); err != nil {
			return err
		}
	}
	return nil
}

// throttled tells whether err is the server asking the client to slow
// down: a 4.7.x (policy: a rate limit, too many connections), a 4.3.2
// (system not accepting messages), or a 421 that says nothing more. A 421
// with another enhanced code (4.4.2 idle timeout, a connection retired
// after so many messages) is the end of a connection, not a request to
// slow down: a Pool reconnects without waiting.
func throttled(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Code/100 != 4 {
		return false
	}
	switch {
	case e.Enhanced[0] == 4 && e.Enhanced[1] == 7, e.Enhanced == EnhancedCode{4, 3, 2}:
		return true
	}
	return e.Code == 421 && e.Enhanced == EnhancedCode{}
}

// Backoff bounds: the first wait after a throttling reply, and the longest.
const (
	backoffFirst = time.Second
	backoffMax   = time.Minute
)

// backoff is a Pool's answer to a throttling server, shared by all of its
// senders: after each throttling reply, every Send waits, twice as long
// as the time before (from backoffFirst to backoffMax), with jitter so
// that senders do not come back at once; each message taken halves it.
type backoff struct {
	mu    sync.Mutex
	step  time.Duration
	until time.Time
}

// throttle records a throttling reply and returns how long senders wait.
func (b *backoff) throttle(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.step = min(max(2*b.step, backoffFirst), backoffMax)
	wait := b.step/2 + rand.N(b.step) // jitter: from half to one and a half
	if next := now.Add(wait); next.After(b.until) {
		b.until = next
	}
	return b.until.Sub(now)
}

// success records a message taken.
func (b *backoff) success() {
	b.mu.Lock()
	b.step /= 2
	if b.step < backoffFirst {
		b.step = 0
	}
	b.mu.Unlock()
}

// wait blocks until the backoff is over, or ctx ends.
func (b *backoff) wait(ctx context.Context) error {
	b.mu.Lock()
	d := time.Until(b.until)
	b.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// pace waits for the Pool's backoff and rates before a Send to n
// recipients.
func (p *Pool) pace(ctx context.Context, n int) error {
	if err := p.backoff.wait(ctx); err != nil {
		return err
	}
	if err := waitFor(ctx, p.popts.MessageRate, 1); err != nil {
		return fmt.Errorf("smtp: waiting for PoolOptions.MessageRate: %w", err)
	}
	if err := waitFor(ctx, p.popts.RecipientRate, n); err != nil {
		return fmt.Errorf("smtp: waiting for PoolOptions.RecipientRate: %w", err)
	}
	return nil
}
