package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/mailwire/smtp/internal/certname"
)

// Errors of securing a connection, for errors.Is. Each returned error
// wraps one of them and says more: the server's reply, or what was wrong
// with the certificate.
var (
	// ErrStartTLSNotOffered: mandatory STARTTLS, and the server's EHLO
	// reply did not offer it (or a man in the middle removed it).
	ErrStartTLSNotOffered = errors.New("smtp: the server does not offer STARTTLS")
	// ErrStartTLSRefused: the server answered STARTTLS with an error.
	ErrStartTLSRefused = errors.New("smtp: the server refused STARTTLS")
	// ErrStartTLSInjection: the server sent bytes after its reply to
	// STARTTLS and before the handshake. They came in plaintext, perhaps
	// from an attacker (CVE-2011-0411 and its client-side kin), so the
	// connection is abandoned.
	ErrStartTLSInjection = errors.New("smtp: data after the STARTTLS reply, before TLS (possible injection)")
	// ErrTLSHandshake: the TLS handshake failed, or its certificate was
	// not trusted.
	ErrTLSHandshake = errors.New("smtp: TLS handshake failed")
	// ErrPinMismatch: no key in the server's certificate chain matches
	// Options.Pins. It comes wrapped in an ErrTLSHandshake error.
	ErrPinMismatch = errors.New("smtp: certificate pin mismatch")
	// ErrWrongSecurity: the port does not speak the way Options.Security
	// expects, and the error says which mode to try. A TLS record came
	// where the plaintext greeting belongs, or a plaintext greeting where
	// the TLS handshake belongs; or no greeting came within
	// Options.GreetingTimeout, as when a plaintext client meets a port
	// that waits for TLS (that error matches context.DeadlineExceeded
	// too, since a slow server looks the same).
	ErrWrongSecurity = errors.New("smtp: the port's security is not what Options.Security expects")
	// ErrRequireTLSNotOffered: Deliver has a message that asks for
	// REQUIRETLS (RFC 8689), and the MX host's EHLO reply does not offer
	// it: the message is not sent there (the next host may offer it).
	ErrRequireTLSNotOffered = errors.New("smtp: the server does not offer REQUIRETLS (RFC 8689)")
)

// tlsError is a failure to secure the connection: kind is one of the
// sentinels above, cause what happened.
type tlsError struct {
	kind  error
	msg   string
	cause error
	r     Remedy
}

func (e *tlsError) Error() string   { return e.msg }
func (e *tlsError) remedy() Remedy  { return e.r }
func (e *tlsError) Unwrap() []error { return []error{e.kind, e.cause} }

// newTLSConfig builds the tls.Config of the connection: a clone of the
// caller's, never the caller's own, with ServerName (default: the dialled
// host), MinVersion TLS 1.2, and a VerifyConnection that checks the pins,
// then calls the caller's own TLSConfig.VerifyConnection: one way to pin
// (Options.Pins), one to verify (TLSConfig.VerifyConnection, where
// PinVerifier's result fits too).
func (c *Client) newTLSConfig() (*tls.Config, error) {
	var cfg *tls.Config
	if c.opts.TLSConfig != nil {
		cfg = c.opts.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = c.host
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		return nil, withRemedy(errInput("TLS needs a server name to check the certificate against, and none was dialled"), RemedyServerName)
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if len(c.opts.Pins) > 0 {
		var err error
		if c.pins, err = parsePins(c.opts.Pins...); err != nil {
			return nil, err
		}
	}
	caller := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if c.pins != nil {
			check := c.pins.check(cs)
			c.emit(Event{Kind: EventPinCheck, Pin: &check})
			if check.Err != nil {
				return check.Err
			}
		}
		if caller != nil {
			return caller(cs)
		}
		return nil
	}
	return cfg, nil
}

// secure applies the security mode once the server said hello in
// plaintext: STARTTLS when asked for, then EHLO again.
func (c *Client) secure(ctx context.Context) error {
	switch c.mode {
	case Plaintext, ImplicitTLS:
		return nil
	}
	optional := c.mode == StartTLSOptional
	if !c.ext.has("STARTTLS") {
		if optional {
			return nil
		}
		return &tlsError{kind: ErrStartTLSNotOffered, msg: ErrStartTLSNotOffered.Error() + " (so nothing more was sent in plaintext)",
			cause: errors.ErrUnsupported, r: RemedyNoStartTLS}
	}
	rep, err := c.roundTrip(ctx, false, "STARTTLS")
	if err != nil {
		var refused *Error
		if errors.As(err, &refused) && c.err == nil {
			if optional {
				return nil
			}
			return &tlsError{kind: ErrStartTLSRefused, msg: ErrStartTLSRefused.Error() + ": " + strings.TrimPrefix(refused.Error(), "smtp: STARTTLS: "), cause: refused}
		}
		return err
	}
	if rep.Code != 220 {
		return c.unexpected("STARTTLS", rep, 220)
	}
	if n := c.rr.r.Buffered(); n > 0 {
		injected, _ := c.rr.r.Peek(n)
		for _, line := range strings.SplitAfter(string(injected), "\n") {
			if line != "" {
				c.lineReceived([]byte(strings.TrimRight(line, "\r\n"))) // the Trace shows what came
			}
		}
		err := &tlsError{kind: ErrStartTLSInjection, msg: fmt.Sprintf("%v: %d bytes: %s", ErrStartTLSInjection, n, quoteServer(string(injected))), cause: errors.ErrUnsupported}
		c.shut(err)
		return err
	}
	if err := c.handshake(ctx); err != nil {
		return err
	}
	return c.hello(ctx)
}

// handshake runs the TLS handshake over the connection and swaps the
// Client's reader and writer onto it. Nothing read before survives: the
// reader starts empty.
func (c *Client) handshake(ctx context.Context) error {
	if err := c.setDeadline(ctx, c.timeout()); err != nil {
		return c.fail(ctx, "TLS handshake", err)
	}
	raw := c.conn
	var records *recordConn
	if c.trace != nil && c.trace.TLSRecords && c.trace.Event != nil {
		records = &recordConn{Conn: raw, c: c}
		raw = records
	}
	tc := tls.Client(raw, c.tlsConfig)
	c.emit(Event{Kind: EventTLSHandshakeStart, ServerName: c.tlsConfig.ServerName})
	err := tc.HandshakeContext(ctx)
	if records != nil {
		records.stop()
	}
	state := tc.ConnectionState()
	c.emit(Event{Kind: EventTLSHandshakeDone, ServerName: c.tlsConfig.ServerName, TLS: &state, Err: err})
	if err != nil {
		if c.closed.Load() || ctx.Err() != nil || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
			return c.fail(ctx, "TLS handshake", err)
		}
		werr := &tlsError{kind: ErrTLSHandshake, msg: describeTLSError(c.tlsConfig.ServerName, err), cause: err}
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) {
			werr.r = RemedyTrustCertificate
		}
		if se, ok := plaintextAnswer(c.tlsConfig.ServerName, err); ok && c.mode == ImplicitTLS {
			werr = &tlsError{kind: ErrTLSHandshake, msg: se.msg, cause: se, r: se.r}
		}
		c.shut(werr)
		return werr
	}
	c.mu.Lock() // the context watcher reads c.conn
	c.conn = tc
	c.mu.Unlock()
	c.bw.Reset(connWriter{c}) // every write through connWriter, for its deadline
	c.rr.r.Reset(tc)
	c.tlsState = &state
	return nil
}

// TLSConnectionState returns the state of the TLS connection, and false
// when the connection is not encrypted.
func (c *Client) TLSConnectionState() (tls.ConnectionState, bool) {
	if c.tlsState == nil {
		return tls.ConnectionState{}, false
	}
	return *c.tlsState, true
}

// describeTLSError words a handshake failure so that a user can act on it.
func describeTLSError(server string, err error) string {
	prefix := "smtp: TLS handshake with " + server + ": "
	var (
		unknown   x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		pinErr    *pinError
		verifyErr *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &pinErr):
		return prefix + pinErr.Error()
	case errors.As(err, &hostname):
		return prefix + fmt.Sprintf("certificate is not valid for %q: it names %s", hostname.Host, certNames(hostname.Certificate))
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		cert := invalid.Cert
		if time.Now().Before(cert.NotBefore) {
			return prefix + fmt.Sprintf("certificate for %s is not valid before %s", certNames(cert), cert.NotBefore.UTC().Format(time.RFC3339))
		}
		return prefix + fmt.Sprintf("certificate for %s expired on %s", certNames(cert), cert.NotAfter.UTC().Format(time.RFC3339))
	case errors.As(err, &unknown):
		cert := unknown.Cert // the certificate whose issuer is unknown
		if errors.As(err, &verifyErr) && len(verifyErr.UnverifiedCertificates) > 0 {
			cert = verifyErr.UnverifiedCertificates[0] // the server's own
		}
		if cert != nil {
			return prefix + fmt.Sprintf("certificate signed by an unknown authority (subject %s, issuer %s)", safeText(cert.Subject.String()), safeText(cert.Issuer.String()))
		}
		return prefix + "certificate signed by an unknown authority"
	}
	return prefix + err.Error()
}

// certNames lists the names a certificate is valid for, escaped: they are the server's to choose.
func certNames(cert *x509.Certificate) string { return safeText(certname.Of(cert)) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
