package smtp

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mailwire/smtp/smtptest"
)

// tlsaFor is the data of a TLSA record of the given selector and matching
// type for cert.
func tlsaFor(cert *x509.Certificate, selector, matching int) string {
	data := cert.Raw
	if selector == 1 {
		data = cert.RawSubjectPublicKeyInfo
	}
	switch matching {
	case 1:
		s := sha256.Sum256(data)
		data = s[:]
	case 2:
		s := sha512.Sum512(data)
		data = s[:]
	}
	return hex.EncodeToString(data)
}

func tlsaRR(name string, usage, selector, matching int, cert *x509.Certificate) string {
	return fmt.Sprintf("%s 300 IN TLSA %d %d %d %s", name, usage, selector, matching, tlsaFor(cert, selector, matching))
}

// The verifier against a real chain (smtptest's leaf and CA): DANE-EE by
// every selector and matching type, no name or date checked; DANE-TA by
// the CA, with the host's name checked; a wrong key refused.
func TestDANEVerifier(t *testing.T) {
	t.Parallel()
	srv := smtptest.NewServer(nil)
	defer srv.Close()
	other := smtptest.NewServer(nil)
	defer other.Close()
	leaf := srv.Certificate()
	block, _ := pemDecode(srv.CACertPEM())
	ca, err := x509.ParseCertificate(block)
	if err != nil {
		t.Fatal(err)
	}
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf, ca}}
	rec := func(usage, selector, matching int, cert *x509.Certificate) tlsaRecord {
		data, _ := hex.DecodeString(tlsaFor(cert, selector, matching))
		return tlsaRecord{Usage: uint8(usage), Selector: uint8(selector), MatchingType: uint8(matching), Data: data}
	}
	for _, tc := range []struct {
		name string
		r    tlsaRecord
		host string
		ok   bool
	}{
		{"3 1 1", rec(3, 1, 1, leaf), "any.name.test", true},
		{"3 0 1", rec(3, 0, 1, leaf), "any.name.test", true},
		{"3 1 2", rec(3, 1, 2, leaf), "any.name.test", true},
		{"3 0 0", rec(3, 0, 0, leaf), "any.name.test", true},
		{"3 1 1 of another key", rec(3, 1, 1, other.Certificate()), "localhost", false},
		{"3 1 1 of the CA", rec(3, 1, 1, ca), "localhost", false},
		{"2 0 1 of the CA, the name in the certificate", rec(2, 0, 1, ca), "localhost", true},
		{"2 1 1 of the CA", rec(2, 1, 1, ca), "localhost", true},
		{"2 0 1 of the CA, another name", rec(2, 0, 1, ca), "mx.other.test", false},
		{"2 1 1 of the leaf (not a trust anchor in the chain)", rec(2, 1, 1, leaf), "localhost", false},
	} {
		err := daneVerifier([]tlsaRecord{tc.r}, tc.host)(cs)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrDANEMismatch)) {
			t.Errorf("%s for %s: %v, want ok=%v", tc.name, tc.host, err, tc.ok)
		}
	}
	for _, r := range []tlsaRecord{{Usage: 0}, {Usage: 1}, {Usage: 3, Selector: 2}, {Usage: 3, MatchingType: 3}} {
		if r.usable() {
			t.Errorf("%v is usable; SMTP uses DANE-TA(2) and DANE-EE(3) only, known selectors and matching types", r)
		}
	}
}

// DANE at work, through Deliver, with a resolver that vouches for its
// answers (AD): a host whose key matches no TLSA record is refused and
// the next one, whose key matches, takes the message (its certificate
// names neither host, and no CA is trusted: DANE-EE needs neither); a
// host that does not offer STARTTLS (as when the path strips it) gets
// nothing in plaintext; a host whose TLSA lookup fails (a bogus answer)
// is not even dialled.
func TestDeliverDANE(t *testing.T) {
	t.Parallel()
	servers, port := mxServers(t, map[string]*smtptest.Config{
		"127.0.0.2": {TLS: smtptest.StartTLS}, // its TLSA names another key
		"127.0.0.3": {TLS: smtptest.NoTLS},    // STARTTLS stripped
		"127.0.0.4": {TLS: smtptest.StartTLS}, // its TLSA lookup fails
		"127.0.0.5": {TLS: smtptest.StartTLS}, // the right one
	})
	wrong := smtptest.NewServer(nil)
	defer wrong.Close()
	tlsa := "_" + port + "._tcp."
	z := startTestDNS(t,
		"dane.test. 300 IN MX 10 mx1.dane.test.", "mx1.dane.test. 300 IN A 127.0.0.2",
		"dane.test. 300 IN MX 20 mx2.dane.test.", "mx2.dane.test. 300 IN A 127.0.0.3",
		"dane.test. 300 IN MX 30 mx3.dane.test.", "mx3.dane.test. 300 IN A 127.0.0.4",
		"dane.test. 300 IN MX 40 mx4.dane.test.", "mx4.dane.test. 300 IN A 127.0.0.5",
		tlsaRR(tlsa+"mx1.dane.test.", 3, 1, 1, wrong.Certificate()),
		tlsaRR(tlsa+"mx2.dane.test.", 3, 1, 1, wrong.Certificate()),
		tlsaRR(tlsa+"mx4.dane.test.", 3, 1, 1, servers["127.0.0.5"].Certificate()),
	)
	z.vouch(true)
	z.fail(tlsa + "mx3.dane.test.")
	out := deliver(t, z, port, []string{"bob@dane.test"}, &DeliverOptions{Options: &Options{LocalName: "sender.test"}})
	dr := out[0]
	if dr.Err != nil || dr.Receipt == nil {
		t.Fatalf("delivery: %v", dr.Err)
	}
	var got []string
	for _, a := range dr.Attempts {
		got = append(got, fmt.Sprintf("%s %s/%s dane=%d tls=%v", a.Host, a.Result.PolicyType, a.Result.ResultType, len(a.DANE), a.TLS != ""))
	}
	want := []string{
		"mx1.dane.test tlsa/tlsa-invalid dane=1 tls=false",
		"mx2.dane.test tlsa/starttls-not-supported dane=1 tls=false",
		"mx3.dane.test tlsa/dnssec-invalid dane=0 tls=false",
		"mx4.dane.test tlsa/ dane=1 tls=true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("attempts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !errors.Is(dr.Attempts[0].Err, ErrDANEMismatch) || !errors.Is(dr.Attempts[1].Err, ErrStartTLSNotOffered) {
		t.Errorf("errors %v / %v", dr.Attempts[0].Err, dr.Attempts[1].Err)
	}
	for ip, want := range map[string]int{"127.0.0.2": 0, "127.0.0.3": 0, "127.0.0.4": 0, "127.0.0.5": 1} {
		if n := len(servers[ip].Messages()); n != want {
			t.Errorf("%s kept %d messages, want %d", ip, n, want)
		}
	}
	if n := len(servers["127.0.0.4"].Commands()); n != 0 {
		t.Errorf("the host whose TLSA lookup failed was dialled (%d commands)", n)
	}
	if m := servers["127.0.0.5"].Messages(); len(m) != 1 || !m[0].TLS {
		t.Errorf("the DANE host got %v", m)
	}
}

// TLSA records the resolver does not vouch for (no AD) are ignored: the
// host is checked as any other, and its wrong TLSA record does not stop
// it. With a secure answer, DANE-TA checks the MX host's name.
func TestDeliverDANEOnlyWhenAuthentic(t *testing.T) {
	t.Parallel()
	servers, port := mxServers(t, map[string]*smtptest.Config{"127.0.0.2": {TLS: smtptest.StartTLS}})
	wrong := smtptest.NewServer(nil)
	defer wrong.Close()
	block, _ := pemDecode(servers["127.0.0.2"].CACertPEM())
	ca, _ := x509.ParseCertificate(block)
	tlsa := "_" + port + "._tcp."
	z := startTestDNS(t,
		"insecure.test. 300 IN MX 10 localhost.", "localhost. 300 IN A 127.0.0.2",
		tlsaRR(tlsa+"localhost.", 3, 1, 1, wrong.Certificate()),
		"ta.test. 300 IN MX 10 mx.ta.test.", "mx.ta.test. 300 IN A 127.0.0.2",
		tlsaRR(tlsa+"mx.ta.test.", 2, 0, 1, ca),
	)
	opts := &DeliverOptions{Options: &Options{LocalName: "sender.test", TLSConfig: servers["127.0.0.2"].ClientTLSConfig()}}
	out := deliver(t, z, port, []string{"bob@insecure.test"}, opts)
	if a := out[0].Attempts; out[0].Err != nil || len(a) != 1 || a[0].Result.PolicyType != "no-policy-found" || len(a[0].DANE) != 0 || a[0].TLS == "" {
		t.Errorf("unauthenticated TLSA: %v, attempts %+v: want it ignored, the Web PKI checked", out[0].Err, a)
	}
	z.vouch(true)
	out = deliver(t, z, port, []string{"bob@ta.test"}, opts)
	if a := out[0].Attempts; len(a) != 1 || a[0].Result.ResultType != "tlsa-invalid" || !strings.Contains(fmt.Sprint(a[0].Err), "mx.ta.test") {
		t.Errorf("DANE-TA for a name the certificate lacks: %v, attempts %+v", out[0].Err, a)
	}
}

// pemDecode is the DER of the first PEM block of b.
func pemDecode(b []byte) ([]byte, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	return block.Bytes, nil
}

// REQUIRETLS (RFC 8689) per hop: a host that does not offer REQUIRETLS
// gets nothing and the next one does; the message goes out with
// REQUIRETLS, over verified TLS. A host whose name came through DNS
// nobody validated, with no MTA-STS policy, is not used at all.
func TestDeliverREQUIRETLS(t *testing.T) {
	t.Parallel()
	servers, port := mxServers(t, map[string]*smtptest.Config{
		"127.0.0.2": {TLS: smtptest.StartTLS, DisableRequireTLS: true},
		"127.0.0.3": {TLS: smtptest.StartTLS},
	})
	records := []string{
		"rt.test. 300 IN MX 10 mx1.rt.test.", "mx1.rt.test. 300 IN A 127.0.0.2",
		tlsaRR("_"+port+"._tcp.mx1.rt.test.", 3, 1, 1, servers["127.0.0.2"].Certificate()),
		"rt.test. 300 IN MX 20 localhost.", "localhost. 300 IN A 127.0.0.3",
	}
	roots := servers["127.0.0.3"].ClientTLSConfig().RootCAs
	send := func(z *testDNS) *DomainReceipt {
		t.Helper()
		out, err := Deliver(context.Background(), &Envelope{From: "ann@sender.test", To: []string{"bob@rt.test"}, MailOptions: &MailOptions{RequireTLS: true}},
			strings.NewReader(testMessage), &DeliverOptions{Resolver: z.addr, Port: port, Options: &Options{LocalName: "sender.test", TLSConfig: &tls.Config{RootCAs: roots}}})
		if err != nil {
			t.Fatal(err)
		}
		return out[0]
	}

	validated := startTestDNS(t, records...)
	validated.vouch(true)
	dr := send(validated)
	if dr.Err != nil || len(dr.Attempts) != 2 || !errors.Is(dr.Attempts[0].Err, ErrRequireTLSNotOffered) || dr.Attempts[1].TLS == "" {
		t.Fatalf("validated: %v, attempts %+v: want the first passed over for lacking REQUIRETLS, the second over TLS", dr.Err, dr.Attempts)
	}
	if n := len(servers["127.0.0.2"].Messages()); n != 0 {
		t.Errorf("the host without REQUIRETLS got %d messages", n)
	}
	m := servers["127.0.0.3"].Messages()
	if len(m) != 1 || !m[0].TLS || !m[0].MailOptions.RequireTLS {
		t.Fatalf("the REQUIRETLS host got %+v", m)
	}

	unvalidated := startTestDNS(t, records...)
	dr = send(unvalidated)
	if dr.Err == nil || len(servers["127.0.0.3"].Messages()) != 1 || len(dr.Attempts) != 2 || dr.Attempts[1].Addr != "" {
		t.Errorf("unvalidated DNS: %v, attempts %+v: want no host used", dr.Err, dr.Attempts)
	}
}

// CheckMX reaches every host, each under its policy, and sends nothing.
func TestCheckMX(t *testing.T) {
	t.Parallel()
	servers, port := mxServers(t, map[string]*smtptest.Config{
		"127.0.0.2": {TLS: smtptest.StartTLS},
		"127.0.0.3": {TLS: smtptest.StartTLS},
	})
	wrong := smtptest.NewServer(nil)
	defer wrong.Close()
	tlsa := "_" + port + "._tcp."
	z := startTestDNS(t,
		"check.test. 300 IN MX 10 mx1.check.test.", "mx1.check.test. 300 IN A 127.0.0.2",
		tlsaRR(tlsa+"mx1.check.test.", 3, 1, 1, servers["127.0.0.2"].Certificate()),
		"check.test. 300 IN MX 20 mx2.check.test.", "mx2.check.test. 300 IN A 127.0.0.3",
		tlsaRR(tlsa+"mx2.check.test.", 3, 1, 1, wrong.Certificate()),
	)
	z.vouch(true)
	dr, err := CheckMX(context.Background(), "check.test", &DeliverOptions{Resolver: z.addr, Port: port})
	if err != nil || dr.Err != nil || !dr.DNSSEC || len(dr.Attempts) != 2 {
		t.Fatalf("CheckMX: %v %v, DNSSEC %v, %d attempts", err, dr.Err, dr.DNSSEC, len(dr.Attempts))
	}
	if a := dr.Attempts; a[0].Err != nil || a[0].TLS == "" || a[0].Result.ResultType != "" || a[1].Result.ResultType != "tlsa-invalid" {
		t.Errorf("attempts %+v", a)
	}
	for ip, s := range servers {
		if n := len(s.Messages()); n != 0 {
			t.Errorf("%s got %d messages from a check", ip, n)
		}
	}
	if _, err := CheckMX(context.Background(), "nowhere.test", &DeliverOptions{Resolver: z.addr}); err != nil {
		t.Errorf("CheckMX of an unknown domain: %v, want its DomainReceipt with the error", err)
	}
}
