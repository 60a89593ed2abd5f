package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailwire/smtp/smtptest"
)

// verbs lists the commands the server received, QUIT included.
func verbs(srv *smtptest.Server) []string {
	var v []string
	for _, c := range srv.Commands() {
		v = append(v, c.Verb)
	}
	return v
}

func TestSendHeader(t *testing.T) {
	t.Parallel()
	srv, base := sendServer(t, nil)
	args := append(slices.Clone(base), "--to", "bob@example.com", "--subject", "original", "--body", "hi",
		"--header", "X-Test: one", "--header", "X-Test:two", "--header", "Subject: replaced")
	if code, _, stderr := runWith(t, runSend, "", args...); code != exitOK {
		t.Fatalf("send --header: exit %d: %s", code, stderr)
	}
	msg := "From: alice@example.com\nSubject: as is\n\nbody\n"
	args = append(slices.Clone(base), "--to", "bob@example.com", "--header", "X-Added: yes", "--message", writeFile(t, "m.eml", msg))
	if code, _, stderr := runWith(t, runSend, "", args...); code != exitOK {
		t.Fatalf("send --header --message FILE: exit %d: %s", code, stderr)
	}
	args = append(slices.Clone(base), "--password-env", "", "--to", "bob@example.com", "--header", "X-Added: yes", "--message", "-")
	args = slices.DeleteFunc(args, func(a string) bool { return a == "--user" || a == "alice@example.com" })
	if code, _, stderr := runWith(t, runSend, msg, args...); code != exitOK {
		t.Fatalf("send --header --message -: exit %d: %s", code, stderr)
	}
	msgs := srv.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3", len(msgs))
	}
	h := msgs[0].Header
	if got := h.Values("X-Test"); !slices.Equal(got, []string{"one", "two"}) || h.Values("Subject") == nil || len(h.Values("Subject")) != 1 || h.Get("Subject") != "replaced" {
		t.Errorf("composed: X-Test %q, Subject %q:\n%s", got, h.Values("Subject"), msgs[0].Raw)
	}
	want := "X-Added: yes\r\n" + strings.ReplaceAll(msg, "\n", "\r\n")
	for _, m := range msgs[1:] {
		if string(m.Raw) != want {
			t.Errorf("--message with --header:\n%q\nwant\n%q", m.Raw, want)
		}
	}
}

// A header with CR or LF in it would smuggle another field: it is refused
// before anything is sent, saying why.
func TestHeaderRefusesLineBreaks(t *testing.T) {
	t.Parallel()
	srv, base := sendServer(t, nil)
	for _, bad := range []string{"X-A: 1\r\nBcc: eve@example.com", "X-A: 1\nBcc: eve@example.com", "X-A: 1\rx", "X-A: \x00"} {
		code, _, stderr := runWith(t, runSend, "", append(slices.Clone(base), "--to", "bob@example.com", "--body", "x", "--header", bad)...)
		if code != exitUsage || !strings.Contains(stderr, "CR, LF or NUL in a header would end it and start another field") {
			t.Errorf("--header %q: exit %d, %q", bad, code, stderr)
		}
	}
	for _, bad := range []string{"no colon", ": no name", "Two words: x", "Ünicode: x"} {
		if _, err := parseHeaders([]string{bad}); err == nil || !strings.Contains(err.Error(), `want "Name: value"`) {
			t.Errorf("parseHeaders(%q) = %v", bad, err)
		}
	}
	if len(srv.Commands()) != 0 {
		t.Errorf("the server got commands: %q", verbs(srv))
	}
}

func TestSendQuitAfter(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		step  string
		code  int
		verbs []string
		want  []string
	}{
		{"connect", exitOK, []string{"QUIT"}, []string{"connect: 127.0.0.1:", ": 220 smtptest.local ESMTP Service Ready\n"}},
		{"ehlo", exitOK, []string{"EHLO", "QUIT"}, []string{"\nehlo:    PIPELINING, 8BITMIME, ", ", STARTTLS\n"}},
		{"tls", exitOK, []string{"EHLO", "STARTTLS", "EHLO", "QUIT"}, []string{"\ntls:     TLS 1.3, ", ", certificate verified\n"}},
		{"auth", exitOK, []string{"EHLO", "STARTTLS", "EHLO", "AUTH", "QUIT"}, []string{"\nauth:    logged in as alice@example.com\n"}},
		{"mail", exitOK, []string{"EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RSET", "QUIT"},
			[]string{"\nmail:    MAIL FROM:<alice@example.com>: accepted: 250 "}},
		{"rcpt", exitDataErr, []string{"EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "RSET", "QUIT"}, []string{
			"\nrcpt:    RCPT TO:<bob@example.com>: accepted: 250 ",
			"\nrcpt:    RCPT TO:<nobody@example.com>: refused: 550 5.1.1 No such user\n"}},
	} {
		t.Run(tt.step, func(t *testing.T) {
			t.Parallel()
			srv, base := sendServer(t, nil)
			args := append(slices.Clone(base), "--to", "bob@example.com", "--to", "nobody@example.com", "--body", "never sent", "--quit-after", tt.step)
			code, out, stderr := runWith(t, runSend, "", args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d: %s", code, tt.code, stderr)
			}
			wantContains(t, "stdout", out, append(tt.want, "\nquit:    after "+tt.step+" (--quit-after): no message was sent\n")...)
			if got := verbs(srv); !slices.Equal(got, tt.verbs) {
				t.Errorf("the server got %q, want %q", got, tt.verbs)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("%d messages sent", n)
			}
		})
	}
}

// In implicit TLS the handshake comes before the greeting: --quit-after
// connect does it too, and ehlo reports TLS.
func TestSendQuitAfterImplicitTLS(t *testing.T) {
	t.Parallel()
	srv, ca := newServer(t, &smtptest.Config{TLS: smtptest.ImplicitTLS})
	code, out, stderr := runWith(t, runSend, "", srv.Addr(), "--security", "implicit", "--cafile", ca, "--quit-after", "connect")
	if code != exitOK || !strings.Contains(out, ": 220 smtptest.local ESMTP Service Ready\n") {
		t.Errorf("connect: exit %d: %s%s", code, out, stderr)
	}
	code, out, stderr = runWith(t, runSend, "", srv.Addr(), "--security", "tls", "--cafile", ca, "--quit-after", "ehlo")
	if code != exitOK || !strings.Contains(out, "\ntls:     TLS 1.3, ") || !strings.Contains(out, "\nehlo:    PIPELINING") {
		t.Errorf("ehlo: exit %d: %s%s", code, out, stderr)
	}
	if got := verbs(srv); !slices.Equal(got, []string{"QUIT", "EHLO", "QUIT"}) {
		t.Errorf("the server got %q", got)
	}
	for _, c := range srv.Commands() {
		if !c.TLS {
			t.Errorf("%s came in plaintext", c)
		}
	}
	// A plaintext connect to that port names the mode, within the wait.
	start := time.Now()
	code, _, stderr = runWith(t, runSend, "", srv.Addr(), "--greeting-timeout", "300ms", "--quit-after", "connect")
	if code != exitUnavail || !strings.Contains(stderr, "no greeting within 300ms (--greeting-timeout)") || !strings.Contains(stderr, "try --security implicit") {
		t.Errorf("plaintext connect to implicit TLS: exit %d: %s", code, stderr)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}
}
