package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/mailwire/smtp"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestDemo(t *testing.T) {
	code, out, stderr := runCLI(t, "demo")
	if code != exitOK {
		t.Fatalf("demo exited %d: %s", code, stderr)
	}
	// The session shows STARTTLS, the pin check, AUTH with the secret
	// redacted, the pipelined envelope, the refused recipient and the
	// queue id.
	for _, want := range []string{
		"> STARTTLS\n< 220 2.0.0 Ready to start TLS\n* TLS handshake",
		"* SSL connection using TLS 1.3",
		"> AUTH PLAIN [redacted]\n< 235",
		"< 550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown",
		"< 250 2.0.0 OK: queued as Q0001",
		"#   rejected: smtp: RCPT TO:<nobody@example.com>: 550 5.1.1",
		"(queue id Q0001, TLS true, user alice@example.com, for bob@example.com)",
		".like this one.\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// The pipelined envelope: MAIL, both RCPTs and BDAT with the content in
	// one flight (the server offers CHUNKING), then the replies.
	if !regexp.MustCompile(`> MAIL FROM:<alice@example.com> SIZE=\d+\n> RCPT TO:<bob@example.com>\n> RCPT TO:<nobody@example.com>\n> BDAT \d+ LAST\n\* \d+ bytes of message content sent \(not shown\)\n< 250`).MatchString(out) {
		t.Errorf("demo output lacks the pipelined envelope")
	}
	pin := regexp.MustCompile(`pin, which the client requires: (sha256//\S+)`).FindStringSubmatch(out)
	if pin == nil || !strings.Contains(out, "*  public key pin "+pin[1]+" matched the server's certificate") {
		t.Errorf("demo output lacks the matched pin check")
	}
	if strings.Contains(out, "correct horse") || strings.Contains(out, "Y29ycmVjdCBob3JzZ") {
		t.Error("the password, or its base64, is in the output")
	}
	if t.Failed() {
		t.Log(out)
	}
}

func TestDemoExplain(t *testing.T) {
	code, out, _ := runCLI(t, "demo", "--explain")
	if code != exitOK || !strings.Contains(out, "  # SIZE (RFC 1870): the largest message is 10 MiB") {
		t.Errorf("demo --explain exited %d without the SIZE note:\n%s", code, out)
	}
}

func TestUsage(t *testing.T) {
	if code, _, stderr := runCLI(t); code != exitUsage || !strings.Contains(stderr, "usage: mailwire") {
		t.Errorf("no arguments: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "frobnicate"); code != exitUsage || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, stderr)
	}
	if code, out, _ := runCLI(t, "--version"); code != exitOK || !strings.HasPrefix(out, "mailwire ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	if code, _, _ := runCLI(t, "demo", "--bogus"); code != exitUsage {
		t.Errorf("demo --bogus: exit %d, want %d", code, exitUsage)
	}
}

// The demo gives a refused recipient's reason once: the error already
// holds the meaning of its enhanced code.
func TestDemoRefusalOnce(t *testing.T) {
	t.Parallel()
	_, out, _ := runCLI(t, "demo")
	var rejected []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "#   rejected: ") {
			rejected = append(rejected, line)
		}
	}
	want := "#   rejected: smtp: RCPT TO:<nobody@example.com>: 550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown (bad destination mailbox address)"
	if len(rejected) != 1 || rejected[0] != want {
		t.Errorf("rejected lines %q, want one: %q", rejected, want)
	}
}

// Exit codes follow the library's classes: an argument it refuses is a
// usage error, a message over SIZE a data error.
func TestExitCodeOfLibraryRefusals(t *testing.T) {
	_, invalid := smtp.PinVerifier("sha256//not-a-pin")
	if got := exitCode(invalid); got != exitUsage {
		t.Errorf("exitCode(%v) = %d, want %d", invalid, got, exitUsage)
	}
	tooLarge := fmt.Errorf("%w: 20 bytes", smtp.ErrMessageTooLarge)
	if got := exitCode(tooLarge); got != exitDataErr {
		t.Errorf("exitCode(%v) = %d, want %d", tooLarge, got, exitDataErr)
	}
}
