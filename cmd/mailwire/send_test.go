package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mailwire/smtp/smtptest"
)

const testPassword = "pw-secret-1"

// sendServer is a submission server with alice's account and a recipient
// it refuses.
func sendServer(t *testing.T, cfg *smtptest.Config) (*smtptest.Server, []string) {
	t.Helper()
	if cfg == nil {
		cfg = &smtptest.Config{}
	}
	cfg.TLS = smtptest.StartTLS
	cfg.Users = map[string]string{"alice@example.com": testPassword}
	if cfg.RejectRecipients == nil {
		cfg.RejectRecipients = map[string]*smtptest.Reply{
			"nobody@example.com": {Code: 550, EnhancedCode: smtptest.EnhancedCode{5, 1, 1}, Message: "No such user"},
			"busy@example.com":   {Code: 450, EnhancedCode: smtptest.EnhancedCode{4, 2, 1}, Message: "Mailbox busy"},
		}
	}
	srv, ca := newServer(t, cfg)
	pw := writeFile(t, "password", testPassword+"\n")
	return srv, []string{"--server", srv.Addr(), "--cafile", ca, "--user", "alice@example.com", "--password-file", pw, "--from", "Alice <alice@example.com>"}
}

func TestSendComposed(t *testing.T) {
	t.Parallel()
	srv, base := sendServer(t, nil)
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte{0, 0xff, 0x80, '\n', '.'}, 3000)...)
	pdfPath := writeFile(t, "report.pdf", string(pdf))
	args := append(base, "--to", "Bob <bob@example.com>", "--cc", "Carol <carol@example.com>", "--bcc", "dave@example.com",
		"--subject", "Quarterly report ü", "--body", "Hello Bob,\n.a line with a dot\nbye", "--attach", pdfPath)
	code, out, stderr := runWith(t, runSend, "", args...)
	if code != exitOK || out != "250 2.0.0 OK: queued as Q0001\n" {
		t.Fatalf("send: exit %d, stdout %q, stderr %s", code, out, stderr)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("the server holds %d messages", len(msgs))
	}
	m := msgs[0]
	if m.From != "alice@example.com" || !slices.Equal(m.To, []string{"bob@example.com", "carol@example.com", "dave@example.com"}) || m.AuthUser != "alice@example.com" || !m.TLS {
		t.Errorf("envelope %q -> %q, user %q, TLS %v", m.From, m.To, m.AuthUser, m.TLS)
	}
	header, _, _ := bytes.Cut(m.Raw, []byte("\r\n\r\n"))
	if bytes.Contains(m.Raw, []byte("dave")) || m.Header.Has("Bcc") {
		t.Errorf("the Bcc recipient shows in the message:\n%s", header)
	}
	subject, _ := m.Header.Subject()
	from, _ := m.Header.AddressList("From")
	to, _ := m.Header.AddressList("To")
	cc, _ := m.Header.AddressList("Cc")
	if subject != "Quarterly report ü" || len(from) != 1 || from[0].Name != "Alice" || len(to) != 1 || to[0].Address != "bob@example.com" ||
		len(cc) != 1 || cc[0].Address != "carol@example.com" || m.Header.Get("Date") == "" || !strings.HasSuffix(m.Header.Get("Message-Id"), "@example.com>") {
		t.Errorf("header:\n%s", header)
	}
	mr, err := m.MailReader()
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p.Body)
		switch h := p.Header.(type) {
		case interface{ Filename() (string, error) }:
			name, _ := h.Filename()
			ctype := p.Header.Get("Content-Type")
			if name != "report.pdf" || ctype != "application/pdf" || p.Header.Get("Content-Transfer-Encoding") != "base64" || !bytes.Equal(body, pdf) {
				t.Errorf("attachment %q %s, %d bytes, equal %v", name, ctype, len(body), bytes.Equal(body, pdf))
			}
			parts = append(parts, "attachment")
		default:
			if string(body) != "Hello Bob,\r\n.a line with a dot\r\nbye\r\n" {
				t.Errorf("text part = %q", body)
			}
			parts = append(parts, "text")
		}
	}
	if !slices.Equal(parts, []string{"text", "attachment"}) {
		t.Errorf("parts = %q", parts)
	}
}

func TestSendMessageFile(t *testing.T) {
	t.Parallel()
	srv, base := sendServer(t, nil)
	msg := "From: alice@example.com\nTo: list@example.com\nSubject: as is\n\nline one\n.starts with a dot\n"
	args := append(slices.Clone(base), "--to", "bob@example.com", "--message", writeFile(t, "m.eml", msg))
	if code, _, stderr := runWith(t, runSend, "", args...); code != exitOK {
		t.Fatalf("--message FILE: exit %d: %s", code, stderr)
	}
	// From standard input: the password cannot come from there too.
	args = append(slices.Clone(base), "--to", "carol@example.com", "--message", "-")
	if code, _, stderr := runWith(t, runSend, msg, args...); code != exitOK {
		t.Fatalf("--message -: exit %d: %s", code, stderr)
	}
	want := strings.ReplaceAll(msg, "\n", "\r\n")
	for i, m := range srv.Messages() {
		if string(m.Raw) != want || len(m.To) != 1 {
			t.Errorf("message %d to %q:\n%q\nwant\n%q", i, m.To, m.Raw, want)
		}
	}
	if n := len(srv.Messages()); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}

func TestSendExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cfg        *smtptest.Config
		to         []string
		code       int
		delivered  int
		stdout     string
		stderrWant []string
	}{
		{"one refused", nil, []string{"bob@example.com", "nobody@example.com"}, exitDataErr, 1, "queued as Q0001",
			[]string{"refused: <nobody@example.com>: 550 5.1.1 No such user (bad destination mailbox address)", "went to 1 of 2 recipients"}},
		{"all refused", nil, []string{"nobody@example.com", "busy@example.com"}, exitDataErr, 0, "",
			[]string{"refused: <nobody@example.com>: 550 5.1.1", "refused: <busy@example.com>: 450 4.2.1", "every recipient was refused"}},
		{"temporary refusal only", nil, []string{"bob@example.com", "busy@example.com"}, exitTempFail, 1, "queued as Q0001",
			[]string{"refused: <busy@example.com>: 450 4.2.1 Mailbox busy"}},
		{"4xx to MAIL", &smtptest.Config{CommandErrors: map[string]*smtptest.Reply{"MAIL": {Code: 451, EnhancedCode: smtptest.EnhancedCode{4, 3, 0}, Message: "Try later"}}},
			[]string{"bob@example.com"}, exitTempFail, 0, "", []string{"451 4.3.0 Try later"}},
		{"5xx after the content", &smtptest.Config{CommandErrors: map[string]*smtptest.Reply{smtptest.StepAfterData: {Code: 554, EnhancedCode: smtptest.EnhancedCode{5, 7, 1}, Message: "Spam"}}},
			[]string{"bob@example.com"}, exitDataErr, 0, "", []string{"554 5.7.1 Spam", "5.7.1: delivery not authorized"}},
		{"delivery unknown", &smtptest.Config{DropAt: smtptest.StepAfterData},
			[]string{"bob@example.com"}, exitTempFail, 1, "", []string{"delivery unknown: the server may have queued the message"}},
		{"too large", &smtptest.Config{MaxMessageBytes: 600},
			[]string{"bob@example.com"}, exitDataErr, 0, "", []string{"the server takes at most 600 (600 bytes, SIZE): nothing was sent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, base := sendServer(t, tt.cfg)
			args := append(slices.Clone(base), "--subject", "s", "--body", strings.Repeat("x", 700))
			for _, to := range tt.to {
				args = append(args, "--to", to)
			}
			code, out, stderr := runWith(t, runSend, "", args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			if n := len(srv.Messages()); n != tt.delivered {
				t.Errorf("%d messages delivered, want %d", n, tt.delivered)
			}
			if tt.stdout == "" && out != "" || !strings.Contains(out, tt.stdout) {
				t.Errorf("stdout %q, want %q", out, tt.stdout)
			}
			wantContains(t, "stderr", stderr, tt.stderrWant...)
		})
	}
}

func TestSendAuthAndTLSFailures(t *testing.T) {
	t.Parallel()
	srv, base := sendServer(t, nil)
	wrong := writeFile(t, "wrong", "not-the-password")
	args := append(slices.Clone(base), "--password-file", wrong, "--to", "bob@example.com", "--body", "x")
	if code, _, stderr := runWith(t, runSend, "", args...); code != exitUnavail || !strings.Contains(stderr, "535 5.7.8") {
		t.Errorf("bad password: exit %d, want %d: %s", code, exitUnavail, stderr)
	}
	plain := []string{"--server", srv.Addr(), "--from", "alice@example.com", "--to", "bob@example.com", "--body", "x"}
	if code, _, stderr := runWith(t, runSend, "", plain...); code != exitUnavail || !strings.Contains(stderr, "unknown authority") {
		t.Errorf("untrusted certificate: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runWith(t, runSend, "", append(plain, "--insecure", "--pin", srv.Pin())...); code != exitOK {
		t.Errorf("--insecure --pin with the right pin: exit %d: %s", code, stderr)
	}
	other := "sha256//" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	if code, _, stderr := runWith(t, runSend, "", append(plain, "--insecure", "--pin", other)...); code != exitUnavail || !strings.Contains(stderr, "pin mismatch") {
		t.Errorf("wrong pin: exit %d: %s", code, stderr)
	}
	args = append(slices.Clone(base), "--security", "plain", "--to", "bob@example.com", "--body", "x")
	if code, _, stderr := runWith(t, runSend, "", args...); code != exitUnavail || !strings.Contains(stderr, "only after STARTTLS") {
		t.Errorf("AUTH in plaintext: exit %d: %s", code, stderr)
	}
}

func TestSendTraceHidesPassword(t *testing.T) {
	t.Parallel()
	_, base := sendServer(t, nil)
	for _, flag := range []string{"--trace", "--explain"} {
		code, _, stderr := runWith(t, runSend, "", append(slices.Clone(base), flag, "--to", "bob@example.com", "--body", "hi")...)
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", flag, code, stderr)
		}
		wantContains(t, flag+" log", stderr, "> AUTH PLAIN [redacted]\n", "< 235 ", "> MAIL FROM:<alice@example.com>")
		plainB64 := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.com\x00" + testPassword))
		wantAbsent(t, flag+" log", stderr, testPassword, plainB64, base64.StdEncoding.EncodeToString([]byte(testPassword)))
	}
}

func TestSendPasswordEnv(t *testing.T) { // not parallel: Setenv
	_, base := sendServer(t, nil)
	t.Setenv("MAILWIRE_TEST_PW", testPassword)
	args := append(slices.Clone(base), "--password-env", "MAILWIRE_TEST_PW", "--password-file", "", "--to", "bob@example.com")
	if code, _, stderr := runWith(t, runSend, "", args...); code != exitOK {
		t.Errorf("--password-env: exit %d: %s", code, stderr)
	}
	args = append(slices.Clone(base), "--password-env", "MAILWIRE_TEST_UNSET", "--password-file", "", "--to", "bob@example.com")
	if code, _, stderr := runWith(t, runSend, "", args...); code != exitNoInput || !strings.Contains(stderr, "MAILWIRE_TEST_UNSET") {
		t.Errorf("unset variable: exit %d: %s", code, stderr)
	}
	// Standard input that is not a terminal gives the password as a line.
	args = append(slices.Clone(base), "--password-file", "", "--to", "bob@example.com")
	if code, _, stderr := runWith(t, runSend, testPassword+"\n", args...); code != exitOK {
		t.Errorf("password on stdin: exit %d: %s", code, stderr)
	}
}

func TestSendUsage(t *testing.T) {
	t.Parallel()
	ok := []string{"--server", "127.0.0.1:1", "--from", "a@example.com", "--to", "b@example.com"}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--from", "a@example.com", "--to", "b@example.com"}, exitUsage, "no server: give HOST[:PORT] as the first argument, or --server"},
		{[]string{"--server", "h", "--to", "b@example.com"}, exitUsage, "--from is required"},
		{[]string{"--server", "h", "--from", "a@example.com"}, exitUsage, "no recipient"},
		{append(slices.Clone(ok), "--message", "m", "--subject", "s"), exitUsage, "--message sends a whole message"},
		{append(slices.Clone(ok), "--body", "b", "--body-file", "f"), exitUsage, "not both"},
		{append(slices.Clone(ok), "--to", "not an address"), exitUsage, `--to "not an address"`},
		{append(slices.Clone(ok), "--password", "x"), exitUsage, "flag provided but not defined: -password"},
		{append(slices.Clone(ok), "extra"), exitUsage, `unexpected argument "extra"`},
		{[]string{"h1", "h2", "--from", "a@example.com", "--to", "b@example.com"}, exitUsage, `unexpected argument "h2"`},
		{append(slices.Clone(ok), "--quit-after", "data"), exitUsage, `unknown --quit-after "data"`},
		{append(slices.Clone(ok), "--header", "X-A: 1\r\nBcc: eve@example.com"), exitUsage, `--header "X-A: 1\r\nBcc: eve@example.com": CR, LF or NUL`},
		{append(slices.Clone(ok), "--header", "no colon"), exitUsage, `want "Name: value"`},
		{append(slices.Clone(ok), "--connect-to", "a:b:c"), exitUsage, `--connect-to "a:b:c"`},
		{append(slices.Clone(ok), "--key", "k.pem"), exitUsage, "--key goes with --cert"},
		{append(slices.Clone(ok), "--user", "a", "--message", "-"), exitUsage, "--password-env or --password-file"},
		{append(slices.Clone(ok), "--attach", "/nonexistent/file"), exitNoInput, "/nonexistent/file"},
		{append(slices.Clone(ok), "--cafile", "/nonexistent/ca.pem"), exitNoInput, "ca.pem"},
	} {
		code, _, stderr := runWith(t, runSend, "", tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("send %q: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
	code, out, _ := runWith(t, runSend, "", "-h")
	if code != exitOK {
		t.Errorf("-h exited %d", code)
	}
	wantContains(t, "send -h", out, "examples:\n  mailwire send", "EX_TEMPFAIL", "delivery unknown", "-bcc", "-password-env")
}

// --proxy through the real dante that scripts/proxies/up.sh starts; and a
// bad --proxy is refused before any connection, without its password.
func TestSendThroughProxy(t *testing.T) {
	t.Parallel()
	_, base := sendServer(t, nil)
	code, _, stderr := runWith(t, runSend, "", append(slices.Clone(base), "--proxy", "ftp://u:top-secret@127.0.0.1:1", "--to", "bob@example.com", "--body", "hi")...)
	if code == exitOK || !strings.Contains(stderr, "Options.Proxy") || strings.Contains(stderr, "top-secret") {
		t.Errorf("a bad --proxy: exit %d, %s", code, stderr)
	}
	socks := os.Getenv("MAILWIRE_PROXY_SOCKS")
	if os.Getenv("MAILWIRE_PROXIES") != "1" || socks == "" {
		t.Skip("no proxies: run the README's test command (scripts/test.sh) to start them")
	}
	code, out, stderr := runWith(t, runSend, "", append(slices.Clone(base), "--proxy", "socks5://"+socks, "--to", "bob@example.com", "--body", "hi", "--trace")...)
	if code != exitOK || !strings.Contains(stderr, " through proxy socks5://"+socks) || !strings.Contains(out, "queued as") {
		t.Errorf("send through the proxy: exit %d\n%s\n%s", code, out, stderr)
	}
}
