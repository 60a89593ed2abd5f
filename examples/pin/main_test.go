package main

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/examples/internal/progtest"
	"github.com/mailwire/smtp/smtptest"
)

// TestPin builds the program and runs it against an smtptest server with
// the right pin, a wrong one, none, and a malformed one.
func TestPin(t *testing.T) {
	bin := progtest.Build(t, ".")
	srv := smtptest.NewServer(&smtptest.Config{TLS: smtptest.StartTLS, Logf: t.Logf})
	defer srv.Close()
	env := []string{"SMTP_ADDR=" + srv.Addr(), "SMTP_CAFILE=" + progtest.WriteCA(t, srv)}
	leafPin := srv.Pin()
	block, _ := pem.Decode(srv.CACertPEM())
	if block == nil {
		t.Fatal("no PEM in CACertPEM")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	caPin := smtp.Pin(ca)

	t.Run("match", func(t *testing.T) {
		r := progtest.Run(t, bin, env, "-pin", "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "-pin", leafPin)
		if want := "pin matched: " + leafPin + " at depth 0 (CN=localhost)\n"; r.Code != 0 || r.Stdout != want {
			t.Errorf("want exit code 0 and %q; %v", want, r)
		}
	})

	t.Run("CA pin", func(t *testing.T) {
		r := progtest.Run(t, bin, env, "-pin", caPin)
		if r.Code != 0 || !strings.HasPrefix(r.Stdout, "pin matched: "+caPin+" at depth 1 (CN=smtptest CA") {
			t.Errorf("want exit code 0 and a match at depth 1; %v", r)
		}
	})

	t.Run("mismatch", func(t *testing.T) {
		before := len(srv.Commands())
		wrong := "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		r := progtest.Run(t, bin, env, "-pin", wrong)
		if r.Code != 1 || !strings.Contains(r.Stderr, "certificate pin mismatch") {
			t.Errorf("want exit code 1 and a pin mismatch; %v", r)
		}
		// What the server presented, to compare with the expected pin.
		want := "The server presented:\n" +
			"  depth 0: " + leafPin + "  (CN=localhost)\n" +
			"  depth 1: " + caPin + "  (CN=smtptest CA,O=mailwire smtptest)\n"
		if r.Stdout != want {
			t.Errorf("stdout:\n%s\nwant:\n%s", r.Stdout, want)
		}
		// Not a command went over the TLS connection with the wrong key.
		for _, c := range srv.Commands()[before:] {
			if c.TLS {
				t.Errorf("the server got %q over TLS", c)
			}
		}
	})

	t.Run("no pin", func(t *testing.T) {
		r := progtest.Run(t, bin, env)
		if r.Code != 0 || !strings.Contains(r.Stdout, "depth 0: "+leafPin+"  (CN=localhost)\n") || !strings.Contains(r.Stdout, "depth 1: "+caPin) {
			t.Errorf("want exit code 0 and the pins of the chain; %v", r)
		}
	})

	t.Run("malformed pin", func(t *testing.T) {
		conns := srv.Connections()
		r := progtest.Run(t, bin, env, "-pin", "sha256//not-base64")
		if r.Code != 2 || !strings.Contains(r.Stderr, "malformed pin") {
			t.Errorf("want exit code 2 and a malformed pin; %v", r)
		}
		if srv.Connections() != conns {
			t.Error("a malformed pin made a connection")
		}
	})

	t.Run("untrusted CA", func(t *testing.T) {
		// A pin adds to certificate verification; it does not replace it.
		r := progtest.Run(t, bin, env[:1], "-pin", leafPin)
		if r.Code != 1 || !strings.Contains(r.Stderr, "unknown authority") {
			t.Errorf("want exit code 1 and an unknown authority; %v", r)
		}
	})
}
