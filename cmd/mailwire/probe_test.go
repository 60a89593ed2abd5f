package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mailwire/smtp/smtptest"
)

// The SIZE figures of smtptest's default 10 MiB, worked out by hand:
// (10485760 - 16384) / 78 * 76 = 10200872 base64 characters of lines,
// which hold 10200872 / 4 * 3 = 7650654 bytes.
const wantAttachment = "7650654"

func probeJSON(t *testing.T, args ...string) (probeResult, int, string) {
	t.Helper()
	code, out, stderr := runCLI(t, append([]string{"probe", "--json"}, args...)...)
	var r probeResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("probe --json printed no JSON object (%v):\n%s", err, out)
	}
	return r, code, stderr
}

func TestProbeStartTLS(t *testing.T) {
	t.Parallel()
	srv, ca := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS, Users: map[string]string{"alice": "pw"}})
	code, out, stderr := runCLI(t, "probe", "--cafile", ca, srv.Addr())
	if code != exitOK {
		t.Fatalf("probe exited %d: %s", code, stderr)
	}
	wantContains(t, "probe report", out,
		"< 220 smtptest.local ESMTP Service Ready\n  # The server greets the client and is ready.",
		"< 250 STARTTLS\n  # STARTTLS (RFC 3207)",
		"* TLS handshake done: TLS 1.3, ",
		"< 250-AUTH PLAIN LOGIN\n  # AUTH (RFC 4954): the server accepts login with PLAIN LOGIN.",
		"  0 subject: CN=localhost\n    names:   localhost, 127.0.0.1, ::1\n    issuer:  CN=smtptest CA",
		"Pin of the server's key (for --pin, curl --pinnedpubkey, smtp.Options.Pins):\n  "+srv.Pin()+"\n",
		"TLS:                TLS 1.3, TLS_", // the suite depends on the CPU's AES support
		", certificate verified\nAUTH",
		"AUTH mechanisms:    PLAIN LOGIN\n",
		"Largest message:    10 MiB (10485760 bytes, SIZE)\n",
		"Largest attachment: about 7.3 MiB ("+wantAttachment+" bytes): SIZE less 16 KiB",
		"Missing or unsafe:  nothing found",
	)
	if strings.Contains(out, "MAIL FROM") {
		t.Error("probe sent MAIL")
	}

	r, code, _ := probeJSON(t, "--cafile", ca, srv.Addr())
	if code != exitOK {
		t.Fatalf("probe --json exited %d", code)
	}
	if r.Pin != srv.Pin() || len(r.Certificates) != 2 || r.Certificates[0].Pin != srv.Pin() {
		t.Errorf("pin = %q, chain %+v; want %q first", r.Pin, r.Certificates, srv.Pin())
	}
	if !slices.Contains(r.EHLOBeforeTLS, "250 STARTTLS") || hasAuthLine(r.EHLOBeforeTLS) {
		t.Errorf("capabilities before TLS = %q, want STARTTLS and no AUTH", r.EHLOBeforeTLS)
	}
	if !slices.Contains(r.EHLO, "250-AUTH PLAIN LOGIN") || slices.Contains(r.EHLO, "250 STARTTLS") {
		t.Errorf("capabilities after TLS = %q, want AUTH and no STARTTLS", r.EHLO)
	}
	if r.TLS == nil || !r.TLS.Verified || r.TLS.Version != "TLS 1.3" || r.Security != "StartTLS" {
		t.Errorf("tls = %+v, security %q", r.TLS, r.Security)
	}
	if r.MaxMessageBytes != 10485760 || r.MaxAttachment != 7650654 || r.AttachmentReserve != 16384 {
		t.Errorf("sizes = %d, %d, %d", r.MaxMessageBytes, r.MaxAttachment, r.AttachmentReserve)
	}
	if !slices.Equal(r.AuthMechanisms, []string{"PLAIN", "LOGIN"}) || len(r.AuthBeforeTLS) != 0 || len(r.Warnings) != 0 || r.Error != "" {
		t.Errorf("auth %q, before TLS %q, warnings %q, error %q", r.AuthMechanisms, r.AuthBeforeTLS, r.Warnings, r.Error)
	}
	if len(r.Greeting) != 1 || !strings.HasPrefix(r.Greeting[0], "220 ") {
		t.Errorf("greeting = %q", r.Greeting)
	}
}

func hasAuthLine(lines []string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "AUTH") })
}

func TestProbeImplicitTLS(t *testing.T) {
	t.Parallel()
	srv, ca := newServer(t, &smtptest.Config{TLS: smtptest.ImplicitTLS, Users: map[string]string{"alice": "pw"}, MaxMessageBytes: 1 << 20})
	r, code, stderr := probeJSON(t, "--security", "implicit", "--cafile", ca, srv.Addr())
	if code != exitOK {
		t.Fatalf("probe exited %d: %s", code, stderr)
	}
	if r.Security != "ImplicitTLS" || r.EHLOBeforeTLS != nil || r.TLS == nil || r.Pin != srv.Pin() {
		t.Errorf("security %q, before TLS %q, tls %+v, pin %q (want %q)", r.Security, r.EHLOBeforeTLS, r.TLS, r.Pin, srv.Pin())
	}
	// (1048576 - 16384) / 78 = 13233 lines of 76 characters: 1005708 / 4 * 3
	if r.MaxMessageBytes != 1<<20 || r.MaxAttachment != 754281 {
		t.Errorf("sizes = %d, %d", r.MaxMessageBytes, r.MaxAttachment)
	}
	if !slices.Equal(r.AuthMechanisms, []string{"PLAIN", "LOGIN"}) {
		t.Errorf("auth = %q", r.AuthMechanisms)
	}
}

func TestProbeWarnings(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, &smtptest.Config{TLS: smtptest.NoTLS, Users: map[string]string{"alice": "pw"}, AllowInsecureAuth: true,
		DisablePipelining: true, DisableSize: true})
	r, code, stderr := probeJSON(t, "--security", "starttls-optional", srv.Addr())
	if code != exitOK {
		t.Fatalf("probe exited %d: %s", code, stderr)
	}
	want := []string{"no STARTTLS", "AUTH is offered before TLS (PLAIN LOGIN)", "no PIPELINING", "no SIZE"}
	if len(r.Warnings) != len(want) {
		t.Fatalf("warnings = %q, want %d", r.Warnings, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(r.Warnings[i], w) {
			t.Errorf("warning %d = %q, want %q…", i, r.Warnings[i], w)
		}
	}
	if r.TLS != nil || r.Pin != "" || r.MaxMessageBytes != 0 || !slices.Equal(r.EHLO, r.EHLOBeforeTLS) {
		t.Errorf("plaintext probe: tls %+v, pin %q, size %d, ehlo %q vs %q", r.TLS, r.Pin, r.MaxMessageBytes, r.EHLO, r.EHLOBeforeTLS)
	}
	_, out, _ := runCLI(t, "probe", "--security", "starttls-optional", srv.Addr())
	wantContains(t, "report", out, "Missing or unsafe:\n  - no STARTTLS", "Largest message:    not stated")
}

func TestProbeUntrusted(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	code, out, stderr := runCLI(t, "probe", srv.Addr()) // the system CAs do not know smtptest's
	if code != exitUnavail {
		t.Errorf("probe of an untrusted server exited %d, want %d", code, exitUnavail)
	}
	wantContains(t, "report", out, "NOT TRUSTED", "  "+srv.Pin()+"\n", "The probe stopped early: smtp: TLS handshake")
	wantContains(t, "stderr", stderr, "--insecure --pin "+srv.Pin())

	// The pin probe printed gets in with --insecure.
	r, code, _ := probeJSON(t, "--insecure", srv.Addr())
	if code != exitOK || r.TLS == nil || r.TLS.Verified || r.Pin != srv.Pin() {
		t.Errorf("--insecure: exit %d, tls %+v, pin %q", code, r.TLS, r.Pin)
	}
	if !slices.ContainsFunc(r.Warnings, func(w string) bool { return strings.Contains(w, "not verified (--insecure)") }) ||
		!slices.ContainsFunc(r.Warnings, func(w string) bool { return strings.HasPrefix(w, "no AUTH after TLS") }) {
		t.Errorf("--insecure warnings = %q", r.Warnings)
	}
}

func TestProbeUsage(t *testing.T) {
	t.Parallel()
	if code, _, stderr := runCLI(t, "probe"); code != exitUsage || !strings.Contains(stderr, "no server: give HOST[:PORT]") {
		t.Errorf("no host: exit %d, %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "probe", "--security", "bogus", "h"); code != exitUsage {
		t.Errorf("bad --security: exit %d", code)
	}
	code, out, _ := runCLI(t, "probe", "-h")
	if code != exitOK {
		t.Errorf("-h exited %d", code)
	}
	wantContains(t, "probe -h", out, "usage: mailwire probe", "examples:\n  mailwire probe", "max_attachment_bytes", "-cafile")
	if code, _, stderr := runCLI(t, "probe", "127.0.0.1:1", "--timeout", "2s"); code != exitTempFail {
		t.Errorf("a closed port: exit %d, want %d: %s", code, exitTempFail, stderr)
	}
}

// A probe stopped by TLS does not claim that nothing is missing, and
// prints its error once, in the command line's words.
func TestProbeTLSFailureReport(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		cfg  *smtptest.Config
		args []string
	}{
		{"STARTTLS, untrusted", &smtptest.Config{TLS: smtptest.StartTLS}, nil},
		{"implicit TLS, untrusted", &smtptest.Config{TLS: smtptest.ImplicitTLS}, []string{"--security", "implicit"}},
	} {
		srv, _ := newServer(t, tt.cfg)
		code, out, stderr := runCLI(t, append(append([]string{"probe"}, tt.args...), srv.Addr())...)
		if code != exitUnavail {
			t.Errorf("%s: exit %d, want %d", tt.name, code, exitUnavail)
		}
		wantContains(t, tt.name+" report", out,
			"\nMissing or unsafe:  not known: the probe stopped early (below), before it saw everything\n",
			"\nThe probe stopped early: smtp: TLS handshake with 127.0.0.1: certificate signed by an unknown authority",
			"give its CA with --cafile, or pin its key with --insecure --pin")
		wantAbsent(t, tt.name+" report", out, "nothing found", "TLSConfig.RootCAs", "pin its key with Options.Pins")
		if n := strings.Count(out+stderr, "unknown authority"); n != 1 {
			t.Errorf("%s: the error is printed %d times:\n%s\nstderr:\n%s", tt.name, n, out, stderr)
		}
		// With --json, the error goes to stderr too (stdout is JSON), once.
		_, _, stderr = probeJSON(t, append(tt.args, srv.Addr())...)
		if n := strings.Count(stderr, "unknown authority"); n != 1 {
			t.Errorf("%s --json: the error is on stderr %d times: %s", tt.name, n, stderr)
		}
	}
	// Warnings seen before TLS failed are listed, with a word that the
	// rest was not checked.
	srv, _ := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS, Users: map[string]string{"a": "b"}, AllowInsecureAuth: true})
	_, out, _ := runCLI(t, "probe", srv.Addr())
	wantContains(t, "report", out, "Missing or unsafe:\n  - AUTH is offered before TLS (PLAIN LOGIN)",
		"  - and what comes after the point where the probe stopped (below) was not checked\n")
}
