package smtp

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailwire/smtp/internal/peer"
)

func TestSecurityAutoOnPort465IsImplicitTLS(t *testing.T) {
	t.Parallel()
	srv := peer.NewTLS(serverTLS(mailCert), peer.Script(greeting+ehlo("PIPELINING")))
	defer srv.Close()
	d := &portDialer{target: srv.Addr()}
	opts := tlsOpts(SecurityAuto)
	opts.Dialer = d
	c, err := Dial(bg, "mail.test:465", opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	state, ok := c.TLSConnectionState()
	if !ok || state.ServerName != "mail.test" {
		t.Errorf("TLS = %v with %q, want implicit TLS to mail.test", ok, state.ServerName)
	}
	if len(d.dialed) != 1 || d.dialed[0] != "mail.test:465" {
		t.Errorf("dialed %v", d.dialed)
	}
	c.Close()
	peerResult(t, srv)
}

// A plaintext client that meets a port speaking TLS first hears nothing: it
// is told so within Options.GreetingTimeout, with the mode to try, and the
// error is still a timeout.
func TestWrongSecurityNoGreeting(t *testing.T) {
	srv := peer.NewTLS(serverTLS(goodCert), peer.Script(greeting))
	t.Cleanup(srv.Close)
	opts := tlsOpts(StartTLS)
	opts.GreetingTimeout = 300 * time.Millisecond
	start := time.Now()
	_, err := Dial(context.Background(), srv.Addr(), opts)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Dial took %v, want about the 300ms greeting timeout", took)
	}
	if !errors.Is(err, ErrWrongSecurity) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrWrongSecurity and DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "smtp: greeting: no greeting within 300ms") {
		t.Errorf("error %q does not say what happened", err)
	}
	if r := RemedyOf(err); r != RemedySilentPort || !strings.Contains(r.Hint(), "ImplicitTLS") || !strings.Contains(r.Hint(), "GreetingTimeout") {
		t.Errorf("RemedyOf = %v (%q), want the silent port's", r, r.Hint())
	}
}

// The greeting wait is the shorter of GreetingTimeout's default and
// Options.Timeout.
func TestGreetingTimeoutDefault(t *testing.T) {
	c := &Client{}
	if got := c.greetingTimeout(); got != DefaultGreetingTimeout {
		t.Errorf("greetingTimeout() = %v, want %v", got, DefaultGreetingTimeout)
	}
	c.opts.Timeout = time.Second
	if got := c.greetingTimeout(); got != time.Second {
		t.Errorf("with Timeout 1s, greetingTimeout() = %v, want 1s", got)
	}
	c.opts.GreetingTimeout = time.Minute
	c.opts.Timeout = 0
	if got := c.greetingTimeout(); got != time.Minute {
		t.Errorf("with GreetingTimeout 1m, greetingTimeout() = %v, want 1m", got)
	}
}

// A TLS record where the greeting belongs names ImplicitTLS at once, and
// is no timeout.
func TestWrongSecurityTLSRecordAsGreeting(t *testing.T) {
	alert := "\x15\x03\x03\x00\x02\x02\x0a" // a TLS alert record: unexpected_message
	_, _, err := dialSteps(t, plainOpts(), []peer.Step{peer.Raw(alert), peer.Hang()})
	if !errors.Is(err, ErrWrongSecurity) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrWrongSecurity and no timeout", err)
	}
	if !strings.Contains(err.Error(), "this port speaks TLS from the first byte") || RemedyOf(err) != RemedyImplicitTLS {
		t.Errorf("error %q (remedy %v) does not say the port speaks TLS, or name ImplicitTLS", err, RemedyOf(err))
	}
}

// A TLS client on a port that greets in plaintext names StartTLS, quoting
// (escaped) what the server sent.
func TestWrongSecurityPlaintextAnswersTLS(t *testing.T) {
	_, _, err := dialSteps(t, tlsOpts(ImplicitTLS), []peer.Step{peer.Raw("220 \x1b[2J peer.test ESMTP\r\n"), peer.Hang()})
	if !errors.Is(err, ErrWrongSecurity) || !errors.Is(err, ErrTLSHandshake) {
		t.Fatalf("err = %v, want ErrWrongSecurity and ErrTLSHandshake", err)
	}
	if !strings.Contains(err.Error(), `the server answered in plaintext ("220 \x1b`) || RemedyOf(err) != RemedyStartTLS {
		t.Errorf("error %q (remedy %v) lacks the plaintext answer or StartTLS", err, RemedyOf(err))
	}
	if strings.Contains(err.Error(), "\x1b") {
		t.Errorf("error %q carries a raw ESC", err)
	}
}

// A greeting that comes late, but within GreetingTimeout, is a greeting.
func TestSlowGreetingWithinTimeout(t *testing.T) {
	opts := plainOpts()
	opts.GreetingTimeout = 2 * time.Second
	c, _, err := dialSteps(t, opts, append([]peer.Step{peer.Sleep(300 * time.Millisecond)}, peer.Script(greeting+ehlo("PIPELINING")+"C: QUIT\nS: 221 bye\n")...))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if err := c.Quit(context.Background()); err != nil {
		t.Errorf("Quit: %v", err)
	}
}

// GreetingTimeout bounds the wait for the greeting's first byte only: a
// server that starts "220-" at once and pauses before the rest (Postfix's
// postscreen) is not taken for a silent TLS port.
func TestGreetingTimeoutCoversTheFirstByteOnly(t *testing.T) {
	t.Parallel()
	opts := plainOpts()
	opts.GreetingTimeout = 200 * time.Millisecond
	steps := append([]peer.Step{peer.Raw("220-peer.test ESMTP\r\n"), peer.Sleep(500 * time.Millisecond)},
		peer.Script("S: 220 peer.test ESMTP\n"+ehlo("PIPELINING")+"C: QUIT\nS: 221 bye\n")...)
	c, _, err := dialSteps(t, opts, steps)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Quit(bg)
}
