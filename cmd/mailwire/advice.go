package main

import (
	"errors"
	"strings"

	"github.com/mailwire/smtp"
)

// flagWords turns the advice in the library's errors, which names the Go
// fields of smtp.Options, into the flags of this command line. Where two
// entries start alike, the longer comes first: the replacer tries them in
// this order.
var flagWords = strings.NewReplacer(
	"Security ImplicitTLS", "--security implicit",
	"Security StartTLS", "--security starttls",
	"Options.GreetingTimeout", "--greeting-timeout",
	"(Options.Timeout)", "(--timeout)",
	"add its CA to TLSConfig.RootCAs, or pin its key with Options.Pins",
	"give its CA with --cafile, or pin its key with --insecure --pin",
	"(Options.Security is StartTLS: nothing more is sent in plaintext; use ImplicitTLS on port 465, or StartTLSOptional to accept plaintext)",
	"(--security starttls: nothing more is sent in plaintext; use --security implicit on port 465, or --security starttls-optional to accept plaintext)",
	"(Options.Security: StartTLS or ImplicitTLS), or set Options.AllowInsecureAuth",
	"(--security starttls or implicit), or give --allow-insecure-auth",
	"(Options.Security)", "(--security)",
	"set Options.TLSConfig.ServerName", "give --tls-server-name",
)

// cliError is err's message with its advice in the command line's terms:
// "try --security implicit" where the library says "try Security
// ImplicitTLS".
func cliError(err error) string {
	if err == nil {
		return ""
	}
	return flagWords.Replace(err.Error())
}

// flagTrace passes every event to t, with the error of a closed
// connection in the command line's words: a --trace log says it too.
func flagTrace(t *smtp.Trace) *smtp.Trace {
	return &smtp.Trace{TLSRecords: t.TLSRecords, Event: func(ev smtp.Event) {
		if ev.Kind == smtp.EventClosed && ev.Err != nil {
			ev.Err = errors.New(cliError(ev.Err))
		}
		t.Event(ev)
	}}
}
