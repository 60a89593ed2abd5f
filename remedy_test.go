package smtp

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Each remedy is found through the wraps, named for the bindings, and
// worded for a Go program; the errors that carry one state facts only, no
// Go field names, so that front-ends can word the remedy their own way.
func TestRemedyOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want Remedy
	}{
		{nil, RemedyNone},
		{errors.New("x"), RemedyNone},
		{&opError{command: "greeting", err: &securityError{msg: "silent", r: RemedySilentPort}}, RemedySilentPort},
		{&tlsError{kind: ErrTLSHandshake, msg: "plaintext", r: RemedyStartTLS}, RemedyStartTLS},
		{fmt.Errorf("wrapped: %w", &tlsError{kind: ErrStartTLSNotOffered, msg: "no", r: RemedyNoStartTLS}), RemedyNoStartTLS},
		{&opError{command: "NOOP", err: &timeoutError{wait: 1}}, RemedyTimeout},
		{withRemedy(fmt.Errorf("%w: in clear", ErrInsecureAuth), RemedySecureAuth), RemedySecureAuth},
	}
	for _, tt := range tests {
		if got := RemedyOf(tt.err); got != tt.want {
			t.Errorf("RemedyOf(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	for r := RemedyImplicitTLS; r <= RemedySecureAuth; r++ {
		if r.String() == "" || r.String() == "unknown" || r.Hint() == "" {
			t.Errorf("remedy %d has no name or hint", r)
		}
	}
	if RemedyNone.String() != "" || RemedyNone.Hint() != "" {
		t.Error("RemedyNone has a name or hint")
	}
	// The texts of the errors that carry a remedy name no Go field.
	for _, err := range []error{
		&timeoutError{wait: 5}, withRemedy(errors.New("x"), RemedyTimeout),
	} {
		if strings.Contains(err.Error(), "Options.") {
			t.Errorf("error text %q names a Go field", err)
		}
	}
}
