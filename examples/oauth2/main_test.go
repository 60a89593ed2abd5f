package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailwire/smtp/examples/internal/progtest"
	"github.com/mailwire/smtp/smtptest"
)

// TestOAuth2 builds the program and runs it against a server that takes
// bearer tokens (bearerserver_test.go) and against smtptest, which does
// not.
func TestOAuth2(t *testing.T) {
	bin := progtest.Build(t, ".")
	const user, token = "alice@example.com", "ya29.test-token-0123456789"
	noToken := func(t *testing.T, r progtest.Result) {
		t.Helper()
		if strings.Contains(r.Stdout+r.Stderr, token) {
			t.Errorf("the token is in the output:\n%v", r)
		}
	}

	t.Run("OAUTHBEARER", func(t *testing.T) {
		bs := newBearerServer(t, user, token, "OAUTHBEARER", "XOAUTH2")
		r := progtest.Run(t, bin, []string{"SMTP_ADDR=" + bs.addr, "SMTP_USER=" + user, "SMTP_OAUTH2_TOKEN=" + token, "SMTP_CAFILE=" + bs.caFile},
			"-to", "bob@example.org", "-v")
		if r.Code != 0 || !strings.HasPrefix(r.Stdout, "authenticated as alice@example.com with OAUTHBEARER\nsent to bob@example.org: 250 ") {
			t.Fatalf("want exit code 0, OAUTHBEARER (preferred) and sent; %v", r)
		}
		if !strings.Contains(r.Stderr, "> AUTH OAUTHBEARER [redacted]") {
			t.Errorf("the -v log lacks the redacted AUTH line:\n%s", r.Stderr)
		}
		noToken(t, r)
		msgs := bs.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d messages arrived, want 1", len(msgs))
		}
		m := msgs[0]
		if m.user != user || m.from != user || strings.Join(m.to, " ") != "bob@example.org" {
			t.Errorf("message from %q to %q authenticated as %q; want %s to bob@example.org as %[4]s", m.from, m.to, m.user, user)
		}
		if !strings.Contains(string(m.data), "\r\nTo: bob@example.org\r\n") {
			t.Errorf("message:\n%s", m.data)
		}
	})

	t.Run("XOAUTH2 token file", func(t *testing.T) {
		bs := newBearerServer(t, user, token, "XOAUTH2")
		file := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := progtest.Run(t, bin, []string{"SMTP_CAFILE=" + bs.caFile, "SMTP_OAUTH2_TOKEN=not-this-one"},
			"-addr", bs.addr, "-user", user, "-token-file", file)
		if want := "authenticated as alice@example.com with XOAUTH2\n"; r.Code != 0 || r.Stdout != want {
			t.Fatalf("want exit code 0 and %q; %v", want, r)
		}
		if got := bs.Authenticated(); len(got) != 1 || got[0] != "XOAUTH2" {
			t.Errorf("the server saw AUTH %q, want one XOAUTH2", got)
		}
		if n := len(bs.Messages()); n != 0 {
			t.Errorf("without -to, %d messages were sent", n)
		}
	})

	for _, mech := range []string{"OAUTHBEARER", "XOAUTH2"} {
		t.Run("wrong token "+mech, func(t *testing.T) {
			bs := newBearerServer(t, user, token, mech)
			r := progtest.Run(t, bin, []string{"SMTP_ADDR=" + bs.addr, "SMTP_USER=" + user, "SMTP_OAUTH2_TOKEN=expired", "SMTP_CAFILE=" + bs.caFile},
				"-to", "bob@example.org")
			if r.Code != 1 || !strings.Contains(r.Stderr, "smtp: AUTH: 535 5.7.8") || !strings.Contains(r.Stderr, "the token was refused") {
				t.Errorf("want exit code 1, the 535 and the hint; %v", r)
			}
			if n := len(bs.Messages()); n != 0 {
				t.Errorf("%d messages arrived, want none", n)
			}
		})
	}

	// smtptest offers PLAIN and LOGIN only: the program says that the
	// server takes no token, and sends nothing.
	t.Run("smtptest without bearer tokens", func(t *testing.T) {
		srv := smtptest.NewServer(&smtptest.Config{TLS: smtptest.StartTLS, Users: map[string]string{user: "password"}, Logf: t.Logf})
		defer srv.Close()
		r := progtest.Run(t, bin, []string{"SMTP_ADDR=" + srv.Addr(), "SMTP_USER=" + user, "SMTP_OAUTH2_TOKEN=" + token, "SMTP_CAFILE=" + progtest.WriteCA(t, srv)},
			"-to", "bob@example.org")
		if r.Code != 1 ||
			!strings.Contains(r.Stderr, "smtp: the server offers no usable AUTH mechanism: the server offers PLAIN LOGIN") ||
			!strings.Contains(r.Stderr, "neither OAUTHBEARER nor XOAUTH2") {
			t.Errorf("want exit code 1 and no usable mechanism; %v", r)
		}
		noToken(t, r)
		for _, c := range srv.Commands() {
			if c.Verb == "AUTH" || c.Verb == "MAIL" {
				t.Errorf("the server got %q", c)
			}
		}
		if !srv.Commands()[len(srv.Commands())-1].TLS {
			t.Error("the program gave up before TLS")
		}
	})

	t.Run("no STARTTLS", func(t *testing.T) {
		srv := smtptest.NewServer(&smtptest.Config{TLS: smtptest.NoTLS})
		defer srv.Close()
		r := progtest.Run(t, bin, []string{"SMTP_ADDR=" + srv.Addr(), "SMTP_USER=" + user, "SMTP_OAUTH2_TOKEN=" + token})
		if r.Code != 1 || !strings.Contains(r.Stderr, "does not offer STARTTLS") {
			t.Errorf("want exit code 1 and STARTTLS not offered; %v", r)
		}
	})

	t.Run("usage", func(t *testing.T) {
		for _, c := range []struct {
			env  []string
			args []string
			want string
		}{
			{[]string{"SMTP_ADDR=127.0.0.1:1", "SMTP_USER=" + user}, nil, "no token"},
			{[]string{"SMTP_OAUTH2_TOKEN=" + token}, []string{"-addr", "127.0.0.1:1"}, "usage"},
			{[]string{"SMTP_ADDR=127.0.0.1:1", "SMTP_USER=" + user, "SMTP_OAUTH2_TOKEN=" + token}, []string{"-to", "Bob <bob@example.org>"}, "not a bare address"},
		} {
			r := progtest.Run(t, bin, c.env, c.args...)
			if r.Code != 2 || !strings.Contains(r.Stderr, c.want) {
				t.Errorf("%q %q: want exit code 2 and %q; %v", c.env, c.args, c.want, r)
			}
		}
	})
}
