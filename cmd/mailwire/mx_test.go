package main

import (
	"crypto/sha256"
	"encoding/json"
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

func TestDeliverUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"deliver", "--to", "a@b.test"},          // no message
		{"deliver", "--message", "-"},            // no recipient
		{"deliver", "--to", "a@b.test", "extra"}, // an argument
		{"probe", "--mx", "b.test", "server.test"},
	} {
		if code, _, _ := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// probe --mx and deliver against the real validating resolver (Unbound,
// from scripts/test.sh) and the signed test zone: the report says which
// host DANE refused and why, and deliver's message reaches the host whose
// key the zone vouches for. The outputs are logged (go test -v) as the
// issue's note shows them.
func TestProbeMXAndDeliverWithUnbound(t *testing.T) {
	zone, resolver := dnstest.Start(t)
	good, err := smtptest.Start(&smtptest.Config{TLS: smtptest.StartTLS}, "127.0.0.6:0")
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	_, port, _ := net.SplitHostPort(good.Addr())
	bad, err := smtptest.Start(&smtptest.Config{TLS: smtptest.StartTLS}, "127.0.0.7:"+port)
	if err != nil {
		t.Skipf("port %s busy on 127.0.0.7: %v", port, err)
	}
	defer bad.Close()
	other := smtptest.NewServer(nil)
	defer other.Close()
	domain := fmt.Sprintf("cli%d.%s", time.Now().UnixNano(), dnstest.Origin)
	tlsa := "_" + port + "._tcp."
	if err := zone.Add(
		domain+" 1 IN MX 10 mx1."+domain, "mx1."+domain+" 1 IN A 127.0.0.7",
		tlsaRR(tlsa+"mx1."+domain, other.Certificate().RawSubjectPublicKeyInfo),
		domain+" 1 IN MX 20 mx2."+domain, "mx2."+domain+" 1 IN A 127.0.0.6",
		tlsaRR(tlsa+"mx2."+domain, good.Certificate().RawSubjectPublicKeyInfo),
	); err != nil {
		t.Fatal(err)
	}
	d := strings.TrimSuffix(domain, ".")

	code, out, stderr := runCLI(t, "probe", "--mx", d, "--resolver", resolver, "--mx-port", port, "--ehlo", "sender.test")
	t.Logf("$ mailwire probe --mx %s --resolver %s --mx-port %s\n%s", d, resolver, port, out)
	if code != exitOK {
		t.Fatalf("probe --mx: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"MX answer: validated by DNSSEC",
		"MX 10 mx1." + d, "policy tlsa, result tlsa-invalid",
		"MX 20 mx2." + d, "policy tlsa, result -: ok",
		"# DANE: the certificate matches",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("probe --mx lacks %q", want)
		}
	}
	if len(good.Messages())+len(bad.Messages()) != 0 {
		t.Error("probe --mx sent a message")
	}

	msg := filepath.Join(t.TempDir(), "m.eml")
	os.WriteFile(msg, []byte("From: ann@sender.test\r\nTo: bob@"+d+"\r\nSubject: direct, with DANE\r\n\r\nHello.\r\n"), 0o644)
	code, out, stderr = runCLI(t, "deliver", "--from", "ann@sender.test", "--to", "bob@"+d, "--message", msg,
		"--resolver", resolver, "--mx-port", port, "--ehlo", "sender.test", "--json", "--explain")
	t.Logf("$ mailwire deliver --from ann@sender.test --to bob@%s --message m.eml --resolver %s --mx-port %s --json\n%s", d, resolver, port, out)
	if code != exitOK {
		t.Fatalf("deliver: exit %d: %s", code, stderr)
	}
	t.Logf("its --explain, on stderr:\n%s", stderr)
	for _, want := range []string{"the certificate matches none of the host's TLSA records (DANE)", "> STARTTLS", "< 250 2.0.0 OK: queued as", "  # "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("deliver --explain lacks %q", want)
		}
	}
	var res []struct {
		DNSSEC   bool
		Accepted []string
		Reply    string
		Attempts []struct {
			Host       string
			PolicyType string `json:"policy_type"`
			ResultType string `json:"result_type"`
			TLS        string
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || !res[0].DNSSEC || len(res[0].Attempts) != 2 || res[0].Attempts[0].ResultType != "tlsa-invalid" ||
		res[0].Attempts[1].PolicyType != "tlsa" || res[0].Attempts[1].TLS == "" || !strings.HasPrefix(res[0].Reply, "250 ") {
		t.Errorf("deliver --json: %+v", res)
	}
	if m := good.Messages(); len(m) != 1 || !m[0].TLS || m[0].Header.Get("Subject") != "direct, with DANE" {
		t.Errorf("the DANE host got %v", m)
	}
	if n := len(bad.Messages()); n != 0 {
		t.Errorf("the host DANE refused got %d messages", n)
	}
}

// tlsaRR is a DANE-EE SPKI SHA-256 TLSA record (3 1 1) for spki.
func tlsaRR(name string, spki []byte) string {
	sum := sha256.Sum256(spki)
	return fmt.Sprintf("%s 1 IN TLSA 3 1 1 %x", name, sum[:])
}
