// Oauth2 authenticates with an OAuth 2.0 access token instead of a password
// (smtp.OAuth2Auth: OAUTHBEARER, RFC 7628, when the server offers it, else
// XOAUTH2, the form of Gmail and Microsoft 365), then sends a message if
// -to is given.
//
// From the examples directory:
//
//	export SMTP_OAUTH2_TOKEN=ya29.a0Af…   # or -token-file FILE
//	go run ./oauth2 -addr smtp.gmail.com:587 -user alice@gmail.com -to bob@example.org
//
// Where the token comes from: a real program gets it from an
// oauth2.TokenSource of golang.org/x/oauth2 (google.DefaultTokenSource
// with the scope https://mail.google.com/ for Gmail; for Microsoft 365, the
// Microsoft identity platform with the scope
// https://outlook.office.com/SMTP.Send), calling Token() before each
// connection so that an expired token is refreshed:
//
//	tok, err := ts.Token()
//	...
//	opts := &smtp.Options{Auth: smtp.OAuth2Auth(user, tok.AccessToken)}
//
// This example takes the token as it is given, to need neither that module
// nor any network call besides SMTP. The token is a secret: it is read from
// $SMTP_OAUTH2_TOKEN or a file, never from a flag, and sent only over TLS
// (certificate verified; Options.AllowInsecureAuth stays off). Other
// settings: -addr SMTP_ADDR, -user SMTP_USER, -from SMTP_FROM (default:
// the user), -cafile SMTP_CAFILE for a private CA (trusted instead of the
// system's). Exit codes: 0 done, 1 failed, 2 bad usage.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
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

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("oauth2", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", os.Getenv("SMTP_ADDR"), "submission server host:port (587: STARTTLS, 465: implicit TLS) [$SMTP_ADDR]")
	user := fs.String("user", os.Getenv("SMTP_USER"), "the account the token was issued for [$SMTP_USER]")
	tokenFile := fs.String("token-file", "", "file holding the access token (default: $SMTP_OAUTH2_TOKEN)")
	from := fs.String("from", os.Getenv("SMTP_FROM"), "sender address (default: the user) [$SMTP_FROM]")
	to := fs.String("to", os.Getenv("SMTP_TO"), "recipient; empty: authenticate only [$SMTP_TO]")
	caFile := fs.String("cafile", os.Getenv("SMTP_CAFILE"), "PEM file of the CA to trust instead of the system's, for a private server [$SMTP_CAFILE]")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	verbose := fs.Bool("v", false, "log the SMTP session to stderr (the token is redacted)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	token := os.Getenv("SMTP_OAUTH2_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "oauth2: %v\n", err)
			return 2
		}
		token = strings.TrimSpace(string(b))
	}
	if *from == "" {
		*from = *user
	}
	switch {
	case *addr == "" || *user == "" || fs.NArg() > 0:
		fmt.Fprintln(stderr, "oauth2: usage: oauth2 -addr host:port -user name [-to address] (token in $SMTP_OAUTH2_TOKEN or -token-file)")
		return 2
	case token == "":
		fmt.Fprintln(stderr, "oauth2: no token: set $SMTP_OAUTH2_TOKEN or -token-file")
		return 2
	}
	if *to != "" {
		for _, a := range []string{*from, *to} {
			if p, err := mail.ParseAddress(a); err != nil || p.Address != a {
				fmt.Fprintf(stderr, "oauth2: %q is not a bare address like bob@example.org (-from, -to)\n", a)
				return 2
			}
		}
	}

	// The Trace tells which mechanism was used: the AUTH line, whose
	// token the library has replaced by "[redacted]".
	var mech string
	trace := &smtp.Trace{Event: func(ev smtp.Event) {
		if f := strings.Fields(ev.Line); ev.Kind == smtp.EventLineSent && len(f) >= 2 && f[0] == "AUTH" {
			mech = f[1]
		}
	}}
	if *verbose {
		trace = smtp.ComposeTrace(trace, smtplog.Log(stderr))
	}
	opts := &smtp.Options{
		Auth:    smtp.OAuth2Auth(*user, token),
		Timeout: *timeout,
		Trace:   trace,
	}
	if *caFile != "" {
		var err error
		if opts.TLSConfig, err = trustCA(*caFile); err != nil {
			fmt.Fprintf(stderr, "oauth2: %v\n", err)
			return 1
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c, err := smtp.Dial(ctx, *addr, opts) // authenticates, after STARTTLS
	if err != nil {
		fmt.Fprintf(stderr, "oauth2: %v\n", err)
		var refused *smtp.Error
		switch {
		case errors.Is(err, smtp.ErrAuthNotOffered):
			fmt.Fprintln(stderr, "oauth2: the server takes no bearer token (neither OAUTHBEARER nor XOAUTH2); use smtp.PasswordAuth, as ./submit does")
		case errors.As(err, &refused) && refused.Command == "AUTH":
			fmt.Fprintln(stderr, "oauth2: the token was refused: expired, issued for another user, or without the scope for SMTP")
		}
		return 1
	}
	defer c.Quit(ctx)
	fmt.Fprintf(stdout, "authenticated as %s with %s\n", *user, mech)
	if *to == "" {
		return 0
	}

	msg := "From: " + *from + "\r\nTo: " + *to + "\r\nSubject: Sent with an OAuth 2.0 token\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\nNo password was used for this message.\r\n"
	r, err := c.Send(ctx, &smtp.Envelope{From: *from, To: []string{*to}}, strings.NewReader(msg))
	if err != nil {
		fmt.Fprintf(stderr, "oauth2: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "sent to %s: %d %s\n", strings.Join(r.Accepted, ", "), r.Reply.Code, r.Reply.Message)
	return 0
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
