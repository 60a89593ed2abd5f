package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strings"
	"time"

	"github.com/mailwire/smtp"
)

// greetOnly is --quit-after connect: connect (with the TLS handshake in
// implicit TLS), read the greeting, and QUIT. The library's Dial always
// goes on to EHLO, so this step is done here, over the same dialer, TLS
// settings and pins.
func (s *earlyStop) greetOnly(ctx context.Context, opts *smtp.Options) int {
	conn, err := dialGreeting(ctx, s.addr, opts)
	if err != nil {
		return sendFailed(err, s.stderr)
	}
	defer conn.Close()
	emit := func(kind smtp.EventKind, line string) {
		if opts.Trace != nil && opts.Trace.Event != nil {
			opts.Trace.Event(smtp.Event{Kind: kind, Line: line})
		}
	}
	tp := textproto.NewConn(conn)
	wait := greetingWait(opts)
	conn.SetDeadline(time.Now().Add(wait))
	_, greeting, err := tp.ReadResponse(220)
	if err != nil {
		return sendFailed(greetingError(err, wait, resolvedMode(opts.Security, s.addr)), s.stderr)
	}
	for _, l := range strings.Split(greeting, "\n") {
		emit(smtp.EventLineReceived, "220 "+l)
	}
	sayStep(s.out, "connect", s.addr+": 220 "+strings.ReplaceAll(greeting, "\n", " / "))
	emit(smtp.EventLineSent, "QUIT")
	if err := tp.PrintfLine("QUIT"); err == nil {
		if _, msg, err := tp.ReadResponse(221); err == nil {
			emit(smtp.EventLineReceived, "221 "+msg)
		}
	}
	sayStep(s.out, "quit", "after connect (--quit-after): no message was sent")
	return exitOK
}

// dialGreeting connects to addr as opts say, and does the TLS handshake
// when the mode is implicit TLS.
func dialGreeting(ctx context.Context, addr string, opts *smtp.Options) (net.Conn, error) {
	var d interface {
		DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	} = &net.Dialer{}
	if opts.Dialer != nil {
		d = opts.Dialer
	}
	dctx, cancel := context.WithTimeout(ctx, greetingWait(opts))
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtp: connect: %w", err)
	}
	if resolvedMode(opts.Security, addr) != smtp.ImplicitTLS {
		return conn, nil
	}
	cfg, err := handshakeConfig(addr, opts)
	if err == nil {
		tc := tls.Client(conn, cfg)
		if err = tc.HandshakeContext(dctx); err == nil {
			return tc, nil
		}
		err = fmt.Errorf("%w with %s: %w", smtp.ErrTLSHandshake, cfg.ServerName, err)
	}
	conn.Close()
	return nil, err
}

// handshakeConfig is the TLS configuration of implicit TLS as the library
// makes it: the server's host as its name, TLS 1.2 at least, the pins.
func handshakeConfig(addr string, opts *smtp.Options) (*tls.Config, error) {
	cfg := &tls.Config{}
	if opts.TLSConfig != nil {
		cfg = opts.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
	if len(opts.Pins) > 0 {
		verify, err := smtp.PinVerifier(opts.Pins...)
		if err != nil {
			return nil, err
		}
		cfg.VerifyConnection = verify
	}
	return cfg, nil
}

// greetingWait is the wait for the greeting, as the library computes it.
func greetingWait(opts *smtp.Options) time.Duration {
	wait := opts.GreetingTimeout
	if wait == 0 {
		wait = smtp.DefaultGreetingTimeout
	}
	if opts.Timeout > 0 {
		wait = min(wait, opts.Timeout)
	}
	return wait
}

// greetingError explains a greeting that did not come, or was a refusal:
// silence in plaintext is most often a port that expects TLS first.
func greetingError(err error, wait time.Duration, mode smtp.Security) error {
	var refused *textproto.Error
	switch {
	case errors.As(err, &refused):
		return &smtp.Error{Command: "greeting", Reply: smtp.Reply{Code: refused.Code, Message: refused.Msg}}
	case errors.Is(err, os.ErrDeadlineExceeded) && mode != smtp.ImplicitTLS:
		return &wrongSecurityError{fmt.Sprintf("smtp: greeting: no greeting within %v (--greeting-timeout): a port that expects TLS from the first byte (465, smtps) says nothing until the client starts TLS; "+
			"try --security implicit, or raise --greeting-timeout for a server that greets slowly", wait)}
	}
	return fmt.Errorf("smtp: greeting: %w", err)
}

// wrongSecurityError is a security mode that does not fit the port, found
// here rather than by the library; it matches smtp.ErrWrongSecurity.
type wrongSecurityError struct{ msg string }

func (e *wrongSecurityError) Error() string { return e.msg }
func (e *wrongSecurityError) Unwrap() error { return smtp.ErrWrongSecurity }
