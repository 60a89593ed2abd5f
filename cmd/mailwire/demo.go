package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/smtplog"
	"github.com/mailwire/smtp/smtptest"
)

const demoMessage = `From: Alice <alice@example.com>
To: Bob <bob@example.com>, Nobody <nobody@example.com>
Subject: Hello from mailwire
Date: Fri, 27 Nov 2026 09:00:00 +0000
Message-ID: <demo-1@example.com>

Hi Bob,

this message went through STARTTLS with a pinned key, AUTH, and a
pipelined envelope. Lines are sent with CRLF whatever this file holds,
and the next line, which starts with a dot, is dot-stuffed on the wire:
.like this one.

Alice
`

var demoHelp = help{
	usage: "mailwire demo [--explain]",
	about: `Starts an SMTP server inside this process (STARTTLS, AUTH, its own CA) and
sends it a message with mailwire, printing the session as curl -v would:
STARTTLS with a pinned key, AUTH with the password redacted, the pipelined
envelope, a refused recipient, the queue id, and the message as the server
received it. Nothing leaves the machine.`,
	examples: `  mailwire demo
  mailwire demo --explain | less`,
}

// runDemo starts an in-process server with STARTTLS, AUTH and its own CA,
// and sends one message to two recipients, one of which the server refuses,
// tracing every line.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo")
	explain := fs.Bool("explain", false, "explain every line in plain English")
	pos, code, ok := parseArgs(fs, demoHelp, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(stderr, "demo", "unexpected argument %q", pos[0])
	}

	srv := smtptest.NewServer(&smtptest.Config{
		TLS:    smtptest.StartTLS,
		Domain: "mail.example.com",
		Users:  map[string]string{"alice@example.com": "correct horse battery staple"},
		RejectRecipients: map[string]*smtptest.Reply{
			"nobody@example.com": {Code: 550, EnhancedCode: smtptest.EnhancedCode{5, 1, 1}, Message: "<nobody@example.com>: Recipient address rejected: User unknown"},
		},
	})
	defer srv.Close()

	fmt.Fprintf(stdout, "# A server is listening on %s with STARTTLS and AUTH.\n", srv.Addr())
	fmt.Fprintf(stdout, "# Its key's pin, which the client requires: %s\n\n", srv.Pin())

	trace := smtplog.Log(stdout)
	if *explain {
		trace = smtplog.Explain(stdout)
	}
	opts := &smtp.Options{
		Security:  smtp.StartTLS,
		TLSConfig: srv.ClientTLSConfig(),
		Pins:      []string{srv.Pin()},
		Auth:      smtp.PasswordAuth("alice@example.com", "correct horse battery staple"),
		LocalName: "client.example.com",
		Trace:     trace,
	}
	env := &smtp.Envelope{From: "alice@example.com", To: []string{"bob@example.com", "nobody@example.com"}}
	receipt, err := smtp.SendMail(ctx, srv.Addr(), opts, env, strings.NewReader(demoMessage))
	if err != nil {
		fmt.Fprintln(stderr, "mailwire demo:", err)
		return exitFailure
	}

	fmt.Fprintln(stdout, "\n# The receipt:")
	fmt.Fprintf(stdout, "#   accepted: %s\n", strings.Join(receipt.Accepted, ", "))
	for _, r := range receipt.Rejected {
		fmt.Fprintf(stdout, "#   rejected: %s\n", r) // its Error holds the code's meaning already
	}
	fmt.Fprintf(stdout, "#   reply:    %d %s\n", receipt.Reply.Code, receipt.Reply.Message)

	msgs := srv.Messages()
	if len(msgs) != 1 {
		fmt.Fprintf(stderr, "mailwire demo: the server holds %d messages, want 1\n", len(msgs))
		return exitFailure
	}
	m := msgs[0]
	fmt.Fprintf(stdout, "\n# The message as the server received it (queue id %s, TLS %v, user %s, for %s):\n",
		m.ID, m.TLS, m.AuthUser, strings.Join(m.To, ", "))
	stdout.Write(m.Raw)
	return exitOK
}
