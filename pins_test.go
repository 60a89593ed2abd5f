package smtp

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailwire/smtp/internal/peer"
)

func TestPins(t *testing.T) {
	t.Parallel()
	leafPin, caPin := Pin(goodCert.Leaf), Pin(testCA.Cert)
	otherPin := Pin(otherCert.Leaf)
	tests := []struct {
		name string
		pins []string
		ok   bool
	}{
		{"leaf", []string{leafPin}, true},
		{"CA in the verified chain", []string{caPin}, true},
		{"several, one right", []string{otherPin, leafPin}, true},
		{"several in one string", []string{otherPin + ";" + leafPin}, true},
		{"wrong", []string{otherPin}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := tlsOpts(ImplicitTLS)
			opts.Pins = tt.pins
			script := peer.Script(greeting + ehlo("PIPELINING"))
			if !tt.ok {
				script = nil
			}
			srv := peer.NewTLS(serverTLS(goodCert), script)
			defer srv.Close()
			c, err := Dial(bg, srv.Addr(), opts)
			if tt.ok {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				c.Close()
				return
			}
			if !errors.Is(err, ErrPinMismatch) || !errors.Is(err, ErrTLSHandshake) {
				t.Fatalf("Dial error = %v, want ErrPinMismatch in ErrTLSHandshake", err)
			}
			want := "certificate pin mismatch: got " + leafPin + " (CN=localhost), " + caPin + " (CN=mailwire test CA,O=mailwire tests), want one of " + otherPin
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Error() = %q, want it to contain %q", err, want)
			}
		})
	}
}

func TestMalformedPin(t *testing.T) {
	t.Parallel()
	for _, pin := range []string{"", "sha256//", "sha1//abcd", "sha256//not base64!", "sha256//AAAA", "sha256//" + strings.Repeat("A", 43) + "=;oops"} {
		opts := tlsOpts(StartTLS)
		opts.Pins = []string{pin}
		if err := dialRefused(t, opts); err == nil || !strings.Contains(err.Error(), "pin") {
			t.Errorf("pin %q: Dial error = %v, want a pin error", pin, err)
		}
	}
}

func TestPinOnlyTrustOfSelfSigned(t *testing.T) {
	t.Parallel()
	pin := Pin(selfSigned.Leaf)
	insecure := func(pins ...string) *Options {
		return &Options{Security: ImplicitTLS, TLSConfig: &tls.Config{InsecureSkipVerify: true}, Pins: pins, Timeout: 3 * time.Second}
	}
	srv := peer.NewTLS(serverTLS(selfSigned), peer.Script(greeting+ehlo("PIPELINING")), nil, nil)
	defer srv.Close()
	c, err := Dial(bg, srv.Addr(), insecure(pin))
	if err != nil {
		t.Fatalf("pinned self-signed: %v", err)
	}
	c.Close()
	// A wrong pin is refused even with chain verification off.
	if _, err := Dial(bg, srv.Addr(), insecure(Pin(goodCert.Leaf))); !errors.Is(err, ErrPinMismatch) {
		t.Errorf("wrong pin on self-signed: %v, want ErrPinMismatch", err)
	}
	// A pin does not switch chain verification off.
	opts := tlsOpts(ImplicitTLS)
	opts.Pins = []string{pin}
	if _, err := Dial(bg, srv.Addr(), opts); !errors.Is(err, ErrTLSHandshake) || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("pinned self-signed with verification on: %v, want unknown authority", err)
	}
}
