package smtptest

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

func TestStartTLS(t *testing.T) {
	t.Parallel()
	s := newServer(t, &Config{TLS: StartTLS})

	c, err := gosmtp.DialStartTLS(s.Addr(), s.ClientTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Errorf("STARTTLS advertised after STARTTLS")
	}
	if ok, _ := c.Extension("REQUIRETLS"); !ok {
		t.Errorf("REQUIRETLS not advertised under TLS")
	}
	state, ok := c.TLSConnectionState()
	if !ok || state.Version < tls.VersionTLS12 || len(state.PeerCertificates) == 0 || !state.PeerCertificates[0].Equal(s.Certificate()) {
		t.Fatalf("TLS state %v %+v", ok, state)
	}
	if err := c.Mail("a@example.com", &gosmtp.MailOptions{RequireTLS: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.com", nil); err != nil {
		t.Fatal(err)
	}
	wc, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	wc.Write([]byte("Subject: tls\r\n\r\nsecret\r\n"))
	if err := wc.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	msgs := s.Messages()
	if len(msgs) != 1 || !msgs[0].TLS || !msgs[0].MailOptions.RequireTLS {
		t.Fatalf("messages %+v", msgs)
	}
	cmds := s.Commands()
	var got []string
	for _, cmd := range cmds {
		got = append(got, cmd.Verb+map[bool]string{true: "+tls", false: ""}[cmd.TLS])
	}
	if strings.Join(got, " ") != "EHLO STARTTLS EHLO+tls MAIL+tls RCPT+tls DATA+tls QUIT+tls" {
		t.Errorf("commands %v", got)
	}
}

func TestStartTLSRaw(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		mode      TLSMode
		offered   bool
		startCode int
	}{
		{"NoTLS", NoTLS, false, 502},
		{"StartTLS", StartTLS, true, 220},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, &Config{TLS: tc.mode})
			c, _ := dialRaw(t, s)
			ext := ehloKeywords(c.expect("EHLO me", 250))
			if _, ok := ext["STARTTLS"]; ok != tc.offered {
				t.Errorf("STARTTLS advertised: %v, want %v", ok, tc.offered)
			}
			if _, ok := ext["REQUIRETLS"]; ok {
				t.Errorf("REQUIRETLS advertised without TLS")
			}
			if r := c.cmd("MAIL FROM:<a@example.com> REQUIRETLS"); r.code != 530 {
				t.Errorf("REQUIRETLS without TLS: %d %q", r.code, r.text)
			}
			if tc.startCode != 220 {
				c.expect("STARTTLS", tc.startCode)
				return
			}
			c.expect("STARTTLS foo", 501)
			c.startTLS(s.ClientTLSConfig())
			// The session starts over: MAIL needs a new EHLO.
			if r := c.cmd("MAIL FROM:<a@example.com>"); r.code != 502 {
				t.Errorf("MAIL right after STARTTLS: %d %q", r.code, r.text)
			}
			c.expect("EHLO me", 250)
			c.expect("STARTTLS", 503)
			if r := c.sendMessage("a@example.com", []string{"b@example.com"}, "Subject: x\r\n\r\n"); r.code != 250 {
				t.Fatalf("message: %d %q", r.code, r.text)
			}
			if m := s.Messages(); len(m) != 1 || !m[0].TLS {
				t.Errorf("message not recorded as TLS: %+v", m)
			}
		})
	}
}

// Commands sent with STARTTLS, before the handshake, must not be run.
func TestStartTLSInjection(t *testing.T) {
	t.Parallel()
	s := newServer(t, &Config{TLS: StartTLS})
	c, _ := dialRaw(t, s)
	c.expect("EHLO me", 250)
	c.send("STARTTLS\r\nNOOP\r\n")
	if r := c.read(); r.code != 220 {
		t.Fatalf("STARTTLS: %d %q", r.code, r.text)
	}
	tc := tls.Client(c.conn, s.ClientTLSConfig())
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	c.conn = tc
	c.tp.Reader.R.Reset(tc)
	c.tp.Writer.W.Reset(tc)
	c.expect("EHLO me", 250)
	for _, cmd := range s.Commands() {
		if cmd.Verb == "NOOP" {
			t.Errorf("injected NOOP was run: %+v", s.Commands())
		}
	}
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	s := newServer(t, &Config{TLS: ImplicitTLS, Users: map[string]string{"u": "pw"}})
	c, err := gosmtp.DialTLS(s.Addr(), s.ClientTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Errorf("STARTTLS advertised in implicit TLS")
	}
	if !c.SupportsAuth("PLAIN") {
		t.Errorf("AUTH not offered under implicit TLS")
	}
	if err := c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader("Subject: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages(); len(m) != 1 || !m[0].TLS {
		t.Fatalf("messages %+v", m)
	}

	// A client that does not trust the CA fails the handshake.
	if c, err := gosmtp.DialTLS(s.Addr(), &tls.Config{ServerName: "localhost"}); err == nil {
		c.Close()
		t.Errorf("handshake succeeded without trusting the CA")
	}
}

func TestCertificates(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	leaf := s.Certificate()

	block, rest := pem.Decode(s.CACertPEM())
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("CACertPEM is not one PEM certificate")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !ca.IsCA {
		t.Fatalf("CA: %v, IsCA %v", err, ca != nil && ca.IsCA)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CACertPEM())
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("leaf not valid for %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "example.com"}); err == nil {
		t.Errorf("leaf valid for example.com")
	}
	now := time.Now()
	if !leaf.NotBefore.Before(now.Add(-50*time.Minute)) || leaf.NotAfter.Before(now.AddDate(0, 11, 0)) {
		t.Errorf("validity %v to %v", leaf.NotBefore, leaf.NotAfter)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	if want := "sha256//" + base64.StdEncoding.EncodeToString(sum[:]); s.Pin() != want {
		t.Errorf("Pin() = %q, want %q", s.Pin(), want)
	}
	a, b := s.ClientTLSConfig(), s.ClientTLSConfig()
	if a == b || a.ServerName != "localhost" || a.RootCAs == nil {
		t.Errorf("ClientTLSConfig not fresh or incomplete")
	}
	if other := newServer(t, nil); other.Pin() == s.Pin() {
		t.Errorf("two servers share a key")
	}
}
