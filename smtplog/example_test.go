package smtplog_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/smtplog"
	"github.com/mailwire/smtp/smtptest"
)

const exampleMessage = "From: alice@example.com\r\nTo: bob@example.com\r\nSubject: hello\r\n\r\nHello, Bob.\r\n"

// Log writes a curl -v style log of the session; the secret of AUTH
// is never in it. (This example prints only the protocol lines: the TLS
// lines hold the test server's fresh certificate.)
func ExampleLog() {
	srv := smtptest.NewServer(&smtptest.Config{TLS: smtptest.StartTLS, Users: map[string]string{"alice": "s3cret"}})
	defer srv.Close()

	var logBuf bytes.Buffer
	opts := &smtp.Options{TLSConfig: srv.ClientTLSConfig(), Auth: smtp.PasswordAuth("alice", "s3cret"), Trace: smtplog.Log(&logBuf)}
	env := &smtp.Envelope{From: "alice@example.com", To: []string{"bob@example.com"}}
	if _, err := smtp.SendMail(context.Background(), srv.Addr(), opts, env, strings.NewReader(exampleMessage)); err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(logBuf.String(), "\n") {
		if strings.HasPrefix(line, "> ") || strings.HasPrefix(line, "< ") {
			fmt.Println(line)
		}
	}
	// Output:
	// < 220 smtptest.local ESMTP Service Ready
	// > EHLO localhost
	// < 250-Hello localhost
	// < 250-PIPELINING
	// < 250-8BITMIME
	// < 250-ENHANCEDSTATUSCODES
	// < 250-CHUNKING
	// < 250-SMTPUTF8
	// < 250-BINARYMIME
	// < 250-DSN
	// < 250-SIZE 10485760
	// < 250 STARTTLS
	// > STARTTLS
	// < 220 2.0.0 Ready to start TLS
	// > EHLO localhost
	// < 250-Hello localhost
	// < 250-PIPELINING
	// < 250-8BITMIME
	// < 250-ENHANCEDSTATUSCODES
	// < 250-CHUNKING
	// < 250-AUTH PLAIN LOGIN
	// < 250-SMTPUTF8
	// < 250-BINARYMIME
	// < 250-DSN
	// < 250-SIZE 10485760
	// < 250 REQUIRETLS
	// > AUTH PLAIN [redacted]
	// < 235 2.0.0 Authentication succeeded
	// > MAIL FROM:<alice@example.com> SIZE=77
	// > RCPT TO:<bob@example.com>
	// > BDAT 77 LAST
	// < 250 2.0.0 Roger, accepting mail from <alice@example.com>
	// < 250 2.0.0 I'll make sure <bob@example.com> gets this
	// < 250 2.0.0 OK: queued as Q0001
	// > QUIT
	// < 221 2.0.0 Bye
}
