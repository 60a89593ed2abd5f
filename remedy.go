package smtp

import "errors"

// Remedy is what would likely make a failed call work, named in this
// package's terms. An error's text states what happened; what a person
// should do next depends on where they are (a Go program sets Options
// fields, a command-line user gives flags, a Python user keyword
// arguments), so each front-end words the remedy in its own terms, from
// RemedyOf. Remedy.Hint words it for a Go program.
type Remedy int

// The remedies.
const (
	// RemedyNone: no change of settings is known to help.
	RemedyNone Remedy = iota
	// RemedyImplicitTLS: the port speaks TLS from the first byte: use
	// ImplicitTLS.
	RemedyImplicitTLS
	// RemedyStartTLS: the port speaks plaintext first: use StartTLS.
	RemedyStartTLS
	// RemedyNoStartTLS: the server offers no STARTTLS: use ImplicitTLS on
	// its TLS port (465), or accept plaintext (StartTLSOptional) where the
	// network is trusted.
	RemedyNoStartTLS
	// RemedySilentPort: no greeting came: use ImplicitTLS if the port
	// expects TLS first, or wait longer (GreetingTimeout) for a server
	// that greets slowly.
	RemedySilentPort
	// RemedyTrustCertificate: the certificate's issuer is unknown: trust
	// its CA, or pin the server's key.
	RemedyTrustCertificate
	// RemedyServerName: TLS needs the name to check the certificate
	// against.
	RemedyServerName
	// RemedyTimeout: the server did not answer in time: wait longer
	// (Timeout) if it is slow.
	RemedyTimeout
	// RemedySecureAuth: AUTH would reveal the secret: encrypt the
	// connection, or allow AUTH in clear where the network is trusted.
	RemedySecureAuth
)

var remedyNames = [...]string{"", "implicit_tls", "starttls", "no_starttls", "silent_port",
	"trust_certificate", "server_name", "timeout", "secure_auth"}

// String names the remedy in snake case ("implicit_tls"), as the C and
// Python bindings report it; "" for RemedyNone.
func (r Remedy) String() string {
	if r >= 0 && int(r) < len(remedyNames) {
		return remedyNames[r]
	}
	return "unknown"
}

var goHints = [...]string{
	"",
	"use Security ImplicitTLS",
	"use Security StartTLS",
	"use Security ImplicitTLS on the server's TLS port (465), or StartTLSOptional to accept plaintext",
	"use Security ImplicitTLS if the port expects TLS first, or raise Options.GreetingTimeout for a server that greets slowly",
	"add its CA to TLSConfig.RootCAs, or pin its key with Options.Pins",
	"set Options.TLSConfig.ServerName",
	"raise Options.Timeout if the server is slow",
	"use Security StartTLS or ImplicitTLS, or set Options.AllowInsecureAuth if the network is trusted",
}

// Hint words the remedy for a Go program, naming the fields of Options.
func (r Remedy) Hint() string {
	if r > 0 && int(r) < len(goHints) {
		return goHints[r]
	}
	return ""
}

// RemedyOf returns the remedy of err, or RemedyNone.
func RemedyOf(err error) Remedy {
	var r interface{ remedy() Remedy }
	if errors.As(err, &r) {
		return r.remedy()
	}
	return RemedyNone
}

// remedied is err with a remedy attached; its text is err's.
type remedied struct {
	err error
	r   Remedy
}

func (e *remedied) Error() string  { return e.err.Error() }
func (e *remedied) Unwrap() error  { return e.err }
func (e *remedied) remedy() Remedy { return e.r }

// withRemedy attaches r to err.
func withRemedy(err error, r Remedy) error { return &remedied{err, r} }
