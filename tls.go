package smtp

import "context"

// Security says how a Client encrypts its connection.
type Security int

// The ways to secure a connection.
const (
	// SecurityAuto is the zero value: ImplicitTLS when the port is 465,
	// mandatory StartTLS otherwise.
	SecurityAuto Security = iota
	// StartTLS upgrades with STARTTLS (RFC 3207) and fails, before AUTH or
	// MAIL, when the server does not offer it or the upgrade fails.
	StartTLS
	// StartTLSOptional upgrades when the server offers STARTTLS and stays
	// in plaintext otherwise: open to a downgrade by anyone on the path.
	StartTLSOptional
	// ImplicitTLS speaks TLS from the first byte ("SMTPS", port 465,
	// RFC 8314).
	ImplicitTLS
	// Plaintext never encrypts.
	Plaintext
)

// secure applies Options.Security once the server said hello.
func (c *Client) secure(ctx context.Context) error {
	if c.opts.Security != Plaintext {
		return errInput("Security %d: only Plaintext is built so far", c.opts.Security)
	}
	return nil
}
