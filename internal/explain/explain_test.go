package explain

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzExplain feeds random lines to the explain log's session, as sent and
// received lines in any order: it must never panic, and its notes must be
// single lines that cannot forge log lines.
func FuzzExplain(f *testing.F) {
	for _, s := range []string{
		"S220 mail.example.test ESMTP Postfix\nCEHLO client.example\nS250-mail.example.test\nS250-PIPELINING\nS250-SIZE 104857600\nS250-STARTTLS\nS250-ENHANCEDSTATUSCODES\nS250 8BITMIME\nCSTARTTLS\nS220 2.0.0 Ready to start TLS",
		"S220 smtptest.local ESMTP Service Ready\nCEHLO localhost\nS250-smtptest.local Hello localhost\nS250-AUTH PLAIN LOGIN\nS250 SIZE 10485760\nCAUTH PLAIN [redacted]\nS235 2.0.0 Authentication succeeded",
		"CAUTH LOGIN\nS334 VXNlcm5hbWU6\nC[redacted]\nS334 UGFzc3dvcmQ6\nC[redacted]\nS535 5.7.8 Authentication credentials invalid",
		"CMAIL FROM:<a@b> SIZE=100 BODY=8BITMIME\nCRCPT TO:<c@d>\nCDATA\nS250 2.1.0 Ok\nS550 5.1.1 <c@d>: Recipient address rejected\nS554 5.5.1 Error: no valid recipients",
		"CDATA\nS354 End data with <CR><LF>.<CR><LF>\nS250 2.0.0 Ok: queued as 4Bq2ZP1xYz\nCQUIT\nS221 2.0.0 Bye",
		"S421 4.4.2 Idle timeout, bye bye\nS999\nSabc\nS25\nS250-SIZE x\nC\nS",
		"S250-SIZE 99999999999999999999\nS250-SIZE -1\nS250 AUTH CRAM-MD5 XOAUTH2 OAUTHBEARER",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Session
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			text := string(line[1:])
			var notes []string
			if line[0] == 'C' {
				notes = s.Sent(text)
			} else {
				notes = s.Received(text)
			}
			for _, n := range notes {
				if strings.ContainsAny(n, "\r\n") && !strings.Contains(text, "\r") {
					t.Fatalf("note %q for line %q spans lines", n, line)
				}
				if !utf8.ValidString(n) && utf8.ValidString(text) {
					t.Fatalf("note %q for the valid line %q is not valid UTF-8", n, line)
				}
			}
		}
	})
}

// Extensions of today's servers are known, what is not known is said to
// be so, and weak mechanisms are flagged where they are used.
func TestExtensionsAndWeakMechanisms(t *testing.T) {
	var s Session
	s.Received("220 mx.example ESMTP")
	s.Sent("EHLO client.example")
	notes := strings.Join(append(append(append(s.Received("250-mx.example"),
		s.Received("250-PIPECONNECT")...), s.Received("250-LIMITS RCPTMAX=100 MAILMAX=1000")...),
		s.Received("250 X-MYSTERY")...), "\n")
	for _, want := range []string{"PIPECONNECT (Exim", "LIMITS (RFC 9422): the server states its limits (RCPTMAX=100 MAILMAX=1000)", "X-MYSTERY: an extension this explainer does not know"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "PIPECONNECT: an extension this explainer does not know") {
		t.Error("PIPECONNECT called unknown")
	}
	// Every extension a server of the last decade advertises is known.
	for _, kw := range []string{"PIPECONNECT", "LIMITS RCPTMAX=10", "REQUIRETLS", "MT-PRIORITY", "DELIVERBY 240", "FUTURERELEASE 604800 2012-10-16T12:00:00Z",
		"XCLIENT NAME ADDR", "XFORWARD NAME ADDR", "ETRN", "VRFY", "AUTH=LOGIN PLAIN", "BURL imap", "CHUNKING", "BINARYMIME", "ATRN", "SMTPUTF8", "DSN", "8BITMIME", "SIZE 100"} {
		keyword, params, _ := strings.Cut(kw, " ")
		if w := extensionWords(keyword, params); strings.Contains(w, "does not know") {
			t.Errorf("%s: %s", kw, w)
		}
	}
}

// Weak choices are warned about where they appear: an old TLS version, a
// certificate expired or close to it, and the weak login mechanisms.
func TestWeakChoicesWarned(t *testing.T) {
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	cert := func(notAfter time.Time) []*x509.Certificate { return []*x509.Certificate{{NotAfter: notAfter}} }
	tests := []struct {
		name  string
		notes []string
		want  string
	}{
		{"TLS 1.0", new(Session).TLS(tls.ConnectionState{Version: tls.VersionTLS10, PeerCertificates: cert(now.AddDate(1, 0, 0))}, now), "WARNING: TLS 1.0 is deprecated (RFC 8996)"},
		{"TLS 1.1", new(Session).TLS(tls.ConnectionState{Version: tls.VersionTLS11}, now), "WARNING: TLS 1.1 is deprecated (RFC 8996)"},
		{"expired", new(Session).TLS(tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: cert(now.AddDate(0, 0, -3))}, now), "WARNING: the server's certificate expired on 2026-12-01, 3 days before"},
		{"expiring", new(Session).TLS(tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: cert(now.AddDate(0, 0, 10))}, now), "WARNING: the server's certificate expires on 2026-12-14, in 10 days"},
		{"CRAM-MD5", new(Session).Sent("AUTH CRAM-MD5"), "WARNING: CRAM-MD5 is weak: the server must store a password equivalent"},
		{"DIGEST-MD5", new(Session).Sent("AUTH DIGEST-MD5"), "WARNING: DIGEST-MD5 is obsolete (RFC 6331)"},
	}
	for _, tt := range tests {
		if !slices.ContainsFunc(tt.notes, func(n string) bool { return strings.HasPrefix(n, tt.want) }) {
			t.Errorf("%s: no note starts with %q: %q", tt.name, tt.want, tt.notes)
		}
	}
	// TLS 1.2 and 1.3, a certificate good for a year: no warning.
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, n := range new(Session).TLS(tls.ConnectionState{Version: v, PeerCertificates: cert(now.AddDate(1, 0, 0))}, now) {
			if strings.HasPrefix(n, "WARNING") && !strings.Contains(n, "not verified") {
				t.Errorf("%s: %q", tls.VersionName(v), n)
			}
		}
	}
}
