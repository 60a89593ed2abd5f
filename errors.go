package smtp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// ErrDeliveryUnknown reports that the connection broke, or the wait timed
// out, after the end of data was sent and before its reply came. The server
// may have accepted the message: do not resend it blindly. Test for it with
// errors.Is; the error also wraps the network cause.
var ErrDeliveryUnknown = errors.New("smtp: connection lost after the end of data: delivery unknown")

// ErrClosed is returned by every call on a Client after Close or Quit. A
// Client closed by a network or protocol failure returns that failure
// instead, which wraps the original cause.
var ErrClosed = errors.New("smtp: client closed")

// ErrMessageTooLarge: the message is larger than the server's SIZE limit
// (RFC 1870). Send refuses it before anything is sent.
var ErrMessageTooLarge = errors.New("smtp: message larger than the server accepts")

// Error is a reply of class 4 (temporary) or 5 (permanent) to a command.
// Every method that sends a command returns an *Error when the server
// refuses it; use errors.As to get at the code and the server's text.
type Error struct {
	// Command is the command that was refused, e.g. "RCPT TO", "end of
	// data" for the reply after the message content, or "greeting" for the
	// server's opening line. It never holds an argument of AUTH.
	Command string
	Reply
}

// Error formats the error as "smtp: COMMAND: CODE ENHANCED TEXT (MEANING)",
// with the lines of a multiline reply joined by spaces and the meaning of
// the enhanced status code from RFC 3463, e.g.
// "smtp: RCPT TO: 550 5.1.1 no such user (bad destination mailbox address)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("smtp: ")
	if e.Command != "" {
		b.WriteString(e.Command)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%d", e.Code)
	if e.Enhanced != (EnhancedCode{}) {
		b.WriteByte(' ')
		b.WriteString(e.Enhanced.String())
	}
	if e.Message != "" {
		b.WriteByte(' ')
		b.WriteString(safeText(strings.ReplaceAll(e.Message, "\n", " ")))
	}
	if e.Enhanced[2] != 0 { // X.Y.0 is "other or undefined": nothing to add
		b.WriteString(" (")
		b.WriteString(e.Enhanced.Description())
		b.WriteByte(')')
	}
	return b.String()
}

// Temporary reports whether the reply is of class 4: the same command may
// succeed later (RFC 5321 section 4.2.1).
func (e *Error) Temporary() bool { return e.Code >= 400 && e.Code < 500 }

// RecipientError is a recipient the server refused at RCPT TO.
type RecipientError struct {
	Addr string
	Err  *Error
}

// Error names the recipient and the server's reply: "smtp: RCPT
// TO:<a@b>: 550 ...", or over LMTP, for a refusal after the message,
// "smtp: end of data for <a@b>: 552 ...".
func (e *RecipientError) Error() string {
	if e.Err.Command != "" && e.Err.Command != "RCPT TO" {
		return fmt.Sprintf("smtp: %s for <%s>: %s", e.Err.Command, e.Addr, strings.TrimPrefix(e.Err.Error(), "smtp: "+e.Err.Command+": "))
	}
	return fmt.Sprintf("smtp: RCPT TO:<%s>: %s", e.Addr, strings.TrimPrefix(e.Err.Error(), "smtp: RCPT TO: "))
}

// Unwrap returns the server's reply as an *Error.
func (e *RecipientError) Unwrap() error { return e.Err }

// PartialSendError is returned by a Send that took several transactions
// (see Send) when one failed after an earlier one was delivered: the
// Receipt returned with it lists what was delivered, Undelivered the
// recipients still waiting, and Err why. Sending the message again to
// everyone would deliver it twice to the Receipt's recipients: send it to
// Undelivered only. SafeToRetry reports false for it.
type PartialSendError struct {
	Undelivered []string
	Err         error
}

// Error says how many recipients are left, and why.
func (e *PartialSendError) Error() string {
	return fmt.Sprintf("smtp: %d recipient(s) not delivered, after earlier transactions of the same Send were: %v", len(e.Undelivered), e.Err)
}

// Unwrap returns the failure of the transaction.
func (e *PartialSendError) Unwrap() error { return e.Err }

// RecipientsError is returned by Send when the server refused every
// recipient: nothing was delivered (see Send for when the content went
// out anyway; over LMTP, each recipient may have refused it after it). Unwrap lists each refusal, in
// envelope order, as a *RecipientError.
type RecipientsError struct {
	Rejected []*RecipientError
}

// Error lists every refused recipient with the server's reply.
func (e *RecipientsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "smtp: every recipient was rejected (%d):", len(e.Rejected))
	for i, r := range e.Rejected {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(" <")
		b.WriteString(r.Addr)
		b.WriteString(">: ")
		b.WriteString(strings.TrimPrefix(r.Err.Error(), "smtp: RCPT TO: "))
	}
	return b.String()
}

// Unwrap returns the refusals, so errors.As finds each *RecipientError and
// its *Error.
func (e *RecipientsError) Unwrap() []error {
	errs := make([]error, len(e.Rejected))
	for i, r := range e.Rejected {
		errs[i] = r
	}
	return errs
}

// opError is a failure of the connection (network, timeout, protocol) while
// a command was in flight. It names the command and wraps the cause.
type opError struct {
	command string
	err     error
}

func (e *opError) Error() string { return "smtp: " + e.command + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// timeoutError is Options.Timeout expiring while waiting on the server. It
// matches context.DeadlineExceeded and os.ErrDeadlineExceeded so that a
// caller tests one condition for every kind of timeout.
type timeoutError struct {
	wait  time.Duration
	field string // the option that set the wait; "" is Options.Timeout
}

func (e *timeoutError) Error() string  { return fmt.Sprintf("no answer within %v", e.wait) }
func (e *timeoutError) remedy() Remedy { return RemedyTimeout }
func (e *timeoutError) Timeout() bool  { return true }
func (e *timeoutError) Is(target error) bool {
	return target == context.DeadlineExceeded || target == os.ErrDeadlineExceeded
}

// unknownDeliveryError is ErrDeliveryUnknown with its network cause.
type unknownDeliveryError struct {
	cause error
}

func (e *unknownDeliveryError) Error() string {
	return ErrDeliveryUnknown.Error() + ": " + e.cause.Error()
}
func (e *unknownDeliveryError) Unwrap() []error { return []error{ErrDeliveryUnknown, e.cause} }

// protocolError is a reply the client cannot parse or a bound it exceeds.
// The connection cannot be trusted after one, so the Client closes.
type protocolError struct {
	msg string
}

func (e *protocolError) Error() string { return e.msg }

// ErrInvalidArgument is matched, with errors.Is, by every error that
// refuses an argument of the caller's (an address with a line break, a
// malformed pin, a DSN option the server lacks, a message that cannot go
// as asked) before anything of it was sent. The error says what was wrong;
// the same call with the same arguments fails the same way.
var ErrInvalidArgument = errors.New("smtp: invalid argument")

// inputError is a caller's argument refused: ErrInvalidArgument with the
// words that say why.
type inputError struct{ err error }

func (e *inputError) Error() string   { return e.err.Error() }
func (e *inputError) Unwrap() []error { return []error{ErrInvalidArgument, e.err} }

// errInput is a caller's argument refused before anything was sent.
func errInput(format string, args ...any) error {
	return &inputError{fmt.Errorf("smtp: "+format, args...)}
}
