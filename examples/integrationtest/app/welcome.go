// Package app stands for your application: its Mailer sends the welcome
// mail of a new user through a submission server. The example is its test,
// welcome_test.go, which runs Mailer against smtptest, an SMTP server in the
// test process, and checks what arrived there: the envelope, the header
// fields, the text, that it came over TLS and authenticated.
//
// Run the test from the examples directory:
//
//	go test ./integrationtest/...
//
// The Mailer takes its TLS configuration from its caller, so that the test
// can hand it smtptest's Server.ClientTLSConfig (which trusts the test
// server's own CA) and production code the system's CAs (a nil TLSConfig):
// nothing is made less secure for the sake of the test.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/mailwire/smtp"
)

// Mailer sends the application's mail.
type Mailer struct {
	// Addr is the submission server, "host:port".
	Addr string
	// From is the sender, e.g. "welcome@example.com".
	From string
	// User and Password authenticate; no AUTH when User is empty.
	User, Password string
	// TLSConfig is nil in production (the system's CAs); a test sets it.
	TLSConfig *tls.Config
}

// SendWelcome mails the welcome message to a new user. It returns the
// server's queue id (the text of its reply, e.g. "OK: queued as Q0001").
func (m *Mailer) SendWelcome(ctx context.Context, name, email string) (string, error) {
	if name == "" || strings.ContainsAny(name, "\r\n") {
		return "", errors.New("app: a user's name must be one line, not empty")
	}
	opts := &smtp.Options{TLSConfig: m.TLSConfig, Timeout: time.Minute}
	if m.User != "" {
		opts.Auth = smtp.PasswordAuth(m.User, m.Password)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: Example <%s>\r\n", m.From)
	fmt.Fprintf(&b, "To: %s <%s>\r\n", mime.QEncoding.Encode("utf-8", name), email)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", "Welcome, "+name+"!"))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	fmt.Fprintf(&b, "Hello %s,\r\n\r\nyour account is ready.\r\n", name)

	env := &smtp.Envelope{From: m.From, To: []string{email}}
	r, err := smtp.SendMail(ctx, m.Addr, opts, env, strings.NewReader(b.String()))
	if err != nil {
		return "", fmt.Errorf("app: welcome mail to %s: %w", email, err)
	}
	return r.Reply.Message, nil
}
