package main

// Scenario (i): sending at volume to a server with limits. The server (a
// third listener of the sink process) says LIMITS RCPTMAX=50, refuses MAIL
// with 451 4.7.1 above its own rate, and answers the MAIL after every
// 500th message with 421 4.3.0 (a connection retired, as providers do).
// It records each (Message-ID, recipient) it took, so that a duplicate
// delivery shows. Each client sends through a pool paced by one shared
// limiter a little below the server's rate: mailwire's Pool with
// PoolOptions.MessageRate and MaxThrottleRetries; the peers the bench's
// pool, which redials and tries a failed message again, up to 3 times.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"golang.org/x/time/rate"
)

const (
	volumeRcpts       = 20   // recipients per message
	volumeRcptMax     = 50   // the server's LIMITS RCPTMAX
	volumeRetireEvery = 500  // a 421 after every this many messages
	volumeServerRate  = 1500 // messages a second the server takes; burst 50
	volumeClientRate  = 1400 // the clients' shared limiter
	volumeRetries     = 3    // the bench pool's tries again, for the peers
)

// volumeStats is what the limited server counted.
type volumeStats struct {
	Messages     int64 `json:"messages"`
	Deliveries   int64 `json:"deliveries"`
	Duplicates   int64 `json:"duplicates"`
	RateRefusals int64 `json:"rate_refusals"`
	Retired      int64 `json:"retired"`
}

// volumeServer is the limited server's state, shared by its sessions.
type volumeServer struct {
	mu        sync.Mutex
	stats     volumeStats
	seen      map[string]bool // Message-ID + recipient
	retireDue bool
	limiter   *rate.Limiter
}

func newVolumeServer() *volumeServer {
	return &volumeServer{seen: map[string]bool{}, limiter: rate.NewLimiter(volumeServerRate, 50)}
}

func (v *volumeServer) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	return &volumeSession{srv: v}, nil
}

type volumeSession struct {
	sinkSession
	srv *volumeServer
	to  []string
}

func (s *volumeSession) Mail(string, *gosmtp.MailOptions) error {
	v := s.srv
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.retireDue {
		v.retireDue = false
		v.stats.Retired++
		return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "500 messages on this connection: reconnect"}
	}
	if !v.limiter.Allow() {
		v.stats.RateRefusals++
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: "Rate limit exceeded, slow down"}
	}
	return nil
}

func (s *volumeSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *volumeSession) Reset() { s.to = s.to[:0] }

// Data records the message for each recipient and counts a second
// delivery of a Message-ID to a recipient as a duplicate.
func (s *volumeSession) Data(r io.Reader) error {
	h, err := textproto.NewReader(bufio.NewReader(r)).ReadMIMEHeader()
	if err != nil {
		return err
	}
	io.Copy(io.Discard, r)
	id := h.Get("Message-Id")
	v := s.srv
	v.mu.Lock()
	v.stats.Messages++
	for _, to := range s.to {
		v.stats.Deliveries++
		if v.seen[id+" "+to] {
			v.stats.Duplicates++
		}
		v.seen[id+" "+to] = true
	}
	if v.stats.Messages%volumeRetireEvery == 0 {
		v.retireDue = true
	}
	v.mu.Unlock()
	return nil
}

// listenVolume starts the limited server and its stats listener (each
// connection to it gets the counts as JSON).
func listenVolume() (addr, statsAddr string, stop func(), err error) {
	v := newVolumeServer()
	s := gosmtp.NewServer(v)
	s.Domain = "limited.localhost"
	s.MaxMessageBytes = sinkMaxSize
	s.MaxRecipients = volumeRcptMax
	s.ReadTimeout, s.WriteTimeout = time.Minute, time.Minute
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, err
	}
	go s.Serve(ln)
	stats, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		return "", "", nil, err
	}
	go func() {
		for {
			c, err := stats.Accept()
			if err != nil {
				return
			}
			v.mu.Lock()
			json.NewEncoder(c).Encode(v.stats)
			v.mu.Unlock()
			c.Close()
		}
	}()
	return ln.Addr().String(), stats.Addr().String(), func() { s.Close(); stats.Close() }, nil
}

func readVolumeStats(addr string) (volumeStats, error) {
	var st volumeStats
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return st, err
	}
	defer c.Close()
	return st, json.NewDecoder(c).Decode(&st)
}

// volume is scenario (i).
func (b *bench) volume() []*row {
	n := b.cfg.volumeMsgs
	name := fmt.Sprintf("(i) loopback, %d msgs × %d rcpts, RCPTMAX=%d, a 421 every %d, server rate %d/s", n, volumeRcpts, volumeRcptMax, volumeRetireEvery, volumeServerRate)
	rows := []*row{
		newRow(name, "messages/s", false, 0),
		newRow(name, fmt.Sprintf("rate reached ÷ shared limiter (%d/s)", volumeClientRate), false, 2),
		newRow(name, "duplicate deliveries", true, 0),
		newRow(name, "messages the server refused for its rate (451 4.7.1)", true, 0),
	}
	o := b.opts
	o.addr = b.sink.Limited
	for _, lib := range allLibraries() {
		before, err := readVolumeStats(b.sink.Stats)
		if err != nil {
			rows[0].fail(lib.name, err)
			continue
		}
		limiter := rate.NewLimiter(volumeClientRate, 1)
		var pl pool
		switch {
		case lib.name != mailwireName:
			pl = &retryingPool{newChanPool(lib, o, 4), limiter}
		case newLimitedMailwirePool != nil:
			pl = newLimitedMailwirePool(o, 4, limiter)
		default:
			rows[0].missing[lib.name] = "n/a (Pool not built)"
			continue
		}
		sent, elapsed, err := sendVolume(pl, lib.name, 16, n)
		pl.Close()
		if err != nil {
			rows[0].fail(lib.name, err)
			continue
		}
		after, err := readVolumeStats(b.sink.Stats)
		if err != nil {
			rows[0].fail(lib.name, err)
			continue
		}
		if got := after.Messages - before.Messages; got < int64(sent) {
			b.note("(i) %s: %d messages reported sent, %d arrived", lib.name, sent, got)
		}
		rate := float64(sent) / elapsed.Seconds()
		rows[0].set(lib.name, rate)
		rows[1].set(lib.name, rate/volumeClientRate)
		rows[2].set(lib.name, float64(after.Duplicates-before.Duplicates))
		rows[3].set(lib.name, float64(after.RateRefusals-before.RateRefusals))
	}
	return rows
}

// newLimitedMailwirePool is set by mailwire_pool.go: a Pool paced by the
// shared limiter, trying a throttled message again up to volumeRetries.
var newLimitedMailwirePool func(o dialOptions, maxConns int, l *rate.Limiter) pool

// retryingPool is what a user of a library without a pool writes: pace
// with the limiter, and on a failure (the connection is redialled by
// chanPool) send the message again, up to volumeRetries times.
type retryingPool struct {
	*chanPool
	limiter *rate.Limiter
}

func (p *retryingPool) Send(ctx context.Context, from string, to []string, msg io.Reader) error {
	body, err := io.ReadAll(msg)
	if err != nil {
		return err
	}
	for try := 0; ; try++ {
		if err := p.limiter.Wait(ctx); err != nil {
			return err
		}
		err := p.chanPool.Send(ctx, from, to, bytes.NewReader(body))
		if err == nil || try == volumeRetries {
			return err
		}
	}
}

// sendVolume sends n messages of volumeRcpts recipients, each with its own
// Message-ID, from workers goroutines.
func sendVolume(pl pool, lib string, workers, n int) (int, time.Duration, error) {
	t0 := time.Now()
	return sendEach(pl, workers, n, recipients(volumeRcpts), func(i int64) string {
		return fmt.Sprintf("Message-ID: <%s.%d.%d@bench>\r\nSubject: volume\r\n\r\n%s", lib, t0.UnixNano(), i, message2K)
	})
}

// sendEach sends messages 1 to n, msg(i) each, to the recipients to, from
// workers goroutines; it stops at the first error and returns how many
// were sent and how long it took.
func sendEach(pl pool, workers, n int, to []string, msg func(i int64) string) (int, time.Duration, error) {
	var next, sent atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	t0 := time.Now()
	for range workers {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if err := pl.Send(context.Background(), sender1, to, strings.NewReader(msg(i))); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("message %d: %w", i, err) })
					return
				}
				sent.Add(1)
			}
		})
	}
	wg.Wait()
	return int(sent.Load()), time.Since(t0), firstErr
}
