package smtp_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"strings"
	"sync"

	"github.com/emersion/go-message/mail"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/smtptest"
)

const exampleMessage = "From: alice@example.com\r\nTo: bob@example.com\r\nSubject: hello\r\n\r\nHello, Bob.\r\n"

// SendMail sends one message: connect, STARTTLS, send, QUIT.
func ExampleSendMail() {
	srv := smtptest.NewServer(&smtptest.Config{TLS: smtptest.StartTLS})
	defer srv.Close()

	opts := &smtp.Options{TLSConfig: srv.ClientTLSConfig()} // STARTTLS is mandatory by default
	env := &smtp.Envelope{From: "alice@example.com", To: []string{"bob@example.com"}}
	r, err := smtp.SendMail(context.Background(), srv.Addr(), opts, env, strings.NewReader(exampleMessage))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Accepted, r.Reply.Code, r.Reply.Message)
	fmt.Println("received over TLS:", srv.Messages()[0].TLS)
	// Output:
	// [bob@example.com] 250 OK: queued as Q0001
	// received over TLS: true
}

// A client pins the server's public key, in curl's --pinnedpubkey form: a
// proxy's certificate is refused even when a trusted CA issued it.
func ExampleDial_pinned() {
	srv := smtptest.NewServer(&smtptest.Config{TLS: smtptest.StartTLS})
	defer srv.Close()
	pin := srv.Pin() // "sha256//…": what `mailwire probe` prints for a real server

	c, err := smtp.Dial(context.Background(), srv.Addr(), &smtp.Options{
		Security:  smtp.StartTLS,
		TLSConfig: srv.ClientTLSConfig(),
		Pins:      []string{pin},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Quit(context.Background())
	state, _ := c.TLSConnectionState()
	fmt.Println("pinned key matched:", smtp.Pin(state.PeerCertificates[0]) == pin)

	// Any other key is refused before a byte of SMTP goes over TLS.
	_, err = smtp.Dial(context.Background(), srv.Addr(), &smtp.Options{
		TLSConfig: srv.ClientTLSConfig(),
		Pins:      []string{"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
	})
	fmt.Println("wrong pin refused:", errors.Is(err, smtp.ErrPinMismatch))
	// Output:
	// pinned key matched: true
	// wrong pin refused: true
}

// Implicit TLS ("SMTPS", port 465): TLS from the first byte. SecurityAuto
// chooses it by itself when the port is 465.
func ExampleDial_implicitTLS() {
	srv := smtptest.NewServer(&smtptest.Config{TLS: smtptest.ImplicitTLS})
	defer srv.Close()

	c, err := smtp.Dial(context.Background(), srv.Addr(), &smtp.Options{
		Security:  smtp.ImplicitTLS,
		TLSConfig: srv.ClientTLSConfig(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Quit(context.Background())
	state, _ := c.TLSConnectionState()
	fmt.Println(tls.VersionName(state.Version))
	// Output: TLS 1.3
}

// PasswordAuth picks the strongest mechanism the server offers, and never
// sends a password over an unencrypted connection unless told to.
func ExamplePasswordAuth() {
	srv := smtptest.NewServer(&smtptest.Config{TLS: smtptest.StartTLS, Users: map[string]string{"alice": "s3cret"}})
	defer srv.Close()

	c, err := smtp.Dial(context.Background(), srv.Addr(), &smtp.Options{
		TLSConfig: srv.ClientTLSConfig(),
		Auth:      smtp.PasswordAuth("alice", "s3cret"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Quit(context.Background())
	_, mechs := c.Extension("AUTH")
	fmt.Println("offered:", mechs)

	env := &smtp.Envelope{From: "alice@example.com", To: []string{"bob@example.com"}}
	if _, err := c.Send(context.Background(), env, strings.NewReader(exampleMessage)); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sent as:", srv.Messages()[0].AuthUser)

	// Over plaintext, the same Auth refuses before sending the password.
	plain := smtptest.NewServer(&smtptest.Config{TLS: smtptest.NoTLS, Users: map[string]string{"alice": "s3cret"}, AllowInsecureAuth: true})
	defer plain.Close()
	_, err = smtp.Dial(context.Background(), plain.Addr(), &smtp.Options{Security: smtp.Plaintext, Auth: smtp.PasswordAuth("alice", "s3cret")})
	fmt.Println("over plaintext:", errors.Is(err, smtp.ErrInsecureAuth))
	// Output:
	// offered: PLAIN LOGIN
	// sent as: alice
	// over plaintext: true
}

// Refused recipients are reported one by one; the message goes to the
// others.
func ExampleClient_Send() {
	srv := smtptest.NewServer(&smtptest.Config{RejectRecipients: map[string]*smtptest.Reply{
		"nobody@example.com": {Code: 550, EnhancedCode: smtptest.EnhancedCode{5, 1, 1}, Message: "no such user"},
	}})
	defer srv.Close()

	c, err := smtp.Dial(context.Background(), srv.Addr(), &smtp.Options{Security: smtp.Plaintext})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Quit(context.Background())
	env := &smtp.Envelope{From: "alice@example.com", To: []string{"bob@example.com", "nobody@example.com"}}
	r, err := c.Send(context.Background(), env, strings.NewReader(exampleMessage))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accepted:", r.Accepted)
	for _, rej := range r.Rejected {
		fmt.Println("rejected:", rej)
		fmt.Println("meaning:", rej.Err.Enhanced.Description())
	}
	// Output:
	// accepted: [bob@example.com]
	// rejected: smtp: RCPT TO:<nobody@example.com>: 550 5.1.1 no such user (bad destination mailbox address)
	// meaning: bad destination mailbox address
}

// A Pool shares a few connections among many senders and reuses them.
func ExamplePool() {
	srv := smtptest.NewServer(&smtptest.Config{TLS: smtptest.StartTLS})
	defer srv.Close()

	pool, err := smtp.NewPool(srv.Addr(), &smtp.Options{TLSConfig: srv.ClientTLSConfig()}, &smtp.PoolOptions{MaxConns: 2})
	if err != nil {
		log.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := &smtp.Envelope{From: "alice@example.com", To: []string{fmt.Sprintf("user%d@example.com", i)}}
			if _, err := pool.Send(context.Background(), env, strings.NewReader(exampleMessage)); err != nil {
				log.Print(err)
			}
		}()
	}
	wg.Wait()
	pool.Close()
	fmt.Println(len(srv.Messages()), "messages;", srv.Connections() <= 2, "that at most 2 connections carried them")
	// Output: 10 messages; true that at most 2 connections carried them
}

// A message composed with a text body, an HTML alternative and an
// attachment, streamed into the send; the Bcc recipient gets it without
// being named in it.
func ExampleClient_SendComposed() {
	srv := smtptest.NewServer(&smtptest.Config{TLS: smtptest.StartTLS})
	defer srv.Close()
	c, err := smtp.Dial(context.Background(), srv.Addr(), &smtp.Options{TLSConfig: srv.ClientTLSConfig()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Quit(context.Background())

	m := &smtp.Message{
		From:        &mail.Address{Name: "Alice", Address: "alice@example.com"},
		To:          []*mail.Address{{Name: "Bob", Address: "bob@example.com"}},
		Bcc:         []*mail.Address{{Address: "archive@example.com"}},
		Subject:     "Quarterly report",
		Text:        "The report is attached.",
		HTML:        "<p>The report is <b>attached</b>.</p>",
		Attachments: []smtp.Part{{Filename: "report.csv", Body: strings.NewReader("quarter,total\nQ3,42\n")}},
	}
	r, err := c.SendComposed(context.Background(), m)
	if err != nil {
		log.Fatal(err)
	}
	got := srv.Messages()[0]
	fmt.Println(r.Accepted)
	fmt.Println(got.Header.Get("Subject"), "| Bcc in the content:", strings.Contains(string(got.Raw), "archive@"))
	// Output:
	// [bob@example.com archive@example.com]
	// Quarterly report | Bcc in the content: false
}

// Delivering straight to the recipients' MX hosts, with DANE where the
// domain publishes TLSA records: name a validating resolver you trust (an
// Unbound on 127.0.0.1, say) so that its AD flag means something. Each
// domain's receipt lists every host tried, in TLS-RPT's words.
func ExampleDeliver() {
	msg := strings.NewReader("From: app@example.org\r\nTo: bob@example.com\r\nSubject: Hello\r\n\r\nHello Bob.\r\n")
	out, err := smtp.Deliver(context.Background(),
		&smtp.Envelope{From: "app@example.org", To: []string{"bob@example.com"}},
		msg, &smtp.DeliverOptions{Resolver: "127.0.0.1:53", Options: &smtp.Options{LocalName: "mail.example.org"}})
	if err != nil {
		log.Fatal(err) // a bad address, no resolver: nothing was tried
	}
	for _, dr := range out {
		for _, a := range dr.Attempts {
			fmt.Println(dr.Domain, a.Host, a.Result.PolicyType, a.Result.ResultType, a.Err)
		}
		if dr.Err != nil {
			fmt.Println(dr.Domain, "not delivered:", dr.Err, smtp.Classify(dr.Err))
		}
	}
}
