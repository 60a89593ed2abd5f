package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/mailwire/smtp/internal/peer"
	"github.com/mailwire/smtp/smtptest"
)

func TestConnectTarget(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		rule, want string
		applies    bool
	}{
		{"127.0.0.1:2525", "127.0.0.1:2525", true},
		{"127.0.0.1", "127.0.0.1:587", true}, // the server's port
		{"[::1]:25", "[::1]:25", true},
		{"mail.example.com:587:127.0.0.1:2525", "127.0.0.1:2525", true}, // curl's form
		{"MAIL.example.com::[::1]:", "[::1]:587", true},                 // any port, the server's port kept
		{"::127.0.0.1:", "127.0.0.1:587", true},                         // any host and port
		{"other.example.com:587:127.0.0.1:2525", "", false},
		{"mail.example.com:465:127.0.0.1:2525", "", false},
	} {
		got, ok, err := connectTarget(tt.rule, "mail.example.com", "587")
		if err != nil || got != tt.want || ok != tt.applies {
			t.Errorf("connectTarget(%q) = %q, %v, %v; want %q, %v", tt.rule, got, ok, err, tt.want, tt.applies)
		}
	}
	for _, bad := range []string{"", "a:b:c", "host:", ":25", "a:b:c:d:e"} {
		if _, _, err := connectTarget(bad, "mail.example.com", "587"); err == nil || !strings.Contains(err.Error(), "--connect-to") {
			t.Errorf("connectTarget(%q): err %v, want one naming --connect-to", bad, err)
		}
	}
}

// --connect-to dials another address while TLS still checks the named
// server; --tls-server-name checks another name.
func TestConnectToAndTLSServerName(t *testing.T) {
	t.Parallel()
	srv, ca := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	named := "mail.example.test:587" // no such host: only --connect-to reaches it
	msg := []string{"--cafile", ca, "--from", "a@example.com", "--to", "b@example.com", "--body", "hi"}

	// The certificate (localhost, 127.0.0.1, ::1) is checked against the
	// named server, not the address dialled.
	code, _, stderr := runWith(t, runSend, "", append([]string{named, "--connect-to", srv.Addr()}, msg...)...)
	if code != exitUnavail || !strings.Contains(stderr, `certificate is not valid for "mail.example.test"`) {
		t.Errorf("--connect-to alone: exit %d: %s", code, stderr)
	}
	for _, connectTo := range []string{srv.Addr(), "mail.example.test:587:" + srv.Addr()} {
		args := append([]string{named, "--connect-to", connectTo, "--tls-server-name", "localhost", "--trace"}, msg...)
		code, _, stderr = runWith(t, runSend, "", args...)
		if code != exitOK || !strings.Contains(stderr, "* TLS handshake, server name localhost\n") {
			t.Errorf("--connect-to %s --tls-server-name localhost: exit %d: %s", connectTo, code, stderr)
		}
	}
	if n := len(srv.Messages()); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
	// A rule for another server leaves this one alone.
	code, _, stderr = runWith(t, runSend, "", append([]string{srv.Addr(), "--connect-to", "other.test:587:127.0.0.1:1"}, msg...)...)
	if code != exitOK {
		t.Errorf("a --connect-to rule for another server: exit %d: %s", code, stderr)
	}

	// --tls-server-name alone: the name checked and sent, whatever was dialled.
	code, _, stderr = runWith(t, runSend, "", append([]string{srv.Addr(), "--tls-server-name", "wrong.example"}, msg...)...)
	if code != exitUnavail || !strings.Contains(stderr, `certificate is not valid for "wrong.example"`) {
		t.Errorf("--tls-server-name wrong.example: exit %d: %s", code, stderr)
	}
	r, code, stderr := probeJSON(t, "--cafile", ca, "--tls-server-name", "localhost", "--connect-to", srv.Addr(), named)
	if code != exitOK || r.TLS == nil || r.TLS.ServerName != "localhost" || !r.TLS.Verified || r.Server != named || r.ConnectTo != srv.Addr() {
		t.Errorf("probe: exit %d, server %q via %q, tls %+v: %s", code, r.Server, r.ConnectTo, r.TLS, stderr)
	}
}

// selfSigned makes a certificate and its key, in PEM.
func selfSigned(t *testing.T, cn string, usage x509.ExtKeyUsage) (cert tls.Certificate, certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: []string{cn},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	cert, err = tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM, keyPEM
}

// --cert and --key present a client certificate: a scripted implicit TLS
// server that requires one sees it arrive.
func TestClientCertificate(t *testing.T) {
	t.Parallel()
	serverCert, _, _ := selfSigned(t, "localhost", x509.ExtKeyUsageServerAuth)
	_, certPEM, keyPEM := selfSigned(t, "mailwire client", x509.ExtKeyUsageClientAuth)
	got := make(chan string, 2)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			got <- cs.PeerCertificates[0].Subject.CommonName
			return nil
		},
	}
	script := "S: 220 peer.test ESMTP\nC: EHLO localhost\nS: 250 peer.test\nC: QUIT\nS: 221 bye\n"
	srv := peer.NewTLS(cfg, peer.Script(script), peer.Script(script))
	t.Cleanup(srv.Close)

	certFile, keyFile := writeFile(t, "client.pem", certPEM), writeFile(t, "client.key", keyPEM)
	both := writeFile(t, "both.pem", certPEM+keyPEM) // curl's --cert takes one file with both
	for _, args := range [][]string{{"--cert", certFile, "--key", keyFile}, {"--cert", both}} {
		code, out, stderr := runCLI(t, append([]string{"probe", "--security", "implicit", "--insecure", srv.Addr()}, args...)...)
		if code != exitOK {
			t.Errorf("probe %q: exit %d: %s\n%s", args, code, stderr, out)
			continue
		}
		select {
		case cn := <-got:
			if cn != "mailwire client" {
				t.Errorf("the server got a certificate for %q", cn)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("probe %q: no client certificate reached the server", args)
		}
	}
	for _, r := range srv.Wait() {
		if r.Err != nil || r.TLSErr != nil {
			t.Errorf("scripted server: %v, TLS %v", r.Err, r.TLSErr)
		}
	}
}

// A client certificate that cannot be used is named, with the file and
// the reason, before any connection.
func TestClientCertificateErrors(t *testing.T) {
	t.Parallel()
	_, certPEM, keyPEM := selfSigned(t, "mailwire client", x509.ExtKeyUsageClientAuth)
	_, _, otherKey := selfSigned(t, "another", x509.ExtKeyUsageClientAuth)
	certFile := writeFile(t, "client.pem", certPEM)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--cert", certFile, "--key", writeFile(t, "bad.key", "not a key\n")}, exitNoInput, "bad.key: no PEM private key in it"},
		{[]string{"--cert", certFile, "--key", writeFile(t, "other.key", otherKey)}, exitNoInput, "private key does not match public key"},
		{[]string{"--cert", certFile, "--key", "/nonexistent/client.key"}, exitNoInput, "--key: open /nonexistent/client.key"},
		{[]string{"--cert", writeFile(t, "key-as-cert.pem", keyPEM), "--key", writeFile(t, "k", keyPEM)}, exitNoInput, "key-as-cert.pem: no PEM certificate in it"},
		{[]string{"--cert", certFile}, exitNoInput, "client.pem holds no private key: give it with --key FILE"},
		{[]string{"--key", writeFile(t, "k2", keyPEM)}, exitUsage, "--key goes with --cert"},
	} {
		for _, name := range []string{"probe", "send", "shell"} {
			code, _, stderr := runCLI(t, append([]string{name, "127.0.0.1:1", "--from", "a@example.com", "--to", "b@example.com"}, tt.args...)...)
			if name != "send" {
				code, _, stderr = runCLI(t, append([]string{name, "127.0.0.1:1"}, tt.args...)...)
			}
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("%s %q: exit %d, %q; want %d and %q", name, tt.args, code, stderr, tt.code, tt.want)
			}
		}
	}
}
