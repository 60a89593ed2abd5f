// Package golden holds the session of the golden trace tests (package
// smtp's and package smtplog's): a fixed certificate, so that every date and
// pin in a golden log stays the same, and the scripted session.
package golden

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/mailwire/smtp/internal/peer"
)

// User and Password are the credentials of the session's AUTH PLAIN.
const (
	User     = "alice@example.test"
	Password = "s3cret-P4ss"
)

// Message is the content of both messages of the session.
const Message = "Subject: hello\r\n\r\nTwo messages, one session.\r\n"

// PKI returns the server's certificate, with Leaf set, and a pool holding
// its CA.
func PKI(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "testdata")
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		tb.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	return cert, pool
}

// FullSession is STARTTLS, AUTH PLAIN, two messages (one recipient of the
// second refused) and QUIT, as a script for the peer.
func FullSession(cert tls.Certificate) []peer.Step {
	steps := peer.Script(`
		S: 220 mail.example.test ESMTP Postfix
		C: EHLO client.example
		S: 250-mail.example.test
		S: 250-PIPELINING
		S: 250-SIZE 104857600
		S: 250-STARTTLS
		S: 250-ENHANCEDSTATUSCODES
		S: 250 8BITMIME
		C: STARTTLS
		S: 220 2.0.0 Ready to start TLS
	`)
	steps = append(steps, peer.StartTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	return append(steps, peer.Script(`
		C: EHLO client.example
		S: 250-mail.example.test
		S: 250-PIPELINING
		S: 250-SIZE 104857600
		S: 250-AUTH PLAIN LOGIN
		S: 250-ENHANCEDSTATUSCODES
		S: 250 8BITMIME
		C: AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQtUDRzcw==
		S: 235 2.7.0 Authentication successful
		C: MAIL FROM:<alice@example.test> SIZE=46
		C: RCPT TO:<bob@example.test>
		C: DATA
		S: 250 2.1.0 Ok
		S: 250 2.1.5 Ok
		S: 354 End data with <CR><LF>.<CR><LF>
		C: <data>
		S: 250 2.0.0 Ok: queued as 4Bq2ZP1xYz
		C: MAIL FROM:<alice@example.test> SIZE=46
		C: RCPT TO:<carol@example.test>
		C: RCPT TO:<nobody@example.test>
		C: DATA
		S: 250 2.1.0 Ok
		S: 250 2.1.5 Ok
		S: 550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown
		S: 354 End data with <CR><LF>.<CR><LF>
		C: <data>
		S: 250 2.0.0 Ok: queued as 4Bq2ZQ3kLm
		C: QUIT
		S: 221 2.0.0 Bye
	`)...)
}
