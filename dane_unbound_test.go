package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailwire/smtp/internal/dnstest"
	"github.com/mailwire/smtp/smtptest"
)

// DANE against a real validating resolver: Unbound, started by
// scripts/test.sh (scripts/unbound/up.sh), trusts the zone dane.test. by
// its key and asks it of our signed zone (internal/dnstest). The AD flag
// comes from Unbound's own validation, so a forged answer is caught by
// DNSSEC, not by us. One test (the zone's port is fixed) with a label of
// its own per run, so that nothing cached by an earlier run answers.
//
//   - secure.<run>: the first host's TLSA names another key (refused,
//     tlsa-invalid); the second has STARTTLS stripped (refused,
//     starttls-not-supported, nothing in plaintext); the third matches.
//   - forged.<run>: an impostor's TLSA answer, unsigned, for the first
//     host: Unbound finds it bogus, the host is not dialled
//     (dnssec-invalid), the second host, truly signed, takes the message.
func TestDeliverDANEWithUnbound(t *testing.T) {
	zone, resolver := dnstest.Start(t)

	servers, port := mxServers(t, map[string]*smtptest.Config{
		"127.0.0.2": {TLS: smtptest.StartTLS}, // secure: TLSA of another key
		"127.0.0.3": {TLS: smtptest.NoTLS},    // secure: STARTTLS stripped
		"127.0.0.4": {TLS: smtptest.StartTLS}, // secure and forged: the right one
		"127.0.0.5": {TLS: smtptest.StartTLS}, // forged: the impostor
	})
	other := smtptest.NewServer(nil)
	defer other.Close()
	run := fmt.Sprintf("r%d.%s", time.Now().UnixNano(), dnstest.Origin)
	tlsa := "_" + port + "._tcp."
	sec, forged := "secure."+run, "forged."+run
	right := servers["127.0.0.4"].Certificate()
	records := []string{
		sec + " 1 IN MX 10 mx1." + sec, "mx1." + sec + " 1 IN A 127.0.0.2", tlsaRR(tlsa+"mx1."+sec, 3, 1, 1, other.Certificate()),
		sec + " 1 IN MX 20 mx2." + sec, "mx2." + sec + " 1 IN A 127.0.0.3", tlsaRR(tlsa+"mx2."+sec, 3, 1, 1, right),
		sec + " 1 IN MX 30 mx3." + sec, "mx3." + sec + " 1 IN A 127.0.0.4", tlsaRR(tlsa+"mx3."+sec, 3, 1, 1, right),
		forged + " 1 IN MX 10 mx1." + forged, "mx1." + forged + " 1 IN A 127.0.0.5", tlsaRR(tlsa+"mx1."+forged, 3, 1, 1, servers["127.0.0.5"].Certificate()),
		forged + " 1 IN MX 20 mx2." + forged, "mx2." + forged + " 1 IN A 127.0.0.4", tlsaRR(tlsa+"mx2."+forged, 3, 1, 1, right),
	}
	if err := zone.Add(records...); err != nil {
		t.Fatal(err)
	}
	zone.Forge(tlsa + "mx1." + forged)

	env := &Envelope{From: "ann@sender.test", To: []string{"bob@" + strings.TrimSuffix(sec, "."), "carol@" + strings.TrimSuffix(forged, ".")}}
	out, err := Deliver(context.Background(), env, strings.NewReader(testMessage),
		&DeliverOptions{Resolver: resolver, Port: port, Options: &Options{LocalName: "sender.test", Timeout: 20 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	describe := func(dr *DomainReceipt) string {
		var lines []string
		for _, a := range dr.Attempts {
			lines = append(lines, fmt.Sprintf("%s %s/%s tls=%v", strings.SplitN(a.Host, ".", 2)[0], a.Result.PolicyType, a.Result.ResultType, a.TLS != ""))
		}
		return strings.Join(lines, "; ")
	}
	if got, want := describe(out[0]), "mx1 tlsa/tlsa-invalid tls=false; mx2 tlsa/starttls-not-supported tls=false; mx3 tlsa/ tls=true"; out[0].Err != nil || got != want {
		t.Errorf("secure domain: %v\n got %s\nwant %s", out[0].Err, got, want)
	}
	if got, want := describe(out[1]), "mx1 tlsa/dnssec-invalid tls=false; mx2 tlsa/ tls=true"; out[1].Err != nil || got != want {
		t.Errorf("forged TLSA: %v\n got %s\nwant %s", out[1].Err, got, want)
	}
	for ip, want := range map[string]int{"127.0.0.2": 0, "127.0.0.3": 0, "127.0.0.5": 0, "127.0.0.4": 2} {
		if n := len(servers[ip].Messages()); n != want {
			t.Errorf("%s kept %d messages, want %d", ip, n, want)
		}
	}
	if n := len(servers["127.0.0.5"].Commands()); n != 0 {
		t.Errorf("the impostor behind the forged TLSA was dialled")
	}
	if !errors.Is(out[0].Attempts[1].Err, ErrStartTLSNotOffered) {
		t.Errorf("stripped STARTTLS: %v", out[0].Attempts[1].Err)
	}
}

// A real MTA as the MX host under DANE: the test Postfix (its submission
// port, which takes mail for *.dane.test unauthenticated, as an MX takes
// it), with a TLSA record (3 1 1) of the key its OpenSSL presents; the
// message lands in its Maildir. A second domain whose TLSA names another
// key gets nothing from us, and Postfix sees no message for it.
func TestDeliverDANEToPostfix(t *testing.T) {
	pf := postfix(t)
	daneMaildir := os.Getenv("MAILWIRE_POSTFIX_DANE_MAILDIR")
	if daneMaildir == "" {
		t.Skip("a Postfix without its dane.test Maildir: rerun scripts/postfix/up.sh")
	}
	zone, resolver := dnstest.Start(t)
	// The key Postfix presents, as its operator would publish it.
	c, err := Dial(context.Background(), pf.submission, pf.opts(StartTLS))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := c.TLSConnectionState()
	leaf := st.PeerCertificates[0]
	c.Quit(context.Background())

	host, port, _ := net.SplitHostPort(pf.submission)
	other := smtptest.NewServer(nil)
	defer other.Close()
	run := fmt.Sprintf("pf%d.%s", time.Now().UnixNano(), dnstest.Origin)
	good, bad := "good."+run, "bad."+run
	tlsa := "_" + port + "._tcp."
	if err := zone.Add(
		good+" 1 IN MX 10 mx."+good, "mx."+good+" 1 IN A "+host, tlsaRR(tlsa+"mx."+good, 3, 1, 1, leaf),
		bad+" 1 IN MX 10 mx."+bad, "mx."+bad+" 1 IN A "+host, tlsaRR(tlsa+"mx."+bad, 3, 1, 1, other.Certificate()),
	); err != nil {
		t.Fatal(err)
	}
	id, msg := uniqueMessage(t, "Delivered to Postfix under DANE.\r\n")
	rcptGood, rcptBad := "bob@"+strings.TrimSuffix(good, "."), "carol@"+strings.TrimSuffix(bad, ".")
	out, err := Deliver(context.Background(), &Envelope{From: "alice@mailwire.test", To: []string{rcptGood, rcptBad}}, strings.NewReader(msg),
		&DeliverOptions{Resolver: resolver, Port: port, Options: &Options{LocalName: "sender.test", Timeout: 20 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if dr := out[0]; dr.Err != nil || len(dr.Attempts) != 1 || dr.Attempts[0].Result.PolicyType != "tlsa" || dr.Attempts[0].TLS == "" {
		t.Fatalf("to Postfix: %v, attempts %+v", dr.Err, dr.Attempts)
	}
	if dr := out[1]; dr.Err == nil || dr.Attempts[0].Result.ResultType != "tlsa-invalid" {
		t.Errorf("to Postfix with a TLSA of another key: %v, attempts %+v", dr.Err, dr.Attempts)
	}
	dane := &postfixEnv{maildir: daneMaildir}
	data := dane.delivered(t, id, rcptGood)
	if !bytes.Contains(data, []byte("TLS")) {
		t.Errorf("Postfix's Received field does not say TLS:\n%s", data[:min(len(data), 600)])
	}
	files, _ := filepath.Glob(filepath.Join(daneMaildir, "new", "*"))
	for _, f := range files {
		if b, _ := os.ReadFile(f); bytes.Contains(b, []byte("Delivered-To: "+rcptBad+"\n")) {
			t.Errorf("Postfix got the message for %s, whose TLSA names another key", rcptBad)
		}
	}
}
