package smtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailwire/smtp/internal/peer"
	"github.com/mailwire/smtp/smtptest"
)

func TestDialReadsExtensions(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("size 35882577", "8BITMIME", "AUTH PLAIN LOGIN", "PIPELINING"))
	for _, tt := range []struct {
		name, params string
		ok           bool
	}{
		{"SIZE", "35882577", true}, {"size", "35882577", true}, {"auth", "PLAIN LOGIN", true},
		{"Pipelining", "", true}, {"STARTTLS", "", false},
	} {
		if ok, params := c.Extension(tt.name); ok != tt.ok || params != tt.params {
			t.Errorf("Extension(%q) = %v, %q; want %v, %q", tt.name, ok, params, tt.ok, tt.params)
		}
	}
	if got := c.MaxMessageSize(); got != 35882577 {
		t.Errorf("MaxMessageSize() = %d, want 35882577", got)
	}
	finish(t, c, srv)
}

func TestEHLOFallsBackToHELO(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+`
		C: EHLO localhost
		S: 502 5.5.2 Command not recognized
		C: HELO localhost
		S: 250 peer.test
	`)
	if ok, _ := c.Extension("PIPELINING"); ok {
		t.Error("extensions after HELO, want none")
	}
	if got := c.MaxMessageSize(); got != 0 {
		t.Errorf("MaxMessageSize() after HELO = %d, want 0", got)
	}
	finish(t, c, srv)
}

func TestEHLOTemporaryFailureDoesNotFallBack(t *testing.T) {
	t.Parallel()
	srv := peer.New(peer.Script(greeting + `
		C: EHLO localhost
		S: 421 4.3.2 shutting down
	`))
	defer srv.Close()
	_, err := Dial(context.Background(), srv.Addr(), plainOpts())
	var e *Error
	if !errors.As(err, &e) || e.Code != 421 || e.Command != "EHLO" {
		t.Errorf("Dial error = %v, want *Error 421 to EHLO", err)
	}
	if res := srv.Wait(); res[0].Err != nil {
		t.Error(res[0].Err)
	}
}

func TestGreetingRefused(t *testing.T) {
	t.Parallel()
	srv := peer.New(peer.Script(`
		S: 554-mx.example no service for you
		S: 554 5.7.1 your address is listed
	`))
	defer srv.Close()
	_, err := Dial(context.Background(), srv.Addr(), plainOpts())
	var e *Error
	if !errors.As(err, &e) || e.Code != 554 || e.Command != "greeting" {
		t.Fatalf("Dial error = %v, want *Error 554 greeting", err)
	}
	if e.Message != "mx.example no service for you\nyour address is listed" || e.Enhanced != (EnhancedCode{5, 7, 1}) {
		t.Errorf("greeting error = %+v, want the server's text and 5.7.1", e.Reply)
	}
	want := "smtp: greeting: 554 5.7.1 mx.example no service for you your address is listed (delivery not authorized, message refused)"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestMalformedGreeting(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"hello there\r\n", "220-a\r\n221 b\r\n", "2\r\n"} {
		srv := peer.New([]peer.Step{peer.Raw(raw), peer.Hang()})
		_, err := Dial(context.Background(), srv.Addr(), plainOpts())
		var pe *protocolError
		if !errors.As(err, &pe) {
			t.Errorf("greeting %q: Dial error = %v, want a protocol error", raw, err)
		}
		srv.Close()
	}
}

// An EHLO sent again replaces the table (here through Cmd, as a shell
// user does; Dial does the same after STARTTLS, see TestStartTLSAgainEHLO).
func TestEachEHLOReplacesTheTable(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("SIZE 100", "PIPELINING")+`
		C: EHLO localhost
		S: 250-peer.test
		S: 250 8BITMIME
	`)
	if ok, _ := c.Extension("SIZE"); !ok {
		t.Fatal("SIZE missing after the first EHLO")
	}
	if _, err := c.Cmd(context.Background(), "EHLO localhost"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("SIZE"); ok {
		t.Error("SIZE survived a new EHLO")
	}
	if ok, _ := c.Extension("8BITMIME"); !ok {
		t.Error("8BITMIME of the new EHLO is missing")
	}
	finish(t, c, srv)
}

func TestLocalNameInjectionRefused(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"evil\r\nMAIL FROM:<x>", "a\nb", "nul\x00", "two words"} {
		opts := plainOpts()
		opts.LocalName = name
		if err := dialRefused(t, opts); err == nil || !strings.Contains(err.Error(), "LocalName") {
			t.Errorf("LocalName %q: Dial error = %v, want a LocalName error", name, err)
		}
	}
}

func TestCmdRefusesLineBreaks(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING")+"C: NOOP\nS: 250 2.0.0 Ok\n")
	for _, line := range []string{"NOOP\r\nRSET", "NOOP\n", "X\x00", "", "DATA", "bdat 10 LAST", "STARTTLS"} {
		if _, err := c.Cmd(context.Background(), line); err == nil {
			t.Errorf("Cmd(%q) succeeded", line)
		}
	}
	rep, err := c.Cmd(context.Background(), "NOOP")
	if err != nil || rep.Code != 250 || rep.Message != "Ok" {
		t.Errorf("Cmd(NOOP) = %+v, %v; want 250 Ok", rep, err)
	}
	res := finish(t, c, srv)
	if strings.Contains(string(res.Received), "RSET") {
		t.Errorf("a refused command reached the wire: %q", res.Received)
	}
}

func TestCmdReturnsRefusal(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING")+"C: VRFY bob\nS: 252 2.5.2 Cannot VRFY\nC: XFOO\nS: 500 5.5.1 unknown\n")
	rep, err := c.Cmd(context.Background(), "VRFY bob")
	if err != nil || rep.Code != 252 {
		t.Errorf("Cmd(VRFY) = %+v, %v; want 252", rep, err)
	}
	rep, err = c.Cmd(context.Background(), "XFOO")
	var e *Error
	if !errors.As(err, &e) || e.Command != "XFOO" || rep == nil || rep.Code != 500 {
		t.Errorf("Cmd(XFOO) = %+v, %v; want reply 500 and *Error naming XFOO", rep, err)
	}
	finish(t, c, srv)
}

func TestSilentServerTimesOut(t *testing.T) {
	t.Parallel()
	srv := peer.New(peer.Script(greeting + ehlo("PIPELINING") + "C: NOOP\nhang\n"))
	defer srv.Close()
	c, err := Dial(context.Background(), srv.Addr(), plainOpts())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Noop(ctx)
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Noop returned after %v, want under 1s", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Noop error = %v, want context.DeadlineExceeded", err)
	}
	if !strings.HasPrefix(err.Error(), "smtp: NOOP: ") {
		t.Errorf("Noop error = %q, want it to name NOOP", err)
	}
	// The Client is closed, and says why.
	if err2 := c.Noop(context.Background()); !errors.Is(err2, context.DeadlineExceeded) {
		t.Errorf("Noop after a timeout = %v, want the original cause", err2)
	}
}

func TestOptionsTimeoutBoundsAWait(t *testing.T) {
	t.Parallel()
	srv := peer.New([]peer.Step{peer.Hang()})
	defer srv.Close()
	start := time.Now()
	_, err := Dial(context.Background(), srv.Addr(), &Options{Security: Plaintext, Timeout: 200 * time.Millisecond})
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Dial returned after %v, want about 200ms", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "greeting") {
		t.Errorf("Dial error = %v, want a DeadlineExceeded naming the greeting", err)
	}
}

func TestCancelInterruptsAWait(t *testing.T) {
	t.Parallel()
	srv := peer.New(peer.Script(greeting + ehlo("PIPELINING") + "C: NOOP\nhang\n"))
	defer srv.Close()
	c, err := Dial(context.Background(), srv.Addr(), plainOpts())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := c.Noop(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Noop error = %v, want context.Canceled", err)
	}
}

func TestDoneContextSendsNothing(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Noop(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Noop error = %v, want context.Canceled", err)
	}
	if _, err := c.Send(ctx, &Envelope{From: "a@x", To: []string{"b@x"}}, strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Send error = %v, want context.Canceled", err)
	}
	finish(t, c, srv)
}

func TestBrokenConnectionClosesClient(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING")+"C: NOOP\nclose\n")
	err := c.Noop(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "smtp: NOOP: ") {
		t.Fatalf("Noop error = %v, want a network error naming NOOP", err)
	}
	for _, call := range []func() error{
		func() error { return c.Noop(context.Background()) },
		func() error { return c.Reset(context.Background()) },
		func() error {
			_, err := c.Send(context.Background(), &Envelope{From: "a@x", To: []string{"b@x"}}, strings.NewReader("x"))
			return err
		},
	} {
		if got := call(); got != err {
			t.Errorf("call after failure = %v, want the original %v", got, err)
		}
	}
	finish(t, c, srv)
}

func TestQuitAndClose(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING")+"C: QUIT\nS: 221 2.0.0 Bye\n")
	if err := c.Quit(context.Background()); err != nil {
		t.Errorf("Quit: %v", err)
	}
	if err := c.Noop(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Noop after Quit = %v, want ErrClosed", err)
	}
	finish(t, c, srv)
}

func TestReply421ClosesClient(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING")+"C: NOOP\nS: 421 4.4.2 idle too long\n")
	if c.Err() != nil {
		t.Fatalf("Err() = %v on a usable connection", c.Err())
	}
	err := c.Noop(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Code != 421 {
		t.Fatalf("Noop = %v, want *Error 421", err)
	}
	if c.Err() != err {
		t.Errorf("Err() = %v, want the 421 that ended the connection", c.Err())
	}
	if err2 := c.Noop(context.Background()); err2 != err {
		t.Errorf("Noop after 421 = %v, want %v", err2, err)
	}
	finish(t, c, srv)
}

func TestErrorStrings(t *testing.T) {
	t.Parallel()
	e := &Error{Command: "RCPT TO", Reply: Reply{Code: 550, Enhanced: EnhancedCode{5, 1, 1}, Message: "user unknown"}}
	if got, want := e.Error(), "smtp: RCPT TO: 550 5.1.1 user unknown (bad destination mailbox address)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if e.Temporary() {
		t.Error("550 is Temporary")
	}
	if !(&Error{Reply: Reply{Code: 451}}).Temporary() {
		t.Error("451 is not Temporary")
	}
	re := &RecipientError{Addr: "bob@example.com", Err: e}
	if got, want := re.Error(), "smtp: RCPT TO:<bob@example.com>: 550 5.1.1 user unknown (bad destination mailbox address)"; got != want {
		t.Errorf("RecipientError = %q, want %q", got, want)
	}
}

func TestConnectRefusedIsNotATimeout(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, err := Dial(bg, addr, plainOpts())
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "smtp: connect: ") {
		t.Errorf("Dial to a closed port = %v, want a connect error that is not a timeout", err)
	}
}

// slowReader hands out its message a piece at a time, pausing before each.
type slowReader struct {
	r     io.Reader
	piece int
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), s.piece)])
}

// A Client idle for longer than Options.Timeout sends again: every write of
// a call, including the ones its buffer makes by itself (hundreds of
// recipients, a chunk of a message of unknown size), is bounded by a
// deadline set for that call, never one left from the last reply.
func TestIdleClientSendsAgain(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	many := &Envelope{From: "alice@example.com"}
	for i := range 400 {
		many.To = append(many.To, fmt.Sprintf("recipient-number-%03d@example.com", i))
	}
	tests := []struct {
		name     string
		chunking bool
		tls      bool
		env      *Envelope
		msg      func() io.Reader
	}{
		{"BDAT, unknown size", true, false, realEnv, func() io.Reader { return io.MultiReader(strings.NewReader(strings.Repeat("line of text\r\n", 50_000))) }},
		{"DATA, 400 recipients", false, false, many, func() io.Reader { return strings.NewReader("Subject: many\r\n\r\nx\r\n") }},
		{"BDAT, 400 recipients", true, false, many, func() io.Reader { return strings.NewReader("Subject: many\r\n\r\nx\r\n") }},
		{"BDAT, unknown size, over TLS", true, true, realEnv, func() io.Reader { return io.MultiReader(strings.NewReader(strings.Repeat("line of text\r\n", 50_000))) }},
		{"DATA, 400 recipients, over TLS", false, true, many, func() io.Reader { return strings.NewReader("Subject: many\r\n\r\nx\r\n") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mode, security := smtptest.NoTLS, Plaintext
			if tt.tls {
				mode, security = smtptest.StartTLS, StartTLS
			}
			srv := newServer(t, &smtptest.Config{TLS: mode, DisableChunking: !tt.chunking})
			opts := realOpts(srv, security)
			opts.Timeout = timeout
			c, err := Dial(bg, srv.Addr(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Send(bg, realEnv, strings.NewReader("Subject: first\r\n\r\nx\r\n")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * timeout)
			if _, err := c.Send(bg, tt.env, tt.msg()); err != nil {
				t.Fatalf("Send after %v idle: %v", 3*timeout, err)
			}
			if n := len(srv.Messages()); n != 2 {
				t.Errorf("%d messages delivered, want 2", n)
			}
		})
	}
}

// A reader slower in total than Options.Timeout, but never idle that long,
// is no timeout: each write gets its own deadline.
func TestSlowReaderWithinTimeout(t *testing.T) {
	t.Parallel()
	for _, chunking := range []bool{true, false} {
		t.Run(fmt.Sprintf("chunking=%v", chunking), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, &smtptest.Config{TLS: smtptest.NoTLS, DisableChunking: !chunking})
			opts := realOpts(srv, Plaintext)
			opts.Timeout = 300 * time.Millisecond
			c, err := Dial(bg, srv.Addr(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 5000) // 320 KB
			msg := &slowReader{r: strings.NewReader(body), piece: 64 << 10, pause: 100 * time.Millisecond}
			if _, err := c.Send(bg, realEnv, msg); err != nil {
				t.Fatalf("Send from a reader that takes ~600ms in pieces of 100ms: %v", err)
			}
			if m := srv.Messages(); len(m) != 1 || len(m[0].Raw) < len(body) {
				t.Errorf("want one message of at least %d bytes", len(body))
			}
		})
	}
}

// A context that ends after a call's last read, before the call returns,
// leaves nothing behind: the next call, on another context, works.
func TestLateCancelLeavesNoTrace(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{TLS: smtptest.NoTLS})
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	opts := realOpts(srv, Plaintext)
	var armed atomic.Bool
	opts.Trace = onLines(nil, func(line string) {
		if armed.Load() && strings.Contains(line, "queued") {
			cancel()                          // the reply is read: the call's I/O is over
			time.Sleep(50 * time.Millisecond) // let the watcher act before the call returns
		}
	})
	c, err := Dial(bg, srv.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	armed.Store(true)
	if _, err := c.Send(ctx, realEnv, strings.NewReader("Subject: 1\r\n\r\nx\r\n")); err != nil {
		t.Fatalf("Send whose context ended after its last read: %v", err)
	}
	armed.Store(false)
	if err := c.Noop(bg); err != nil {
		t.Fatalf("the next call failed: %v", err)
	}
	if _, err := c.Send(bg, realEnv, strings.NewReader("Subject: 2\r\n\r\nx\r\n")); err != nil {
		t.Fatalf("the next Send failed: %v", err)
	}
}

// Many sends with contexts that end right after each call: no call fails.
func TestManyShortContexts(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{TLS: smtptest.NoTLS})
	c, err := Dial(bg, srv.Addr(), realOpts(srv, Plaintext))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 300 {
		ctx, cancel := context.WithCancel(bg)
		_, err := c.Send(ctx, realEnv, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
		cancel()
		if err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
}

// The commands that change the framing are refused however a lenient
// server would still read them: spaced, tabbed, in any case.
func TestCmdRefusesFramingCommandsInAnySpelling(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING")+"C: NOOP\nS: 250 2.0.0 Ok\n")
	for _, line := range []string{" DATA", "DATA\t", "\tdata", "STARTTLS\t", "BDAT\t5 LAST", "data \t", "\vBdat 1", "sTaRtTlS"} {
		if _, err := c.Cmd(context.Background(), line); err == nil || !strings.Contains(err.Error(), "framed") {
			t.Errorf("Cmd(%q) = %v, want it refused", line, err)
		}
	}
	if _, err := c.Cmd(context.Background(), "NOOP"); err != nil {
		t.Fatal(err)
	}
	res := finish(t, c, srv)
	got := strings.ToUpper(string(res.Received))
	for _, verb := range []string{"DATA", "BDAT", "STARTTLS"} {
		if strings.Contains(got, verb) {
			t.Errorf("a refused %s reached the wire: %q", verb, res.Received)
		}
	}
}

// AUTH through Cmd keeps its secrets out of the Trace: the initial
// response, and each answer to a challenge.
func TestCmdAuthIsRedacted(t *testing.T) {
	t.Parallel()
	var traced []string
	srv := peer.New(peer.Script(greeting+ehlo("AUTH PLAIN LOGIN")+`
		C: AUTH PLAIN AHRpbQBzM2NyZXQ=
		S: 235 2.7.0 Authentication successful
	`), peer.Script(greeting+ehlo("AUTH PLAIN LOGIN")+`
		C: AUTH LOGIN
		S: 334 VXNlcm5hbWU6
		C: dGlt
		S: 334 UGFzc3dvcmQ6
		C: czNjcmV0
		S: 235 2.7.0 Authentication successful
		C: NOOP
		S: 250 2.0.0 Ok
	`))
	t.Cleanup(srv.Close)
	opts := plainOpts()
	opts.Trace = onLines(func(line string) { traced = append(traced, line) }, nil)
	for _, lines := range [][]string{{"AUTH PLAIN AHRpbQBzM2NyZXQ="}, {"AUTH LOGIN", "dGlt", "czNjcmV0", "NOOP"}} {
		c, err := Dial(context.Background(), srv.Addr(), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if _, err := c.Cmd(context.Background(), l); err != nil {
				t.Fatalf("Cmd(%q): %v", l, err)
			}
		}
		c.Close()
	}
	all := strings.Join(traced, "|")
	for _, secret := range []string{"AHRpbQBzM2NyZXQ=", "czNjcmV0", "dGlt"} {
		if strings.Contains(all, secret) {
			t.Errorf("the trace holds %q: %s", secret, all)
		}
	}
	for _, want := range []string{"AUTH PLAIN [redacted]", "AUTH LOGIN", "[redacted]", "NOOP"} {
		if !strings.Contains(all, want) {
			t.Errorf("the trace lacks %q: %s", want, all)
		}
	}
	for _, res := range srv.Wait() {
		if res.Err != nil {
			t.Error(res.Err)
		}
	}
}

// While a Data writer is open, every other call is refused: its command
// would be written into the message.
func TestNoCallWhileDataIsOpen(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, greeting+ehlo("PIPELINING")+`
		C: MAIL FROM:<alice@example.com>
		S: 250 Ok
		C: RCPT TO:<bob@example.com>
		S: 250 Ok
		C: DATA
		S: 354 go
		C: <data>
		S: 250 2.0.0 queued
	`)
	if err := c.Mail(bg, "alice@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(bg, "bob@example.com", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data(bg)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: x\r\n\r\nbody\r\n")
	if err := c.Noop(bg); err == nil || !strings.Contains(err.Error(), "Data writer is open") {
		t.Errorf("Noop during Data = %v, want it refused", err)
	}
	if _, err := c.Send(bg, realEnv, strings.NewReader("x")); err == nil {
		t.Error("Send during Data succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	res := finish(t, c, srv)
	if got := string(res.Data[0]); got != "Subject: x\r\n\r\nbody\r\n.\r\n" {
		t.Errorf("message = %q: another command got into it", got)
	}
}

// A reply that fits no state closes the connection: nothing more is sent
// on it, and the next call says why.
func TestUnfittingReplyClosesTheConnection(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, script string }{
		{"250 to DATA", `
			C: MAIL FROM:<alice@example.com>
			C: RCPT TO:<bob@example.com>
			C: DATA
			S: 250 Ok
			S: 250 Ok
			S: 250 Ok
		`},
		{"354 to RCPT", `
			C: MAIL FROM:<alice@example.com>
			C: RCPT TO:<bob@example.com>
			C: DATA
			S: 250 Ok
			S: 354 go
			S: 354 go
		`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, srv := dialScript(t, greeting+ehlo("PIPELINING")+tt.script)
			_, err := c.Send(bg, realEnv, strings.NewReader("x\r\n"))
			if err == nil || !strings.Contains(err.Error(), "no longer agree") {
				t.Fatalf("Send = %v, want the mismatch named", err)
			}
			if err := c.Noop(bg); err == nil {
				t.Error("the connection is still used after the mismatch")
			}
			res := finish(t, c, srv)
			if strings.Contains(string(res.Received), "RSET") || strings.Contains(string(res.Received), "NOOP") {
				t.Errorf("more was sent after the mismatch: %q", res.Received)
			}
		})
	}
}

// A stray reply after the end of data, in the same packet or a little
// later, closes the connection before the next transaction: it is never
// taken for the answer to the next MAIL.
func TestStrayReplyBeforeNextTransaction(t *testing.T) {
	t.Parallel()
	for _, later := range []bool{false, true} {
		t.Run(fmt.Sprintf("later=%v", later), func(t *testing.T) {
			t.Parallel()
			steps := peer.Script(greeting + ehlo("PIPELINING") + `
				C: MAIL FROM:<alice@example.com>
				C: RCPT TO:<bob@example.com>
				C: DATA
				S: 250 Ok
				S: 250 Ok
				S: 354 go
				C: <data>`)
			if later {
				steps = append(steps, peer.Send("250 2.0.0 queued as A"), peer.Sleep(20*time.Millisecond), peer.Send("550 5.1.1 stray"), peer.Hang())
			} else {
				steps = append(steps, peer.Send("250 2.0.0 queued as A", "550 5.1.1 stray"), peer.Hang())
			}
			c, srv, err := dialSteps(t, plainOpts(), steps)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Send(bg, realEnv, strings.NewReader("one\r\n")); err != nil {
				t.Fatal(err)
			}
			if later {
				time.Sleep(100 * time.Millisecond)
			}
			_, err = c.Send(bg, realEnv, strings.NewReader("two\r\n"))
			if !errors.Is(err, errServerSpokeUnasked) || !strings.Contains(err.Error(), "550 5.1.1 stray") {
				t.Fatalf("second Send = %v, want the stray reply named", err)
			}
			c.Close()
			res := srv.Wait()
			if n := strings.Count(string(res[0].Received), "MAIL FROM"); n != 1 {
				t.Errorf("%d MAIL commands sent; want the second never sent", n)
			}
		})
	}
}

// A last reply without its CRLF before the server closes is neither lost
// from the error nor from the trace.
func TestLastReplyWithoutCRLF(t *testing.T) {
	t.Parallel()
	var received []string
	opts := plainOpts()
	opts.Trace = onLines(nil, func(l string) { received = append(received, l) })
	srv := peer.New(append(peer.Script(greeting+ehlo("PIPELINING")+"C: NOOP\n"), peer.Raw("421 4.3.2 \x1b[2Jshutting down for maintenance"), peer.Close()))
	t.Cleanup(srv.Close)
	c2, err := Dial(bg, srv.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	err = c2.Noop(bg)
	if err == nil || !strings.Contains(err.Error(), `421 4.3.2 \x1b[2Jshutting down for maintenance`) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Noop = %v, want the cut reply, escaped, and ErrUnexpectedEOF", err)
	}
	if strings.Contains(err.Error(), "\x1b") {
		t.Errorf("a raw ESC in the error: %q", err)
	}
	if last := received[len(received)-1]; last != "421 4.3.2 \x1b[2Jshutting down for maintenance" {
		t.Errorf("the trace's last line = %q, want the cut reply", last)
	}
}

// slowConnectDialer dials as net.Dialer does when the context's deadline
// passes during connect and the poller's deadline fires before the
// context's own timer: net returns an *net.OpError wrapping
// os.ErrDeadlineExceeded ("dial tcp …: i/o timeout"), not the context's
// error (net/fd_unix.go, connect: the error of WaitWrite is returned as it
// is unless ctx.Done() is already closed).
type slowConnectDialer struct{}

func (slowConnectDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d, ok := ctx.Deadline()
	if !ok {
		return nil, errors.New("no deadline")
	}
	time.Sleep(time.Until(d))
	return nil, &net.OpError{Op: "dial", Net: network, Err: os.ErrDeadlineExceeded}
}

// TestConnectTimeoutIsDeadlineExceeded: when the context's deadline
// cuts a TCP connect, Dial returns "smtp: connect: dial tcp …: i/o
// timeout", which errors.Is(err, context.DeadlineExceeded) does not
// always match, while every other wait cut by the context's deadline or
// Options.Timeout does (errors.go: one condition for every kind of
// timeout). Seen for real in TestLoadPoolSilentServer, about one run in
// three under -race: 64 goroutines dial a loaded loopback server with a
// 300ms deadline, and one connect gets the poller's error. The dialer
// here gives that error deterministically.
//
// Cause, before the fix: Dial (client.go) wraps the dialer's error in an
// opError as it is; the mapping that fail() applies (os.ErrDeadlineExceeded
// once the context's deadline has passed becomes context.DeadlineExceeded,
// and Options.Timeout a timeoutError) is not applied to the connect step.
func TestConnectTimeoutIsDeadlineExceeded(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Dial(ctx, "127.0.0.1:25", &Options{Security: Plaintext, Dialer: slowConnectDialer{}})
	if err == nil {
		t.Fatal("Dial: no error")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial: %v; errors.Is(err, context.DeadlineExceeded) = false, want true: the context's deadline ended the connect", err)
	}
}

// TestConnectHonoursOptionsTimeout: Options.Timeout "bounds every wait
// for the server", but Dial connects with a net.Dialer without a timeout,
// so a server whose SYNs are dropped (a firewall, a host down, here a
// listener whose accept queue is full) holds Dial for the kernel's
// connect timeout: about 2 minutes on Linux (6 SYN retries), with
// Options.Timeout 300ms and no deadline on the context. Pools and
// SendMail callers setting only Options.Timeout hang alike.
//
// Cause, before the fix: Dial (client.go) uses &net.Dialer{} and passes the
// caller's context as it is; Options.Timeout is applied only from the
// greeting on.
func TestConnectHonoursOptionsTimeout(t *testing.T) {
	// Not parallel: it holds thousands of descriptors for a moment.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Fill the accept queue: once full, the kernel drops new SYNs.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	full := false
	for range 20000 {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			full = errors.As(err, &ne) && ne.Timeout() // not EMFILE
			break
		}
		conns = append(conns, c)
	}
	if !full {
		t.Skipf("could not fill the accept queue (%d connections made)", len(conns))
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		c, err := Dial(context.Background(), ln.Addr().String(), &Options{Security: Plaintext, Timeout: 300 * time.Millisecond})
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if elapsed := time.Since(start); elapsed > 1500*time.Millisecond {
			t.Errorf("Dial returned after %v (%v), want about 300ms", elapsed, err)
		}
	case <-time.After(3 * time.Second):
		t.Errorf("Dial still connecting after 3s with Options.Timeout 300ms (the queue held %d connections)", len(conns))
		ln.Close() // refuses the pending SYN: Dial returns
		<-done
	}
}
