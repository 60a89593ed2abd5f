package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mailwire/smtp/smtptest"
)

func TestBDATOneWrite(t *testing.T) {
	t.Parallel()
	body := "Subject: hi\n\nbare LF\n.leading dot\n" // 34 bytes; 38 once CRLF
	c, srv := dialScript(t, greeting+ehlo("PIPELINING", "CHUNKING", "SIZE 1000")+`
		C: MAIL FROM:<a@example.com> SIZE=38
		C: RCPT TO:<b@example.com>
		C: RCPT TO:<c@example.com>
		C: BDAT 38 LAST
		C: <chunk 38>
		S: 250 2.1.0 Ok
		S: 250 2.1.5 Ok
		S: 550 5.1.1 no
		S: 250 2.0.0 Ok: queued as B1
	`)
	r, err := c.Send(bg, &Envelope{From: "a@example.com", To: []string{"b@example.com", "c@example.com"}}, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r.Reply.Message != "Ok: queued as B1" || len(r.Accepted) != 1 || len(r.Rejected) != 1 {
		t.Errorf("Receipt = %+v", r)
	}
	res := finish(t, c, srv)
	if got, want := string(res.Data[0]), "Subject: hi\r\n\r\nbare LF\r\n.leading dot\r\n"; got != want {
		t.Errorf("BDAT content = %q, want %q (CRLF, no dot-stuffing)", got, want)
	}
	// The whole transaction, content included, in one read.
	var whole bool
	for _, rd := range res.Reads {
		whole = whole || bytes.HasPrefix(rd, []byte("MAIL FROM:")) && bytes.HasSuffix(rd, []byte(".leading dot\r\n"))
	}
	if !whole {
		t.Errorf("the transaction came in several reads: %q", res.Reads)
	}
}

func TestBDATAllRejected(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING", "CHUNKING")+`
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<b@example.com>
		C: BDAT 3 LAST
		C: <chunk 3>
		S: 250 Ok
		S: 550 5.1.1 no
		S: 554 5.5.1 Error: no valid recipients
		C: RSET
		S: 250 Ok
		C: NOOP
		S: 250 Ok
	`)
	_, err := c.Send(bg, &Envelope{From: "a@example.com", To: []string{"b@example.com"}}, strings.NewReader("x\r\n"))
	var re *RecipientsError
	if !errors.As(err, &re) {
		t.Fatalf("Send = %v, want *RecipientsError", err)
	}
	if err := c.Noop(bg); err != nil {
		t.Errorf("the connection is not usable after: %v", err)
	}
	finish(t, c, srv)
}

func TestBDATLostAfterTheTransactionIsUnknown(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING", "CHUNKING")+`
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<b@example.com>
		C: BDAT 3 LAST
		C: <chunk 3>
		S: 250 Ok
		close
	`)
	_, err := c.Send(bg, &Envelope{From: "a@example.com", To: []string{"b@example.com"}}, strings.NewReader("x\r\n"))
	if !errors.Is(err, ErrDeliveryUnknown) {
		t.Errorf("Send = %v, want ErrDeliveryUnknown", err)
	}
	finish(t, c, srv)
}

func TestBDATStreamsUnknownSize(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("y", 2*chunkSize) + "\r\ntail\r\n" // two full chunks and 8 bytes
	script := greeting + ehlo("PIPELINING", "CHUNKING") + fmt.Sprintf(`
		C: MAIL FROM:<a@example.com> BODY=8BITMIME
		C: RCPT TO:<b@example.com>
		C: BDAT %d
		C: <chunk %d>
		S: 250 Ok
		S: 250 Ok
		C: BDAT %d
		C: <chunk %d>
		C: BDAT 8 LAST
		C: <chunk 8>
		S: 250 2.0.0 chunk 1
		S: 250 2.0.0 chunk 2
		S: 250 2.0.0 Ok: queued as S1
	`, chunkSize, chunkSize, chunkSize, chunkSize)
	script = strings.Replace(script, " BODY=8BITMIME", "", 1) // no 8BITMIME offered: 7-bit
	c, srv := dialScript(t, script)
	r, err := c.Send(bg, &Envelope{From: "a@example.com", To: []string{"b@example.com"}}, io.MultiReader(strings.NewReader(body)))
	if err != nil {
		finish(t, c, srv)
		t.Fatalf("Send: %v", err)
	}
	if r.Reply.Message != "Ok: queued as S1" {
		t.Errorf("Reply = %+v", r.Reply)
	}
	res := finish(t, c, srv)
	if got := string(bytes.Join(res.Data, nil)); got != body {
		t.Errorf("the chunks hold %d bytes, want the %d of the message", len(got), len(body))
	}
}

func TestBDATChunkRefused(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("y", chunkSize+10)
	c, srv := dialScript(t, greeting+ehlo("PIPELINING", "CHUNKING")+fmt.Sprintf(`
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<b@example.com>
		C: BDAT %d
		C: <chunk %d>
		S: 250 Ok
		S: 250 Ok
		C: BDAT 12 LAST
		C: <chunk 12>
		S: 552 5.3.4 Message too big for system
		S: 503 5.5.1 Error: no transaction
		C: RSET
		S: 250 Ok
	`, chunkSize, chunkSize))
	_, err := c.Send(bg, &Envelope{From: "a@example.com", To: []string{"b@example.com"}}, io.MultiReader(strings.NewReader(big)))
	var e *Error
	if !errors.As(err, &e) || e.Code != 552 {
		t.Errorf("Send = %v, want the 552", err)
	}
	finish(t, c, srv)
}

func TestBDATWithoutPipelining(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("CHUNKING")+`
		C: MAIL FROM:<a@example.com>
		S: 250 Ok
		C: RCPT TO:<b@example.com>
		S: 250 Ok
		C: BDAT 3 LAST
		C: <chunk 3>
		S: 250 Ok: queued
	`)
	if _, err := c.Send(bg, &Envelope{From: "a@example.com", To: []string{"b@example.com"}}, strings.NewReader("x\r\n")); err != nil {
		t.Errorf("Send: %v", err)
	}
	finish(t, c, srv)
}

func TestBinaryMIME(t *testing.T) {
	t.Parallel()
	body := "Content-Type: application/octet-stream\r\n\r\n\x00\x01\n\r\xff"
	c, srv := dialScript(t, greeting+ehlo("PIPELINING", "CHUNKING", "BINARYMIME", "8BITMIME")+fmt.Sprintf(`
		C: MAIL FROM:<a@example.com> BODY=BINARYMIME
		C: RCPT TO:<b@example.com>
		C: BDAT %d LAST
		C: <chunk %d>
		S: 250 Ok
		S: 250 Ok
		S: 250 Ok
	`, len(body), len(body)))
	env := &Envelope{From: "a@example.com", To: []string{"b@example.com"}, MailOptions: &MailOptions{Body: "BINARYMIME"}}
	if _, err := c.Send(bg, env, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if res := finish(t, c, srv); string(res.Data[0]) != body {
		t.Errorf("binary content changed: %q", res.Data[0])
	}
	// Without BINARYMIME offered: refused before anything is sent.
	c2, srv2 := dialScript(t, greeting+ehlo("PIPELINING", "CHUNKING"))
	if _, err := c2.Send(bg, env, strings.NewReader(body)); err == nil || !strings.Contains(err.Error(), "BINARYMIME") {
		t.Errorf("Send = %v, want a BINARYMIME error", err)
	}
	finish(t, c2, srv2)
}

func TestDSNFromTheEnvelope(t *testing.T) {
	t.Parallel()
	env := &Envelope{
		From:        "a@example.com",
		To:          []string{"b@example.com", "c@example.com"},
		MailOptions: &MailOptions{Return: "HDRS", EnvelopeID: "id+1=x y"},
		RcptOptions: map[string]*RcptOptions{"b@example.com": {Notify: []DSNNotify{"FAILURE", "DELAY"}, OriginalRecipient: "b@example.com"}},
	}
	c, srv := dialScript(t, greeting+ehlo("PIPELINING", "DSN")+`
		C: MAIL FROM:<a@example.com> RET=HDRS ENVID=id+2B1+3Dx+20y
		C: RCPT TO:<b@example.com> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b@example.com
		C: RCPT TO:<c@example.com>
		C: DATA
		S: 250 Ok
		S: 250 Ok
		S: 250 Ok
		S: 354 go
		C: <data>
		S: 250 Ok
	`)
	if _, err := c.Send(bg, env, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	finish(t, c, srv)

	// A server without DSN: an error, unless the caller said DSN is optional.
	c2, srv2 := dialScript(t, greeting+ehlo("PIPELINING")+`
		C: MAIL FROM:<a@example.com>
		C: RCPT TO:<b@example.com>
		C: RCPT TO:<c@example.com>
		C: DATA
		S: 250 Ok
		S: 250 Ok
		S: 250 Ok
		S: 354 go
		C: <data>
		S: 250 Ok
	`)
	if _, err := c2.Send(bg, env, strings.NewReader("x\r\n")); err == nil || !strings.Contains(err.Error(), "DSN") {
		t.Errorf("Send without DSN offered = %v, want a DSN error", err)
	}
	optional := *env
	optional.MailOptions = &MailOptions{Return: "HDRS", EnvelopeID: "id", OptionalDSN: true}
	if _, err := c2.Send(bg, &optional, io.MultiReader(strings.NewReader("x\r\n"))); err != nil {
		t.Errorf("Send with OptionalDSN: %v", err)
	}
	finish(t, c2, srv2)
}

func TestRequireTLS(t *testing.T) {
	t.Parallel()
	env := &Envelope{From: "a@example.com", To: []string{"b@example.com"}, MailOptions: &MailOptions{RequireTLS: true}}
	// Over plaintext: refused before MAIL, even when offered.
	c, srv := dialScript(t, greeting+ehlo("PIPELINING", "REQUIRETLS"))
	if _, err := c.Send(bg, env, strings.NewReader("x\r\n")); err == nil || !strings.Contains(err.Error(), "REQUIRETLS") {
		t.Errorf("Send = %v, want a REQUIRETLS error", err)
	}
	finish(t, c, srv)
	// Over TLS and offered: the parameter is sent.
	tlsSrv := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	c2, err := Dial(bg, tlsSrv.Addr(), realOpts(tlsSrv, StartTLS))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Send(bg, env, strings.NewReader("x\r\n")); err != nil {
		t.Fatalf("Send over TLS: %v", err)
	}
	if m := tlsSrv.Messages(); len(m) != 1 || !m[0].MailOptions.RequireTLS {
		t.Errorf("the server did not get REQUIRETLS: %+v", m)
	}
}

func TestSMTPUTF8AndIDNA(t *testing.T) {
	t.Parallel()
	t.Run("SMTPUTF8 offered", func(t *testing.T) {
		c, srv := dialScript(t, greeting+ehlo("PIPELINING", "SMTPUTF8")+`
			C: MAIL FROM:<andré@exämple.com> SMTPUTF8
			C: RCPT TO:<bob@münchen.example>
			C: DATA
			S: 250 Ok
			S: 250 Ok
			S: 354 go
			C: <data>
			S: 250 Ok
		`)
		r, err := c.Send(bg, &Envelope{From: "andré@exämple.com", To: []string{"bob@münchen.example"}}, strings.NewReader("x\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Accepted[0] != "bob@münchen.example" {
			t.Errorf("Accepted = %v", r.Accepted)
		}
		finish(t, c, srv)
	})
	t.Run("no SMTPUTF8: domains to A-labels", func(t *testing.T) {
		c, srv := dialScript(t, greeting+ehlo("PIPELINING")+`
			C: MAIL FROM:<alice@xn--exmple-cua.com>
			C: RCPT TO:<bob@xn--mnchen-3ya.example>
			C: DATA
			S: 250 Ok
			S: 250 Ok
			S: 354 go
			C: <data>
			S: 250 Ok
		`)
		r, err := c.Send(bg, &Envelope{From: "alice@exämple.com", To: []string{"bob@münchen.example"}}, io.MultiReader(strings.NewReader("x\r\n")))
		if err != nil {
			t.Fatal(err)
		}
		if r.Accepted[0] != "bob@münchen.example" {
			t.Errorf("Accepted = %v, want the address as given", r.Accepted)
		}
		finish(t, c, srv)
	})
	t.Run("no SMTPUTF8: non-ASCII local part refused", func(t *testing.T) {
		c, srv := dialScript(t, greeting+ehlo("PIPELINING"))
		for _, env := range []*Envelope{
			{From: "andré@example.com", To: []string{"b@example.com"}},
			{From: "a@example.com", To: []string{"b@exa\u00admple.com", "ü@example.com"}},
			{From: "a@example.com", To: []string{"b@xn--a.ü"}},
		} {
			if _, err := c.Send(bg, env, strings.NewReader("x\r\n")); err == nil {
				t.Errorf("Send(%v) succeeded", env.To)
			}
		}
		finish(t, c, srv)
	})
	t.Run("EHLO name and TLS server name", func(t *testing.T) {
		srv := newServer(t, nil)
		c, err := Dial(bg, srv.Addr(), &Options{Security: Plaintext, LocalName: "bücher.example"})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if cmds := srv.Commands(); len(cmds) == 0 || cmds[0].Args != "xn--bcher-kva.example" {
			t.Errorf("EHLO = %v, want the A-label name", cmds)
		}
		d := &portDialer{target: srv.Addr()}
		_, err = Dial(bg, "smtp.bücher.example:25", &Options{Security: Plaintext, Dialer: d})
		if err != nil || len(d.dialed) != 1 || d.dialed[0] != "smtp.xn--bcher-kva.example:25" {
			t.Errorf("dialled %v (%v), want the A-label host", d.dialed, err)
		}
	})
}

// BenchmarkRoundTrips sends messages to 10 recipients through a 10 ms
// one-way latency proxy and reports round trips per message: about 1 with
// CHUNKING (MAIL, RCPTs, BDAT LAST and the content in one flight), about 2
// with DATA (the envelope, then the content after 354).
func BenchmarkRoundTrips(b *testing.B) {
	const oneWay = 10 * time.Millisecond
	to := make([]string, 10)
	for i := range to {
		to[i] = fmt.Sprintf("r%d@example.com", i)
	}
	for _, chunking := range []bool{true, false} {
		b.Run(fmt.Sprintf("chunking=%v", chunking), func(b *testing.B) {
			srv := smtptest.NewServer(&smtptest.Config{DisableChunking: !chunking})
			defer srv.Close()
			proxy := newLatencyProxy(b, srv.Addr(), oneWay)
			c, err := Dial(bg, proxy.Addr(), &Options{Security: Plaintext})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				if _, err := c.Send(bg, &Envelope{From: "a@example.com", To: to}, strings.NewReader("Subject: x\r\n\r\nhi\r\n")); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(time.Since(start).Seconds()/float64(b.N)/(2*oneWay).Seconds(), "RTT/msg")
		})
	}
}

// 8-bit content of unknown size for a server without 8BITMIME is refused
// on the BDAT path as on the DATA path: the connection closes before the
// chunk that holds it is written, and nothing is delivered.
func TestBDATRefusesEightBitWithout8BITMIME(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING", "CHUNKING"))
	msg := io.MultiReader(strings.NewReader("Subject: x\r\n\r\ncaf\xc3\xa9\r\n"))
	_, err := c.Send(bg, realEnv, msg)
	if err == nil || !strings.Contains(err.Error(), "8BITMIME") {
		t.Fatalf("Send = %v, want the 8-bit refusal", err)
	}
	res := finish(t, c, srv)
	if strings.Contains(string(res.Received), "\xc3\xa9") || strings.Contains(string(res.Received), "BDAT") {
		t.Errorf("the 8-bit content went out: %q", res.Received)
	}
}

// growingMessage is a message whose look-ahead view (ReadAt, Size, Len)
// is older than what Read returns: a file appended to after its size was
// taken, wrapped in a type that tells its size, or a buffer changed by
// another goroutine.
type growingMessage struct {
	then []byte        // what ReadAt, Size and Len see
	now  *bytes.Reader // what Read returns
}

func (g *growingMessage) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(g.then).ReadAt(p, off)
}
func (g *growingMessage) Size() int64                { return int64(len(g.then)) }
func (g *growingMessage) Len() int                   { return len(g.then) }
func (g *growingMessage) Read(p []byte) (int, error) { return g.now.Read(p) }

// TestBDATSizeMismatchCannotSmuggle: with CHUNKING, a message of known size
// goes as "BDAT n LAST" and its content, n measured ahead by reading the
// message through ReadAt. When what Read returns then is longer (the
// message grew), the client writes all of it and only then finds that it
// sent more than n bytes: it closes the connection and says "nothing was
// delivered", but the bytes after the n-th have gone out (all but the last
// bufio buffer), and the server reads them as commands. A message holding
// "\r\nRSET\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.com>\r\nBDAT 5 LAST\r\nowned"
// past the announced size makes the server deliver a second, smuggled
// message, the very thing dot-stuffing prevents for DATA. The client must
// never write more content than it announced: stop at n bytes and fail.
//
// Cause, before the fix: chunkWhole (chunking.go) streams the whole reader
// through writeChunkContent and compares the count with p.size only at the
// end.
func TestBDATSizeMismatchCannotSmuggle(t *testing.T) {
	t.Parallel()
	conn := newMemConn([]byte("220 bug.test ESMTP\r\n250-bug.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n"))
	c, err := NewClient(context.Background(), conn, &Options{Security: Plaintext, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	then := "Subject: hello\r\n\r\nhello\r\n"
	now := then + strings.Repeat("x", 8000) + "\r\nRSET\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.com>\r\nBDAT 5 LAST\r\nowned" + strings.Repeat("y", 9000) + "\r\n"
	_, err = c.Send(context.Background(), realEnv, &growingMessage{then: []byte(then), now: bytes.NewReader([]byte(now))})
	if err == nil {
		t.Error("Send: no error for a message that changed while it was sent")
	}
	t.Logf("Send: %v", err)
	wire := conn.written()
	i := bytes.Index(wire, []byte("BDAT "))
	if i < 0 {
		return // refused before BDAT: nothing to smuggle
	}
	line, content, _ := bytes.Cut(wire[i:], []byte("\r\n"))
	var n int
	fmt.Sscanf(string(line), "BDAT %d LAST", &n)
	if len(content) > n {
		t.Errorf("%q announced %d bytes, and %d followed it (%v); the server reads the rest as commands: %q…",
			line, n, len(content), err, content[n:min(len(content), n+40)])
	}
	if bytes.Contains(wire, []byte("MAIL FROM:<evil@example.net>")) {
		t.Error("the smuggled MAIL FROM:<evil@example.net> went on the wire")
	}
}

// TestBDATSizeMismatchCannotSmuggleToRealServer is TestBDATSizeMismatchCannotSmuggle
// end to end against smtptest (go-smtp): Send fails with "the message
// changed while it was sent … (connection closed: nothing was delivered)",
// yet the server delivered the announced bytes as a (truncated) message,
// and a second message, from evil@example.net, made of bytes past them.
func TestBDATSizeMismatchCannotSmuggleToRealServer(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil) // PIPELINING and CHUNKING
	c, err := Dial(context.Background(), srv.Addr(), &Options{Security: Plaintext, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	then := "Subject: hi\r\n\r\nhi\r\n"
	// Three lines of garbage (go-smtp closes at the fourth bad command),
	// the smuggled transaction, and enough after it that the bytes before
	// go out of the client's 4 KiB buffer.
	garbage := strings.Repeat("x", 1900) + "\r\n"
	now := then + garbage + garbage + garbage +
		"RSET\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.com>\r\nBDAT 7 LAST\r\nowned\r\n" +
		strings.Repeat(strings.Repeat("y", 70)+"\r\n", 80)
	_, err = c.Send(context.Background(), realEnv, &growingMessage{then: []byte(then), now: bytes.NewReader([]byte(now))})
	if err == nil {
		t.Error("Send: no error for a message that changed while it was sent")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	msgs, _ := srv.WaitMessages(ctx, 2)
	for _, m := range msgs {
		if m.From == "evil@example.net" {
			t.Errorf("the server delivered a smuggled message from %s to %v: %q", m.From, m.To, m.Raw)
		} else if err != nil && strings.Contains(err.Error(), "nothing was delivered") {
			t.Errorf("Send said %q, and the server delivered %q", err, m.Raw)
		}
	}
}
