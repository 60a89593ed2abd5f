// Command server is the SMTP server the Python tests and the examples of
// the bindings send to (the C tests use mailwire serve): an
// smtptest.Server with STARTTLS, one user, a recipient refused with
// 550 5.1.1 and one refused with 450 4.2.1.
//
// It prints one JSON line on stdout, then serves until its stdin closes (or
// SIGTERM, SIGINT, or -max-lifetime), and then writes the messages it
// received as a JSON array to the -messages file:
//
//	{"addr": "127.0.0.1:PORT", "ca_pem_file": "/tmp/...pem", "ca_pem": "...",
//	 "pin": "sha256//...", "user": "...", "password": "...",
//	 "rejected": "nobody@example.net", "temp_rejected": "busy@example.net",
//	 "options": {"security": "starttls", "ca_pem": "...", "user": "...", "password": "..."}}
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mailwire/smtp/smtptest"
)

const (
	rejected     = "nobody@example.net"
	tempRejected = "busy@example.net"
)

type info struct {
	Addr         string            `json:"addr"`
	CAPEMFile    string            `json:"ca_pem_file"`
	CAPEM        string            `json:"ca_pem"`
	Pin          string            `json:"pin"`
	User         string            `json:"user"`
	Password     string            `json:"password"`
	Rejected     string            `json:"rejected"`
	TempRejected string            `json:"temp_rejected"`
	Options      map[string]string `json:"options"`
}

type message struct {
	ID       string   `json:"id"`
	ConnID   int      `json:"conn_id"`
	Helo     string   `json:"helo"`
	TLS      bool     `json:"tls"`
	AuthUser string   `json:"auth_user"`
	From     string   `json:"from"`
	To       []string `json:"to"`
	Subject  string   `json:"subject"`
	Raw      string   `json:"raw"`
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("smtp test server: ")
	var (
		messagesFile = flag.String("messages", "", "write the messages received, as JSON, to this file at exit")
		user         = flag.String("user", "alice", "the user AUTH accepts")
		password     = flag.String("password", "s3cret-Pa55word", "the user's password")
		dropAt       = flag.String("drop-at", "", "close the connection without a reply at this step (smtptest.Config.DropAt), e.g. AFTERDATA")
		replyDelay   = flag.Duration("reply-delay", 0, "hold back every reply this long")
		maxLifetime  = flag.Duration("max-lifetime", 10*time.Minute, "exit after this long whatever happens")
	)
	flag.Parse()

	srv := smtptest.NewServer(&smtptest.Config{
		TLS:   smtptest.StartTLS,
		Users: map[string]string{*user: *password},
		RejectRecipients: map[string]*smtptest.Reply{
			rejected:     {Code: 550, EnhancedCode: smtptest.EnhancedCode{5, 1, 1}, Message: "No such user"},
			tempRejected: {Code: 450, EnhancedCode: smtptest.EnhancedCode{4, 2, 1}, Message: "Mailbox busy, try again later"},
		},
		DropAt:     *dropAt,
		ReplyDelay: *replyDelay,
	})
	caPEM := srv.CACertPEM()
	f, err := os.CreateTemp("", "mailwire-test-ca-*.pem")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(caPEM); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	out, err := json.Marshal(info{
		Addr: srv.Addr(), CAPEMFile: f.Name(), CAPEM: string(caPEM), Pin: srv.Pin(),
		User: *user, Password: *password, Rejected: rejected, TempRejected: tempRejected,
		Options: map[string]string{"security": "starttls", "ca_pem": string(caPEM), "user": *user, "password": *password},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", out)

	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-stdinClosed:
	case s := <-signals:
		log.Printf("%v: stopping", s)
	case <-time.After(*maxLifetime):
		log.Printf("running for %v: stopping", *maxLifetime)
	}
	srv.Close()

	if *messagesFile == "" {
		return
	}
	msgs := []message{}
	for _, m := range srv.Messages() {
		msgs = append(msgs, message{ID: m.ID, ConnID: m.ConnID, Helo: m.Helo, TLS: m.TLS, AuthUser: m.AuthUser,
			From: m.From, To: m.To, Subject: m.Header.Get("Subject"), Raw: string(m.Raw)})
	}
	b, err := json.MarshalIndent(msgs, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*messagesFile, append(b, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
}
