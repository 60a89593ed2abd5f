package smtp

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
)

// Key pinning in curl's --pinnedpubkey form ("sha256//BASE64"), the same
// bytes as a DANE TLSA 3 1 1 record.

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
