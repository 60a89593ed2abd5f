//go:build cgo

package main

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"

	smtp "github.com/mailwire/smtp"
)

// The return codes, equal to the C enum mailwire_status.
const (
	statusOK              = 0
	statusInvalid         = -1
	statusTemporary       = -2
	statusPermanent       = -3
	statusDeliveryUnknown = -4
	statusNetwork         = -5
	statusTLS             = -6
	statusTimeout         = -7
	statusAuth            = -8
	statusClosed          = -9
	statusInternal        = -10
)

var categories = map[int]string{
	statusInvalid:         "invalid_argument",
	statusTemporary:       "temporary",
	statusPermanent:       "permanent",
	statusDeliveryUnknown: "delivery_unknown",
	statusNetwork:         "network",
	statusTLS:             "tls",
	statusTimeout:         "timeout",
	statusAuth:            "auth",
	statusClosed:          "closed",
	statusInternal:        "internal",
}

func categoryOf(status int) string { return categories[status] }

// apiError is a failure as the C caller gets it: a status and a JSON
// object (see RETURN CODES AND ERRORS in the header).
type apiError struct {
	status       int
	Category     string         `json:"category"`
	Error        string         `json:"error"`
	Command      string         `json:"command,omitempty"`
	Code         int            `json:"code,omitempty"`
	EnhancedCode *string        `json:"enhanced_code,omitempty"`
	Message      *string        `json:"message,omitempty"`
	Rejected     []rejectedJSON `json:"rejected,omitempty"`
}

func (e *apiError) json() string {
	b, err := json.Marshal(e)
	if err != nil { // cannot happen: strings and ints only
		return `{"category":"internal","error":"mailwire: cannot encode an error"}`
	}
	return string(b)
}

// plainError is the type of errors.New's errors, which is what the library
// returns for a caller's argument it refuses (an unexported errInput).
var plainError = reflect.TypeOf(errors.New(""))

// classify sorts an error of the library into a status. The order matters:
// ErrDeliveryUnknown wraps a network error or a timeout, a refused
// STARTTLS wraps the server's *Error, and so on.
func classify(err error) *apiError {
	var (
		status int
		rcpts  *smtp.RecipientsError
		reply  *smtp.Error
	)
	switch {
	case errors.Is(err, smtp.ErrDeliveryUnknown):
		status = statusDeliveryUnknown
	case errors.Is(err, smtp.ErrTLSHandshake), errors.Is(err, smtp.ErrPinMismatch),
		errors.Is(err, smtp.ErrStartTLSNotOffered), errors.Is(err, smtp.ErrStartTLSRefused),
		errors.Is(err, smtp.ErrStartTLSInjection):
		status = statusTLS
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		status = statusTimeout
	case errors.Is(err, smtp.ErrInsecureAuth), errors.Is(err, smtp.ErrAuthNotOffered):
		status = statusAuth
	case errors.Is(err, smtp.ErrClosed), errors.Is(err, smtp.ErrPoolClosed):
		status = statusClosed
	case errors.As(err, &rcpts):
		status = statusPermanent
		for _, r := range rcpts.Rejected {
			if r.Err.Temporary() {
				status = statusTemporary // some may go through later
			}
		}
	case errors.As(err, &reply):
		status = statusPermanent
		if reply.Temporary() {
			status = statusTemporary
		}
	case reflect.TypeOf(err) == plainError && strings.HasPrefix(err.Error(), "smtp: "):
		// A bare error, wrapping nothing: the library's refusal of an
		// argument. Network failures wrap their cause, and protocol
		// errors have a type of their own.
		status = statusInvalid
	default:
		status = statusNetwork
	}
	e := &apiError{status: status, Category: categoryOf(status), Error: err.Error()}
	if rcpts != nil {
		for _, r := range rcpts.Rejected {
			e.Rejected = append(e.Rejected, rejected(r))
		}
		// The top-level reply is the first refusal of the category.
		for _, r := range rcpts.Rejected {
			if r.Err.Temporary() == (status == statusTemporary) {
				reply = r.Err
				break
			}
		}
	} else if reply == nil {
		errors.As(err, &reply)
	}
	if reply != nil {
		enh, msg := reply.Enhanced.String(), reply.Message
		e.Command, e.Code, e.EnhancedCode, e.Message = reply.Command, reply.Code, &enh, &msg
	}
	return e
}
