package main

import (
	"strings"
	"testing"

	"github.com/mailwire/smtp/examples/internal/progtest"
	"github.com/mailwire/smtp/smtptest"
)

// TestSubmit builds the program and runs it against smtptest servers: a
// submission server (STARTTLS, AUTH required), and ones it must refuse.
func TestSubmit(t *testing.T) {
	bin := progtest.Build(t, ".")
	const password = "correct horse battery staple"
	newServer := func(t *testing.T, cfg *smtptest.Config) (*smtptest.Server, []string) {
		cfg.Users = map[string]string{"alice@example.com": password}
		cfg.Logf = t.Logf
		srv := smtptest.NewServer(cfg)
		t.Cleanup(srv.Close)
		env := []string{
			"SMTP_ADDR=" + srv.Addr(),
			"SMTP_USER=alice@example.com",
			"SMTP_PASSWORD=" + password,
			"SMTP_CAFILE=" + progtest.WriteCA(t, srv),
		}
		return srv, env
	}

	t.Run("sends", func(t *testing.T) {
		srv, env := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS, RequireAuth: true})
		r := progtest.Run(t, bin, append(env, "SMTP_TO=ignored@example.org"),
			"-to", "bob@example.org,carol@example.org", "-subject", "Grüße", "-body", "Hi both.", "-v")
		if r.Code != 0 {
			t.Fatalf("want exit code 0; %v", r)
		}
		msgs := srv.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d messages arrived, want 1; %v", len(msgs), r)
		}
		m := msgs[0]
		if want := "sent to bob@example.org, carol@example.org: 250 OK: queued as " + m.ID + "\n"; r.Stdout != want {
			t.Errorf("stdout %q, want %q", r.Stdout, want)
		}
		if m.From != "alice@example.com" || strings.Join(m.To, " ") != "bob@example.org carol@example.org" {
			t.Errorf("envelope: from %q to %q; want alice@example.com to bob and carol (-to replaces $SMTP_TO)", m.From, m.To)
		}
		if !m.TLS || m.AuthUser != "alice@example.com" {
			t.Errorf("TLS %v, authenticated as %q; want TLS and alice@example.com", m.TLS, m.AuthUser)
		}
		if s, err := m.Header.Subject(); err != nil || s != "Grüße" {
			t.Errorf("Subject %q (%v), want Grüße", s, err)
		}
		if got := m.Header.Get("To"); got != "bob@example.org, carol@example.org" {
			t.Errorf("To: %q", got)
		}
		if m.Header.Get("Message-Id") == "" || m.Header.Get("Date") == "" {
			t.Errorf("no Message-ID or Date:\n%s", m.Raw)
		}
		if !strings.HasSuffix(string(m.Raw), "\r\n\r\nHi both.\r\n") {
			t.Errorf("content ends %q, want the body", m.Raw)
		}
		// -v logs the session, the password redacted.
		if !strings.Contains(r.Stderr, "> AUTH PLAIN [redacted]") || !strings.Contains(r.Stderr, "> STARTTLS") {
			t.Errorf("the -v log lacks STARTTLS or the redacted AUTH:\n%s", r.Stderr)
		}
		if strings.Contains(r.Stdout+r.Stderr, password) {
			t.Error("the password is in the output")
		}
	})

	t.Run("flags and environment", func(t *testing.T) {
		srv, env := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
		r := progtest.Run(t, bin, append(env[1:], "SMTP_FROM=alias@example.com", "SMTP_TO=dan@example.org"),
			"-addr", srv.Addr())
		if r.Code != 0 {
			t.Fatalf("want exit code 0; %v", r)
		}
		if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].From != "alias@example.com" || strings.Join(msgs[0].To, " ") != "dan@example.org" {
			t.Fatalf("want one message from $SMTP_FROM to $SMTP_TO, got %d; %v", len(msgs), r)
		}
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		srv, env := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
		r := progtest.Run(t, bin, env[:3], "-to", "bob@example.org") // no CA file: the test CA is unknown
		if r.Code != 1 || !strings.Contains(r.Stderr, "unknown authority") {
			t.Errorf("want exit code 1 and an unknown authority; %v", r)
		}
		assertNoAuth(t, srv)
	})

	t.Run("no STARTTLS", func(t *testing.T) {
		// The server would take the password in clear; the program must
		// not give it.
		srv, env := newServer(t, &smtptest.Config{TLS: smtptest.NoTLS, AllowInsecureAuth: true})
		r := progtest.Run(t, bin, env, "-to", "bob@example.org")
		if r.Code != 1 || !strings.Contains(r.Stderr, "does not offer STARTTLS") {
			t.Errorf("want exit code 1 and STARTTLS not offered; %v", r)
		}
		assertNoAuth(t, srv)
	})

	t.Run("wrong password", func(t *testing.T) {
		srv, env := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
		r := progtest.Run(t, bin, append(env, "SMTP_PASSWORD=wrong"), "-to", "bob@example.org")
		if r.Code != 1 || !strings.Contains(r.Stderr, "smtp: AUTH: 535") {
			t.Errorf("want exit code 1 and AUTH refused with 535; %v", r)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("%d messages arrived, want none", n)
		}
	})

	t.Run("refused recipient", func(t *testing.T) {
		srv, env := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS, RejectRecipients: map[string]*smtptest.Reply{
			"carol@example.org": {Code: 452, EnhancedCode: smtptest.EnhancedCode{4, 2, 2}, Message: "Mailbox full"},
		}})
		r := progtest.Run(t, bin, env, "-to", "bob@example.org", "-to", "carol@example.org")
		if r.Code != 1 || !strings.Contains(r.Stdout, "sent to bob@example.org:") || !strings.Contains(r.Stderr, "refused: smtp: RCPT TO:<carol@example.org>: 452 4.2.2") {
			t.Errorf("want exit code 1, sent to bob, carol refused with 452; %v", r)
		}
		if msgs := srv.Messages(); len(msgs) != 1 || strings.Join(msgs[0].To, " ") != "bob@example.org" {
			t.Errorf("want one message to bob only, got %d", len(msgs))
		}
	})

	t.Run("recipient limit", func(t *testing.T) {
		srv, env := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS, MaxRecipients: 1})
		r := progtest.Run(t, bin, env, "-to", "bob@example.org", "-to", "carol@example.org")
		if r.Code != 0 || !strings.Contains(r.Stdout, "sent to bob@example.org: 250 OK: queued as Q0001\nsent to carol@example.org: 250 OK: queued as Q0002\n") {
			t.Errorf("want exit code 0, one transaction each; %v", r)
		}
		if msgs := srv.Messages(); len(msgs) != 2 || msgs[0].ConnID != msgs[1].ConnID {
			t.Errorf("want two messages on one connection, got %d", len(msgs))
		}
	})

	t.Run("usage", func(t *testing.T) {
		srv, env := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
		for _, c := range []struct {
			name string
			env  []string
			args []string
			want string
		}{
			{"no recipient", env, nil, "no recipient"},
			{"no password", env[:2], []string{"-to", "bob@example.org"}, "no credentials"},
			{"no server", env[1:], []string{"-to", "bob@example.org"}, "no server"},
			{"header injection", env, []string{"-to", "bob@example.org", "-subject", "Hi\r\nBcc: eve@example.net"}, "line break"},
			{"not an address", env, []string{"-to", "Bob <bob@example.org>"}, "not a bare address"},
		} {
			r := progtest.Run(t, bin, c.env, c.args...)
			if r.Code != 2 || !strings.Contains(r.Stderr, c.want) {
				t.Errorf("%s: want exit code 2 and %q; %v", c.name, c.want, r)
			}
		}
		if r := progtest.Run(t, bin, nil, "-h"); r.Code != 0 || !strings.Contains(r.Stderr, "[$SMTP_ADDR]") {
			t.Errorf("-h: want exit code 0 and the flags; %v", r)
		}
		if n := srv.Connections(); n != 0 {
			t.Errorf("bad usage made %d connections, want none", n)
		}
	})
}

// assertNoAuth fails the test if srv received AUTH or a message.
func assertNoAuth(t *testing.T, srv *smtptest.Server) {
	t.Helper()
	for _, c := range srv.Commands() {
		if c.Verb == "AUTH" || c.Verb == "MAIL" {
			t.Errorf("the server got %q", c)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages arrived, want none", n)
	}
}
