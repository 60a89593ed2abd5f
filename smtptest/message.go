package smtptest

import (
	"bufio"
	"bytes"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	gosmtp "github.com/emersion/go-smtp"
)

// Message is one message a Server accepted: its envelope, its content and
// what the server knew of the connection it came on. A Message is never
// changed once recorded and must not be changed by tests, which may share
// it.
type Message struct {
	// ID is the queue id the server gave in its reply to the message's
	// content ("250 2.0.0 OK: queued as Q0001"): "Q" and the message's
	// number on the server, from 1, in four or more digits.
	ID string
	// ConnID is the number of the connection the message came on, from 1
	// in the order connections were accepted; messages sharing a ConnID
	// came on one connection.
	ConnID int
	// Time is when the server recorded the message, its content read.
	Time time.Time
	// Helo is the name the client gave in its last EHLO or HELO.
	Helo string
	// TLS tells whether the connection was under TLS (implicit or after
	// STARTTLS) when the message was sent.
	TLS bool
	// AuthUser is the user the client authenticated as, or "".
	AuthUser string

	// From is the reverse-path of MAIL FROM, without angle brackets; ""
	// for the null reverse-path <>.
	From string
	// MailOptions are the parameters of MAIL FROM (SIZE, BODY, SMTPUTF8,
	// REQUIRETLS, RET, ENVID, AUTH) as go-smtp parsed them; never nil.
	MailOptions *gosmtp.MailOptions
	// To are the accepted recipients in the order of their RCPT commands
	// (refused ones are left out).
	To []string
	// RcptOptions are the parameters of each accepted RCPT (NOTIFY,
	// ORCPT), parallel to To; never nil.
	RcptOptions []*gosmtp.RcptOptions
	// Chunked tells whether the content came by BDAT (RFC 3030) rather
	// than DATA.
	Chunked bool

	// Raw is the content exactly as received, line endings included:
	// after DATA, with the leading dots of dot-stuffed lines removed and
	// without the final ".\r\n"; after BDAT, the chunks joined.
	Raw []byte
	// Header is the message header section parsed from Raw, for checking
	// fields: Header.Get("Subject"), Header.AddressList("To"). When Raw's
	// header does not parse, Header holds what was read before the fault
	// and HeaderErr says what went wrong.
	Header    mail.Header
	HeaderErr error
}

// Entity parses Raw anew into a go-message entity, with its body ready to
// read (decoded from its Content-Transfer-Encoding; decoding charsets needs
// go-message's charset package imported by the caller). An error for which
// message.IsUnknownCharset or message.IsUnknownEncoding holds comes with a
// usable entity. Each call parses again, so each returned body is unread.
func (m *Message) Entity() (*message.Entity, error) {
	return message.Read(bytes.NewReader(m.Raw))
}

// MailReader parses Raw anew into a go-message mail.Reader, which walks the
// parts of a multipart message (NextPart) and tells inline text from
// attachments. Each call parses again.
func (m *Message) MailReader() (*mail.Reader, error) {
	return mail.CreateReader(bytes.NewReader(m.Raw))
}

// parseHeader reads the header section of raw.
func parseHeader(raw []byte) (mail.Header, error) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	return mail.Header{Header: message.Header{Header: h}}, err
}

// Command is one command line a Server received, in the order received,
// for checking what a client sent: that it said EHLO again after STARTTLS,
// used BDAT, sent RSET between messages or QUIT at the end. Message
// content and AUTH exchanges after the AUTH line are not commands.
type Command struct {
	// ConnID is the connection's number, as in Message.ConnID.
	ConnID int
	// Verb is the command in upper case ("EHLO", "MAIL", "STARTTLS"...),
	// or "" for a line that is not a command.
	Verb string
	// Args is the rest of the line, as sent, without the verb and its
	// space. For AUTH, a client's initial response is replaced by "***".
	Args string
	// TLS tells whether the command came under TLS.
	TLS bool
}

// String returns the command as a line, without CRLF, "AUTH PLAIN ***"
// style for AUTH.
func (c Command) String() string {
	if c.Args == "" || c.Verb == "" {
		return c.Verb + c.Args
	}
	return c.Verb + " " + c.Args
}
