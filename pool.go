package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// stalePeekAfter is the idle time after which a connection is peeked at
// before reuse, to find the ones the server closed meanwhile.
const stalePeekAfter = 50 * time.Millisecond

// ErrPoolClosed is returned by Pool.Send once Close was called.
var ErrPoolClosed = errors.New("smtp: pool closed")

// PoolOptions configure a Pool. The zero value is usable.
type PoolOptions struct {
	// MaxConns is the most connections open at once, busy or idle;
	// default 4. When all are busy, Send waits for one.
	MaxConns int
	// MaxIdle is the most idle connections kept; default MaxConns.
	MaxIdle int
	// IdleTimeout closes connections idle longer than this; default 1
	// minute (servers drop idle clients after a few minutes, RFC 5321
	// section 4.5.3.2.7).
	IdleTimeout time.Duration
	// MaxMessagesPerConn opens a new connection after this many messages
	// on one; 0: no limit. Providers often cap it (100 at Gmail).
	MaxMessagesPerConn int
	// MaxLifetime closes a connection this long after it was opened;
	// 0: no limit.
	MaxLifetime time.Duration
	// HealthCheckAfter sends NOOP before reusing a connection idle for
	// longer than this; default 30 seconds.
	HealthCheckAfter time.Duration
	// MessageRate and RecipientRate pace the Pool's sends, across all of
	// its connections: before each Send, MessageRate.WaitN(ctx, 1) and
	// RecipientRate.WaitN(ctx, recipients). A *rate.Limiter of
	// golang.org/x/time/rate (rate.NewLimiter(10, 10): 10 a second) is
	// one; a limiter on Redis shared by several processes can be another.
	// Nil: no pacing.
	MessageRate, RecipientRate Limiter
	// MaxThrottleRetries is how many times a Send the server throttled
	// (4.7.x, 4.3.2, or a bare 421) is tried again, after the Pool's backoff,
	// when the facts prove nothing was delivered: MAIL refused, or every
	// recipient refused, or a 421 before any content went out; and the
	// message can be read again. 0: none. However many, a throttling
	// reply makes every sender of the Pool wait: from 1 s, doubled at each
	// throttling reply up to a minute, with jitter, and halved at each
	// message taken; the trace says so (EventThrottled).
	MaxThrottleRetries int
}

// Pool sends mail over a set of reused connections to one server, for
// concurrent senders. It is safe for concurrent use.
//
// A connection is taken for one Send and given back, ready for the next
// (RSET only when a transaction was left open). One idle for a while is
// looked at first (without a round trip) for a close or a reply the server
// sent meanwhile, and one idle for long is checked with NOOP. When a reused
// connection turns out dead, Send retries once on a new connection, but
// only when the facts of the failed transaction prove that the server
// cannot have taken the message: a 421 to MAIL, or a 421 to RCPT or a
// network failure before any byte of the content went out; and only when
// the message is untouched or can be rewound (an io.Seeker), since the
// 8-bit downgrade reads it whole before MAIL. It never retries after
// ErrDeliveryUnknown, a refusal of the message, or the end of a context,
// so no message is sent twice, and none is sent empty.
type Pool struct {
	addr  string
	opts  Options
	popts PoolOptions

	slots chan struct{} // a token for each busy connection
	done  chan struct{} // closed by Close

	backoff backoff

	mu     sync.Mutex
	idle   []*Client // most recently used last
	closed bool
	busy   sync.WaitGroup
	reaper *time.Timer
}

// NewPool returns a pool of connections to addr, each made as Dial makes
// it with opts. No connection is made until the first Send, but what Dial
// would refuse (a malformed address or pin, a bad option) is refused here,
// as an ErrInvalidArgument error, and so is a negative PoolOptions value.
func NewPool(addr string, opts *Options, popts *PoolOptions) (*Pool, error) {
	if err := checkPoolArgs(addr, opts, popts); err != nil {
		return nil, err
	}
	p := &Pool{addr: addr, done: make(chan struct{})}
	if opts != nil {
		p.opts = *opts
	}
	p.opts.TLSConfig = withSessionCache(p.opts.TLSConfig)
	if popts != nil {
		p.popts = *popts
	}
	if p.popts.MaxConns <= 0 {
		p.popts.MaxConns = 4
	}
	if p.popts.MaxIdle <= 0 || p.popts.MaxIdle > p.popts.MaxConns {
		p.popts.MaxIdle = p.popts.MaxConns
	}
	if p.popts.IdleTimeout <= 0 {
		p.popts.IdleTimeout = time.Minute
	}
	if p.popts.HealthCheckAfter <= 0 {
		p.popts.HealthCheckAfter = 30 * time.Second
	}
	p.slots = make(chan struct{}, p.popts.MaxConns)
	return p, nil
}

// sessionCacheSize is how many TLS sessions a Pool's cache keeps: one per
// server name, and a Pool has one server.
const sessionCacheSize = 8

// withSessionCache gives a Pool's connections one TLS session cache, so
// that a new connection resumes the session of an earlier one (TLS 1.3
// tickets, or 1.2 session ids): no certificate sent, no signature to
// check. The caller's cache, when the config has one, is kept.
func withSessionCache(cfg *tls.Config) *tls.Config {
	if cfg != nil && cfg.ClientSessionCache != nil {
		return cfg
	}
	if cfg == nil {
		cfg = &tls.Config{}
	} else {
		cfg = cfg.Clone()
	}
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(sessionCacheSize)
	return cfg
}

// checkPoolArgs refuses what Dial would refuse at every Send, once.
func checkPoolArgs(addr string, opts *Options, popts *PoolOptions) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errInput("pool address %q: %v", addr, err)
	}
	if host, err = asciiHost(host); err != nil {
		return err
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Trace = nil // a dry run must not number a connection
	if _, err := prepare(&o, host, port); err != nil {
		return err
	}
	if popts != nil && (popts.MaxConns < 0 || popts.MaxIdle < 0 || popts.IdleTimeout < 0 || popts.MaxMessagesPerConn < 0 ||
		popts.MaxLifetime < 0 || popts.HealthCheckAfter < 0) {
		return errInput("negative PoolOptions value: %+v", *popts)
	}
	return nil
}

// Send sends one message over a pooled connection, as Client.Send does,
// waiting for a free connection when all are busy (ctx bounds the wait).
func (p *Pool) Send(ctx context.Context, env *Envelope, msg io.Reader) (*Receipt, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.busy.Done()
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.done:
		return nil, ErrPoolClosed
	}
	defer func() { <-p.slots }()

	n := 0
	if env != nil {
		n = len(env.To)
	}
	start := startOf(msg)
	for retries := 0; ; retries++ {
		if err := p.pace(ctx, n); err != nil {
			return nil, err
		}
		c, r, err := p.sendOnce(ctx, env, msg, start)
		if c == nil {
			return r, err
		}
		if err == nil {
			p.backoff.success()
		} else if throttled(err) {
			wait := p.backoff.throttle(time.Now())
			c.emitInCall(ctx, Event{Kind: EventThrottled, Line: fmt.Sprintf("the server throttles: every sender of the pool waits %v", wait.Round(time.Millisecond)), Err: err})
			if retries < p.popts.MaxThrottleRetries && c.tx.throttleRetrySafe(err, start) {
				p.giveBack(c)
				continue
			}
		}
		p.giveBack(c)
		return r, err
	}
}

// sendOnce sends over a pooled connection, and once more on a new one when
// the reused connection proved dead before the message could be taken. It
// returns the connection to give back, nil when none is left.
func (p *Pool) sendOnce(ctx context.Context, env *Envelope, msg io.Reader, start messageStart) (*Client, *Receipt, error) {
	c, reused, err := p.take(ctx)
	if err != nil {
		return nil, nil, err
	}
	r, err := c.Send(ctx, env, msg)
	if err != nil && reused && c.tx.retrySafe(err, start) {
		c.Close()
		if c, err = p.dial(ctx); err != nil {
			return nil, nil, err
		}
		r, err = c.Send(ctx, env, msg)
	}
	return c, r, err
}

// messageStart is where a message was when Send got it, to rewind it for
// a retry; a value, so that finding it allocates nothing.
type messageStart struct {
	s   io.Seeker // nil when the message cannot be rewound
	pos int64
}

// startOf notes where msg is now.
func startOf(msg io.Reader) messageStart {
	s, ok := msg.(io.Seeker)
	if !ok {
		return messageStart{}
	}
	pos, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return messageStart{}
	}
	return messageStart{s, pos}
}

// rewind puts the message back where it was, and reports whether it could.
func (m messageStart) rewind() bool {
	if m.s == nil {
		return false
	}
	_, err := m.s.Seek(m.pos, io.SeekStart)
	return err == nil
}

// enter counts a Send in, unless the pool is closed.
func (p *Pool) enter() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrPoolClosed
	}
	p.busy.Add(1)
	return nil
}

// take returns an idle connection fit for use, or a new one.
func (p *Pool) take(ctx context.Context) (*Client, bool, error) {
	for {
		c := p.popIdle()
		if c == nil {
			c, err := p.dial(ctx)
			return c, false, err
		}
		if why := p.unfit(c, time.Now()); why != "" {
			p.retire(ctx, c, why)
			continue
		}
		idle := time.Since(c.lastUsed)
		if idle > stalePeekAfter && c.stale() {
			p.retire(ctx, c, "closed by the server while idle")
			continue
		}
		c.lastIO = time.Now() // looked at just now: Send need not look again
		c.emitInCall(ctx, Event{Kind: EventReused})
		if idle > p.popts.HealthCheckAfter {
			if err := c.Noop(ctx); err != nil {
				c.Close()
				continue
			}
		}
		return c, true, nil
	}
}

func (p *Pool) dial(ctx context.Context) (*Client, error) {
	return Dial(ctx, p.addr, &p.opts)
}

// popIdle takes the most recently used idle connection.
func (p *Pool) popIdle() *Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	c := p.idle[n-1]
	p.idle = p.idle[:n-1]
	return c
}

// unfit says why a connection must not be used again, or "".
func (p *Pool) unfit(c *Client, now time.Time) string {
	switch {
	case c.err != nil || c.closed.Load():
		return "broken"
	case p.popts.MaxMessagesPerConn > 0 && c.sent >= p.popts.MaxMessagesPerConn:
		return fmt.Sprintf("sent %d messages, the most per connection (MaxMessagesPerConn)", c.sent)
	case c.ext.limits().MailMax > 0 && c.sent >= c.ext.limits().MailMax:
		return fmt.Sprintf("carried %d transactions, the most the server takes on one connection (LIMITS MAILMAX)", c.sent)
	case p.popts.MaxLifetime > 0 && now.Sub(c.created) > p.popts.MaxLifetime:
		return fmt.Sprintf("open longer than MaxLifetime %v", p.popts.MaxLifetime)
	case now.Sub(c.lastUsed) > p.popts.IdleTimeout:
		return fmt.Sprintf("idle longer than IdleTimeout %v", p.popts.IdleTimeout)
	}
	return ""
}

// giveBack returns a connection to the idle list, or retires it.
func (p *Pool) giveBack(c *Client) {
	c.lastUsed = time.Now()
	why := p.unfit(c, c.lastUsed)
	p.mu.Lock()
	if why == "" && (p.closed || len(p.idle) >= p.popts.MaxIdle) {
		why = "more idle connections than MaxIdle"
		if p.closed {
			why = "pool closed"
		}
	}
	if why == "" {
		p.idle = append(p.idle, c)
		p.scheduleReap()
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.retire(context.Background(), c, why)
}

// retire closes a connection, with QUIT when it still works, and tells
// the Trace why.
func (p *Pool) retire(ctx context.Context, c *Client, why string) {
	if c.err == nil && !c.closed.Load() {
		c.emit(Event{Kind: EventClosing, Line: why})
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		c.Quit(ctx)
		return
	}
	c.Close()
}

// scheduleReap arms the timer that closes idle connections past
// IdleTimeout, so they do not linger while the pool is quiet. p.mu is held.
func (p *Pool) scheduleReap() {
	if p.reaper == nil {
		p.reaper = time.AfterFunc(p.popts.IdleTimeout, p.reap)
	}
}

func (p *Pool) reap() {
	now := time.Now()
	p.mu.Lock()
	p.reaper = nil
	var stale, keep []*Client
	for _, c := range p.idle {
		if p.unfit(c, now) != "" {
			stale = append(stale, c)
		} else {
			keep = append(keep, c)
		}
	}
	p.idle = keep
	if len(keep) > 0 && !p.closed {
		p.scheduleReap()
	}
	p.mu.Unlock()
	for _, c := range stale {
		p.retire(context.Background(), c, p.unfit(c, now))
	}
}

// Close stops the pool: later Sends fail with ErrPoolClosed at once, Sends
// waiting for a connection return, Sends in flight finish, and then every
// idle connection is closed with QUIT.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	if p.reaper != nil {
		p.reaper.Stop()
	}
	p.mu.Unlock()
	p.busy.Wait()
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		p.retire(context.Background(), c, "pool closed")
	}
	return nil
}
