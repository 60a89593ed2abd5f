// Submit sends one message through a mail provider's submission server, the
// way a mail client does: TLS first (mandatory STARTTLS, or implicit TLS on
// port 465), then AUTH with the strongest mechanism the server offers
// (smtp.PasswordAuth), then the message.
//
// Run it from the examples directory against a provider (the password
// comes from the environment only, never from a flag, so that it stays out
// of ps and the shell's history):
//
//	export SMTP_ADDR=smtp.example.com:587 SMTP_USER=alice@example.com
//	read -rs SMTP_PASSWORD && export SMTP_PASSWORD
//	go run ./submit -to bob@example.org -subject Hello -body 'Hi Bob.'
//
// Every flag has an environment variable: -addr SMTP_ADDR, -user SMTP_USER,
// -from SMTP_FROM (default: the user name), -to SMTP_TO (comma-separated,
// or -to given more than once), -cafile SMTP_CAFILE. -cafile trusts the
// CA of a private server (a company relay, or smtptest's Server.CACertPEM)
// instead of the system's CAs, as curl's --cacert does. -v logs the
// session to stderr, the password redacted.
//
// Nothing here weakens the defaults: the certificate is verified, and the
// password is never sent over a connection that is not encrypted
// (Options.AllowInsecureAuth stays off). Exit codes: 0 sent to every
// recipient, 1 failed or refused for some recipients, 2 bad usage.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/smtplog"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// listFlag collects a flag given several times, or once with commas. Its
// first use on the command line replaces the default from the environment.
type listFlag struct {
	list  []string
	given bool
}

func (l *listFlag) String() string { return strings.Join(l.list, ",") }

func (l *listFlag) Set(v string) error {
	if !l.given {
		l.list, l.given = nil, true
	}
	l.list = append(l.list, splitList(v)...)
	return nil
}

func splitList(v string) []string {
	var list []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			list = append(list, s)
		}
	}
	return list
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", os.Getenv("SMTP_ADDR"), "submission server host:port (587: STARTTLS, 465: implicit TLS) [$SMTP_ADDR]")
	user := fs.String("user", os.Getenv("SMTP_USER"), "user name for AUTH; the password is read from $SMTP_PASSWORD [$SMTP_USER]")
	from := fs.String("from", os.Getenv("SMTP_FROM"), "sender address (default: the user name) [$SMTP_FROM]")
	to := &listFlag{list: splitList(os.Getenv("SMTP_TO"))}
	fs.Var(to, "to", "recipient address; repeat or separate with commas [$SMTP_TO]")
	caFile := fs.String("cafile", os.Getenv("SMTP_CAFILE"), "PEM file of the CA to trust instead of the system's, for a private server [$SMTP_CAFILE]")
	subject := fs.String("subject", "Hello", "the message's subject")
	body := fs.String("body", "Sent with github.com/mailwire/smtp.", "the message's text")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	verbose := fs.Bool("v", false, "log the SMTP session to stderr (the password is redacted)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	password := os.Getenv("SMTP_PASSWORD")
	if *from == "" {
		*from = *user
	}
	switch {
	case fs.NArg() > 0:
		return usage(stderr, "unexpected argument %q", fs.Arg(0))
	case *addr == "":
		return usage(stderr, "no server: set -addr or $SMTP_ADDR")
	case *user == "" || password == "":
		return usage(stderr, "no credentials: set -user (or $SMTP_USER) and $SMTP_PASSWORD")
	case len(to.list) == 0:
		return usage(stderr, "no recipient: set -to or $SMTP_TO")
	}
	msg, err := compose(*from, to.list, *subject, *body)
	if err != nil {
		return usage(stderr, "%v", err)
	}

	opts := &smtp.Options{
		// Security is left at SecurityAuto: implicit TLS on port 465,
		// mandatory STARTTLS on any other port.
		Auth:    smtp.PasswordAuth(*user, password),
		Timeout: *timeout,
	}
	if *caFile != "" {
		if opts.TLSConfig, err = trustCA(*caFile); err != nil {
			fmt.Fprintf(stderr, "submit: %v\n", err)
			return 1
		}
	}
	if *verbose {
		opts.Trace = smtplog.Log(stderr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	env := &smtp.Envelope{From: *from, To: to.list}
	r, err := smtp.SendMail(ctx, *addr, opts, env, strings.NewReader(msg))
	if err != nil {
		fmt.Fprintf(stderr, "submit: %v\n", err)
		if errors.Is(err, smtp.ErrDeliveryUnknown) {
			fmt.Fprintln(stderr, "submit: the server may have accepted the message; check before sending it again")
		}
		return 1
	}
	// A server's recipient limit splits a Send into transactions, each
	// with its own reply and queue id.
	transactions := r.Transactions
	if transactions == nil {
		transactions = []smtp.Transaction{{Accepted: r.Accepted, Reply: r.Reply}}
	}
	for _, t := range transactions {
		fmt.Fprintf(stdout, "sent to %s: %d %s\n", strings.Join(t.Accepted, ", "), t.Reply.Code, t.Reply.Message)
	}
	for _, rej := range r.Rejected {
		fmt.Fprintf(stderr, "submit: refused: %v\n", rej)
	}
	if len(r.Rejected) > 0 {
		return 1
	}
	return 0
}

func usage(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "submit: %s\nRun 'submit -h' for the flags.\n", fmt.Sprintf(format, args...))
	return 2
}

// trustCA returns a TLS configuration that trusts the CAs in file instead
// of the system's, as curl's --cacert does. Certificates are still
// verified, names included.
func trustCA(file string) (*tls.Config, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", file)
	}
	return &tls.Config{RootCAs: pool}, nil
}

// compose builds a plain-text message. Addresses are checked, and a subject
// with a line break is refused: it would let the caller add header fields
// (a Bcc, say) that nobody asked for.
func compose(from string, to []string, subject, body string) (string, error) {
	for _, a := range append([]string{from}, to...) {
		if p, err := mail.ParseAddress(a); err != nil || p.Address != a {
			return "", fmt.Errorf("%q is not a bare address like alice@example.com", a)
		}
	}
	if strings.ContainsAny(subject, "\r\n") {
		return "", errors.New("the subject holds a line break")
	}
	var id [12]byte
	rand.Read(id[:])
	domain := from[strings.LastIndexByte(from, '@')+1:]
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(to, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id[:]), domain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(body)
	b.WriteString("\r\n")
	return b.String(), nil
}
