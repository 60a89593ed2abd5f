package smtp

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

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
)

// tlsError is a failure to secure the connection: kind is one of the
// sentinels above, cause what happened.
type tlsError struct {
	kind  error
	msg   string
	cause error
}

func (e *tlsError) Error() string   { return e.msg }
func (e *tlsError) Unwrap() []error { return []error{e.kind, e.cause} }

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

// tlsConfig builds the tls.Config of a connection to host: a clone of the
// caller's, never the caller's own, with ServerName, MinVersion TLS 1.2,
// and a VerifyConnection that checks pins and calls the caller's verifiers.
func (o *Options) tlsConfig(host string) (*tls.Config, error) {
	var cfg *tls.Config
	if o.TLSConfig != nil {
		cfg = o.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		return nil, errInput("TLS needs a server name: set Options.TLSConfig.ServerName")
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	var pinned func(tls.ConnectionState) error
	if len(o.Pins) > 0 {
		var err error
		if pinned, err = PinVerifier(o.Pins...); err != nil {
			return nil, err
		}
	}
	verifiers := []func(tls.ConnectionState) error{pinned, o.VerifyConnection, cfg.VerifyConnection}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		for _, v := range verifiers {
			if v != nil {
				if err := v(cs); err != nil {
					return err
				}
			}
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
		return &tlsError{kind: ErrStartTLSNotOffered, msg: ErrStartTLSNotOffered.Error() +
			" (Options.Security is StartTLS: nothing more is sent in plaintext; use ImplicitTLS on port 465, or StartTLSOptional to accept plaintext)",
			cause: errors.ErrUnsupported}
	}
	rep, err := c.roundTrip(ctx, false, "STARTTLS")
	if err != nil {
		var refused *Error
		if errors.As(err, &refused) && c.err == nil {
			if optional {
				return nil
			}
			return &tlsError{kind: ErrStartTLSRefused, msg: ErrStartTLSRefused.Error() + ": " + strings.TrimPrefix(refused.Error(), "smtp: "), cause: refused}
		}
		return err
	}
	if rep.Code != 220 {
		return c.unexpected("STARTTLS", rep, 220)
	}
	if n := c.rr.r.Buffered(); n > 0 {
		err := &tlsError{kind: ErrStartTLSInjection, msg: fmt.Sprintf("%v: %d bytes", ErrStartTLSInjection, n), cause: errors.ErrUnsupported}
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
	tc := tls.Client(c.conn, c.tlsConfig)
	c.trace.tlsHandshakeStart(c.tlsConfig.ServerName)
	err := tc.HandshakeContext(ctx)
	state := tc.ConnectionState()
	c.trace.tlsHandshakeDone(state, err)
	if err != nil {
		if c.closed.Load() || ctx.Err() != nil || errors.Is(err, net.ErrClosed) || errors.Is(err, context.DeadlineExceeded) {
			return c.fail(ctx, "TLS handshake", err)
		}
		werr := &tlsError{kind: ErrTLSHandshake, msg: describeTLSError(c.tlsConfig.ServerName, err), cause: err}
		c.shut(werr)
		return werr
	}
	c.mu.Lock() // the context watcher reads c.conn
	c.conn = tc
	c.mu.Unlock()
	c.bw.Reset(tc)
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
			return prefix + fmt.Sprintf("certificate signed by an unknown authority (subject %s, issuer %s): add its CA to TLSConfig.RootCAs, or pin its key with Options.Pins", cert.Subject, cert.Issuer)
		}
		return prefix + "certificate signed by an unknown authority: add its CA to TLSConfig.RootCAs, or pin its key with Options.Pins"
	}
	return prefix + err.Error()
}

// certNames lists the names a certificate is valid for.
func certNames(cert *x509.Certificate) string {
	var names []string
	names = append(names, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && cert.Subject.CommonName != "" {
		names = append(names, "CN="+cert.Subject.CommonName)
	}
	if len(names) == 0 {
		return "no name"
	}
	return strings.Join(names, ", ")
}

// Pin returns the pin of cert's public key in curl's --pinnedpubkey form:
// "sha256//" and the base64 SHA-256 of its SubjectPublicKeyInfo. The pin
// stays the same when the certificate is renewed with the same key.
func Pin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256//" + base64.StdEncoding.EncodeToString(sum[:])
}

// pinError is a chain in which no key matched a pin.
type pinError struct {
	got  []string
	want []string
}

func (e *pinError) Error() string {
	return fmt.Sprintf("certificate pin mismatch: got %s, want one of %s", strings.Join(e.got, ", "), strings.Join(e.want, ", "))
}

func (e *pinError) Is(target error) bool { return target == ErrPinMismatch }

// PinVerifier returns a verifier for tls.Config.VerifyConnection (or
// Options.VerifyConnection) that accepts a connection when the key of a
// certificate in the verified chain has one of pins. Each pin is in curl's
// --pinnedpubkey form, "sha256//BASE64"; one string may hold several joined
// by ';'. When chain verification is off (InsecureSkipVerify), only the
// server's own certificate counts: that is how a self-signed server is
// pinned. A malformed pin is an error here, never a silent "no pin".
func PinVerifier(pins ...string) (func(tls.ConnectionState) error, error) {
	want := map[string]bool{}
	var list []string
	for _, p := range pins {
		for _, one := range strings.Split(p, ";") {
			one = strings.TrimSpace(one)
			b64, ok := strings.CutPrefix(one, "sha256//")
			if sum, err := base64.StdEncoding.DecodeString(b64); !ok || err != nil || len(sum) != sha256.Size {
				return nil, errInput("malformed pin %q: want sha256// and the base64 of a SHA-256 digest (44 characters)", one)
			}
			if !want[one] {
				want[one] = true
				list = append(list, one)
			}
		}
	}
	if len(want) == 0 {
		return nil, errInput("no pin given")
	}
	return func(cs tls.ConnectionState) error {
		chains := cs.VerifiedChains
		if len(chains) == 0 && len(cs.PeerCertificates) > 0 {
			chains = [][]*x509.Certificate{cs.PeerCertificates[:1]}
		}
		var got []string
		for _, chain := range chains {
			for _, cert := range chain {
				pin := Pin(cert)
				if want[pin] {
					return nil
				}
				if !contains(got, pin) {
					got = append(got, pin)
				}
			}
		}
		return &pinError{got: got, want: list}
	}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
