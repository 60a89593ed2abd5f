package smtptest

import (
	"math/rand"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// TLSMode says how a Server offers TLS. The zero value is StartTLS: like
// the mailwire client, a Server is secure unless told otherwise, so the
// smallest test (a client with Server.ClientTLSConfig) works as it will
// against a real submission server.
type TLSMode int

const (
	// StartTLS serves plain text and advertises STARTTLS (RFC 3207), as a
	// submission server on port 587 does. It is the zero value.
	StartTLS TLSMode = iota
	// NoTLS serves plain text only: STARTTLS is neither advertised nor
	// accepted (it is answered 502), like a bare MTA on port 25 without
	// certificates.
	NoTLS
	// ImplicitTLS does the TLS handshake as soon as a connection is
	// accepted, before the greeting, as a submissions server on port 465
	// does (RFC 8314).
	ImplicitTLS
)

// String returns the mode's name, for test logs.
func (m TLSMode) String() string {
	switch m {
	case NoTLS:
		return "NoTLS"
	case StartTLS:
		return "StartTLS"
	case ImplicitTLS:
		return "ImplicitTLS"
	}
	return "TLSMode(?)"
}

// Steps that are not commands, usable as keys of Config.CommandErrors and
// values of Config.DropAt besides command verbs ("EHLO", "MAIL", "RCPT",
// "DATA", "BDAT", "AUTH", "STARTTLS", "RSET", "NOOP", "QUIT", ...).
const (
	// StepConnect is a connection just accepted (after the handshake in
	// ImplicitTLS mode), before the greeting. An error there replaces the
	// 220 greeting (RFC 5321 section 3.1 allows 554, or 421).
	StepConnect = "CONNECT"
	// StepAfterData is the end of a message's content (the final dot of
	// DATA, or the chunk of BDAT ... LAST), before the server's reply to
	// it. An error there rejects the message after its content was sent,
	// the way content filters do; a drop there leaves the client not
	// knowing whether the message was taken.
	StepAfterData = "AFTERDATA"
)

// DefaultMaxMessageBytes is the message size limit, advertised with SIZE,
// that a Server uses when Config.MaxMessageBytes is 0: large enough for any
// test message, small enough to catch a runaway client.
const DefaultMaxMessageBytes = 10 << 20

// DefaultTimeout is the read and write timeout a Server uses when
// Config.ReadTimeout or Config.WriteTimeout is 0. A test that hangs on a
// silent peer fails in seconds rather than at the go test deadline.
const DefaultTimeout = 10 * time.Second

// DefaultDomain is the name the Server gives in its greeting and EHLO reply
// when Config.Domain is empty.
const DefaultDomain = "smtptest.local"

// Config sets up a Server. The zero value (or a nil *Config) is a server
// that offers STARTTLS with a certificate of its own CA (see
// Server.ClientTLSConfig), accepts every message, offers no AUTH, and
// advertises
// PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES, CHUNKING, BINARYMIME, SMTPUTF8,
// DSN and SIZE 10485760 (REQUIRETLS too, over TLS only). Every field is read
// once by NewServer; changing a Config afterwards does not change the server.
type Config struct {
	// TLS chooses STARTTLS (the zero value), plain text or implicit TLS.
	// The certificates come from a CA that NewServer generates; see
	// Server.ClientTLSConfig.
	TLS TLSMode

	// Domain is the server's name in its greeting and EHLO reply; empty
	// means DefaultDomain.
	Domain string

	// Users are the accounts AUTH accepts, user name to password, with the
	// PLAIN and LOGIN mechanisms. Empty means AUTH is not offered, and
	// answered 502.
	Users map[string]string
	// AllowInsecureAuth offers AUTH on a connection without TLS. By default
	// AUTH is offered only after STARTTLS or in ImplicitTLS mode, and
	// answered 538 5.7.11 before TLS, as real submission servers do.
	AllowInsecureAuth bool
	// RequireAuth answers MAIL with 530 5.7.0 until the client has
	// authenticated, as a submission server does.
	RequireAuth bool

	// MaxMessageBytes is the largest message accepted, advertised as SIZE
	// (RFC 1870): MAIL with a larger SIZE= is refused with 552 5.3.4, and so
	// is a larger message after its content is sent. 0 means
	// DefaultMaxMessageBytes; a negative value means no limit ("SIZE" is
	// advertised without a number).
	MaxMessageBytes int64
	// MaxRecipients caps the recipients of one message: RCPT past it is
	// answered 452 4.5.3, and the EHLO reply carries "LIMITS RCPTMAX=n"
	// (RFC 9422). 0 means no limit.
	MaxRecipients int
	// MaxLineLength is the longest line, CRLF included, that the server
	// reads, commands and message lines alike; a longer one gets
	// "500 5.4.0 Too long line" and the connection is closed. 0 means
	// go-smtp's 2000, twice RFC 5321's 1000, to be lenient.
	MaxLineLength int

	// Each Disable flag removes one extension from the EHLO reply, and,
	// where the server can tell, refuses its use:
	//
	//   - DisablePipelining: PIPELINING (RFC 2920) is not advertised. The
	//     server still answers commands sent ahead in order; it does not
	//     refuse them.
	//   - Disable8BitMIME: 8BITMIME (RFC 6152) is not advertised, and
	//     MAIL ... BODY=8BITMIME is answered 504 5.5.4.
	//   - DisableEnhancedStatusCodes: ENHANCEDSTATUSCODES (RFC 2034) is not
	//     advertised, and replies carry no "x.y.z" codes. Even with it on,
	//     replies carry them only once an EHLO was answered, never after
	//     HELO, as RFC 2034 asks.
	//   - DisableChunking: CHUNKING and BINARYMIME (RFC 3030) are not
	//     advertised, and BDAT is answered 502 5.5.1 (its chunk is read
	//     and thrown away, so the connection stays usable).
	//   - DisableBinaryMIME: BINARYMIME is not advertised, and BODY=BINARYMIME
	//     is answered 504 5.5.4.
	//   - DisableSize: SIZE is not advertised, and MAIL ... SIZE=n is
	//     answered 504 5.5.4. MaxMessageBytes is still enforced after the
	//     content, as a server that does not announce its limit does.
	//   - DisableSMTPUTF8: SMTPUTF8 (RFC 6531) is not advertised, and
	//     MAIL ... SMTPUTF8 is answered 504 5.5.4.
	//   - DisableDSN: DSN (RFC 3461) is not advertised, and RET, ENVID,
	//     NOTIFY and ORCPT are answered 504 5.5.4.
	//   - DisableLimits: LIMITS (RFC 9422) is not advertised; MaxRecipients
	//     still holds, as on a server that limits without saying so
	//     (Postfix's smtpd_recipient_limit).
	//   - DisableRequireTLS: REQUIRETLS (RFC 8689) is not advertised, and
	//     MAIL ... REQUIRETLS is answered 504 5.5.4. With it on, REQUIRETLS
	//     is advertised over TLS only and refused with 530 5.7.10 without.
	//
	// STARTTLS and AUTH are governed by TLS and Users instead.
	DisablePipelining          bool
	Disable8BitMIME            bool
	DisableEnhancedStatusCodes bool
	DisableChunking            bool
	DisableBinaryMIME          bool
	DisableSize                bool
	DisableSMTPUTF8            bool
	DisableDSN                 bool
	DisableRequireTLS          bool
	DisableLimits              bool

	// RejectRecipients refuses the given recipients, address (compared
	// without regard to case) to the reply RCPT gets, for instance
	// {Code: 550, EnhancedCode: EnhancedCode{5, 1, 1}, Message: "No such
	// user"}. Other recipients are accepted.
	RejectRecipients map[string]*Reply

	// MagicRecipients makes some local parts choose their outcome, as mox's
	// localserve does, so that a test needs no other setting: "tempfail"
	// (or anything ending "+tempfail", as bob+tempfail@example.com) gets
	// 451 4.3.0 at RCPT, "permfail" 550 5.1.1, and "timeout" no answer
	// until ReadTimeout (or Close), then 421 4.4.2.
	MagicRecipients bool

	// LMTP makes the server speak LMTP (RFC 2033) instead of SMTP: LHLO
	// instead of EHLO, and after a message one reply for each accepted
	// recipient, in RCPT order: "250 2.0.0 <rcpt> OK: queued as Q0001",
	// or the reply RejectAfterData gives that recipient.
	LMTP bool
	// RejectAfterData, in LMTP mode, refuses the given recipients once the
	// message has come (a mailbox over quota, say), address to reply; the
	// others get the message. The message is recorded with every recipient
	// RCPT accepted.
	RejectAfterData map[string]*Reply

	// CommandErrors answers a step with an error instead of carrying it
	// out: the key is a command verb in upper case ("EHLO", "MAIL", "RCPT",
	// "DATA", "BDAT", "AUTH", "STARTTLS", "RSET", "NOOP", "QUIT", ...),
	// StepConnect or StepAfterData; the value is the reply. The command has
	// no other effect (a refused MAIL opens no transaction, a refused BDAT's
	// chunk is read and thrown away, a message refused at StepAfterData is
	// not recorded). A 421 reply closes the connection after it is sent, as
	// RFC 5321 section 3.8 says.
	CommandErrors map[string]*Reply
	// CommandErrorsTimes, when above 0, answers each step of CommandErrors
	// with its error only the first n times it is reached (counted across
	// the server's connections), and carries it out as usual after that:
	// a server that throttles for a while.
	CommandErrorsTimes int

	// DropAt closes the connection, without a reply, when the step is
	// reached: a command verb (on receipt of the command), StepConnect
	// (before the greeting) or StepAfterData (the message is recorded, and
	// its reply never sent). Empty means never.
	DropAt string

	// ReplyDelay holds back every reply, the greeting included, for this
	// long: for testing a client's timeouts. Close interrupts the wait.
	ReplyDelay time.Duration

	// MaxMessagesPerConn accepts at most this many messages on one
	// connection; MAIL for another is answered 451 4.7.0, the connection
	// staying open. The EHLO reply says it as "LIMITS MAILMAX=n" (RFC
	// 9422) unless DisableLimits. 0 means no limit.
	MaxMessagesPerConn int
	// ShutdownAfter answers the command that follows a connection's n-th
	// accepted message, whatever it is, with "421 4.7.0 ... closing
	// connection" and closes the connection, as servers that limit
	// connection reuse do. 0 means never.
	ShutdownAfter int

	// ReadTimeout and WriteTimeout bound each wait for a command (or the
	// whole content of a message) and each reply; 0 means DefaultTimeout.
	// A client idle past ReadTimeout gets "421 4.4.2 Idle timeout".
	ReadTimeout  time.Duration
	WriteTimeout time.Duration

	// Logf, if set, receives a transcript of every connection (commands,
	// replies, never message content) and go-smtp's internal errors;
	// testing.T.Logf fits. Close the Server before the test ends, or the
	// testing package complains of a log after the test.
	Logf func(format string, args ...any)
}

// Reply is a reply the Server sends in place of its own
// (Config.RejectRecipients, Config.CommandErrors): a code, an enhanced
// status code (RFC 3463; zero for none) and the text.
type Reply struct {
	Code         int
	EnhancedCode EnhancedCode
	Message      string
}

// EnhancedCode is an enhanced status code, e.g. {5, 1, 1}.
type EnhancedCode [3]int

// smtpError is r as go-smtp sends it; nil for nil.
func (r *Reply) smtpError() *gosmtp.SMTPError {
	if r == nil {
		return nil
	}
	return &gosmtp.SMTPError{Code: r.Code, EnhancedCode: gosmtp.EnhancedCode(r.EnhancedCode), Message: r.Message}
}

// settings is a Config with defaults applied and maps normalised, private
// to the Server so that the caller's Config can be reused or changed.
type settings struct {
	Config
	rejectRcpt map[string]*gosmtp.SMTPError // keys lower-cased
	rejectData map[string]*gosmtp.SMTPError // keys lower-cased
	cmdErrors  map[string]*gosmtp.SMTPError // keys upper-cased
	dropAt     string

	mu         sync.Mutex
	cmdErrUses map[string]int    // how often each step's error was given
	faults     map[string]*fault // set at runtime (Server.SetFault), by step or "RCPT <addr>"
	rng        *rand.Rand        // draws the probabilistic faults, from their seed
	accepted   int               // messages recorded: the count Fault.After waits for
}

func newSettings(cfg *Config) *settings {
	s := &settings{}
	if cfg != nil {
		s.Config = *cfg
	}
	if s.Domain == "" {
		s.Domain = DefaultDomain
	}
	if s.MaxMessageBytes == 0 {
		s.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if s.MaxMessageBytes < 0 {
		s.MaxMessageBytes = 0 // go-smtp's "no limit"
	}
	if s.ReadTimeout == 0 {
		s.ReadTimeout = DefaultTimeout
	}
	if s.WriteTimeout == 0 {
		s.WriteTimeout = DefaultTimeout
	}
	users := make(map[string]string, len(s.Users))
	for u, p := range s.Users {
		users[u] = p
	}
	s.Users = users
	s.rejectRcpt = make(map[string]*gosmtp.SMTPError, len(s.RejectRecipients))
	for addr, r := range s.RejectRecipients {
		s.rejectRcpt[strings.ToLower(addr)] = r.smtpError()
	}
	s.rejectData = make(map[string]*gosmtp.SMTPError, len(s.RejectAfterData))
	for addr, r := range s.RejectAfterData {
		s.rejectData[strings.ToLower(addr)] = r.smtpError()
	}
	s.cmdErrors = make(map[string]*gosmtp.SMTPError, len(s.CommandErrors))
	for step, r := range s.CommandErrors {
		s.cmdErrors[strings.ToUpper(step)] = r.smtpError()
	}
	s.dropAt = strings.ToUpper(s.DropAt)
	s.cmdErrUses = map[string]int{}
	return s
}

func (s *settings) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}
