// Package smtptest provides an SMTP server for tests, the way
// net/http/httptest provides HTTP servers: NewServer starts one on a
// loopback port, the code under test sends mail to Server.Addr, and the test
// reads what arrived with Server.Messages or Server.WaitMessages.
//
// A Server is secure by default, like the mailwire client: it offers
// STARTTLS with a certificate from a CA of its own, and
// Server.ClientTLSConfig gives the client the settings that trust it. The
// smallest test, with the mailwire client (github.com/mailwire/smtp):
//
//	func TestWelcome(t *testing.T) {
//		srv := smtptest.NewServer(nil) // STARTTLS, with a CA of its own
//		defer srv.Close()
//
//		opts := &smtp.Options{TLSConfig: srv.ClientTLSConfig()}
//		env := &smtp.Envelope{From: "shop@example.com", To: []string{"ann@example.org"}}
//		msg := strings.NewReader("Subject: Welcome!\r\n\r\nThanks for signing up.\r\n")
//		if _, err := smtp.SendMail(context.Background(), srv.Addr(), opts, env, msg); err != nil {
//			t.Fatal(err)
//		}
//		msgs := srv.Messages() // envelope, raw bytes, parsed header of each message
//		if len(msgs) != 1 || msgs[0].Header.Get("Subject") != "Welcome!" {
//			t.Errorf("got %+v", msgs)
//		}
//	}
//
// (TestDocSnippet compiles and runs that block from this file, and the one
// in the README, so neither can drift.) A client with other settings can be
// given Server.CACertPEM or Server.Pin instead; Config.TLS selects NoTLS
// for a plain-text server or ImplicitTLS for a port-465 one.
//
// A Message holds the envelope (MAIL FROM and RCPT TO with their
// parameters), the content exactly as received, its parsed header, and what
// the server knew of the connection: TLS, the authenticated user, the
// connection's number (to test connection reuse).
//
// A Config makes the server what a test needs: STARTTLS (the default),
// implicit TLS or none; AUTH PLAIN and LOGIN for given users; any of its extensions switched off;
// and faults: recipients refused, any command answered with a chosen error,
// the connection dropped at a chosen step, slow replies, a limit of messages
// per connection, a 421 after so many messages. Server.Commands lists the
// commands received, to check what a client sent.
//
// The protocol is served by github.com/emersion/go-smtp. The Server sits
// between it and the socket: it does TLS itself (so go-smtp never sees it),
// answers hooked commands before go-smtp reads them, and rewrites the EHLO
// reply.
//
// # What a client meets
//
// Where go-smtp reads RFC 5321 loosely or answers unusually, a client under
// test meets the following (TestGoSMTPWays pins these down):
//
//   - A command line may end in a bare LF. Message content ends only at
//     CRLF "." CRLF: a "." line after a bare LF is content, bare CR and LF
//     are kept as they are, and a leading dot is removed only from lines
//     that follow a CRLF.
//   - Lines, commands and content alike, may be 2000 bytes with their CRLF
//     (RFC 5321 sets 1000; see Config.MaxLineLength). A longer command line
//     gets "500 5.4.0 Too long line, closing connection" and the connection
//     closes; a longer content line gets 554 5.0.0 for the message, then
//     that 500, then the close.
//   - Commands out of sequence (RCPT before MAIL, DATA before RCPT, MAIL
//     before EHLO) get 502 (5.5.1), not 503. A second MAIL inside a
//     transaction gets 503 5.5.1 (this package's doing: go-smtp would start
//     the transaction over, keeping the recipients).
//   - An unknown MAIL or RCPT parameter gets 500 5.5.4, not 555; a parameter
//     of an extension that is switched off gets 504 5.5.4.
//   - The fourth unknown or malformed command on a connection is answered,
//     then followed by "500 5.5.1 Too many errors. Quiting now", and the
//     connection closes.
//   - AUTH without a mechanism gets 502 5.5.4, and bad base64 or a malformed
//     PLAIN response 454 4.7.0 (RFC 4954 says 501); AUTH is accepted inside
//     a transaction.
//   - ReadTimeout runs from the start of each command's read; message
//     content, read after DATA, must all arrive within one ReadTimeout. An
//     idle client gets "421 4.4.2 Idle timeout, bye bye".
//   - A message larger than MaxMessageBytes is read to its end and then
//     answered 552 5.3.4; with BDAT the too large chunk is read and thrown
//     away, answered 552 5.3.4, and the transaction reset.
//   - Pipelined commands are read and answered one at a time, in order, each
//     reply sent as soon as it is ready; this is so whether or not
//     PIPELINING is advertised.
//   - After STARTTLS, bytes the client sent in the same packet as the
//     command are thrown away, and a failed handshake closes the connection
//     without a reply.
//   - Replies carry enhanced status codes (RFC 3463) only once an EHLO has
//     been answered and ENHANCEDSTATUSCODES is on; go-smtp itself puts them
//     on every reply but the greeting and the EHLO reply, HELO sessions
//     included.
package smtptest
