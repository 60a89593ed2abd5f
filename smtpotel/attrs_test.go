package smtpotel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/mailwire/smtp"
)

func TestFinalReply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line     string
		code     int
		enhanced string
		ok       bool
	}{
		{"250 2.1.5 Ok", 250, "2.1.5", true},
		{"550 5.1.1 <nobody@example.org>: no such user", 550, "5.1.1", true},
		{"250", 250, "", true},
		{"250 ", 250, "", true},
		{"250 OK", 250, "", true},
		{"250 SIZE 10485760", 250, "", true},
		{"451 4.7.0", 451, "4.7.0", true},
		{"452 4.5.3 too many recipients", 452, "4.5.3", true},
		{"250 2.999.999 x", 250, "2.999.999", true},
		{"354 End data with <CR><LF>.<CR><LF>", 354, "", true},
		{"334 VXNlcm5hbWU6", 334, "", true},
		{"334 3.1.1 not a class", 334, "", true}, // no class 3 enhanced codes
		{"250 5.1.1 class differs", 250, "", true},
		{"250 2.1000.1 too long", 250, "", true},
		{"250 2.1 short", 250, "", true},
		{"250 2.1.5x", 250, "", true},
		{"250 2..5", 250, "", true},
		{"250-PIPELINING", 0, "", false},
		{"250-2.1.5 Ok", 0, "", false},
		{"25", 0, "", false},
		{"", 0, "", false},
		{"abc def", 0, "", false},
		{"650 x", 0, "", false},
		{"2500", 0, "", false},
	} {
		code, enh, ok := finalReply(tc.line)
		if code != tc.code || enh.String() != tc.enhanced || ok != tc.ok {
			t.Errorf("finalReply(%q) = %d, %q, %v, want %d, %q, %v", tc.line, code, enh, ok, tc.code, tc.enhanced, tc.ok)
		}
	}
}

func TestAuthMechanism(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line, mech string
		ok         bool
	}{
		{"AUTH PLAIN [redacted]", "PLAIN", true},
		{"AUTH LOGIN", "LOGIN", true},
		{"auth cram-md5", "CRAM-MD5", true},
		{"AUTH SCRAM-SHA-256 [redacted]", "SCRAM-SHA-256", true},
		{"AUTH PLAIN AGFubgBzM2NyZXQ=", "PLAIN", true}, // the rest is never taken
		{"AUTH AGFubgBzM2NyZXQ=", otherValue, true},    // not a mechanism's name
		{"AUTH ", otherValue, true},
		{"AUTH X-A-VERY-LONG-MECHANISM-NAME", otherValue, true},
		{"AUTHX PLAIN", "", false},
		{"MAIL FROM:<a@example.com>", "", false},
		{"[redacted]", "", false},
		{"AUTH", "", false},
	} {
		mech, ok := authMechanism(tc.line)
		if mech != tc.mech || ok != tc.ok {
			t.Errorf("authMechanism(%q) = %q, %v, want %q, %v", tc.line, mech, ok, tc.mech, tc.ok)
		}
	}
}

func TestVerb(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line   string
		inAuth bool
		want   string
	}{
		{"MAIL FROM:<a@example.com> SIZE=74", false, "MAIL FROM"},
		{"mail from:<>", false, "MAIL FROM"},
		{"RCPT TO:<b@example.com>", false, "RCPT TO"},
		{"DATA", false, "DATA"},
		{"BDAT 74 LAST", false, "BDAT LAST"},
		{"BDAT 32768", false, "BDAT"},
		{"EHLO localhost", false, "EHLO"},
		{"RSET", false, "RSET"},
		{"[redacted]", true, "AUTH"},
		{"*", true, "AUTH"},
	} {
		if got := verb(tc.line, tc.inAuth); got != tc.want {
			t.Errorf("verb(%q, %v) = %q, want %q", tc.line, tc.inAuth, got, tc.want)
		}
	}
}

func TestErrorTypeAndOutcome(t *testing.T) {
	t.Parallel()
	refused := &smtp.Error{Command: "RCPT TO", Reply: smtp.Reply{Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}}}
	throttled := &smtp.Error{Command: "MAIL FROM", Reply: smtp.Reply{Code: 451, Enhanced: smtp.EnhancedCode{4, 7, 0}}}
	authFailed := &smtp.Error{Command: "AUTH", Reply: smtp.Reply{Code: 535}}
	for _, tc := range []struct {
		err              error
		errType, outcome string
	}{
		{nil, "none", outcomeAccepted},
		{refused, "550", outcomeRejected},
		{fmt.Errorf("wrapped: %w", throttled), "451", outcomeRejected},
		{&smtp.RecipientsError{Rejected: []*smtp.RecipientError{{Addr: "x@example.org", Err: refused}}}, "550", outcomeRejected},
		{authFailed, "535", outcomeFailed},
		{fmt.Errorf("lost: %w", smtp.ErrDeliveryUnknown), "delivery_unknown", outcomeUnknown},
		{context.DeadlineExceeded, "timeout", outcomeFailed},
		{smtp.ErrPoolClosed, "closed", outcomeFailed},
		{io.ErrUnexpectedEOF, "network", outcomeFailed},
		{smtp.ErrMessageTooLarge, "permanent", outcomeRejected},
	} {
		if tc.err == nil {
			if got := outcome(nil); got != tc.outcome {
				t.Errorf("outcome(nil) = %q, want %q", got, tc.outcome)
			}
			continue
		}
		if got := errorType(tc.err); got != tc.errType {
			t.Errorf("errorType(%v) = %q, want %q", tc.err, got, tc.errType)
		}
		if got := outcome(tc.err); got != tc.outcome {
			t.Errorf("outcome(%v) = %q, want %q", tc.err, got, tc.outcome)
		}
	}
}

func TestTLSVersion(t *testing.T) {
	t.Parallel()
	for v, want := range map[uint16]string{tls.VersionTLS12: "1.2", tls.VersionTLS13: "1.3", tls.VersionTLS10: "1.0", 0x0300: otherValue} {
		if got := tlsVersion(v); got != want {
			t.Errorf("tlsVersion(%#x) = %q, want %q", v, got, want)
		}
	}
}

func TestServerAttrs(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]int{"mail.example.com:587": 3, "[::1]:25": 3, "mail.example.com": 0, ":25": 0} {
		if got := serverAttrs(addr); len(got) != want {
			t.Errorf("serverAttrs(%q) = %v, want %d attributes", addr, got, want)
		}
	}
}

func TestHandshakeErrorType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, "*tls.CertificateVerificationError"},
		{&net.OpError{Op: "remote error", Err: tls.AlertError(42)}, "crypto/tls.AlertError"},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, "network"},
		{io.EOF, "network"},
		{fmt.Errorf("handshake: %w", context.DeadlineExceeded), "timeout"},
	} {
		if got := handshakeErrorType(tc.err); got != tc.want {
			t.Errorf("handshakeErrorType(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
