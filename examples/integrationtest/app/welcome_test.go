package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/examples/integrationtest/app"
	"github.com/mailwire/smtp/smtptest"
)

// TestSendWelcome sends the welcome mail to smtptest, a submission server
// in the test process with STARTTLS and AUTH required, and checks what
// arrived: envelope, header fields, text, TLS and login.
func TestSendWelcome(t *testing.T) {
	srv := smtptest.NewServer(&smtptest.Config{
		TLS:         smtptest.StartTLS,
		Users:       map[string]string{"app": "app-password"},
		RequireAuth: true,
		Logf:        t.Logf,
	})
	defer srv.Close()

	m := &app.Mailer{
		Addr:      srv.Addr(),
		From:      "welcome@example.com",
		User:      "app",
		Password:  "app-password",
		TLSConfig: srv.ClientTLSConfig(), // trusts the test server's CA only
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reply, err := m.SendWelcome(ctx, "Jörg", "jorg@example.org")
	if err != nil {
		t.Fatal(err)
	}

	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages arrived, want 1", len(msgs))
	}
	got := msgs[0]
	if !strings.Contains(reply, got.ID) {
		t.Errorf("SendWelcome returned %q, want the queue id %s in it", reply, got.ID)
	}
	if got.From != "welcome@example.com" || len(got.To) != 1 || got.To[0] != "jorg@example.org" {
		t.Errorf("envelope: MAIL FROM %q, RCPT TO %q; want welcome@example.com to [jorg@example.org]", got.From, got.To)
	}
	if !got.TLS || got.AuthUser != "app" {
		t.Errorf("TLS %v, authenticated as %q; want TLS as \"app\"", got.TLS, got.AuthUser)
	}
	if got.HeaderErr != nil {
		t.Fatalf("header does not parse: %v", got.HeaderErr)
	}
	if subject, err := got.Header.Subject(); err != nil || subject != "Welcome, Jörg!" {
		t.Errorf("Subject %q (%v), want \"Welcome, Jörg!\"", subject, err)
	}
	to, err := got.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "Jörg" || to[0].Address != "jorg@example.org" {
		t.Errorf("To: %v (%v), want Jörg <jorg@example.org>", to, err)
	}
	from, err := got.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "welcome@example.com" {
		t.Errorf("From: %v (%v), want welcome@example.com", from, err)
	}
	if got.Header.Get("Date") == "" {
		t.Error("no Date field")
	}
	if !strings.Contains(string(got.Raw), "\r\n\r\nHello Jörg,\r\n") {
		t.Errorf("the text does not greet Jörg:\n%s", got.Raw)
	}
}

// A refused recipient is an error the application can tell apart, and
// nothing is delivered.
func TestSendWelcomeRefused(t *testing.T) {
	srv := smtptest.NewServer(&smtptest.Config{
		TLS: smtptest.StartTLS,
		RejectRecipients: map[string]*smtptest.Reply{
			"nobody@example.org": {Code: 550, EnhancedCode: smtptest.EnhancedCode{5, 1, 1}, Message: "no such user"},
		},
	})
	defer srv.Close()

	m := &app.Mailer{Addr: srv.Addr(), From: "welcome@example.com", TLSConfig: srv.ClientTLSConfig()}
	_, err := m.SendWelcome(context.Background(), "Nobody", "nobody@example.org")
	var refused *smtp.RecipientError
	if !errors.As(err, &refused) || refused.Addr != "nobody@example.org" || refused.Err.Code != 550 {
		t.Fatalf("err = %v, want a *smtp.RecipientError for nobody@example.org with 550", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages arrived, want none", n)
	}
}

// The Mailer never sends the password in clear: against a server without
// STARTTLS it fails before AUTH.
func TestSendWelcomeNeedsTLS(t *testing.T) {
	srv := smtptest.NewServer(&smtptest.Config{
		TLS:               smtptest.NoTLS,
		Users:             map[string]string{"app": "app-password"},
		AllowInsecureAuth: true, // the server would take it; the client must not give it
	})
	defer srv.Close()

	m := &app.Mailer{Addr: srv.Addr(), From: "welcome@example.com", User: "app", Password: "app-password", TLSConfig: srv.ClientTLSConfig()}
	_, err := m.SendWelcome(context.Background(), "Ann", "ann@example.org")
	if !errors.Is(err, smtp.ErrStartTLSNotOffered) {
		t.Fatalf("err = %v, want smtp.ErrStartTLSNotOffered", err)
	}
	for _, c := range srv.Commands() {
		if c.Verb == "AUTH" || c.Verb == "MAIL" {
			t.Errorf("the server got %q over plaintext", c)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages arrived, want none", n)
	}
}
