package main

import (
	"errors"

	"github.com/mailwire/smtp"
)

// flagHints word each remedy of the library in this command line's flags.
var flagHints = map[smtp.Remedy]string{
	smtp.RemedyImplicitTLS:      "use --security implicit",
	smtp.RemedyStartTLS:         "use --security starttls",
	smtp.RemedyNoStartTLS:       "use --security implicit on the server's TLS port (465), or --security starttls-optional to accept plaintext",
	smtp.RemedySilentPort:       "try --security implicit, or raise --greeting-timeout for a server that greets slowly",
	smtp.RemedyTrustCertificate: "give its CA with --cafile, or pin its key with --insecure --pin",
	smtp.RemedyServerName:       "give --tls-server-name",
	smtp.RemedyTimeout:          "raise --timeout if the server is slow",
	smtp.RemedySecureAuth:       "use --security starttls or implicit, or give --allow-insecure-auth if the network is trusted",
}

// cliError is err's message, followed by what to do about it in this
// command line's flags when the library knows a remedy: the library's
// errors state what happened, and each front-end words the remedy.
func cliError(err error) string {
	if err == nil {
		return ""
	}
	if hint := flagHints[smtp.RemedyOf(err)]; hint != "" {
		return err.Error() + ": " + hint
	}
	return err.Error()
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
