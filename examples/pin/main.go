// Pin connects to an SMTP server with its public key pinned
// (smtp.Options.Pins, in curl's --pinnedpubkey form "sha256//BASE64"), so
// that only the expected key is accepted even when a CA the system trusts
// signed another certificate (a TLS-intercepting proxy, a mis-issued
// certificate). The pin is checked on top of the usual certificate
// verification, before any SMTP command goes over TLS.
//
// From the examples directory:
//
//	go run ./pin -addr smtp.example.com:587                     # prints the pins of the key chain
//	go run ./pin -addr smtp.example.com:587 -pin sha256//AbC…=  # checks one
//
// With no -pin it prints the pin of each key in the server's verified chain;
// pin the server's own key (depth 0) or, to survive a key change, its CA's.
// When no pin matches, it prints the pins of what the server presented, so
// that an expected key change can be told from an attack by comparing them
// with the provider's announcement. -cafile trusts a private CA (smtptest's
// Server.CACertPEM, say) instead of the system's. Exit codes: 0 matched
// (or no pin given), 1 no match or failure, 2 bad usage.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mailwire/smtp"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// pinList collects -pin flags.
type pinList []string

func (p *pinList) String() string { return fmt.Sprint(*p) }
func (p *pinList) Set(v string) error {
	*p = append(*p, v)
	return nil
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", os.Getenv("SMTP_ADDR"), "server host:port (465: implicit TLS, else STARTTLS) [$SMTP_ADDR]")
	caFile := fs.String("cafile", os.Getenv("SMTP_CAFILE"), "PEM file of the CA to trust instead of the system's, for a private server [$SMTP_CAFILE]")
	var pins pinList
	fs.Var(&pins, "pin", `accepted key pin, "sha256//BASE64"; repeat for a backup key`)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *addr == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "pin: usage: pin -addr host:port [-pin sha256//…]... [-cafile ca.pem]")
		return 2
	}

	if len(pins) > 0 {
		// Dial would refuse a malformed pin too; checking first makes it a
		// usage error.
		if _, err := smtp.PinVerifier(pins...); err != nil {
			fmt.Fprintf(stderr, "pin: %v\n", err)
			return 2
		}
	}

	// The Trace keeps the chain the server presented and the outcome of
	// the pin check: when no pin matches, the handshake fails, and the
	// Trace is the only place the server's certificates are seen.
	var (
		presented []*x509.Certificate
		check     smtp.PinCheck
	)
	opts := &smtp.Options{
		Pins:    pins,
		Timeout: *timeout,
		Trace: &smtp.Trace{Event: func(ev smtp.Event) {
			switch ev.Kind {
			case smtp.EventTLSHandshakeDone:
				presented = ev.TLS.PeerCertificates
			case smtp.EventPinCheck:
				check = *ev.Pin
			}
		}},
	}
	if *caFile != "" {
		var err error
		if opts.TLSConfig, err = trustCA(*caFile); err != nil {
			fmt.Fprintf(stderr, "pin: %v\n", err)
			return 1
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c, err := smtp.Dial(ctx, *addr, opts)
	if errors.Is(err, smtp.ErrPinMismatch) {
		fmt.Fprintf(stderr, "pin: %v\n", err)
		fmt.Fprintf(stderr, "pin: %s presented no pinned key; nothing was sent over that connection\n", *addr)
		fmt.Fprintln(stdout, "The server presented:")
		for depth, cert := range presented {
			fmt.Fprintf(stdout, "  depth %d: %s  (%s)\n", depth, smtp.Pin(cert), cert.Subject)
		}
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "pin: %v\n", err)
		return 1
	}
	defer c.Quit(ctx)

	state, _ := c.TLSConnectionState()
	if len(pins) > 0 {
		fmt.Fprintf(stdout, "pin matched: %s at depth %d (%s)\n", check.Matched, check.Depth, check.Cert.Subject)
		return 0
	}
	fmt.Fprintf(stdout, "No -pin given. Pins of the verified chain of %s, to pass to -pin (or curl --pinnedpubkey, smtp.Options.Pins):\n", *addr)
	for depth, cert := range state.VerifiedChains[0] {
		fmt.Fprintf(stdout, "  depth %d: %s  (%s)\n", depth, smtp.Pin(cert), cert.Subject)
	}
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
