// Package smtp is an SMTP client (RFC 5321) for submitting mail: it
// negotiates ESMTP, encrypts by default, pipelines the envelope, streams the
// message, and reports every protocol line to a Trace.
//
// # Design, for a contributor
//
// Three layers. The connection (client.go: commands, replies, deadlines,
// the context watcher; tls.go: the Security modes, STARTTLS, pins; auth.go)
// knows nothing of messages; security.go holds the Security modes and
// pins.go the pins. The transaction (transaction.go: one Send's
// plan and facts; send.go and chunking.go: DATA and BDAT; plan.go,
// downgrade.go: what is worked out before a byte is written) is one value
// per Send, from which retry safety and "delivery unknown" are decided.
// Around them: the Pool (pool.go), the Trace (trace.go), and errors that a
// program sorts with Classify and whose remedy each front-end words in its
// own terms (classify.go, remedy.go). Prose lives outside the core: the
// logs a person reads are package smtplog, the explanations
// internal/explain.
//
// A new ESMTP extension: its keyword is read from the EHLO table
// (extensions.go), its MAIL or RCPT parameter written in params.go, and
// its decision taken in the plan (plan.go), before anything is sent. A new kind of trace event: a constant in trace.go's EventKind list
// (with its name) and the emit call where it happens; in the C ABI, the
// mailwire_event_kind enum of bindings/c/mailwire.go (the text handed to
// the callback falls back to the kind's name; Python takes the names from
// the C library).
//
// # Sending
//
// SendMail sends one message; a Client sends many over one connection:
//
//	c, err := smtp.Dial(ctx, "smtp.example.com:587", nil)
//	if err != nil { … }
//	defer c.Quit(ctx)
//	r, err := c.Send(ctx, &smtp.Envelope{From: "alice@example.com", To: []string{"bob@example.com"}}, msg)
//
// Send writes MAIL, every RCPT and DATA in one packet when the server offers
// PIPELINING (RFC 2920), streams msg with its line endings made CRLF and its
// lines starting with '.' dot-stuffed, and returns a Receipt: the accepted
// recipients, the refused ones with the server's reply, and the reply to the
// end of data (which usually holds the queue id).
//
// # Errors
//
// A refusal by the server is an *Error holding the command and the reply,
// with its enhanced status code (RFC 3463): use errors.As. Refused
// recipients are *RecipientError values in the Receipt, or in a
// *RecipientsError when every one was refused. ErrDeliveryUnknown means
// the connection broke while waiting for the reply to the end of data: the
// message may have been delivered. A network failure names the command in
// flight, and a timeout satisfies errors.Is(err, context.DeadlineExceeded).
// After a network or protocol failure the Client is closed and every later
// call returns that failure.
//
// # Bounds
//
// Every call takes a context and honours its deadline and cancellation;
// Options.Timeout bounds each wait for the server besides (5 minutes, 10 for
// the end of data, as RFC 5321 section 4.5.3.2 recommends). A reply line
// over 64 KiB or a reply of over 1,000 lines is a protocol error. No string
// of the caller's with CR, LF or NUL reaches the wire.
//
// # Connecting securely
//
// The zero Options encrypt: implicit TLS on port 465, mandatory STARTTLS
// elsewhere, failing before AUTH or MAIL when the server does not offer it
// (ErrStartTLSNotOffered). Options.Pins pins the server's key; PasswordAuth
// never sends a password over an unencrypted connection unless
// Options.AllowInsecureAuth says so. StartTLSOptional and Plaintext exist
// for servers that cannot do better: anyone on the path can then read and
// change the session.
//
// # Reuse
//
// A Client sends any number of messages; a Pool shares a few connections
// among concurrent senders, checks idle ones before reuse, and retries only
// when nothing can have been delivered.
//
// # Standards
//
// RFC 5321 (SMTP), RFC 1870 (SIZE), RFC 2920 (PIPELINING), RFC 3030
// (CHUNKING, BINARYMIME), RFC 3207 (STARTTLS), RFC 3461 (DSN), RFC 3463
// (enhanced status codes), RFC 4954 (AUTH), RFC 6152 (8BITMIME), RFC 6531
// (SMTPUTF8), RFC 8314 (implicit TLS), RFC 8689 (REQUIRETLS); SASL: RFC
// 4616 (PLAIN), RFC 2195 (CRAM-MD5), RFC 5802 and RFC 7677 (SCRAM), RFC
// 7628 (OAUTHBEARER).
package smtp
