package smtp

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailwire/smtp/internal/peer"
	"github.com/mailwire/smtp/smtptest"
)

// LMTP against smtptest's LMTP mode: LHLO, then one reply for each
// accepted recipient after the message, filed in the Receipt: refused at
// RCPT, refused after the message, delivered.
func TestLMTPRepliesPerRecipient(t *testing.T) {
	t.Parallel()
	for _, pipelining := range []bool{true, false} {
		srv := newServer(t, &smtptest.Config{LMTP: true, DisablePipelining: !pipelining,
			RejectRecipients: map[string]*smtptest.Reply{"gone@example.com": {Code: 550, EnhancedCode: smtptest.EnhancedCode{5, 1, 1}, Message: "No such user"}},
			RejectAfterData:  map[string]*smtptest.Reply{"full@example.com": {Code: 452, EnhancedCode: smtptest.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}},
		})
		opts := realOpts(srv, Plaintext)
		opts.LMTP = true
		c, err := Dial(context.Background(), srv.Addr(), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		env := &Envelope{From: "a@example.com", To: []string{"full@example.com", "gone@example.com", "bob@example.com", "carol@example.com"}}
		r, err := c.Send(context.Background(), env, strings.NewReader("Subject: lmtp\r\n\r\nhi\r\n"))
		if err != nil {
			t.Fatalf("pipelining %v: Send: %v", pipelining, err)
		}
		if strings.Join(r.Accepted, " ") != "bob@example.com carol@example.com" || len(r.Rejected) != 2 {
			t.Fatalf("pipelining %v: accepted %v, rejected %v", pipelining, r.Accepted, r.Rejected)
		}
		if e := r.Rejected[0]; e.Addr != "gone@example.com" || e.Err.Command != "RCPT TO" || e.Err.Code != 550 {
			t.Errorf("first refusal %v", e)
		}
		if e := r.Rejected[1]; e.Addr != "full@example.com" || e.Err.Command != "end of data" || e.Err.Code != 452 || !e.Err.Temporary() {
			t.Errorf("second refusal %v, want full@ after the message with 452", e)
		}
		if !strings.Contains(r.Reply.Message, "<bob@example.com> OK: queued as Q0001") {
			t.Errorf("Reply %q, want bob's", r.Reply.Message)
		}
		if cmds := srv.Commands(); cmds[0].Verb != "LHLO" {
			t.Errorf("first command %s, want LHLO", cmds[0].Verb)
		}
		// The connection goes on, in step: another message.
		if _, err := c.Send(context.Background(), &Envelope{From: "a@example.com", To: []string{"bob@example.com"}}, strings.NewReader("x\r\n")); err != nil {
			t.Errorf("pipelining %v: second Send: %v", pipelining, err)
		}
	}
}

// Every recipient refused after the message: a *RecipientsError with each.
func TestLMTPAllRefusedAfterData(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{LMTP: true, RejectAfterData: map[string]*smtptest.Reply{
		"a@example.com": {Code: 552, EnhancedCode: smtptest.EnhancedCode{5, 2, 2}, Message: "Over quota"},
		"b@example.com": {Code: 452, EnhancedCode: smtptest.EnhancedCode{4, 2, 2}, Message: "Over quota"},
	}})
	opts := realOpts(srv, Plaintext)
	opts.LMTP = true
	c, err := Dial(context.Background(), srv.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Send(context.Background(), &Envelope{From: "x@example.com", To: []string{"a@example.com", "b@example.com"}}, strings.NewReader("x\r\n"))
	var all *RecipientsError
	if !errors.As(err, &all) || len(all.Rejected) != 2 || all.Rejected[1].Err.Code != 452 {
		t.Fatalf("Send: %v, want both refused after the message", err)
	}
}

// The connection lost between two recipients' replies: whether the others
// got the message is unknown, and the error says so.
func TestLMTPConnectionLostBetweenReplies(t *testing.T) {
	t.Parallel()
	srv := peer.New(peer.Script(`
		S: 220 peer.test LMTP
		C: LHLO localhost
		S: 250-peer.test
		S: 250 PIPELINING
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<x@example.com>
		C: RCPT TO:<y@example.com>
		C: DATA
		S: 250 2.1.0 Ok
		S: 250 2.1.5 Ok
		S: 250 2.1.5 Ok
		S: 354 go on
		C: hi
		C: .
		S: 250 2.0.0 <x@example.com> delivered
		close
	`))
	defer srv.Close()
	c, err := Dial(context.Background(), srv.Addr(), &Options{Security: Plaintext, LMTP: true, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Send(context.Background(), &Envelope{From: "a@example.com", To: []string{"x@example.com", "y@example.com"}}, strings.NewReader("hi\r\n"))
	if !errors.Is(err, ErrDeliveryUnknown) {
		t.Errorf("Send: %v, want ErrDeliveryUnknown", err)
	}
}

func TestRecipientErrorText(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		e    *RecipientError
		want string
	}{
		{&RecipientError{Addr: "a@x", Err: &Error{Command: "RCPT TO", Reply: Reply{Code: 550, Enhanced: EnhancedCode{5, 1, 1}, Message: "no"}}}, "smtp: RCPT TO:<a@x>: 550 5.1.1 no (bad destination mailbox address)"},
		{&RecipientError{Addr: "a@x", Err: &Error{Command: "end of data", Reply: Reply{Code: 552, Enhanced: EnhancedCode{5, 2, 2}, Message: "full"}}}, "smtp: end of data for <a@x>: 552 5.2.2 full (mailbox full)"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
