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
	"os"
	"strconv"
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
	// ErrWrongSecurity: the port does not speak the way Options.Security
	// expects, and the error says which mode to try. A TLS record came
	// where the plaintext greeting belongs, or a plaintext greeting where
	// the TLS handshake belongs; or no greeting came within
	// Options.GreetingTimeout, as when a plaintext client meets a port
	// that waits for TLS (that error matches context.DeadlineExceeded
	// too, since a slow server looks the same).
	ErrWrongSecurity = errors.New("smtp: the port's security is not what Options.Security expects")
)

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
			return prefix + fmt.Sprintf("certificate signed by an unknown authority (subject %s, issuer %s)", safeText(cert.Subject.String()), safeText(cert.Issuer.String()))
		}
		return prefix + "certificate signed by an unknown authority"
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
	return safeText(strings.Join(names, ", "))
}

// Pin returns the pin of cert's public key in curl's --pinnedpubkey form:
// "sha256//" and the base64 SHA-256 of its SubjectPublicKeyInfo. The pin
// stays the same when the certificate is renewed with the same key.
func Pin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256//" + base64.StdEncoding.EncodeToString(sum[:])
}

// PinCheck is the outcome of checking a server's chain against pins.
type PinCheck struct {
	// Matched is the pin that matched, "" when none did.
	Matched string
	// Depth is where the matching key sits: 0 the server's own
	// certificate, 1 the CA that signed it, and so on.
	Depth int
	// Cert is the certificate whose key matched.
	Cert *x509.Certificate
	// Err is the mismatch, matching ErrPinMismatch; nil on a match.
	Err error
}

// pinSet is a parsed list of pins.
type pinSet struct {
	want map[string]bool
	list []string
}

func parsePins(pins ...string) (*pinSet, error) {
	ps := &pinSet{want: map[string]bool{}}
	for _, p := range pins {
		for _, one := range strings.Split(p, ";") {
			one = strings.TrimSpace(one)
			b64, ok := strings.CutPrefix(one, "sha256//")
			if sum, err := base64.StdEncoding.DecodeString(b64); !ok || err != nil || len(sum) != sha256.Size {
				return nil, errInput("malformed pin %q: want sha256// and the base64 of a SHA-256 digest (44 characters)", one)
			}
			if !ps.want[one] {
				ps.want[one] = true
				ps.list = append(ps.list, one)
			}
		}
	}
	if len(ps.list) == 0 {
		return nil, errInput("no pin given")
	}
	return ps, nil
}

// check looks for a pinned key in the verified chains, or in the server's
// own certificate alone when the chain was not verified.
func (ps *pinSet) check(cs tls.ConnectionState) PinCheck {
	chains := cs.VerifiedChains
	if len(chains) == 0 && len(cs.PeerCertificates) > 0 {
		chains = [][]*x509.Certificate{cs.PeerCertificates[:1]}
	}
	var got []string
	for _, chain := range chains {
		for depth, cert := range chain {
			pin := Pin(cert)
			if ps.want[pin] {
				return PinCheck{Matched: pin, Depth: depth, Cert: cert}
			}
			if seen := pin + " (" + safeText(cert.Subject.String()) + ")"; !contains(got, seen) {
				got = append(got, seen)
			}
		}
	}
	return PinCheck{Err: &pinError{got: got, want: ps.list}}
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

// PinVerifier returns a verifier for tls.Config.VerifyConnection that
// accepts a connection when the key of a certificate in the verified chain
// has one of pins (what Options.Pins does, for a tls.Config used
// elsewhere too). Each pin is in curl's
// --pinnedpubkey form, "sha256//BASE64"; one string may hold several joined
// by ';'. When chain verification is off (InsecureSkipVerify), only the
// server's own certificate counts: that is how a self-signed server is
// pinned. A malformed pin is an error here, never a silent "no pin".
func PinVerifier(pins ...string) (func(tls.ConnectionState) error, error) {
	ps, err := parsePins(pins...)
	if err != nil {
		return nil, err
	}
	return func(cs tls.ConnectionState) error { return ps.check(cs).Err }, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
