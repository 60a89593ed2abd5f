package smtp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailwire/smtp/smtptest"
)

var testRSAKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

// verifyDKIM checks raw's signatures with go-msgauth's verifier, the key
// found at the record DKIMRecord writes: the independent check.
func verifyDKIM(t *testing.T, raw []byte, key crypto.Signer) {
	t.Helper()
	record, err := DKIMRecord(key)
	if err != nil {
		t.Fatal(err)
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: func(domain string) ([]string, error) {
		if domain != "mw._domainkey.example.com" {
			return nil, errors.New("no such record")
		}
		return []string{record}, nil
	}})
	if err != nil || len(verifs) != 1 {
		t.Fatalf("verify: %v, %d signatures", err, len(verifs))
	}
	if verifs[0].Err != nil {
		t.Errorf("the signature does not verify: %v\n%s", verifs[0].Err, raw[:min(len(raw), 2000)])
	}
}

func dkimOpts(srv *smtptest.Server, key crypto.Signer) *Options {
	o := realOpts(srv, Plaintext)
	o.DKIM = &DKIM{Domain: "example.com", Selector: "mw", Key: key}
	return o
}

const dkimMessage = "From: Ann <ann@example.com>\nTo: bob@example.com\nSubject: signed\nDate: Fri, 04 Dec 2026 09:00:00 +0000\nMessage-ID: <s1@example.com>\n\nHello,\nbare LF lines, made CRLF on the wire\r\n.a dot line\n"

// RSA and Ed25519, a message with bare LF line endings, read once or
// twice: what arrives verifies, From is oversigned.
func TestDKIMSignedAsSent(t *testing.T) {
	t.Parallel()
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, key := range map[string]crypto.Signer{"rsa": testRSAKey, "ed25519": edKey} {
		for _, seekable := range []bool{true, false} {
			srv := newServer(t, nil)
			c, err := Dial(context.Background(), srv.Addr(), dkimOpts(srv, key))
			if err != nil {
				t.Fatal(err)
			}
			var msg = strings.NewReader(dkimMessage)
			var in any = msg
			if !seekable {
				in = onlyReader{msg}
			}
			if _, err := c.Send(context.Background(), &Envelope{From: "ann@example.com", To: []string{"bob@example.com"}}, in.(interface{ Read([]byte) (int, error) })); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			c.Close()
			raw := srv.Messages()[0].Raw
			if !bytes.HasPrefix(raw, []byte("DKIM-Signature: ")) || !bytes.Contains(raw, []byte("h=From:From:")) {
				t.Errorf("%s: no signature first, or From not oversigned:\n%.300s", name, raw)
			}
			verifyDKIM(t, raw, key)
		}
	}
}

// An 8-bit message to a server without 8BITMIME: re-encoded, then signed;
// what arrives is 7-bit and verifies.
func TestDKIMAfterDowngrade(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{Disable8BitMIME: true})
	c, err := Dial(context.Background(), srv.Addr(), dkimOpts(srv, testRSAKey))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := "From: ann@example.com\r\nTo: bob@example.com\r\nSubject: 8bit\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln\r\n"
	if _, err := c.Send(context.Background(), &Envelope{From: "ann@example.com", To: []string{"bob@example.com"}}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	raw := srv.Messages()[0].Raw
	if has8bit(raw) || !bytes.Contains(raw, []byte("quoted-printable")) {
		t.Errorf("not downgraded:\n%s", raw)
	}
	verifyDKIM(t, raw, testRSAKey)
}

// A message that cannot be sought back and is larger than SpoolThreshold
// goes through a temporary file, removed once sent.
func TestDKIMSpool(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := newServer(t, nil)
	opts := dkimOpts(srv, testRSAKey)
	opts.DKIM.SpoolThreshold, opts.DKIM.SpoolDir = 1024, dir
	c, err := Dial(context.Background(), srv.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := dkimMessage + strings.Repeat("a longer body line for the spool\n", 2000)
	if _, err := c.Send(context.Background(), &Envelope{From: "ann@example.com", To: []string{"bob@example.com"}}, onlyReader{strings.NewReader(msg)}); err != nil {
		t.Fatal(err)
	}
	verifyDKIM(t, srv.Messages()[0].Raw, testRSAKey)
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("spool files left: %v", left)
	}
}

func TestDKIMKeysAndRecords(t *testing.T) {
	t.Parallel()
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testRSAKey)})
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(edKey)
	pkcs8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	for name, p := range map[string][]byte{"pkcs1": pkcs1, "pkcs8 ed25519": pkcs8} {
		k, err := ParseDKIMKey(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rec, err := DKIMRecord(k)
		if err != nil || !strings.HasPrefix(rec, "v=DKIM1; k=") {
			t.Errorf("%s: record %q, %v", name, rec, err)
		}
	}
	for _, bad := range [][]byte{nil, []byte("junk"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})} {
		if _, err := ParseDKIMKey(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ParseDKIMKey(%q): %v", bad, err)
		}
	}
	if _, err := Dial(context.Background(), "127.0.0.1:25", &Options{DKIM: &DKIM{Domain: "x"}}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("an incomplete DKIM: %v", err)
	}
}

// The verifier the tests use has teeth: a changed byte of the body, or a
// second From added on the way, fails it.
func TestDKIMVerifierCatchesChanges(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c, err := Dial(context.Background(), srv.Addr(), dkimOpts(srv, testRSAKey))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Send(context.Background(), &Envelope{From: "ann@example.com", To: []string{"bob@example.com"}}, strings.NewReader(dkimMessage)); err != nil {
		t.Fatal(err)
	}
	raw := srv.Messages()[0].Raw
	record, _ := DKIMRecord(testRSAKey)
	lookup := &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) { return []string{record}, nil }}
	for name, changed := range map[string][]byte{
		"body":        bytes.Replace(raw, []byte("Hello"), []byte("Jello"), 1),
		"second From": bytes.Replace(raw, []byte("From: Ann"), []byte("From: Mallory <m@evil.example>\r\nFrom: Ann"), 1),
	} {
		verifs, err := dkim.VerifyWithOptions(bytes.NewReader(changed), lookup)
		if err != nil || len(verifs) != 1 || verifs[0].Err == nil {
			t.Errorf("%s changed, and the signature still verifies (%v)", name, err)
		}
	}
}
