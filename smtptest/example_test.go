package smtptest_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/smtp"
	"net/textproto"
	"strings"

	mailwire "github.com/mailwire/smtp"
	"github.com/mailwire/smtp/smtptest"
)

// sendWelcome stands for the code under test: it mails a welcome note with
// the mailwire client, trusting the given TLS settings.
func sendWelcome(addr string, tc *tls.Config, to string) error {
	msg := "From: shop@example.com\r\nTo: " + to + "\r\nSubject: Welcome!\r\n\r\nThanks for signing up.\r\n"
	env := &mailwire.Envelope{From: "shop@example.com", To: []string{to}}
	_, err := mailwire.SendMail(context.Background(), addr, &mailwire.Options{TLSConfig: tc}, env, strings.NewReader(msg))
	return err
}

// A test of one's own mail-sending code: point it at the server, then look
// at what arrived.
func Example() {
	srv := smtptest.NewServer(nil)
	defer srv.Close()

	if err := sendWelcome(srv.Addr(), srv.ClientTLSConfig(), "ann@example.org"); err != nil {
		fmt.Println("send:", err)
		return
	}
	m := srv.Messages()[0]
	fmt.Println(m.From, m.To, m.Header.Get("Subject"), m.ID, "TLS:", m.TLS)
	// Output: shop@example.com [ann@example.org] Welcome! Q0001 TLS: true
}

// STARTTLS and AUTH: the client trusts the server's CA through
// ClientTLSConfig.
func ExampleServer_ClientTLSConfig() {
	srv := smtptest.NewServer(&smtptest.Config{
		TLS:   smtptest.StartTLS,
		Users: map[string]string{"ann": "s3cret"},
	})
	defer srv.Close()

	c, err := smtp.Dial(srv.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	if err := c.StartTLS(srv.ClientTLSConfig()); err != nil {
		fmt.Println("STARTTLS:", err)
		return
	}
	if err := c.Auth(smtp.PlainAuth("", "ann", "s3cret", "127.0.0.1")); err != nil {
		fmt.Println("AUTH:", err)
		return
	}
	c.Mail("ann@example.org")
	c.Rcpt("bob@example.org")
	w, _ := c.Data()
	fmt.Fprint(w, "Subject: over TLS\r\n\r\nHi Bob.\r\n")
	w.Close()
	c.Quit()

	m := srv.Messages()[0]
	fmt.Println(m.TLS, m.AuthUser, m.Header.Get("Subject"))
	// Output: true ann over TLS
}

// Faults: a recipient refused with a chosen reply, and DATA answered with
// a temporary error.
func ExampleConfig_faults() {
	srv := smtptest.NewServer(&smtptest.Config{
		TLS: smtptest.NoTLS, // net/smtp's SendMail below upgrades when it can, and trusts no private CA
		RejectRecipients: map[string]*smtptest.Reply{
			"gone@example.org": {Code: 550, EnhancedCode: smtptest.EnhancedCode{5, 1, 1}, Message: "No such user"},
		},
		CommandErrors: map[string]*smtptest.Reply{
			"DATA": {Code: 451, EnhancedCode: smtptest.EnhancedCode{4, 3, 0}, Message: "Try again later"},
		},
	})
	defer srv.Close()

	for _, to := range []string{"gone@example.org", "ann@example.org"} {
		err := smtp.SendMail(srv.Addr(), nil, "shop@example.com", []string{to}, []byte("Subject: x\r\n\r\n"))
		var te *textproto.Error
		if errors.As(err, &te) {
			fmt.Println(to, te.Code, te.Msg)
		}
	}
	fmt.Println(len(srv.Messages()), "messages")
	// Output:
	// gone@example.org 550 5.1.1 No such user
	// ann@example.org 451 4.3.0 Try again later
	// 0 messages
}
