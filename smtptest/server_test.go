package smtptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

func TestMessageRecorded(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)

	c, err := gosmtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	mo := &gosmtp.MailOptions{Body: gosmtp.Body8BitMIME, Size: 120, Return: gosmtp.DSNReturnHeaders, EnvelopeID: "env-1"}
	if err := c.Mail("bob@example.com", mo); err != nil {
		t.Fatal(err)
	}
	ro := &gosmtp.RcptOptions{Notify: []gosmtp.DSNNotify{gosmtp.DSNNotifyFailure}, OriginalRecipientType: gosmtp.DSNAddressTypeRFC822, OriginalRecipient: "ann@example.org"}
	if err := c.Rcpt("ann@example.org", ro); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("cy@example.org", nil); err != nil {
		t.Fatal(err)
	}
	wc, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	content := "From: Bob <bob@example.com>\r\nTo: ann@example.org\r\nSubject: =?utf-8?q?H=C3=A9llo?=\r\n\r\n.leading dot\r\nbody\r\n"
	fmt.Fprint(wc, content)
	resp, err := wc.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(resp.StatusText, "OK: queued as Q0001") {
		t.Errorf("DATA reply %q, want the queue id", resp.StatusText)
	}
	if err := c.Quit(); err != nil {
		t.Errorf("QUIT: %v", err)
	}

	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.ID != "Q0001" || m.ConnID != 1 || m.Helo != "client.example" || m.TLS || m.AuthUser != "" || m.Chunked {
		t.Errorf("ID %q ConnID %d Helo %q TLS %v AuthUser %q Chunked %v", m.ID, m.ConnID, m.Helo, m.TLS, m.AuthUser, m.Chunked)
	}
	if m.From != "bob@example.com" || strings.Join(m.To, ",") != "ann@example.org,cy@example.org" {
		t.Errorf("envelope %q -> %q", m.From, m.To)
	}
	o := m.MailOptions
	if o.Body != gosmtp.Body8BitMIME || o.Size != 120 || o.Return != gosmtp.DSNReturnHeaders || o.EnvelopeID != "env-1" || o.Auth != nil {
		t.Errorf("MailOptions %+v", o)
	}
	if len(m.RcptOptions) != 2 || len(m.RcptOptions[0].Notify) != 1 || m.RcptOptions[0].Notify[0] != gosmtp.DSNNotifyFailure ||
		m.RcptOptions[0].OriginalRecipient != "ann@example.org" || m.RcptOptions[1].Notify != nil {
		t.Errorf("RcptOptions %+v", m.RcptOptions)
	}
	if string(m.Raw) != content {
		t.Errorf("Raw %q, want %q", m.Raw, content)
	}
	if m.HeaderErr != nil {
		t.Errorf("HeaderErr %v", m.HeaderErr)
	}
	if subj, err := m.Header.Subject(); err != nil || subj != "Héllo" {
		t.Errorf("Subject %q, %v", subj, err)
	}
	if from, err := m.Header.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Bob" {
		t.Errorf("From %v, %v", from, err)
	}
	e, err := m.Entity()
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, e.Body); body != ".leading dot\r\nbody\r\n" {
		t.Errorf("body %q", body)
	}
	if s.Connections() != 1 {
		t.Errorf("Connections() = %d", s.Connections())
	}
	var verbs []string
	for _, cmd := range s.Commands() {
		verbs = append(verbs, cmd.Verb)
	}
	if got := strings.Join(verbs, " "); got != "EHLO MAIL RCPT RCPT DATA QUIT" {
		t.Errorf("commands %q", got)
	}
}

func TestPipeliningAndChunking(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	c, _ := dialRaw(t, s)
	c.expect("EHLO me", 250)
	// One write: the envelope, two BDAT chunks (the first holding what
	// would end DATA), and the next transaction's RSET.
	chunk1 := "Subject: chunks\r\n\r\nline\r\n.\r\n"
	chunk2 := "end\r\n"
	c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n" +
		fmt.Sprintf("BDAT %d\r\n%s", len(chunk1), chunk1) +
		fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk2), chunk2) + "RSET\r\n")
	for i, want := range []int{250, 250, 250, 250, 250} {
		if r := c.read(); r.code != want {
			t.Fatalf("reply %d: %d %q, want %d", i, r.code, r.text, want)
		} else if i == 3 && r.text != "2.0.0 OK: queued as Q0001" {
			t.Errorf("BDAT LAST reply %q", r.text)
		}
	}
	msgs := s.Messages()
	if len(msgs) != 1 || string(msgs[0].Raw) != chunk1+chunk2 || !msgs[0].Chunked {
		t.Fatalf("messages %+v", msgs)
	}

	// Pipelined DATA transaction; the content's dots are unstuffed.
	c.send("MAIL FROM:<>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
	for i, want := range []int{250, 250, 354} {
		if r := c.read(); r.code != want {
			t.Fatalf("reply %d: %d %q, want %d", i, r.code, r.text, want)
		}
	}
	c.send("Subject: dots\r\n\r\n..\r\n...x\r\n.\r\nNOOP\r\n")
	if r := c.read(); r.code != 250 {
		t.Fatalf("end of data: %d %q", r.code, r.text)
	}
	if r := c.read(); r.code != 250 || !strings.Contains(r.text, "nothing") {
		t.Fatalf("NOOP after data: %d %q", r.code, r.text)
	}
	msgs = s.Messages()
	if len(msgs) != 2 || msgs[1].From != "" || string(msgs[1].Raw) != "Subject: dots\r\n\r\n.\r\n..x\r\n" || msgs[1].Chunked {
		t.Fatalf("second message %+v %q", msgs[1], msgs[1].Raw)
	}
}

func TestWaitMessages(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	msgs, err := s.WaitMessages(ctx, 1)
	if !errors.Is(err, context.DeadlineExceeded) || len(msgs) != 0 {
		t.Fatalf("WaitMessages with no message: %v, %d messages", err, len(msgs))
	}
	if deadline, _ := ctx.Deadline(); time.Now().Before(deadline) {
		t.Errorf("returned %v before the deadline", time.Until(deadline))
	}

	go func() {
		c, err := gosmtp.Dial(s.Addr())
		if err != nil {
			return
		}
		defer c.Close()
		for i := range 2 {
			c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i)))
		}
		c.Quit()
	}()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	msgs, err = s.WaitMessages(ctx2, 2)
	if err != nil || len(msgs) < 2 {
		t.Fatalf("WaitMessages: %v, %d messages", err, len(msgs))
	}
	if msgs[0].Header.Get("Subject") != "0" || msgs[1].Header.Get("Subject") != "1" || msgs[1].ID != "Q0002" {
		t.Errorf("messages out of order: %q %q %q", msgs[0].Header.Get("Subject"), msgs[1].Header.Get("Subject"), msgs[1].ID)
	}
}

func TestProtocolEdges(t *testing.T) {
	t.Parallel()
	s := newServer(t, &Config{MaxMessageBytes: 100, MaxRecipients: 1})
	c, greeting := dialRaw(t, s)
	if greeting.code != 220 || !strings.HasPrefix(greeting.text, DefaultDomain+" ") {
		t.Fatalf("greeting %d %q", greeting.code, greeting.text)
	}
	// Before EHLO: no enhanced codes.
	if r := c.cmd("MAIL FROM:<a@example.com>"); r.code != 502 || strings.HasPrefix(r.text, "5.") {
		t.Errorf("MAIL before EHLO: %d %q", r.code, r.text)
	}
	ext := ehloKeywords(c.expect("EHLO me", 250))
	if ext["SIZE"] != "100" || ext["LIMITS"] != "RCPTMAX=1" {
		t.Errorf("EHLO extensions %v", ext)
	}
	if r := c.cmd("MAIL FROM:<a@example.com> SIZE=101"); r.code != 552 || r.text != "5.3.4 Max message size exceeded" {
		t.Errorf("SIZE over: %d %q", r.code, r.text)
	}
	c.expect("MAIL FROM:<a@example.com>", 250)
	c.expect("RCPT TO:<b@example.com>", 250)
	if r := c.cmd("RCPT TO:<c@example.com>"); r.code != 452 {
		t.Errorf("second RCPT over MaxRecipients: %d %q", r.code, r.text)
	}
	c.expect("DATA", 354)
	c.send(strings.Repeat("x", 200) + "\r\n.\r\n")
	if r := c.read(); r.code != 552 {
		t.Errorf("content over MaxMessageBytes: %d %q", r.code, r.text)
	}
	// A bare LF ends a command line, as go-smtp reads lines.
	c.send("NOOP\n")
	if r := c.read(); r.code != 250 {
		t.Errorf("NOOP with bare LF: %d %q", r.code, r.text)
	}
	// After HELO, no enhanced codes either.
	if r := c.cmd("HELO me"); r.code != 250 || strings.HasPrefix(r.text, "2.") {
		t.Errorf("HELO: %d %q", r.code, r.text)
	}
	if len(s.Messages()) != 0 {
		t.Errorf("a too large message was recorded")
	}
}

// TestCloseLeavesNoGoroutines is not parallel: it counts goroutines.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()

	for _, mode := range []TLSMode{NoTLS, StartTLS, ImplicitTLS} {
		s := NewServer(&Config{TLS: mode, ReplyDelay: 10 * time.Millisecond})
		// A client left idle after EHLO, one in the middle of DATA, one in
		// the middle of BDAT, one that never speaks (not even TLS).
		idle, _ := dialAny(t, s)
		idle.expect("EHLO me", 250)
		inData, _ := dialAny(t, s)
		inData.expect("EHLO me", 250)
		inData.expect("MAIL FROM:<a@example.com>", 250)
		inData.expect("RCPT TO:<b@example.com>", 250)
		inData.expect("DATA", 354)
		inData.send("Subject: unfinished\r\n")
		inBDAT, _ := dialAny(t, s)
		inBDAT.expect("EHLO me", 250)
		inBDAT.expect("MAIL FROM:<a@example.com>", 250)
		inBDAT.expect("RCPT TO:<b@example.com>", 250)
		inBDAT.send("BDAT 3\r\nabc")
		if r := inBDAT.read(); r.code != 250 {
			t.Fatalf("BDAT: %d %q", r.code, r.text)
		}
		silent, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer silent.Close()
		time.Sleep(20 * time.Millisecond) // let the server reach its reads

		done := make(chan struct{})
		go func() { s.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%v: Close did not return", mode)
		}
		idle.waitClosed()
		inData.waitClosed()
		inBDAT.waitClosed()
		s.Close() // a second Close is harmless
	}

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dialAny connects as the server's TLS mode needs, ready for EHLO.
func dialAny(t *testing.T, s *Server) (*rawClient, reply) {
	t.Helper()
	if s.cfg.TLS == ImplicitTLS {
		return dialRawTLS(t, s)
	}
	return dialRaw(t, s)
}

func TestMagicRecipientsAndDelete(t *testing.T) {
	t.Parallel()
	s := newServer(t, &Config{MagicRecipients: true, ReadTimeout: 300 * time.Millisecond})
	c, _ := dialRaw(t, s)
	c.expect("EHLO x", 250)
	c.expect("MAIL FROM:<a@example.com>", 250)
	c.expect("RCPT TO:<bob+tempfail@example.com>", 451)
	c.expect("RCPT TO:<permfail@example.com>", 550)
	c.expect("RCPT TO:<bob@example.com>", 250)
	c.expect("DATA", 354)
	c.expect("Subject: x\r\n\r\nhi\r\n.", 250)
	if n := len(s.Messages()); n != 1 {
		t.Fatalf("%d messages", n)
	}
	s.DeleteMessages()
	c.expect("MAIL FROM:<a@example.com>", 250)
	c.expect("RCPT TO:<bob@example.com>", 250)
	c.expect("DATA", 354)
	c.expect("Subject: y\r\n\r\nhi\r\n.", 250)
	if msgs := s.Messages(); len(msgs) != 1 || msgs[0].ID != "Q0002" {
		t.Errorf("after DeleteMessages: %d messages, the first %q; want 1, Q0002", len(msgs), msgs[0].ID)
	}
	c.expect("MAIL FROM:<a@example.com>", 250)
	start := time.Now()
	c.expect("RCPT TO:<timeout@example.com>", 421)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("timeout@ answered after %v, want ReadTimeout", d)
	}
}

// Faults set at runtime: a step's error for so many times, a recipient's,
// a probabilistic one that draws the same from the same seed; cleared.
func TestRuntimeFaults(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	c, _ := dialRaw(t, s)
	c.expect("EHLO x", 250)
	if err := s.SetFault(Fault{Step: "mail", Reply: Reply{Code: 451, EnhancedCode: EnhancedCode{4, 7, 1}, Message: "slow down"}, Times: 2}); err != nil {
		t.Fatal(err)
	}
	c.expect("MAIL FROM:<a@example.com>", 451)
	c.expect("MAIL FROM:<a@example.com>", 451)
	c.expect("MAIL FROM:<a@example.com>", 250)
	if err := s.SetFault(Fault{Recipient: "Bob@Example.com", Reply: Reply{Code: 552, EnhancedCode: EnhancedCode{5, 2, 2}, Message: "full"}}); err != nil {
		t.Fatal(err)
	}
	c.expect("RCPT TO:<bob@example.com>", 552)
	c.expect("RCPT TO:<carol@example.com>", 250)
	c.expect("RSET", 250)
	draws := func() string {
		var out strings.Builder
		if err := s.SetFault(Fault{Step: "NOOP", Reply: Reply{Code: 421, Message: "bye"}, Probability: 0.5, Seed: 7}); err != nil {
			t.Fatal(err)
		}
		for range 12 {
			if _, ok := s.cfg.runtimeFault("NOOP"); ok {
				out.WriteByte('x')
			} else {
				out.WriteByte('.')
			}
		}
		return out.String()
	}
	first, second := draws(), draws()
	if first != second || !strings.Contains(first, "x") || !strings.Contains(first, ".") {
		t.Errorf("draws %q then %q: want the same mix from the same seed", first, second)
	}
	s.ClearFaults()
	c.expect("MAIL FROM:<a@example.com>", 250)
	c.expect("RCPT TO:<bob@example.com>", 250)
	for _, bad := range []Fault{{}, {Step: "MAIL"}, {Step: "MAIL", Reply: Reply{Code: 250}}, {Step: "MAIL", Reply: Reply{Code: 451}, Probability: 2},
		{Step: "MAIL", Delay: MaxFaultDelay + 1}, {Step: "MAIL", Drop: true, Rate: 3}, {Step: "MAIL", Drop: true, Per: time.Second},
		{Step: "MAIL", Drop: true, After: -1}, {Recipient: "a@b", Delay: -1}} {
		if s.SetFault(bad) == nil {
			t.Errorf("SetFault(%+v) accepted", bad)
		}
	}
}

// Transcript: the session of a connection, both sides, secrets hidden.
func TestTranscript(t *testing.T) {
	t.Parallel()
	s := newServer(t, &Config{TLS: NoTLS, AllowInsecureAuth: true, Users: map[string]string{"u": "pass-w0rd"}})
	c, _ := dialRaw(t, s)
	c.expect("EHLO x", 250)
	c.expect("AUTH PLAIN AHUAcGFzcy13MHJk", 235)
	c.expect("QUIT", 221)
	lines := strings.Join(s.Transcript(1), "\n")
	for _, want := range []string{"C: EHLO x", "S: 250-", "C: AUTH PLAIN ***", "S: 235", "C: QUIT", "S: 221"} {
		if !strings.Contains(lines, want) {
			t.Errorf("transcript lacks %q:\n%s", want, lines)
		}
	}
	if strings.Contains(lines, "AHUAcGFzcy13MHJk") || strings.Contains(lines, "pass-w0rd") {
		t.Errorf("the transcript shows the secret:\n%s", lines)
	}
	if len(s.Transcript(99)) != 0 {
		t.Error("a transcript for a connection that never was")
	}
}

// A fault that waits, then answers as normal; one that waits, then drops.
func TestFaultDelayAndDrop(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	if err := s.SetFault(Fault{Step: "NOOP", Delay: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	c, _ := dialRaw(t, s)
	start := time.Now()
	c.expect("NOOP", 250)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("NOOP answered after %v, want the 300ms delay first", d)
	}
	if err := s.SetFault(Fault{Step: "MAIL", Drop: true}); err != nil {
		t.Fatal(err)
	}
	c.send("MAIL FROM:<a@example.com>\r\n")
	c.waitClosed()
}

// A recipient's fault may drop the connection at its RCPT, mid-envelope.
func TestFaultDropAtRecipient(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	if err := s.SetFault(Fault{Recipient: "gone@example.com", Drop: true}); err != nil {
		t.Fatal(err)
	}
	c, _ := dialRaw(t, s)
	c.expect("EHLO x", 250)
	c.expect("MAIL FROM:<a@example.com>", 250)
	c.expect("RCPT TO:<bob@example.com>", 250)
	c.send("RCPT TO:<gone@example.com>\r\n")
	c.waitClosed()
}

// A drop after the content: the message is kept, the client hears nothing
// (its outcome is unknown to it).
func TestFaultDropAfterData(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	if err := s.SetFault(Fault{Step: StepAfterData, Drop: true}); err != nil {
		t.Fatal(err)
	}
	c, _ := dialRaw(t, s)
	c.expect("EHLO x", 250)
	c.expect("MAIL FROM:<a@example.com>", 250)
	c.expect("RCPT TO:<bob@example.com>", 250)
	c.expect("DATA", 354)
	c.send("Subject: kept\r\n\r\nbody\r\n.\r\n")
	c.waitClosed()
	if got := s.Messages(); len(got) != 1 || got[0].Header.Get("Subject") != "kept" {
		t.Errorf("messages %v, want the one whose reply was dropped", got)
	}
}

// After: the fault waits for so many messages, counted from when it was
// set.
func TestFaultAfterMessages(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	c, _ := dialRaw(t, s)
	c.expect("EHLO x", 250)
	if r := c.sendMessage("a@example.com", []string{"b@example.com"}, "Subject: before\r\n\r\nx\r\n"); r.code != 250 {
		t.Fatalf("message before the fault: %d %s", r.code, r.text)
	}
	if err := s.SetFault(Fault{Step: "MAIL", Reply: Reply{Code: 452, EnhancedCode: EnhancedCode{4, 3, 1}, Message: "Insufficient system storage"}, After: 2}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if r := c.sendMessage("a@example.com", []string{"b@example.com"}, "Subject: m\r\n\r\nx\r\n"); r.code != 250 {
			t.Fatalf("message %d after the fault was set: %d %s, want 250 (After is 2)", i+1, r.code, r.text)
		}
	}
	if r := c.expect("MAIL FROM:<a@example.com>", 452); !strings.Contains(r.text, "4.3.1") {
		t.Errorf("third MAIL: %q, want the fault's 4.3.1", r.text)
	}
}

// Rate: "421 after 3 MAILs a minute", across connections; the 421 closes
// its connection, and a fresh one is refused too while the rate holds.
func TestFaultRate(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	if err := s.SetFault(Fault{Step: "MAIL", Reply: Reply{Code: 421, EnhancedCode: EnhancedCode{4, 7, 0}, Message: "Too many messages, slow down"}, Rate: 3, Per: time.Minute}); err != nil {
		t.Fatal(err)
	}
	c, _ := dialRaw(t, s)
	c.expect("EHLO x", 250)
	for range 2 {
		c.expect("MAIL FROM:<a@example.com>", 250)
		c.expect("RSET", 250)
	}
	d, _ := dialRaw(t, s)
	d.expect("EHLO y", 250)
	d.expect("MAIL FROM:<a@example.com>", 250)
	d.expect("RSET", 250)
	if r := c.expect("MAIL FROM:<a@example.com>", 421); !strings.Contains(r.text, "slow down") {
		t.Errorf("fourth MAIL within the minute: %q", r.text)
	}
	c.waitClosed()
	d.expect("MAIL FROM:<a@example.com>", 421)
}
