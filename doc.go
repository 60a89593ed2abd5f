// Package smtp is an SMTP client (RFC 5321) for submitting mail: it
// negotiates ESMTP, encrypts by default, pipelines the envelope, streams the
// message, and reports every protocol line to a Trace.
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
// # Standards
//
// RFC 5321 (SMTP), RFC 1870 (SIZE), RFC 2920 (PIPELINING), RFC 3461 (DSN),
// RFC 3463 (enhanced status codes), RFC 6152 (8BITMIME), RFC 6531
// (SMTPUTF8).
package smtp
