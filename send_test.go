package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

var bg = context.Background()

func TestSendPipelinesTheEnvelope(t *testing.T) {
	t.Parallel()
	var to []string
	script := greeting + ehlo("PIPELINING", "8BITMIME", "SIZE 1000000") + "C: MAIL FROM:<alice@example.com> SIZE=22\n" // the content as sent, with its final CRLF
	for i := range 10 {
		to = append(to, fmt.Sprintf("rcpt%d@example.com", i))
		script += fmt.Sprintf("C: RCPT TO:<rcpt%d@example.com>\n", i)
	}
	// The peer answers nothing until it has read DATA: a client that waited
	// for a reply before sending the next command would time out here.
	script += "C: DATA\nS: 250 2.1.0 Ok\n"
	for range 10 {
		script += "S: 250 2.1.5 Ok\n"
	}
	script += "S: 354 End data with <CR><LF>.<CR><LF>\nC: <data>\nS: 250 2.0.0 Ok: queued as 4Bq2\n"
	c, srv := dialScript(t, script)
	r, err := c.Send(bg, &Envelope{From: "alice@example.com", To: to}, strings.NewReader("Subject: hi\r\n\r\nHello"))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(r.Accepted) != 10 || len(r.Rejected) != 0 {
		t.Errorf("Receipt = %d accepted, %d rejected; want 10, 0", len(r.Accepted), len(r.Rejected))
	}
	if r.Reply.Code != 250 || r.Reply.Message != "Ok: queued as 4Bq2" || r.Reply.Enhanced != (EnhancedCode{2, 0, 0}) {
		t.Errorf("Receipt.Reply = %+v, want the queue id", r.Reply)
	}
	res := finish(t, c, srv)
	// One read after EHLO holds the whole envelope, MAIL to DATA.
	var group string
	for _, rd := range res.Reads {
		if bytes.HasPrefix(rd, []byte("MAIL FROM:")) {
			group = string(rd)
		}
	}
	if !strings.HasSuffix(group, "DATA\r\n") || strings.Count(group, "RCPT TO:") != 10 {
		t.Errorf("the envelope came in several reads: %q", res.Reads)
	}
	if got, want := string(res.Data[0]), "Subject: hi\r\n\r\nHello\r\n.\r\n"; got != want {
		t.Errorf("data = %q, want %q", got, want)
	}
}

func TestSendWithoutPipelining(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("8BITMIME")+`
		C: MAIL FROM:<a@example.com> BODY=8BITMIME
		S: 250 2.1.0 Ok
		C: RCPT TO:<b@example.com>
		S: 250 2.1.5 Ok
		C: RCPT TO:<nobody@example.com>
		S: 550 5.1.1 <nobody@example.com>: Recipient address rejected
		C: RCPT TO:<c@example.com>
		S: 250 2.1.5 Ok
		C: DATA
		S: 354 go ahead
		C: <data>
		S: 250 2.0.0 queued as X1
	`)
	r, err := c.Send(bg, &Envelope{From: "a@example.com", To: []string{"b@example.com", "nobody@example.com", "c@example.com"}}, iotest.OneByteReader(strings.NewReader("x\n")))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	checkOneOfThreeRejected(t, r)
	res := finish(t, c, srv)
	// Each command came on its own, after the previous reply.
	for _, rd := range res.Reads {
		if bytes.Count(rd, []byte("\r\n")) > 1 && !bytes.HasSuffix(rd, []byte(".\r\n")) {
			t.Errorf("commands pipelined without PIPELINING: %q", rd)
		}
	}
}

func checkOneOfThreeRejected(t *testing.T, r *Receipt) {
	t.Helper()
	if fmt.Sprint(r.Accepted) != "[b@example.com c@example.com]" {
		t.Errorf("Accepted = %v, want b and c", r.Accepted)
	}
	if len(r.Rejected) != 1 || r.Rejected[0].Addr != "nobody@example.com" || r.Rejected[0].Err.Code != 550 ||
		r.Rejected[0].Err.Enhanced != (EnhancedCode{5, 1, 1}) || r.Rejected[0].Err.Command != "RCPT TO" {
		t.Errorf("Rejected = %v, want nobody@ with 550 5.1.1", r.Rejected)
	}
}

func TestSendOneRecipientOfThreeRejected(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING")+`
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<b@example.com>
		C: RCPT TO:<nobody@example.com>
		C: RCPT TO:<c@example.com>
		C: DATA
		S: 250 2.1.0 Ok
		S: 250 2.1.5 Ok
		S: 550 5.1.1 <nobody@example.com>: Recipient address rejected
		S: 250 2.1.5 Ok
		S: 354 go ahead
		C: <data>
		S: 250 2.0.0 queued as X1
	`)
	r, err := c.Send(bg, &Envelope{From: "a@example.com", To: []string{"b@example.com", "nobody@example.com", "c@example.com"}}, strings.NewReader("x\r\n"))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	checkOneOfThreeRejected(t, r)
	finish(t, c, srv)
}

func TestSendAllRecipientsRejected(t *testing.T) {
	t.Parallel()
	for _, pipelining := range []bool{true, false} {
		t.Run(fmt.Sprint("pipelining=", pipelining), func(t *testing.T) {
			var script string
			if pipelining {
				script = greeting + ehlo("PIPELINING") + `
					C: MAIL FROM:<a@example.com>
					C: RCPT TO:<x@example.com>
					C: RCPT TO:<y@example.com>
					C: DATA
					S: 250 2.1.0 Ok
					S: 550 5.1.1 x unknown
					S: 451 4.3.0 y try later
					S: 554 5.5.1 Error: no valid recipients
					C: RSET
					S: 250 2.0.0 Ok
				`
			} else {
				script = greeting + ehlo("SIZE 100") + `
					C: MAIL FROM:<a@example.com> SIZE=16
					S: 250 2.1.0 Ok
					C: RCPT TO:<x@example.com>
					S: 550 5.1.1 x unknown
					C: RCPT TO:<y@example.com>
					S: 451 4.3.0 y try later
					C: RSET
					S: 250 2.0.0 Ok
				`
			}
			c, srv := dialScript(t, script)
			r, err := c.Send(bg, &Envelope{From: "a@example.com", To: []string{"x@example.com", "y@example.com"}}, strings.NewReader("secret content\r\n"))
			var re *RecipientsError
			if !errors.As(err, &re) || len(re.Rejected) != 2 {
				t.Fatalf("Send error = %v, want a *RecipientsError with 2", err)
			}
			want := "smtp: every recipient was rejected (2): <x@example.com>: 550 5.1.1 x unknown (bad destination mailbox address); <y@example.com>: 451 4.3.0 y try later"
			if err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != 550 {
				t.Errorf("errors.As(*Error) = %v, want the first refusal", e)
			}
			if r == nil || len(r.Rejected) != 2 || len(r.Accepted) != 0 {
				t.Errorf("Receipt = %+v, want the 2 rejections", r)
			}
			res := finish(t, c, srv)
			if bytes.Contains(res.Received, []byte("secret content")) {
				t.Error("message content was sent with no recipient accepted")
			}
		})
	}
}

func TestSendServerOpensDataWithoutRecipients(t *testing.T) {
	t.Parallel()
	// RFC 2920 3.1: a server may answer DATA with 354 even though every
	// RCPT failed; the client must then send an empty message.
	c, srv := dialScript(t, greeting+ehlo("PIPELINING")+`
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<x@example.com>
		C: DATA
		S: 250 Ok
		S: 550 5.1.1 unknown
		S: 354 go ahead
		C: .
		S: 554 5.5.1 no valid recipients
		C: RSET
		S: 250 Ok
	`)
	_, err := c.Send(bg, &Envelope{From: "a@example.com", To: []string{"x@example.com"}}, strings.NewReader("secret content\r\n"))
	var re *RecipientsError
	if !errors.As(err, &re) {
		t.Errorf("Send error = %v, want *RecipientsError", err)
	}
	if res := finish(t, c, srv); bytes.Contains(res.Received, []byte("secret")) {
		t.Error("message content sent")
	}
}

func TestSendMailRefused(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING")+`
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<b@example.com>
		C: DATA
		S: 553 5.7.1 <a@example.com>: Sender address rejected: not owned by user
		S: 503 5.5.1 Error: need MAIL command
		S: 503 5.5.1 Error: need MAIL command
		C: NOOP
		S: 250 2.0.0 Ok
	`)
	r, err := c.Send(bg, &Envelope{From: "a@example.com", To: []string{"b@example.com"}}, strings.NewReader("secret\r\n"))
	var e *Error
	if !errors.As(err, &e) || e.Command != "MAIL FROM" || e.Code != 553 || r != nil {
		t.Fatalf("Send = %v, %v; want nil and *Error 553 to MAIL FROM", r, err)
	}
	// The connection stays usable.
	if err := c.Noop(bg); err != nil {
		t.Errorf("Noop after a refused MAIL: %v", err)
	}
	finish(t, c, srv)
}

func TestSendDataRefusedResets(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING")+`
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<b@example.com>
		C: DATA
		S: 250 Ok
		S: 250 Ok
		S: 451 4.3.0 try later
		C: RSET
		S: 250 Ok
	`)
	_, err := c.Send(bg, &Envelope{From: "a@example.com", To: []string{"b@example.com"}}, strings.NewReader("secret\r\n"))
	var e *Error
	if !errors.As(err, &e) || e.Command != "DATA" || !e.Temporary() {
		t.Errorf("Send error = %v, want a temporary *Error to DATA", err)
	}
	finish(t, c, srv)
}

func TestSendRefusedAfterData(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING")+`
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<b@example.com>
		C: DATA
		S: 250 Ok
		S: 250 Ok
		S: 354 go ahead
		C: <data>
		S: 552 5.3.4 Error: message file too big
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<b@example.com>
		C: DATA
		S: 250 Ok
		S: 250 Ok
		S: 354 go ahead
		C: <data>
		S: 250 2.0.0 queued
	`)
	env := &Envelope{From: "a@example.com", To: []string{"b@example.com"}}
	r, err := c.Send(bg, env, strings.NewReader("big\r\n"))
	var e *Error
	if !errors.As(err, &e) || e.Code != 552 || e.Command != "end of data" || r != nil {
		t.Fatalf("Send = %v, %v; want *Error 552 at the end of data", r, err)
	}
	if errors.Is(err, ErrDeliveryUnknown) {
		t.Error("a 552 is reported as ErrDeliveryUnknown")
	}
	// The transaction ended with the reply: the next one starts at once.
	if _, err := c.Send(bg, env, strings.NewReader("small\r\n")); err != nil {
		t.Errorf("second Send: %v", err)
	}
	finish(t, c, srv)
}

func TestSendDeliveryUnknown(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING")+`
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<b@example.com>
		C: DATA
		S: 250 Ok
		S: 250 Ok
		S: 354 go ahead
		C: <data>
		close
	`)
	_, err := c.Send(bg, &Envelope{From: "a@example.com", To: []string{"b@example.com"}}, strings.NewReader("x\r\n"))
	if !errors.Is(err, ErrDeliveryUnknown) {
		t.Fatalf("Send error = %v, want ErrDeliveryUnknown", err)
	}
	if !strings.Contains(err.Error(), "end of data") {
		t.Errorf("error = %q, want it to name the end of data", err)
	}
	finish(t, c, srv)
}

func TestSendConnectionLostBeforeEndIsNotUnknown(t *testing.T) {
	t.Parallel()
	for _, script := range []string{
		"C: MAIL FROM:<a@example.com>\nC: RCPT TO:<b@example.com>\nC: DATA\nclose\n",
		"C: MAIL FROM:<a@example.com>\nC: RCPT TO:<b@example.com>\nC: DATA\nS: 250 Ok\nS: 250 Ok\nclose\n",
	} {
		c, srv := dialScript(t, greeting+ehlo("PIPELINING")+script)
		_, err := c.Send(bg, &Envelope{From: "a@example.com", To: []string{"b@example.com"}}, strings.NewReader("x\r\n"))
		if err == nil || errors.Is(err, ErrDeliveryUnknown) {
			t.Errorf("Send error = %v, want a plain network error", err)
		}
		finish(t, c, srv)
	}
}

func TestSendMessageReadErrorDeliversNothing(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING", "8BITMIME")+`
		C: MAIL FROM:<a@example.com> BODY=8BITMIME
		C: RCPT TO:<b@example.com>
		C: DATA
		S: 250 Ok
		S: 250 Ok
		S: 354 go ahead
		hang
	`)
	boom := errors.New("disk on fire")
	msg := io.MultiReader(strings.NewReader("partial line"), iotest.ErrReader(boom))
	_, err := c.Send(bg, &Envelope{From: "a@example.com", To: []string{"b@example.com"}}, msg)
	if !errors.Is(err, boom) || errors.Is(err, ErrDeliveryUnknown) {
		t.Errorf("Send error = %v, want the reader's error", err)
	}
	res := finish(t, c, srv)
	if bytes.Contains(res.Received, []byte("\r\n.\r\n")) {
		t.Errorf("the end of data was sent for a message that failed to read: %q", res.Received)
	}
}

func TestSendRefusesBadAddressesBeforeSending(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 65) + "@example.com"
	for _, env := range []*Envelope{
		nil,
		{From: "a@example.com"},
		{From: "a@example.com\r\nRCPT TO:<evil@example.com>", To: []string{"b@example.com"}},
		{From: "a@example.com", To: []string{"b@example.com>\r\nDATA"}},
		{From: "a@example.com", To: []string{"b@exa\nmple.com"}},
		{From: "a@example.com", To: []string{"b\x00@example.com"}},
		{From: "a@example.com", To: []string{"<b@example.com>"}},
		{From: "a@example.com", To: []string{""}},
		{From: "a@example.com", To: []string{long}},
		{From: "a@" + strings.Repeat("d", 256), To: []string{"b@example.com"}},
		{From: "a@example.com", To: []string{"b@example.com", "c@"}},
	} {
		c, srv := dialScript(t, greeting+ehlo("PIPELINING"))
		if _, err := c.Send(bg, env, strings.NewReader("x")); err == nil {
			t.Errorf("Send(%+v) succeeded", env)
		}
		res := finish(t, c, srv)
		if i := bytes.Index(res.Received, []byte("EHLO localhost\r\n")); len(res.Received) != i+len("EHLO localhost\r\n") {
			t.Errorf("Send(%+v) sent %q after EHLO", env, res.Received[i+16:])
		}
	}
}

func TestSendNullReversePath(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo()+`
		C: MAIL FROM:<>
		S: 250 Ok
		C: RCPT TO:<postmaster>
		S: 250 Ok
		C: DATA
		S: 354 go
		C: <data>
		S: 250 Ok
	`)
	if _, err := c.Send(bg, &Envelope{To: []string{"postmaster"}}, strings.NewReader("bounce\r\n")); err != nil {
		t.Errorf("Send: %v", err)
	}
	finish(t, c, srv)
}

func TestSendSize(t *testing.T) {
	t.Parallel()
	msg := strings.Repeat("x", 100) + "\r\n"
	c, srv := dialScript(t, greeting+ehlo("PIPELINING", "SIZE 150")+`
		C: MAIL FROM:<a@example.com> SIZE=102
		C: RCPT TO:<b@example.com>
		C: DATA
		S: 250 Ok
		S: 250 Ok
		S: 354 go
		C: <data>
		S: 250 Ok
	`)
	env := &Envelope{From: "a@example.com", To: []string{"b@example.com"}}
	if _, err := c.Send(bg, env, strings.NewReader(msg)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	// Too large for the server's SIZE: refused here, nothing sent.
	for _, big := range []io.Reader{strings.NewReader(msg + msg), bytes.NewReader([]byte(msg + msg)), bytes.NewBufferString(msg + msg)} {
		_, err := c.Send(bg, env, big)
		if !errors.Is(err, ErrMessageTooLarge) || !strings.Contains(err.Error(), "204 bytes, and the server's limit is 150 bytes") {
			t.Errorf("Send of 204 bytes = %v, want a SIZE error", err)
		}
	}
	finish(t, c, srv)
}

func TestSendEightBit(t *testing.T) {
	t.Parallel()
	env := &Envelope{From: "a@example.com", To: []string{"b@example.com"}}
	t.Run("offered", func(t *testing.T) {
		c, srv := dialScript(t, greeting+ehlo("8BITMIME")+`
			C: MAIL FROM:<a@example.com> BODY=8BITMIME
			S: 250 Ok
			C: RCPT TO:<b@example.com>
			S: 250 Ok
			C: DATA
			S: 354 go
			C: <data>
			S: 250 Ok
			C: MAIL FROM:<a@example.com>
			S: 250 Ok
			C: RCPT TO:<b@example.com>
			S: 250 Ok
			C: DATA
			S: 354 go
			C: <data>
			S: 250 Ok
		`)
		if _, err := c.Send(bg, env, strings.NewReader("caf\xc3\xa9\r\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Send(bg, env, strings.NewReader("cafe\r\n")); err != nil {
			t.Fatal(err)
		}
		finish(t, c, srv)
	})
	t.Run("not offered", func(t *testing.T) {
		c, srv := dialScript(t, greeting+ehlo("PIPELINING"))
		_, err := c.Send(bg, env, strings.NewReader("caf\xc3\xa9\r\n"))
		if err == nil || !strings.Contains(err.Error(), "8BITMIME") {
			t.Errorf("Send = %v, want an 8BITMIME error", err)
		}
		finish(t, c, srv)
	})
	t.Run("not offered, unknown reader", func(t *testing.T) {
		c, srv := dialScript(t, greeting+ehlo("PIPELINING")+`
			C: MAIL FROM:<a@example.com>
			C: RCPT TO:<b@example.com>
			C: DATA
			S: 250 Ok
			S: 250 Ok
			S: 354 go
			hang
		`)
		_, err := c.Send(bg, env, io.MultiReader(strings.NewReader("caf\xc3\xa9\r\n")))
		if err == nil || !strings.Contains(err.Error(), "8BITMIME") {
			t.Errorf("Send = %v, want an 8BITMIME error", err)
		}
		res := finish(t, c, srv)
		if bytes.Contains(res.Received, []byte{0xc3}) {
			t.Error("8-bit bytes reached a 7-bit server")
		}
	})
}

func TestLowLevelTransaction(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("DSN", "SIZE 1000")+`
		C: MAIL FROM:<a@example.com> SIZE=5 RET=HDRS ENVID=QQ+2B1+3D2
		S: 250 Ok
		C: RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx@example.com
		S: 250 Ok
		C: DATA
		S: 354 go
		C: <data>
		S: 250 2.0.0 queued as Z
	`)
	if err := c.Mail(bg, "a@example.com", &MailOptions{Size: 5, Return: "HDRS", EnvelopeID: "QQ+1=2"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(bg, "b@example.com", &RcptOptions{Notify: []DSNNotify{"SUCCESS", "FAILURE"}, OriginalRecipient: "b+x@example.com"}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data(bg)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, ".a\n")
	io.WriteString(w, "b")
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	res := finish(t, c, srv)
	if got := string(res.Data[0]); got != "..a\r\nb\r\n.\r\n" {
		t.Errorf("data = %q", got)
	}
}

func TestParametersNeedTheirExtension(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING"))
	for _, o := range []*MailOptions{{Body: "8BITMIME"}, {UTF8: true}, {Return: "FULL"}, {EnvelopeID: "x"}, {Body: "BINARYMIME"}, {Body: "9BIT"}} {
		if err := c.Mail(bg, "a@example.com", o); err == nil {
			t.Errorf("Mail with %+v succeeded on a server without the extension", o)
		}
	}
	for _, o := range []*RcptOptions{{Notify: []DSNNotify{"SUCCESS"}}, {OriginalRecipient: "x@example.com"}} {
		if err := c.Rcpt(bg, "b@example.com", o); err == nil {
			t.Errorf("Rcpt with %+v succeeded on a server without DSN", o)
		}
	}
	if _, err := c.Send(bg, &Envelope{From: "andré@example.com", To: []string{"b@example.com"}}, strings.NewReader("x")); err == nil {
		t.Error("Send from a non-ASCII address succeeded without SMTPUTF8")
	}
	res := finish(t, c, srv)
	if bytes.Contains(res.Received, []byte("MAIL")) || bytes.Contains(res.Received, []byte("RCPT")) {
		t.Errorf("a refused command reached the wire: %q", res.Received)
	}
}

// Every 2xx to the end of data is the message taken (RFC 5321 section
// 4.2.1), with DATA and with BDAT: a caller that retried a "failure" here
// would send it twice.
func TestEveryPositiveEndOfDataIsSuccess(t *testing.T) {
	t.Parallel()
	for _, ext := range []string{"8BITMIME", "CHUNKING"} {
		t.Run(ext, func(t *testing.T) {
			t.Parallel()
			script := greeting + ehlo("PIPELINING", ext) + txnToData + `
				S: 251 2.1.5 User not local; will forward
			`
			if ext == "CHUNKING" {
				script = greeting + ehlo("PIPELINING", ext) + `
				C: MAIL FROM:<alice@example.com>
				C: RCPT TO:<bob@example.com>
				C: BDAT 3 LAST
				C: <chunk 3>
				S: 250 Ok
				S: 250 Ok
				S: 251 2.1.5 User not local; will forward
			`
			}
			c, srv := dialScript(t, script)
			r, err := c.Send(bg, realEnv, strings.NewReader("x\r\n"))
			if err != nil || r.Reply.Code != 251 {
				t.Fatalf("Send = %+v, %v; want success with the 251", r, err)
			}
			finish(t, c, srv)
		})
	}
}

// SIZE= declares the content as it goes on the wire: every bare LF and CR
// becomes CRLF (RFC 1870 counts CRLF pairs; not the dots of
// dot-stuffing), so a server's limit is checked against what it reads.
func TestSendSizeCountsWireLineEndings(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING", "SIZE 1000")+`
		C: MAIL FROM:<alice@example.com> SIZE=16
		C: RCPT TO:<bob@example.com>
		C: DATA
		S: 250 Ok
		S: 250 Ok
		S: 354 go
		C: <data>
		S: 250 Ok
	`)
	if _, err := c.Send(bg, realEnv, strings.NewReader("a\nb\r.c\nlast")); err != nil { // 11 bytes, 16 with CRLFs
		t.Fatal(err)
	}
	res := finish(t, c, srv)
	if got := string(res.Data[0]); got != "a\r\nb\r\n..c\r\nlast\r\n.\r\n" {
		t.Errorf("data = %q", got)
	}
}

// ORCPT of an address that is not ASCII is of the utf-8 type (RFC 6533):
// escaped for a server without SMTPUTF8, as it is in a SMTPUTF8
// transaction; an ASCII address stays rfc822 in xtext.
func TestORCPTOfInternationalAddress(t *testing.T) {
	t.Parallel()
	if got := string(appendORCPT(nil, "bob+1=x@example.com", false)); got != " ORCPT=rfc822;bob+2B1+3Dx@example.com" {
		t.Errorf("ASCII ORCPT = %q", got)
	}
	if got := string(appendORCPT(nil, "jöe+\\ \x01@bücher.例", false)); got != ` ORCPT=utf-8;j\x{F6}e\x{2B}\x{5C}\x{20}\x{01}@b\x{FC}cher.\x{4F8B}` {
		t.Errorf("utf-8-addr-xtext ORCPT = %q", got)
	}
	if got := string(appendORCPT(nil, "jöe+@bücher.例", true)); got != ` ORCPT=utf-8;jöe\x{2B}@bücher.例` {
		t.Errorf("utf-8-addr-unitext ORCPT = %q", got)
	}
	c, srv := dialScript(t, greeting+ehlo("PIPELINING", "DSN")+`
		C: MAIL FROM:<alice@example.com>
		C: RCPT TO:<bob@xn--bcher-kva.example> ORCPT=utf-8;bob@b\x{FC}cher.example
		C: DATA
		S: 250 Ok
		S: 250 Ok
		S: 354 go
		C: <data>
		S: 250 Ok
	`)
	env := &Envelope{From: "alice@example.com", To: []string{"bob@bücher.example"},
		RcptOptions: map[string]*RcptOptions{"bob@bücher.example": {OriginalRecipient: "bob@bücher.example"}}}
	if _, err := c.Send(bg, env, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	finish(t, c, srv)
}

// Mail and Rcpt follow Send's rules for addresses that are not ASCII:
// SMTPUTF8 when the server offers it, the domain in A-labels otherwise,
// and a refusal for a local part that needs SMTPUTF8; never raw UTF-8 to
// a server that did not ask for it.
func TestLowLevelInternationalAddresses(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING")+`
		C: MAIL FROM:<alice@xn--exmple-cua.com>
		S: 250 Ok
		C: RCPT TO:<bob@xn--mnchen-3ya.example>
		S: 250 Ok
		C: RSET
		S: 250 Ok
	`)
	if err := c.Mail(bg, "andré@example.com", nil); err == nil {
		t.Error("Mail with a non-ASCII local part to a server without SMTPUTF8 succeeded")
	}
	if err := c.Mail(bg, "alice@exämple.com", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(bg, "ü@example.com", nil); err == nil {
		t.Error("Rcpt with a non-ASCII local part succeeded")
	}
	if err := c.Rcpt(bg, "bob@münchen.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(bg); err != nil {
		t.Fatal(err)
	}
	finish(t, c, srv)

	c, srv = dialScript(t, greeting+ehlo("PIPELINING", "SMTPUTF8")+`
		C: MAIL FROM:<alice@example.com>
		S: 250 Ok
		C: RCPT TO:<bob@xn--mnchen-3ya.example>
		S: 250 Ok
		C: MAIL FROM:<andré@example.com> SMTPUTF8
		S: 250 Ok
		C: RCPT TO:<ü@münchen.example>
		S: 250 Ok
	`)
	if err := c.Mail(bg, "alice@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(bg, "ü@example.com", nil); err == nil || !strings.Contains(err.Error(), "without SMTPUTF8") {
		t.Errorf("Rcpt of a UTF-8 local part after MAIL without SMTPUTF8 = %v", err)
	}
	if err := c.Rcpt(bg, "bob@münchen.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(bg, "andré@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(bg, "ü@münchen.example", nil); err != nil {
		t.Fatal(err)
	}
	finish(t, c, srv)
}
