package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// The Security modes, and telling at the greeting a port that speaks
// another mode than the one asked for.

// Security says how a Client encrypts its connection.
type Security int

// The ways to secure a connection.
const (
	// SecurityAuto is the zero value: ImplicitTLS when the dialled port is
	// 465, mandatory StartTLS otherwise (and always StartTLS in NewClient).
	SecurityAuto Security = iota
	// StartTLS upgrades with STARTTLS (RFC 3207) and fails, before AUTH or
	// MAIL, when the server does not offer it, refuses it, or the
	// handshake fails.
	StartTLS
	// StartTLSOptional upgrades when the server offers STARTTLS and stays
	// in plaintext when it does not, or refuses it: open to a downgrade by
	// anyone on the path, so use it only where plaintext is acceptable.
	StartTLSOptional
	// ImplicitTLS speaks TLS from the first byte ("SMTPS", port 465,
	// RFC 8314).
	ImplicitTLS
	// Plaintext never encrypts.
	Plaintext
)

// String names the mode as in the source, e.g. "StartTLS".
func (s Security) String() string {
	switch s {
	case SecurityAuto:
		return "SecurityAuto"
	case StartTLS:
		return "StartTLS"
	case StartTLSOptional:
		return "StartTLSOptional"
	case ImplicitTLS:
		return "ImplicitTLS"
	case Plaintext:
		return "Plaintext"
	}
	return fmt.Sprintf("Security(%d)", int(s))
}

// secureMode resolves SecurityAuto for a connection to port ("" when
// unknown, as in NewClient).
func secureMode(s Security, port string) Security {
	if s != SecurityAuto {
		return s
	}
	if port == "465" {
		return ImplicitTLS
	}
	return StartTLS
}

// securityError is a mismatch between the mode and what the port speaks.
type securityError struct {
	msg   string
	cause error // nil, or the timeout that made us guess
	r     Remedy
}

func (e *securityError) remedy() Remedy { return e.r }

func (e *securityError) Error() string { return e.msg }
func (e *securityError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrWrongSecurity}
	}
	return []error{ErrWrongSecurity, e.cause}
}

// cmdGreeting names the server's opening reply in errors and traces.
const cmdGreeting = "greeting"

// readGreeting reads the server's opening reply within the greeting
// timeout, first telling a port that speaks TLS, or none at all, from a
// slow or broken SMTP server, so that a wrong Security mode is named at
// once instead of after minutes of waiting.
func (c *Client) readGreeting(ctx context.Context) (Reply, error) {
	if err := c.setDeadline(ctx, c.greetingTimeout()); err != nil {
		return Reply{}, c.fail(ctx, cmdGreeting, err)
	}
	first, err := c.rr.r.Peek(1)
	silent := err != nil && errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil && !c.closed.Load()
	wait, field := c.greetingWait()
	switch {
	case silent && c.mode == ImplicitTLS: // TLS is up: just a silent server
		werr := &opError{command: cmdGreeting, err: &timeoutError{wait: wait, field: field}}
		c.shut(werr)
		return Reply{}, werr
	case silent:
		return Reply{}, c.wrongSecurity(&securityError{
			msg:   fmt.Sprintf("no greeting within %v: a port that expects TLS from the first byte (465, smtps) says nothing until the client starts TLS", wait),
			cause: &timeoutError{wait: wait, field: field},
			r:     RemedySilentPort,
		})
	case err != nil:
		return Reply{}, c.fail(ctx, cmdGreeting, err)
	case isTLSRecord(first[0]):
		return Reply{}, c.wrongSecurity(&securityError{
			msg: "the server sent a TLS record instead of a greeting: this port speaks TLS from the first byte",
			r:   RemedyImplicitTLS,
		})
	}
	return c.readReply(ctx, cmdGreeting, true, c.timeout()) // the port speaks: the rest may take its time (postscreen's "220-")
}

// wrongSecurity closes the Client with a mode mismatch found at the
// greeting.
func (c *Client) wrongSecurity(err *securityError) error {
	werr := &opError{command: cmdGreeting, err: err}
	c.shut(werr)
	return werr
}

// isTLSRecord reports whether b starts a TLS record (change cipher spec,
// alert, handshake, application data), which no SMTP reply does.
func isTLSRecord(b byte) bool { return b >= 0x14 && b <= 0x17 }

// plaintextAnswer explains a handshake that met a plaintext server: the
// bytes where the server's first TLS record should be are an SMTP reply.
func plaintextAnswer(server string, err error) (*securityError, bool) {
	var rh tls.RecordHeaderError
	if !errors.As(err, &rh) || rh.RecordHeader[0] < '1' || rh.RecordHeader[0] > '5' {
		return nil, false
	}
	return &securityError{msg: fmt.Sprintf("smtp: TLS handshake with %s: the server answered in plaintext (%s...): this port speaks plaintext first",
		server, strconv.QuoteToASCII(string(rh.RecordHeader[:]))), r: RemedyStartTLS}, true
}
