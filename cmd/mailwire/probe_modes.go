package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mailwire/smtp"
)

// probeGreetingTimeout is probe's wait for the greeting when it finds the
// mode by itself: a port that says nothing for this long most likely waits
// for a TLS handshake, and probe then tries one.
const probeGreetingTimeout = 5 * time.Second

// probeSwitch tells that the mode the port number suggests failed in a way
// that names another, which was then tried.
type probeSwitch struct {
	Tried  string `json:"tried"`  // the mode tried first, e.g. "StartTLS"
	Error  string `json:"error"`  // how it failed
	Reason string `json:"reason"` // what gave the port away, in words
	Flag   string `json:"flag"`   // the --security of the mode tried next
}

// probeModes probes addr. In the default mode (auto), a port that turns
// out to speak the other way (smtp.ErrWrongSecurity) is probed again, on
// a new connection, in the mode it seems to speak: implicit TLS for a port
// that gives no plaintext greeting, STARTTLS for one that answers the TLS
// handshake in plaintext. The result is the second probe's, with the first
// attempt in Switched.
func probeModes(ctx context.Context, addr string, opts *smtp.Options, auto bool) (*prober, error) {
	p, err := probeOnce(ctx, addr, *opts)
	if !auto {
		return p, err
	}
	tried := resolvedMode(opts.Security, addr)
	next, reason, ok := switchMode(tried, err, greetingWait(opts))
	if !ok {
		return p, err
	}
	o := *opts
	o.Security = next
	p2, err2 := probeOnce(ctx, addr, o)
	p2.res.Switched = &probeSwitch{Tried: tried.String(), Error: cliError(err), Reason: reason, Flag: "--security " + securityFlag(next)}
	return p2, err2
}

// switchMode is the mode to try after err ended a probe in mode tried, and
// what gave it away; ok is false when err is no sign of a wrong mode.
func switchMode(tried smtp.Security, err error, wait time.Duration) (next smtp.Security, reason string, ok bool) {
	switch {
	case !errors.Is(err, smtp.ErrWrongSecurity):
		return 0, "", false
	case tried == smtp.ImplicitTLS:
		return smtp.StartTLS, "the server answered the TLS handshake in plaintext", true
	case errors.Is(err, context.DeadlineExceeded):
		return smtp.ImplicitTLS, fmt.Sprintf("no plaintext greeting within %v", wait), true
	}
	return smtp.ImplicitTLS, "the server sent a TLS record instead of a greeting", true
}

// portSpeaks says what a port that worked in mode speaks.
func portSpeaks(mode string) string {
	if mode == smtp.ImplicitTLS.String() {
		return "this port speaks implicit TLS"
	}
	return "this port speaks plaintext first, then STARTTLS"
}
