package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mailwire/smtp/internal/peer"
	"github.com/mailwire/smtp/smtptest"
)

// An implicit TLS port probed in the default mode gives no plaintext
// greeting: probe tries implicit TLS after 5 s, and says so.
func TestProbeFindsImplicitTLS(t *testing.T) {
	t.Parallel()
	srv, ca := newServer(t, &smtptest.Config{TLS: smtptest.ImplicitTLS, Users: map[string]string{"alice": "pw"}})
	start := time.Now()
	code, out, stderr := runCLI(t, "probe", "--cafile", ca, srv.Addr())
	took := time.Since(start)
	if code != exitOK || stderr != "" {
		t.Fatalf("probe exited %d: %s\n%s", code, stderr, out)
	}
	wantContains(t, "report", out,
		"mailwire probe "+srv.Addr()+" (ImplicitTLS)\n\n",
		"* StartTLS failed: no plaintext greeting within 5s; trying --security implicit on a new connection\n* TLS handshake done: TLS 1.3",
		"\nSecurity:           this port speaks implicit TLS (no plaintext greeting within 5s); use --security implicit for send and shell\n",
		"TLS:                TLS 1.3, ",
		"AUTH mechanisms:    PLAIN LOGIN\n",
		"Missing or unsafe:  nothing found\n")
	wantAbsent(t, "report", out, "stopped early", "Options.GreetingTimeout", "Security ImplicitTLS")
	// 5 s for the silent greeting, then a quick second connection; far
	// under the library's 20 s default.
	if took > 12*time.Second {
		t.Errorf("the probe took %v", took)
	}
	t.Logf("took %v; the report:\n%s", took, out)
}

// A port that answers TLS in plaintext (here one named as port 465, where
// the default is implicit TLS) is probed again with STARTTLS.
func TestProbeFindsStartTLS(t *testing.T) {
	t.Parallel()
	srv, ca := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	args := []string{"--cafile", ca, "--connect-to", srv.Addr(), "localhost:465"}
	code, out, stderr := runCLI(t, append([]string{"probe"}, args...)...)
	if code != exitOK {
		t.Fatalf("probe exited %d: %s\n%s", code, stderr, out)
	}
	wantContains(t, "report", out,
		"mailwire probe localhost:465 (StartTLS) via "+srv.Addr()+"\n\n",
		"* ImplicitTLS failed: the server answered the TLS handshake in plaintext; trying --security starttls on a new connection\n< 220 ",
		"\nSecurity:           this port speaks plaintext first, then STARTTLS (the server answered the TLS handshake in plaintext); use --security starttls for send and shell\n")
	r, code, _ := probeJSON(t, args...)
	if sw := r.Switched; code != exitOK || sw == nil || sw.Tried != "ImplicitTLS" || sw.Flag != "--security starttls" ||
		!strings.Contains(sw.Error, "answered in plaintext") || !strings.Contains(sw.Error, "use --security starttls") || r.Security != "StartTLS" || r.TLS == nil {
		t.Errorf("--json: exit %d, security %q, switched %+v", code, r.Security, r.Switched)
	}
}

// When the second mode fails too, the report gives both attempts; with
// --security given, probe does not switch, and its error names the flag.
func TestProbeModesBothFail(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, &smtptest.Config{TLS: smtptest.ImplicitTLS})
	code, out, _ := runCLI(t, "probe", "--greeting-timeout", "300ms", srv.Addr()) // the CA is unknown
	if code != exitUnavail {
		t.Errorf("exit %d, want %d", code, exitUnavail)
	}
	wantContains(t, "report", out,
		"* StartTLS failed: no plaintext greeting within 300ms; trying --security implicit",
		"\nThe probe stopped early, in both modes:\n  with StartTLS: smtp: greeting: no greeting within 300ms: a port that expects TLS from the first byte",
		"try --security implicit, or raise --greeting-timeout",
		"\n  with ImplicitTLS: smtp: TLS handshake with 127.0.0.1: certificate signed by an unknown authority")
	wantAbsent(t, "report", out, "Security:   ", "nothing found")

	code, out, _ = runCLI(t, "probe", "--security", "starttls", "--greeting-timeout", "300ms", srv.Addr())
	if code != exitUnavail || strings.Contains(out, "trying") {
		t.Errorf("--security starttls: exit %d, switched:\n%s", code, out)
	}
	wantContains(t, "report", out, "The probe stopped early: smtp: greeting: no greeting within 300ms: a port that expects TLS from the first byte", "try --security implicit")
}

// send and shell do not switch, but their errors name the --security to
// use, not the library's fields.
func TestWrongSecurityAdvice(t *testing.T) {
	t.Parallel()
	implicit, ca1 := newServer(t, &smtptest.Config{TLS: smtptest.ImplicitTLS})
	starttls, ca2 := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	msg := []string{"--from", "a@example.com", "--to", "b@example.com", "--body", "x"}
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{implicit.Addr(), "--cafile", ca1, "--greeting-timeout", "300ms"},
			[]string{"smtp: greeting: no greeting within 300ms: a port that expects TLS from the first byte", "try --security implicit, or raise --greeting-timeout"}},
		{[]string{starttls.Addr(), "--cafile", ca2, "--security", "implicit"},
			[]string{"the server answered in plaintext (\"220 ", "use --security starttls"}},
	} {
		start := time.Now()
		code, _, stderr := runWith(t, runSend, "", append(tt.args, msg...)...)
		if code != exitUnavail {
			t.Errorf("send %q: exit %d, want %d", tt.args, code, exitUnavail)
		}
		wantContains(t, "send stderr", stderr, tt.want...)
		wantAbsent(t, "send stderr", stderr, "Security ImplicitTLS", "Security StartTLS", "Options.")
		code, out, _ := runWith(t, runShell, "quit\n", tt.args...)
		if code != exitUnavail {
			t.Errorf("shell %q: exit %d, want %d", tt.args, code, exitUnavail)
		}
		wantContains(t, "shell output", out, tt.want...)
		wantAbsent(t, "shell output", out, "Security ImplicitTLS", "Security StartTLS", "Options.")
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%q took %v", tt.args, took)
		}
	}
}

// A greeting that begins at once and ends late (Postfix's postscreen sends
// "220-" and the rest after 6 s) is no sign of TLS: the greeting timeout
// covers its first byte only, so probe waits for the rest on the same
// connection instead of switching modes.
func TestProbeSlowGreeting(t *testing.T) {
	t.Parallel()
	slow := []peer.Step{peer.Send("220-mx.test teaser"), peer.Sleep(probeGreetingTimeout + 500*time.Millisecond), peer.Send("220 mx.test ESMTP")}
	srv := peer.New(append(slow, peer.Script("C: EHLO localhost\nS: 250-mx.test\nS: 250 SIZE 1000\nC: QUIT\nS: 221 bye\n")...))
	t.Cleanup(srv.Close)
	code, out, stderr := runCLI(t, "probe", srv.Addr())
	if code != exitUnavail {
		t.Errorf("exit %d, want %d (the server offers no STARTTLS): %s", code, exitUnavail, stderr)
	}
	wantContains(t, "report", out,
		"< 220-mx.test teaser\n", "< 220 mx.test ESMTP\n",
		"  - no STARTTLS: the server offers no encryption on this port",
		"The probe stopped early: smtp: the server does not offer STARTTLS")
	wantAbsent(t, "report", out, "trying --security implicit")
	if res := srv.Wait(); len(res) != 1 {
		t.Errorf("%d connections, want the one", len(res))
	}
}
