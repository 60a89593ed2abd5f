//go:build cgo

package main

import (
	"bytes"
	"encoding/json"
	"errors"

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
	// Remedy names what would likely help (smtp.Remedy's name, such as
	// "implicit_tls"); Hint says it in the keys of options_json.
	Remedy string `json:"remedy,omitempty"`
	Hint   string `json:"hint,omitempty"`
	// Reason names a refusal the category does not tell apart:
	// "message_too_large" (larger than the server's SIZE; category
	// permanent).
	Reason string `json:"reason,omitempty"`
}

// optionHints word each remedy of the library in the keys of options_json.
var optionHints = map[smtp.Remedy]string{
	smtp.RemedyImplicitTLS:      `set "security":"implicit"`,
	smtp.RemedyStartTLS:         `set "security":"starttls"`,
	smtp.RemedyNoStartTLS:       `set "security":"implicit" with the server's TLS port (465), or "security":"starttls-optional" to accept plaintext`,
	smtp.RemedySilentPort:       `try "security":"implicit", or raise "greeting_timeout_ms" for a server that greets slowly`,
	smtp.RemedyTrustCertificate: `give its CA in "ca_pem", or pin its key in "pins"`,
	smtp.RemedyServerName:       `set "server_name"`,
	smtp.RemedyTimeout:          `raise "timeout_ms" if the server is slow`,
	smtp.RemedySecureAuth:       `set "security":"starttls" or "implicit", or "allow_insecure_auth":true if the network is trusted`,
}

func (e *apiError) json() string {
	b, err := marshalJSON(e)
	if err != nil { // cannot happen: strings and ints only
		return `{"category":"internal","error":"mailwire: cannot encode an error"}`
	}
	return string(b)
}

// marshalJSON is json.Marshal without the HTML escaping meant for
// pages: a C or Python caller reads "<bob@example.net>", not
// "\u003cbob@example.net\u003e".
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// statusOf maps the library's classes onto the C enum.
var statusOf = map[smtp.ErrorClass]int{
	smtp.ClassDeliveryUnknown: statusDeliveryUnknown,
	smtp.ClassInvalidArgument: statusInvalid,
	smtp.ClassSecurity:        statusTLS,
	smtp.ClassAuth:            statusAuth,
	smtp.ClassTemporary:       statusTemporary,
	smtp.ClassPermanent:       statusPermanent,
	smtp.ClassClosed:          statusClosed,
	smtp.ClassTimeout:         statusTimeout,
	smtp.ClassNetwork:         statusNetwork,
}

// classify sorts an error of the library into a status, by smtp.Classify,
// and gathers the server's reply and the refused recipients.
func classify(err error) *apiError {
	var (
		rcpts *smtp.RecipientsError
		reply *smtp.Error
	)
	status, ok := statusOf[smtp.Classify(err)]
	if !ok {
		status = statusInternal
	}
	errors.As(err, &rcpts)
	e := &apiError{status: status, Category: categoryOf(status), Error: err.Error()}
	if errors.Is(err, smtp.ErrMessageTooLarge) {
		e.Reason = "message_too_large"
	}
	if r := smtp.RemedyOf(err); r != smtp.RemedyNone {
		e.Remedy, e.Hint = r.String(), optionHints[r]
	}
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
