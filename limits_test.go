package smtp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailwire/smtp/smtptest"
)

// recipients returns n addresses r0000@domain.test ..., across domains
// domains.
func recipients(n, domains int) []string {
	to := make([]string, n)
	for i := range to {
		to[i] = fmt.Sprintf("r%04d@d%d.test", i, i%domains)
	}
	return to
}

// onlyReader hides every method of a reader but Read: a message that
// cannot be sought back, as from a pipe.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

const limitsBody = "Subject: limits\r\n\r\nthe same bytes for every transaction\r\n"

// A Send to 1,000 recipients, RCPTMAX=100: ten transactions of a hundred on
// one connection, every one with the whole message, whether the message
// can be sought back or must be kept, with DATA or with BDAT.
func TestSendSplitByRcptMax(t *testing.T) {
	t.Parallel()
	for _, chunking := range []bool{false, true} {
		for _, seekable := range []bool{true, false} {
			t.Run(fmt.Sprintf("chunking=%v,seekable=%v", chunking, seekable), func(t *testing.T) {
				t.Parallel()
				srv := newServer(t, &smtptest.Config{MaxRecipients: 100, DisableChunking: !chunking})
				c, err := Dial(context.Background(), srv.Addr(), realOpts(srv, Plaintext))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if l := c.Limits(); l.RcptMax != 100 {
					t.Fatalf("Limits() = %+v, want RcptMax 100", l)
				}
				to := recipients(1000, 7)
				var msg io.Reader = strings.NewReader(limitsBody)
				if !seekable {
					msg = onlyReader{msg}
				}
				r, err := c.Send(context.Background(), &Envelope{From: "a@example.com", To: to}, msg)
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if len(r.Accepted) != 1000 || len(r.Rejected) != 0 || len(r.Transactions) != 10 {
					t.Fatalf("Receipt: %d accepted, %d rejected, %d transactions; want 1000, 0, 10", len(r.Accepted), len(r.Rejected), len(r.Transactions))
				}
				msgs := srv.Messages()
				if len(msgs) != 10 {
					t.Fatalf("the server got %d messages, want 10", len(msgs))
				}
				for i, m := range msgs {
					tr := r.Transactions[i]
					if m.ConnID != msgs[0].ConnID || len(m.To) != 100 || string(m.Raw) != limitsBody ||
						m.To[0] != to[100*i] || len(tr.Accepted) != 100 || tr.Accepted[0] != to[100*i] || !strings.Contains(tr.Reply.Message, m.ID) {
						t.Errorf("transaction %d: conn %d, %d recipients from %s, content %q, receipt %d from %v, reply %q (id %s)",
							i, m.ConnID, len(m.To), m.To[0], m.Raw, len(tr.Accepted), tr.Accepted[:1], tr.Reply.Message, m.ID)
					}
				}
				if r.Reply != r.Transactions[9].Reply {
					t.Errorf("Reply %v, want the last transaction's", r.Reply)
				}
				// The Client goes on: one more Send on the same connection.
				if _, err := c.Send(context.Background(), &Envelope{From: "a@example.com", To: to[:1]}, strings.NewReader(limitsBody)); err != nil {
					t.Errorf("Send after: %v", err)
				}
			})
		}
	}
}

// A server that limits recipients without saying so (no LIMITS) defers
// the rest with 452 4.5.3: they go in the next transaction when the
// message can be read again, and stay refused, with their 452, when not.
func TestSendDeferredTooManyRecipients(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{MaxRecipients: 100, DisableLimits: true})
	c, err := Dial(context.Background(), srv.Addr(), realOpts(srv, Plaintext))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if l := c.Limits(); l != (Limits{}) {
		t.Fatalf("Limits() = %+v with LIMITS not offered", l)
	}
	to := recipients(250, 3)
	r, err := c.Send(context.Background(), &Envelope{From: "a@example.com", To: to}, strings.NewReader(limitsBody))
	if err != nil || len(r.Accepted) != 250 || len(r.Transactions) != 3 || len(r.Transactions[2].Accepted) != 50 {
		t.Fatalf("seekable: %v, %+v", err, r)
	}
	if n := len(srv.Messages()); n != 3 {
		t.Errorf("%d messages, want 3", n)
	}

	r, err = c.Send(context.Background(), &Envelope{From: "a@example.com", To: to}, onlyReader{strings.NewReader(limitsBody)})
	if err != nil || len(r.Accepted) != 100 || len(r.Rejected) != 150 || r.Transactions != nil {
		t.Fatalf("not seekable: %v, %d accepted, %d rejected, %d transactions", err, len(r.Accepted), len(r.Rejected), len(r.Transactions))
	}
	if e := r.Rejected[0]; e.Addr != to[100] || e.Err.Code != 452 || e.Err.Enhanced != (EnhancedCode{4, 5, 3}) {
		t.Errorf("first refusal %v, want %s deferred with 452 4.5.3", e, to[100])
	}
}

// Recipients refused for good stay refused; only the deferred go again. A
// server that defers every recipient of a transaction makes no progress:
// Send stops, and reports them refused.
func TestSendDeferralsScripted(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING")+`
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<x@example.com>
		C: RCPT TO:<y@example.com>
		C: RCPT TO:<z@example.com>
		C: DATA
		S: 250 2.1.0 Ok
		S: 250 2.1.5 Ok
		S: 550 5.1.1 y unknown
		S: 452 4.5.3 Too many recipients
		S: 354 go on
		C: hello
		C: .
		S: 250 2.0.0 Ok: queued as A1
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<z@example.com>
		C: DATA
		S: 250 2.1.0 Ok
		S: 452 4.5.3 Too many recipients
		S: 503 5.5.1 No valid recipients
		C: RSET
		S: 250 2.0.0 Ok
	`)
	r, err := c.Send(context.Background(), &Envelope{From: "a@example.com", To: []string{"x@example.com", "y@example.com", "z@example.com"}}, strings.NewReader("hello\r\n"))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(r.Accepted) != 1 || len(r.Rejected) != 2 || r.Rejected[0].Addr != "y@example.com" || r.Rejected[1].Addr != "z@example.com" || r.Rejected[1].Err.Code != 452 {
		t.Errorf("Receipt: accepted %v, rejected %v", r.Accepted, r.Rejected)
	}
	if r.Reply.Message != "Ok: queued as A1" {
		t.Errorf("Reply %q", r.Reply.Message)
	}
	finish(t, c, srv)
}

// A later transaction that fails after an earlier one was delivered: the
// Receipt lists what was delivered, the error the recipients left, and
// the error is never safe to retry as a whole (it would deliver twice).
func TestSendPartialFailure(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING", "LIMITS RCPTMAX=1")+`
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<x@example.com>
		C: DATA
		S: 250 2.1.0 Ok
		S: 250 2.1.5 Ok
		S: 354 go on
		C: hello
		C: .
		S: 250 2.0.0 Ok: queued as A1
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<y@example.com>
		C: DATA
		S: 250 2.1.0 Ok
		S: 250 2.1.5 Ok
		S: 354 go on
		C: hello
		C: .
		S: 554 5.7.1 spam
	`)
	r, err := c.Send(context.Background(), &Envelope{From: "a@example.com", To: []string{"x@example.com", "y@example.com"}}, strings.NewReader("hello\r\n"))
	var partial *PartialSendError
	if !errors.As(err, &partial) || len(partial.Undelivered) != 1 || partial.Undelivered[0] != "y@example.com" {
		t.Fatalf("Send error %v, want a *PartialSendError for y", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != 554 || SafeToRetry(err) {
		t.Errorf("the 554 inside: %v; SafeToRetry %v", e, SafeToRetry(err))
	}
	if r == nil || len(r.Accepted) != 1 || r.Accepted[0] != "x@example.com" || len(r.Transactions) != 1 {
		t.Errorf("Receipt %+v, want x delivered", r)
	}
	if c.tx.retrySafe(err, messageStart{}) {
		t.Error("a Pool would send it again")
	}
	finish(t, c, srv)
}

func TestNextBatch(t *testing.T) {
	t.Parallel()
	to := []string{"a@x", "b@y", "c@X", "d@z", "e@y", "f@w"}
	tests := []struct {
		l           Limits
		batch, rest string
	}{
		{Limits{}, "a@x b@y c@X d@z e@y f@w", ""},
		{Limits{RcptMax: 4}, "a@x b@y c@X d@z", "e@y f@w"},
		{Limits{RcptDomainMax: 2}, "a@x b@y c@X e@y", "d@z f@w"},
		{Limits{RcptMax: 2, RcptDomainMax: 2}, "a@x b@y", "c@X d@z e@y f@w"},
	}
	for _, tt := range tests {
		b, r := nextBatch(to, tt.l)
		if strings.Join(b, " ") != tt.batch || strings.Join(r, " ") != tt.rest {
			t.Errorf("%+v: batch %v rest %v, want %q, %q", tt.l, b, r, tt.batch, tt.rest)
		}
	}
}

// A server that writes each reply before reading the next command, on a
// connection with no buffer at all (net.Pipe): a Send to 1,000 recipients
// pipelined in one flight would wait forever on its write while the server
// waits on its own. Send reads the replies a window at a time.
func TestSendManyRecipientsNoDeadlock(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	defer server.Close()
	got := make(chan int, 1)
	go func() { got <- replyAsYouRead(server) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := NewClient(ctx, client, plainOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Send(ctx, &Envelope{From: "a@example.com", To: recipients(1000, 1)}, strings.NewReader("hi\r\n"))
	if err != nil || len(r.Accepted) != 1000 {
		t.Fatalf("Send: %v (a deadlock ends at the timeout)", err)
	}
	c.Close()
	if n := <-got; n != 1000 {
		t.Errorf("the server read %d RCPTs", n)
	}
}

// replyAsYouRead is a server that answers each command as soon as it has
// read it, writing with no buffer; it returns the RCPTs it read.
func replyAsYouRead(conn net.Conn) (rcpts int) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	say := func(s string) bool { _, err := io.WriteString(conn, s+"\r\n"); return err == nil }
	say("220 peer.test ESMTP")
	data := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return rcpts
		}
		line = strings.TrimRight(line, "\r\n")
		verb, _, _ := strings.Cut(strings.ToUpper(line), " ")
		ok := true
		switch {
		case data && line == ".":
			data, ok = false, say("250 2.0.0 queued")
		case data:
		case verb == "EHLO":
			ok = say("250-peer.test") && say("250 PIPELINING")
		case verb == "RCPT":
			rcpts++
			ok = say("250 2.1.5 Ok")
		case verb == "DATA":
			data, ok = true, say("354 go on")
		case verb == "QUIT":
			say("221 bye")
			return rcpts
		default:
			ok = say("250 Ok")
		}
		if !ok {
			return rcpts
		}
	}
}

// A Pool opens a new connection once one has carried the transactions the
// server's LIMITS MAILMAX allows, before the server has to refuse one.
func TestPoolKeepsToMailMax(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{MaxMessagesPerConn: 3})
	var log strings.Builder
	opts := realOpts(srv, Plaintext)
	opts.Trace = eventLog(&log)
	pool := mustPool(NewPool(srv.Addr(), opts, &PoolOptions{MaxConns: 1}))
	for i := range 7 {
		if _, err := pool.Send(bg, realEnv, strings.NewReader("x\r\n")); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	pool.Close()
	perConn := map[int]int{}
	for _, m := range srv.Messages() {
		perConn[m.ConnID]++
	}
	if len(perConn) != 3 || perConn[1] != 3 || perConn[2] != 3 || perConn[3] != 1 {
		t.Errorf("messages per connection %v, want 3, 3, 1", perConn)
	}
	if !strings.Contains(log.String(), "closing: carried 3 transactions, the most the server takes on one connection (LIMITS MAILMAX)") {
		t.Errorf("the log does not say why a connection was retired:\n%s", log.String())
	}
}
