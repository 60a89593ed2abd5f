package smtp

import (
	"context"
	"errors"
)

// ErrorClass sorts an error of this package by what a program does next:
// fix its input, try again later, give up on the message, or find out
// whether it was delivered. The command line's exit codes and the C and
// Python bindings' error categories are this class.
type ErrorClass int

// The classes, in the order Classify tests for them.
const (
	// ClassNone is the class of a nil error.
	ClassNone ErrorClass = iota
	// ClassDeliveryUnknown: the connection was lost after the end of data
	// was sent (ErrDeliveryUnknown): the message may have been delivered.
	ClassDeliveryUnknown
	// ClassInvalidArgument: the caller's input was refused before it was
	// sent (ErrInvalidArgument).
	ClassInvalidArgument
	// ClassSecurity: the connection could not be secured as asked: no or
	// refused STARTTLS, a failed handshake or an untrusted certificate, a
	// pin mismatch, or a port that answered in another Security mode (a
	// port that said nothing is ClassTimeout, its error still matching
	// ErrWrongSecurity).
	ClassSecurity
	// ClassAuth: authentication failed: the server refused the
	// credentials (an *Error to AUTH), offers no usable mechanism, or
	// would have had them in clear (ErrInsecureAuth).
	ClassAuth
	// ClassTemporary: a 4xx reply (for a RecipientsError, one refusal at
	// least was temporary): the same message may go through later.
	ClassTemporary
	// ClassPermanent: a 5xx reply, or a message larger than the server's
	// SIZE: the same message will fail again.
	ClassPermanent
	// ClassClosed: the Client or Pool was closed by the caller.
	ClassClosed
	// ClassTimeout: a deadline passed (the context's or Options.Timeout's)
	// or the context was cancelled.
	ClassTimeout
	// ClassNetwork: the connection failed or broke, or the server broke
	// the protocol.
	ClassNetwork
)

var classNames = [...]string{"none", "delivery_unknown", "invalid_argument", "security", "auth",
	"temporary", "permanent", "closed", "timeout", "network"}

// String names the class in snake case, e.g. "delivery_unknown", as the
// bindings report it.
func (c ErrorClass) String() string {
	if c >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Classify returns the class of err. The order matters where an error
// matches more than one: ErrDeliveryUnknown wraps a network error or a
// timeout, a refused STARTTLS wraps the server's *Error.
func Classify(err error) ErrorClass {
	var (
		rcpts *RecipientsError
		reply *Error
	)
	switch {
	case err == nil:
		return ClassNone
	case errors.Is(err, ErrDeliveryUnknown):
		return ClassDeliveryUnknown
	case errors.Is(err, ErrInvalidArgument):
		return ClassInvalidArgument
	case errors.Is(err, ErrWrongSecurity) && !errors.Is(err, context.DeadlineExceeded), // a silent port is a guess: a timeout
		errors.Is(err, ErrTLSHandshake), errors.Is(err, ErrPinMismatch),
		errors.Is(err, ErrStartTLSNotOffered), errors.Is(err, ErrStartTLSRefused), errors.Is(err, ErrStartTLSInjection),
		errors.Is(err, ErrRequireTLSNotOffered), errors.Is(err, ErrDANEMismatch):
		return ClassSecurity
	case errors.Is(err, ErrInsecureAuth), errors.Is(err, ErrAuthNotOffered):
		return ClassAuth
	case errors.As(err, &rcpts):
		for _, r := range rcpts.Rejected {
			if r.Err.Temporary() {
				return ClassTemporary
			}
		}
		return ClassPermanent
	case errors.As(err, &reply):
		switch {
		case reply.Command == "AUTH":
			return ClassAuth
		case reply.Temporary():
			return ClassTemporary
		}
		return ClassPermanent
	case errors.Is(err, ErrMessageTooLarge):
		return ClassPermanent
	case errors.Is(err, ErrClosed), errors.Is(err, ErrPoolClosed):
		return ClassClosed
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ClassTimeout
	}
	return ClassNetwork
}

// SafeToRetry reports whether the message of a failed Send can be sent
// again without any risk of a second delivery: true for every failure but
// ErrDeliveryUnknown, since Send reports nothing half-sent as sent (nil
// gives false: there is nothing to retry). Whether a retry can succeed is
// another question: see Classify (ClassTemporary, ClassNetwork and
// ClassTimeout may; ClassPermanent and ClassInvalidArgument will not). The
// caller sends the message from its start again; a Pool retries by itself
// only when it can prove the server dead before the message was taken.
func SafeToRetry(err error) bool {
	var partial *PartialSendError
	return err != nil && !errors.Is(err, ErrDeliveryUnknown) && !errors.As(err, &partial)
}
