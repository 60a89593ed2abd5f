package smtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
)

// Every refusal of a caller's argument matches ErrInvalidArgument, is
// classed so, and sends nothing.
func TestEveryInputRefusalIsInvalidArgument(t *testing.T) {
	t.Parallel()
	dialRefusals := map[string]*Options{
		"negative Timeout":  {Security: Plaintext, Timeout: -1},
		"LocalName a b":     {Security: Plaintext, LocalName: "a b"},
		"LocalName CR":      {Security: Plaintext, LocalName: "a\rb"},
		"unknown Security":  {Security: Security(99)},
		"malformed pin":     {Security: StartTLS, Pins: []string{"sha256//AAAA"}},
		"bad IDN LocalName": {Security: Plaintext, LocalName: "xn--a.ü"},
	}
	for name, opts := range dialRefusals {
		_, err := Dial(context.Background(), "127.0.0.1:1", opts)
		checkInvalid(t, name, err)
	}
	_, err := Dial(context.Background(), "no-port", nil)
	checkInvalid(t, "address without a port", err)
	_, err = PinVerifier("sha256//nope")
	checkInvalid(t, "PinVerifier", err)

	c, srv := dialScript(t, greeting+ehlo("PIPELINING"))
	env := func(from string, to ...string) *Envelope { return &Envelope{From: from, To: to} }
	sends := map[string]struct {
		env *Envelope
		msg io.Reader
	}{
		"nil Envelope":              {nil, strings.NewReader("x")},
		"no recipient":              {env("a@example.com"), strings.NewReader("x")},
		"CR in MAIL FROM":           {env("a@example.com\r\nRSET", "b@example.com"), strings.NewReader("x")},
		"LF in RCPT TO":             {env("a@example.com", "b@example.com\nRSET"), strings.NewReader("x")},
		"NUL in RCPT TO":            {env("a@example.com", "b\x00@example.com"), strings.NewReader("x")},
		"non-ASCII local part":      {env("andré@example.com", "b@example.com"), strings.NewReader("x")},
		"8-bit header, no 8BITMIME": {env("a@example.com", "b@example.com"), strings.NewReader("Subject: café\r\n\r\nx\r\n")},
		"NOTIFY without DSN": {&Envelope{From: "a@example.com", To: []string{"b@example.com"},
			RcptOptions: map[string]*RcptOptions{"b@example.com": {Notify: []DSNNotify{"SUCCESS"}}}}, strings.NewReader("x")},
		"RcptOptions for a stranger": {&Envelope{From: "a@example.com", To: []string{"b@example.com"},
			RcptOptions: map[string]*RcptOptions{"c@example.com": {}}}, strings.NewReader("x")},
		"BINARYMIME without CHUNKING": {&Envelope{From: "a@example.com", To: []string{"b@example.com"},
			MailOptions: &MailOptions{Body: "BINARYMIME"}}, strings.NewReader("x")},
		"REQUIRETLS in plaintext": {&Envelope{From: "a@example.com", To: []string{"b@example.com"},
			MailOptions: &MailOptions{RequireTLS: true}}, strings.NewReader("x")},
		"unknown RET": {&Envelope{From: "a@example.com", To: []string{"b@example.com"},
			MailOptions: &MailOptions{Return: "ALL", OptionalDSN: false}}, strings.NewReader("x")},
	}
	for name, s := range sends {
		_, err := c.Send(bg, s.env, s.msg)
		checkInvalid(t, name, err)
	}
	for _, line := range []string{"DATA", " bdat 1", "NOOP\r\nRSET", ""} {
		_, err := c.Cmd(bg, line)
		checkInvalid(t, fmt.Sprintf("Cmd(%q)", line), err)
	}
	checkInvalid(t, "Mail with CR", c.Mail(bg, "a@example.com\r", nil))
	checkInvalid(t, "Rcpt with LF", c.Rcpt(bg, "b@example.com\n", nil))
	checkInvalid(t, "Auth(nil)", c.Auth(bg, nil))
	res := finish(t, c, srv)
	if got := string(res.Received); got != "EHLO localhost\r\n" && got != "EHLO localhost\r\nQUIT\r\n" {
		t.Errorf("a refused argument reached the wire: %q", got)
	}
}

func checkInvalid(t *testing.T, name string, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalidArgument) || Classify(err) != ClassInvalidArgument || !strings.HasPrefix(err.Error(), "smtp: ") {
		t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	opErr := &opError{command: "MAIL FROM", err: &net.OpError{Op: "read", Err: errors.New("connection reset")}}
	tests := []struct {
		err  error
		want ErrorClass
	}{
		{nil, ClassNone},
		{&unknownDeliveryError{cause: opErr}, ClassDeliveryUnknown},
		{errInput("bad"), ClassInvalidArgument},
		{&tlsError{kind: ErrTLSHandshake, msg: "x", cause: errors.New("y")}, ClassSecurity},
		{&opError{command: "greeting", err: &securityError{msg: "x"}}, ClassSecurity},
		{&opError{command: "greeting", err: &securityError{msg: "x", cause: &timeoutError{}}}, ClassTimeout},
		{fmt.Errorf("%w: x", ErrInsecureAuth), ClassAuth},
		{&Error{Command: "AUTH", Reply: Reply{Code: 535}}, ClassAuth},
		{&Error{Command: "RCPT TO", Reply: Reply{Code: 450}}, ClassTemporary},
		{&Error{Command: "end of data", Reply: Reply{Code: 554}}, ClassPermanent},
		{&RecipientsError{Rejected: []*RecipientError{{Addr: "a", Err: &Error{Reply: Reply{Code: 550}}}, {Addr: "b", Err: &Error{Reply: Reply{Code: 452}}}}}, ClassTemporary},
		{&RecipientsError{Rejected: []*RecipientError{{Addr: "a", Err: &Error{Reply: Reply{Code: 550}}}}}, ClassPermanent},
		{fmt.Errorf("%w: 12 bytes", ErrMessageTooLarge), ClassPermanent},
		{ErrClosed, ClassClosed},
		{ErrPoolClosed, ClassClosed},
		{&opError{command: "NOOP", err: &timeoutError{wait: 1}}, ClassTimeout},
		{context.Canceled, ClassTimeout},
		{opErr, ClassNetwork},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if SafeToRetry(nil) || SafeToRetry(&unknownDeliveryError{cause: opErr}) || !SafeToRetry(opErr) || !SafeToRetry(&Error{Reply: Reply{Code: 550}}) {
		t.Error("SafeToRetry: want false for nil and ErrDeliveryUnknown, true otherwise")
	}
}
