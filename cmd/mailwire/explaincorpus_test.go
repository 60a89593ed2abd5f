package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The corpus: real logs that scripts/capture-explain-logs.sh captured from
// curl, openssl s_client, gnutls-cli, swaks, msmtp and mailwire run against
// the test Postfix. A file is named TOOL-CASE.txt.

// caseFacts are what every tool's summary of a case must say (want) and
// must not (absent). A log's own facts add to its case's, or replace
// what its case wants when the tool's log cannot show it.
type caseFacts struct {
	want, absent []string
	replace      bool
}

const (
	tlsDone      = "  TLS:          completed: "
	tlsFailed    = "  TLS:          FAILED: "
	certDone     = "  Certificate:  completed: verified"
	certFailed   = "  Certificate:  FAILED: NOT verified: "
	accepted     = "  End of data:  completed: the message was accepted: 250 2.0.0 Ok: "
	noEnvelope   = "  Envelope:     not in the log\n"
	clearWarning = "password and message, travels in clear"
	cutShort     = "  Cut short:"
)

// claimsOfSuccess are what no failed session may be summarised with.
var claimsOfSuccess = []string{accepted, "  Key pin:      completed"}

var captureCases = map[string]caseFacts{
	"success-starttls":     {want: []string{tlsDone + "TLS 1.3, ", "  Login:        completed: ", accepted}, absent: []string{cutShort, "FAILED", clearWarning}},
	"success-implicit-tls": {want: []string{tlsDone + "TLS 1.3, ", accepted}, absent: []string{cutShort, "FAILED", clearWarning, "STARTTLS"}},
	"success-plain-port": {
		want:   []string{"  TLS:          not in the log: the session was not encrypted", "WARNING: no STARTTLS offered and the connection is not encrypted: everything, " + clearWarning, "WARNING: AUTH before TLS: ", accepted},
		absent: []string{cutShort, "FAILED", tlsDone},
	},
	"success-auth-login":    {want: []string{"  Login:        completed: LOGIN as \"alice\" [line ", accepted, "WARNING: the password in base64 (11 characters)"}, absent: []string{cutShort, "FAILED"}},
	"success-auth-cram-md5": {want: []string{"  Login:        completed: CRAM-MD5 as \"alice\" [line ", accepted, "WARNING: CRAM-MD5"}, absent: []string{cutShort, "FAILED"}},
	"success-explain":       {want: []string{tlsDone + "TLS 1.3, ", certDone, accepted}, absent: []string{cutShort, "FAILED"}},
	"success-msg":           {want: []string{tlsDone + "TLS 1.3, ", certDone, accepted}, absent: []string{cutShort, "FAILED"}},
	"success-state":         {want: []string{tlsDone + "TLS 1.3, ", certDone, accepted}, absent: []string{cutShort, "FAILED"}},
	"success-no-crlf":       {want: []string{tlsDone + "TLS 1.3, ", certDone, accepted}, absent: []string{cutShort, "FAILED"}},
	"wrong-password": {
		want:   []string{"  Login:        FAILED: refused: 535 5.7.8 ", "  Cut short:    in Login: refused: 535 5.7.8 ", noEnvelope},
		absent: []string{"  Login:        completed", "wrong-password", "AGFsaWNlAHdyb25nLXBhc3N3b3Jk"},
	},
	"rejected-recipient": {
		want:   []string{"refused <reject@mailwire.test>: 550 5.1.1 ", "  Cut short:    in Envelope: "},
		absent: []string{"  Envelope:     completed", "End of data:  completed"},
	},
	"tempfail-recipient": {
		want:   []string{"refused <tempfail@mailwire.test>: 450 4.2.1 ", "  Cut short:    in Envelope: "},
		absent: []string{"  Envelope:     completed", "End of data:  completed"},
	},
	"partly-refused": {
		want:   []string{"1 recipient(s) accepted, 1 refused", "refused <reject@mailwire.test>: 550 5.1.1 ", accepted},
		absent: []string{cutShort},
	},
	"too-large": {
		want:   []string{"552 5.3.4 "},
		absent: []string{"End of data:  completed"},
	},
	"unknown-ca": {
		want:   []string{certFailed, tlsFailed, "  Cut short:    in TLS: "},
		absent: []string{certDone, tlsDone, "  Login:        completed"},
	},
	"wrong-name": {
		want:   []string{certFailed, tlsFailed + "the client stopped the handshake: the certificate could not be verified"},
		absent: []string{certDone, tlsDone, "  Login:        completed"},
	},
	"wrong-name-goes-on": { // openssl s_client without -verify_return_error
		want:   []string{certFailed + "hostname mismatch", tlsDone + "TLS 1.3", "s_client went on anyway", accepted},
		absent: []string{certDone},
	},
	"pin-mismatch": {
		want:   []string{"  Key pin:      FAILED: ", tlsFailed + "the client stopped the handshake: the key does not match the pin", "  Cut short:    in TLS: "},
		absent: []string{tlsDone, "  Login:        completed"},
	},
	"implicit-tls-on-starttls-port": {
		want:   []string{tlsFailed + "the server did not answer in TLS (", "this port speaks plaintext SMTP first"},
		absent: []string{tlsDone, certDone, "  Login:        completed"},
	},
	"starttls-on-implicit-port": {
		want:   []string{"  Connection:   completed: ", "  Cut short:    after the TCP connection: the server said nothing in the log, not even a greeting"},
		absent: []string{tlsDone, "  Login:        completed", "STARTTLS accepted"},
	},
	"handshake-aborted": {
		want:   []string{tlsFailed + "the server aborted the handshake with a TLS alert: ", "  Cut short:    in TLS: the server aborted the handshake"},
		absent: []string{tlsDone, certDone, "  Login:        completed"},
	},
	"starttls-not-offered": {
		want:   []string{tlsFailed + "the client requires STARTTLS, and the server does not offer it", "only the greeting and EHLO went in clear", noEnvelope},
		absent: []string{tlsDone, clearWarning, "  Login:        completed", "  Login:        attempted"},
	},
	"client-cert-required": {
		want:   []string{tlsDone + "TLS 1.3, ", "  Cut short:    the server refused ", "421 4.7.1 mx.mailwire.test Error: No client certificate presented"},
		absent: []string{"  Login:        completed", "End of data:  completed"},
	},
}

// captureFacts are what one tool's log of a case shows beyond the case's
// facts: its own words, or a limit of the tool's log.
var captureFacts = map[string]caseFacts{
	// gnutls-cli prints neither what is typed nor, here, the reply to the
	// end of the message: its log cannot show the message accepted.
	"gnutls-cli-success-starttls":     {want: []string{tlsDone + "TLS 1.3, ", "  Content:      attempted: ", "  End of data:  not in the log", "  Cut short:    in Content: begun, and the log shows no more"}, absent: []string{"FAILED", accepted}, replace: true},
	"gnutls-cli-success-implicit-tls": {want: []string{tlsDone + "TLS 1.3, ", "  Content:      attempted: ", "  End of data:  not in the log"}, absent: []string{"FAILED", accepted}, replace: true},
	"curl-success-starttls":           {want: []string{"  Login:        completed: CRAM-MD5 as \"alice\"", "  Content:      completed: the client sent the whole message [line "}},
	"curl-success-plain-port":         {want: []string{"WARNING: AUTH with PLAIN or LOGIN is offered before TLS"}},
	"swaks-success-starttls":          {want: []string{"  Login:        completed: PLAIN as \"alice\"", "  Content:      completed: the client sent the message (10 lines) and the dot that ends it"}},
	"msmtp-success-starttls":          {want: []string{certDone + ": msmtp (tls_certcheck = on) checks the certificate in the handshake"}},
	"mailwire-success-starttls":       {want: []string{"  Login:        completed: SCRAM-SHA-256 [line ", "  Content:      completed: the client sent the whole message [line "}},
	"openssl-success-starttls":        {want: []string{"The log starts after the server's greeting", "by its code, it answers AUTH", "  Login:        completed: the server accepted the login (235); the log does not show the AUTH command"}},
	"openssl-wrong-password":          {want: []string{"  Failed:       AUTH: 535 5.7.8 "}},
	"gnutls-cli-wrong-password":       {want: []string{"  Failed:       AUTH: 535 5.7.8 "}},
	"curl-wrong-password":             {want: []string{"  Last word:    the client's: [line 77: curl: (67) Login denied]"}},
	"swaks-wrong-password":            {want: []string{"  Last word:    the client's: [line 35: *** No authentication type succeeded]"}},
	"msmtp-wrong-password":            {want: []string{"  Last word:    the client's: [line ", "msmtp: authentication failed (method PLAIN)"}},
	"mailwire-wrong-password":         {want: []string{"  Failed:       AUTH SCRAM-SHA-256: 535 5.7.8"}},
	"curl-rejected-recipient":         {want: []string{"  Envelope:     FAILED: the client gave up: RCPT failed: 550"}},
	"msmtp-rejected-recipient":        {want: []string{"  Envelope:     FAILED: the client gave up: msmtp: recipient address reject@mailwire.test not accepted by the server"}},
	"openssl-rejected-recipient":      {want: []string{"by its code, it answers RCPT", "  Cut short:    in Envelope: the server refused the recipient(s) and accepted none in the log"}},
	"mailwire-rejected-recipient":     {want: []string{"  Envelope:     FAILED: the client gave up: mailwire send: every recipient was refused"}},
	"swaks-tempfail-recipient":        {want: []string{"  Cut short:    in Envelope: the server refused the recipient(s) and accepted none in the log"}},
	"curl-too-large":                  {want: []string{"  Envelope:     FAILED: MAIL FROM refused: 552 5.3.4 Message size exceeds fixed limit"}},
	"gnutls-cli-too-large":            {want: []string{"  Envelope:     FAILED: MAIL FROM refused: 552 5.3.4 Message size exceeds fixed limit"}},
	"openssl-too-large":               {want: []string{"  End of data:  FAILED: the message was refused: 552 5.3.4 Error: message file too big"}},
	"swaks-too-large":                 {want: []string{"  End of data:  FAILED: the message was refused: 552 5.3.4 Error: message file too big"}},
	"msmtp-too-large":                 {want: []string{"  Failed:       a command the log does not show: 552 5.3.4 Error: message file too big"}},
	// mailwire refuses before it sends: the 552 is its own arithmetic.
	"mailwire-too-large":             {want: []string{"  Login:        completed: ", "the client's: [line 56: mailwire send: the message is 11686307 bytes", noEnvelope}, absent: []string{"  Envelope:     attempted", accepted}, replace: true},
	"curl-unknown-ca":                {want: []string{certFailed + "unable to get local issuer certificate", tlsFailed + "the client aborted the handshake with a TLS alert: unknown CA"}},
	"openssl-unknown-ca":             {want: []string{certFailed + "unable to get local issuer certificate"}},
	"gnutls-cli-unknown-ca":          {want: []string{certFailed + "The certificate issuer is unknown."}},
	"msmtp-unknown-ca":               {want: []string{certFailed + "The certificate is NOT trusted. The certificate issuer is unknown."}},
	"swaks-unknown-ca":               {want: []string{certFailed + "connect(): error:0A000086:SSL routines::certificate verify failed"}},
	"mailwire-unknown-ca":            {want: []string{certFailed + "tls: failed to verify certificate: x509: certificate signed by unknown authority"}},
	"curl-wrong-name":                {want: []string{certFailed + "no alternative certificate subject name matches target host name 'mail.wrong-name.test'"}},
	"openssl-wrong-name":             {want: []string{certFailed + "hostname mismatch"}, absent: []string{"s_client went on anyway"}},
	"gnutls-cli-wrong-name":          {want: []string{certFailed + "The name in the certificate does not match the expected."}},
	"msmtp-wrong-name":               {want: []string{certFailed + "The certificate is NOT trusted. The name in the certificate does not match the expected."}},
	"mailwire-wrong-name":            {want: []string{certFailed + "tls: failed to verify certificate: x509: certificate is valid for localhost, not mail.wrong-name.test"}},
	"curl-pin-mismatch":              {want: []string{certDone, "  Key pin:      FAILED: MISMATCH", "curl: (90)"}},
	"msmtp-pin-mismatch":             {want: []string{"  Key pin:      FAILED: the server's key does not match: the certificate fingerprint does not match"}},
	"mailwire-pin-mismatch":          {want: []string{"  Key pin:      FAILED: MISMATCH", "[line 28: * Pin check failed: certificate pin mismatch"}},
	"curl-handshake-aborted":         {want: []string{tlsFailed + "the server aborted the handshake with a TLS alert: handshake failure [line 27: "}},
	"openssl-handshake-aborted":      {want: []string{tlsFailed + "the server aborted the handshake with a TLS alert: sslv3 alert handshake failure SSL alert number 40", "openssl says 0 (ok), but it kept no certificate of the server: nothing was verified."}},
	"gnutls-cli-handshake-aborted":   {want: []string{"[line 4: *** Fatal error: A TLS fatal alert has been received.]"}},
	"swaks-handshake-aborted":        {want: []string{"sslv3 alert handshake failure"}},
	"msmtp-handshake-aborted":        {want: []string{"[line 59: msmtp: TLS handshake failed: A TLS fatal alert has been received.]"}},
	"curl-starttls-not-offered":      {want: []string{"  Last word:    the client's: [line 21: curl: (64) STARTTLS not supported.]"}},
	"swaks-starttls-not-offered":     {want: []string{"[line 16: *** Host did not advertise STARTTLS]"}},
	"msmtp-starttls-not-offered":     {want: []string{"msmtp: the server does not support TLS via the STARTTLS command"}},
	"mailwire-starttls-not-offered":  {want: []string{"[line 16: * Closing connection #0: smtp: the server does not offer STARTTLS"}},
	"openssl-client-cert-required":   {want: []string{certDone + ": openssl's verify return code is 0 (ok)", "  Failed:       a command the log does not show: 421 4.7.1"}},
	"curl-client-cert-required":      {want: []string{"  Failed:       EHLO msg.eml: 421 4.7.1", "curl: (56)"}},
	"mailwire-client-cert-required":  {want: []string{"  Failed:       EHLO localhost: 421 4.7.1"}},
	"curl-starttls-on-implicit-port": {want: []string{"curl: (28) Operation timed out"}},
	"mailwire-starttls-on-implicit-port": {
		want: []string{"[line 3: * Closing connection #0: smtp: greeting: no greeting within 10s"},
	},
	"openssl-implicit-tls-on-starttls-port": {want: []string{"wrong version number"}},
	"mailwire-implicit-tls-on-starttls-port": {
		want: []string{"tls: first record does not look like a TLS handshake"},
	},
}

// secrets are the test server's credentials as they appear in the logs:
// in clear and in base64. No explanation may show them.
var secrets = []string{"s3cret-P4ss", "AGFsaWNlAHMzY3JldC1QNHNz", "czNjcmV0LVA0c3M=", "d3JvbmctcGFzc3dvcmQ="}

// TestExplainCapturedLogs holds every captured log to its case's facts and
// its own: what its summary must state, and what it must not claim.
func TestExplainCapturedLogs(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/captured/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	tools, failures := map[string]bool{}, 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		tool, kase := splitCaptureName(name)
		facts, ok := captureCases[kase]
		if !ok {
			t.Errorf("%s: no facts for the case %q", name, kase)
			continue
		}
		tools[tool] = true
		success := strings.HasPrefix(kase, "success-")
		if !success {
			failures++
		}
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out := explainText(string(in))
		summary := explainSummary(t, string(in))
		own := captureFacts[name]
		want := append(append([]string{}, facts.want...), own.want...)
		absent := append(append([]string{}, facts.absent...), own.absent...)
		if own.replace {
			want, absent = own.want, own.absent
		}
		if !success {
			for _, claim := range claimsOfSuccess {
				if !slices.Contains(want, claim) {
					absent = append(absent, claim)
				}
			}
		}
		// The summary lines start with their phase's name: what is wanted
		// is looked for in the whole explanation, which holds the summary,
		// and what is absent in the summary alone; a secret nowhere.
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: the explanation lacks %q; its summary:\n%s", name, w, summary)
			}
		}
		for _, a := range absent {
			if strings.Contains(summary, a) {
				t.Errorf("%s: the summary has %q, which its log does not show:\n%s", name, a, summary)
			}
		}
		for _, secret := range secrets {
			if strings.Contains(out, secret) {
				t.Errorf("%s: the explanation shows the secret %q", name, secret)
			}
		}
	}
	for name := range captureFacts {
		if _, err := os.Stat(filepath.Join("testdata/captured", name+".txt")); err != nil {
			t.Errorf("facts for %s, which is not in the corpus", name)
		}
	}
	if len(files) < 30 || len(tools) < 5 || failures*2 < len(files) {
		t.Errorf("%d logs from %d tools, %d of them failures: want at least 30 from 5, half failures", len(files), len(tools), failures)
	}
}

// splitCaptureName splits "gnutls-cli-wrong-name" into its tool and case.
func splitCaptureName(name string) (tool, kase string) {
	for _, tool := range []string{"gnutls-cli", "curl", "openssl", "swaks", "msmtp", "mailwire"} {
		if rest, ok := strings.CutPrefix(name, tool+"-"); ok {
			return tool, rest
		}
	}
	return "", name
}

// explainSummary explains a log and returns its summary, from the line
// after "Summary".
func explainSummary(t *testing.T, log string) string {
	t.Helper()
	out := explainText(log)
	_, summary, ok := strings.Cut(out, "\nSummary\n")
	if !ok {
		t.Fatalf("no summary in:\n%s", out)
	}
	return summary
}

// explainText runs the explainer on a log, as runExplain does.
func explainText(log string) string {
	x := newLogExplainer(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	for _, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		x.line(line)
	}
	x.finish()
	var out bytes.Buffer
	x.write(&out)
	return out.String()
}

var (
	rePhaseLine = regexp.MustCompile(`(?m)^  (Connection|TLS|Certificate|Key pin|Login|Envelope|Content|End of data): +(completed|FAILED|attempted|not in the log)(.*)$`)
	reProof     = regexp.MustCompile(`\[line (\d+): ([^\n]*?)(?:…)?\]`)
)

// phaseClaims reads a summary's phases: their state and proving line.
func phaseClaims(summary string) map[string]string {
	claims := map[string]string{}
	for _, m := range rePhaseLine.FindAllStringSubmatch(summary, -1) {
		proof := ""
		if p := reProof.FindStringSubmatch(m[3]); p != nil {
			proof = p[1]
		}
		claims[m[1]] = m[2] + "@" + proof
	}
	return claims
}

// serverReply is a reply line of the server, under any tool's prefix.
var serverReply = regexp.MustCompile(`^(?:#\d+ )?(?:< |<- |<~ |<~\* |<\*\* |<-- |S: |recv> )?\s*([2-5]\d\d)(?:[ -]|$)`)

// proves says whether a log's line can prove a phase completed, by this
// test's own reading of the tools' logs: only a server's answer proves TLS,
// a login, an envelope or a message taken; a tool's own line proves only
// what the tool did itself (a connection, a certificate check, content sent).
func proves(phase, line string) bool {
	code := ""
	if m := serverReply.FindStringSubmatch(line); m != nil {
		code = m[1]
	}
	switch phase {
	case "Connection":
		return code != "" || regexp.MustCompile(`Connected to|CONNECTED\(|TLS|Certificate type|error receiving|network read error`).MatchString(line)
	case "TLS", "Key pin":
		return code != "" || phase == "Key pin" && strings.Contains(line, "matched")
	case "Certificate":
		return code != "" || regexp.MustCompile(`verify ok|Verify return code: 0 \(ok\)|The certificate is trusted`).MatchString(line)
	case "Login":
		return code == "235"
	case "Envelope", "End of data":
		return strings.HasPrefix(code, "2")
	case "Content":
		return code != "" || regexp.MustCompile(`(?:^|> |-> |~> |C: )\.$|bytes of message content sent|completely uploaded`).MatchString(strings.TrimSpace(line))
	}
	return false
}

// TestExplainPrefixesClaimNoLaterPhase cuts every log of the corpus after
// each of its lines and explains the part. A phase the summary of a part
// calls completed must be proven by a line of the part that can prove it
// (a server's reply, for TLS, a login, recipients, a message taken): never
// by a line that comes later, never by the absence of a failure. A phase
// done or failed in a part is so in the whole log (no later line takes a
// claim back), and every line quoted is in the part as the log has it.
func TestExplainPrefixesClaimNoLaterPhase(t *testing.T) {
	t.Parallel()
	var files []string
	for _, glob := range []string{"testdata/captured/*.txt", "testdata/curl-logs/*.log", "testdata/transcripts/*.txt"} {
		m, _ := filepath.Glob(glob)
		files = append(files, m...)
	}
	if len(files) < 30 {
		t.Fatalf("%d logs", len(files))
	}
	for _, f := range files {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(in), "\n"), "\n")
		whole := phaseClaims(explainSummary(t, string(in)))
		for k := 1; k <= len(lines); k++ {
			part := strings.Join(lines[:k], "\n")
			summary := explainSummary(t, part)
			for name, claim := range phaseClaims(summary) {
				state, at, _ := strings.Cut(claim, "@")
				if n, _ := strconv.Atoi(at); state == "completed" && (n < 1 || n > k || !proves(name, lines[n-1])) {
					t.Errorf("%s cut after line %d: %s completed, proven by line %q", f, k, name, at)
				}
				if (state == "completed" || state == "FAILED") && whole[name] != claim {
					t.Errorf("%s cut after line %d: %s is %q, in the whole log %q", f, k, name, claim, whole[name])
				}
			}
			for _, p := range reProof.FindAllStringSubmatch(summary, -1) {
				n, _ := strconv.Atoi(p[1])
				if n < 1 || n > k {
					t.Errorf("%s cut after line %d: the summary quotes line %d", f, k, n)
					continue
				}
				logLine := strings.TrimSpace(strings.TrimRight(lines[n-1], "\r"))
				if !strings.HasPrefix(logLine, p[2]) && !strings.Contains(p[2], "[redacted") {
					t.Errorf("%s cut after line %d: line %d quoted as %q, the log has %q", f, k, n, p[2], logLine)
				}
			}
			if t.Failed() {
				return
			}
		}
	}
}

// openssl s_client prints "New, TLSv1.3, Cipher is ..." and "Verify return
// code: 0 (ok)" as soon as its side of the handshake is done; a server can
// still abort the handshake then. Cut before the server's first answer
// over TLS, the log proves the handshake begun, not done. (Here the server
// went on, then refused the session for want of a client certificate.)
func TestExplainOpenSSLHandshakeUnproven(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile("testdata/captured/openssl-client-cert-required.txt")
	if err != nil {
		t.Fatal(err)
	}
	before, _, ok := strings.Cut(string(in), "\n421 4.7.1 ")
	if !ok || !strings.Contains(before, "\nNew, TLSv1.3, Cipher is") || !strings.Contains(before, "\nVerify return code: 0 (ok)") {
		t.Fatal("the log is not the one this test is about")
	}
	out := explainText(before)
	summary := explainSummary(t, before)
	wantContains(t, "explanation", out,
		"  TLS:          attempted: the TLS handshake; the log shows no outcome [line ",
		"TLS 1.3, cipher suite TLS_AES_256_GCM_SHA384: done on the client's side; the log shows no answer of the server over it, which alone proves the session encrypted.",
		"  Cut short:    in TLS: begun, and the log shows no more",
	)
	wantAbsent(t, "explanation", out, "nobody on the path")
	wantAbsent(t, "summary", summary, tlsDone)
	// s_client's echo of the EHLO reply it read before STARTTLS proves
	// nothing of TLS.
	wantContains(t, "explanation", out, "250 CHUNKING\n  # openssl s_client prints here the last line of the EHLO reply it read before STARTTLS")
	// The whole log: the server answered over TLS (with a refusal).
	wantContains(t, "summary", explainSummary(t, string(in)), tlsDone+"TLS 1.3, TLS_AES_256_GCM_SHA384; the server answered over TLS [line 94: 421 4.7.1 ")
}

// FuzzExplainLog feeds the explainer any log, starting from the captured
// ones: it must not panic, it always ends with a summary, and no line it
// quotes as proof lies beyond the log's end.
func FuzzExplainLog(f *testing.F) {
	files, _ := filepath.Glob("testdata/captured/*.txt")
	for _, file := range files {
		if in, err := os.ReadFile(file); err == nil && len(in) < 64<<10 {
			f.Add(string(in))
		}
	}
	f.Fuzz(func(t *testing.T, log string) {
		out := explainText(log)
		_, summary, ok := strings.Cut(out, "\nSummary\n")
		if !ok {
			t.Fatalf("no summary:\n%s", out)
		}
		lines := strings.Count(strings.TrimSuffix(log, "\n"), "\n") + 1
		for _, p := range reProof.FindAllStringSubmatch(summary, -1) {
			if n, _ := strconv.Atoi(p[1]); n < 1 || n > lines {
				t.Fatalf("line %d quoted from a log of %d lines", n, lines)
			}
		}
	})
}
