package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/mailwire/smtp/smtptest"
)

func shellServer(t *testing.T, cfg *smtptest.Config) (*smtptest.Server, []string) {
	t.Helper()
	if cfg == nil {
		cfg = &smtptest.Config{}
	}
	cfg.TLS = smtptest.StartTLS
	cfg.Users = map[string]string{"alice@example.com": testPassword}
	srv, ca := newServer(t, cfg)
	return srv, []string{"--cafile", ca, srv.Addr()}
}

func TestShellPipe(t *testing.T) {
	t.Parallel()
	srv, args := shellServer(t, nil)
	input := strings.Join([]string{
		"EHLO tester.example",
		"NOOP",
		"explain",
		"auth plain alice@example.com",
		testPassword,
		"MAIL FROM:<alice@example.com>",
		"RCPT TO:<bob@example.com>",
		"DATA",
		"Subject: typed",
		"",
		".a line starting with a dot",
		"last line",
		".",
		"STARTTLS",
		"quit",
	}, "\n") + "\n"
	code, out, stderr := runWith(t, runShell, input, args...)
	if code != exitOK {
		t.Fatalf("shell exited %d: %s\n%s", code, stderr, out)
	}
	wantContains(t, "shell output", out,
		"> EHLO localhost\n", // the library's own EHLO, at connection
		"* SSL connection using TLS 1.3",
		"* Ready: type SMTP commands",
		"< 250-Hello tester.example\n", // the typed EHLO's reply, as it came
		"< 250 2.0.0 I have successfully done nothing\n< 250 2.0.0 I have successfully done nothing\n  # 250: ", // NOOP, then explain
		"> AUTH PLAIN [redacted]\n< 235 ",
		"< 354 ",
		"* Type the message",
		"< 250 2.0.0 OK: queued as Q0001",
		"! mailwire did TLS when it connected",
		"> QUIT\n< 221",
	)
	// A typed line is not echoed again: the user has it on screen.
	wantAbsent(t, "shell output", out, "> NOOP", "> EHLO tester", testPassword)
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.AuthUser != "alice@example.com" || string(m.Raw) != "Subject: typed\r\n\r\n.a line starting with a dot\r\nlast line\r\n" {
		t.Errorf("message by %q:\n%q", m.AuthUser, m.Raw)
	}
	var verbs []string
	for _, c := range srv.Commands() {
		verbs = append(verbs, c.Verb)
	}
	if slices.Contains(verbs, "STARTTLS") && slices.Index(verbs, "STARTTLS") != 1 {
		t.Errorf("a second STARTTLS reached the server: %q", verbs)
	}
}

func TestShellSendAndLogin(t *testing.T) {
	t.Parallel()
	srv, args := shellServer(t, nil)
	input := strings.Join([]string{
		"auth login alice@example.com",
		testPassword,
		"send",
		"From: Alice <alice@example.com>",
		"To: Bob <bob@example.com>",
		"Subject: from the shell",
		"",
		"hello",
		".",
		"",                // MAIL FROM: the From header's address
		"bob@example.com", // RCPT TO
		"raw NOOP",
	}, "\n") + "\n" // then the end of input quits
	code, out, stderr := runWith(t, runShell, input, args...)
	if code != exitOK {
		t.Fatalf("shell exited %d: %s\n%s", code, stderr, out)
	}
	wantContains(t, "shell output", out, "> AUTH LOGIN\n< 334 ", "> [redacted]", "< 235 ",
		"* Sent to bob@example.com: 250 2.0.0 OK: queued as Q0001", "> QUIT")
	wantAbsent(t, "shell output", out, testPassword)
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.From != "alice@example.com" || !slices.Equal(m.To, []string{"bob@example.com"}) || m.AuthUser != "alice@example.com" {
		t.Errorf("envelope %q -> %q by %q", m.From, m.To, m.AuthUser)
	}
	if m.Header.Get("Date") == "" || m.Header.Get("Message-Id") == "" || m.Header.Get("Subject") != "from the shell" {
		t.Errorf("header:\n%s", m.Raw)
	}
}

func TestShellConnectionLost(t *testing.T) {
	t.Parallel()
	_, args := shellServer(t, &smtptest.Config{CommandErrors: map[string]*smtptest.Reply{
		"NOOP": {Code: 421, EnhancedCode: smtptest.EnhancedCode{4, 3, 2}, Message: "Shutting down"},
	}})
	code, out, _ := runWith(t, runShell, "NOOP\nNOOP\n", args...)
	if code != exitTempFail {
		t.Errorf("exit %d after a 421, want %d", code, exitTempFail)
	}
	wantContains(t, "shell output", out, "< 421 4.3.2 Shutting down", "the connection is closed")
}

func TestShellUsage(t *testing.T) {
	t.Parallel()
	if code, _, _ := runWith(t, runShell, "", "a", "b"); code != exitUsage {
		t.Errorf("two hosts: exit %d", code)
	}
	code, out, _ := runWith(t, runShell, "", "-h")
	if code != exitOK {
		t.Errorf("-h: exit %d", code)
	}
	wantContains(t, "shell -h", out, "usage: mailwire shell", "auth plain USER", "examples:\n  mailwire shell")
	srv, _ := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	if code, out, _ := runWith(t, runShell, "", srv.Addr()); code != exitUnavail || !strings.Contains(out, "unknown authority") {
		t.Errorf("untrusted server: exit %d: %s", code, out)
	}
}
