// Package explain turns an SMTP session, line by line, into plain English:
// what each command and reply means, the figures a person would compute by
// hand (the largest message and attachment from SIZE), and warnings about
// what is unsafe or slow. It follows the session's state (which command a
// reply answers, even when pipelined; whether TLS is on) and knows nothing
// of where the lines come from: a live Trace or a saved log.
package explain

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Session follows one SMTP connection. Its zero value is ready; it starts
// waiting for the greeting.
type Session struct {
	pending      []string // verbs whose replies are due, oldest first
	started      bool
	tls          bool // a finished handshake was seen
	switched     bool // the server accepted STARTTLS: what follows goes over TLS
	authResponse bool // the next line sent answers an AUTH challenge
	lastChunk    bool // the last BDAT sent was BDAT … LAST
	reply        struct {
		code  int
		lines int
	}
	ehlo struct {
		active                             bool
		pipelining, starttls, auth, unsafe bool
	}
}

// Sent explains a command line the client sent.
func (s *Session) Sent(line string) []string {
	s.start()
	if s.authResponse {
		s.authResponse = false
		return []string{"The client's answer to the challenge (it may hold the secret: mailwire writes [redacted] here)."}
	}
	verb, arg, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	if verb == "BDAT" {
		s.lastChunk = strings.HasSuffix(strings.ToUpper(arg), " LAST")
	}
	switch verb {
	case "MAIL", "RCPT":
		verb += " " + strings.ToUpper(strings.SplitN(arg, ":", 2)[0])
	}
	s.pending = append(s.pending, verb)
	return commandNotes(verb, arg)
}

// Received explains a reply line from the server.
func (s *Session) Received(line string) []string {
	s.start()
	if len(line) < 3 {
		return []string{"Not a valid reply line: a reply starts with a three-digit code."}
	}
	code, err := strconv.Atoi(line[:3])
	if err != nil {
		return []string{"Not a valid reply line: a reply starts with a three-digit code."}
	}
	last := len(line) == 3 || line[3] == ' '
	text := ""
	if len(line) > 4 {
		text = line[4:]
	}
	verb := "greeting"
	if len(s.pending) > 0 {
		verb = s.pending[0]
	}
	first := s.reply.lines == 0
	s.reply.lines++
	var notes []string
	if verb == "EHLO" && code == 250 {
		notes = s.ehloLine(first, text)
	} else if first {
		notes = s.replyNotes(verb, code, text)
	}
	if last {
		s.reply.lines = 0
		notes = append(notes, s.finish(verb, code)...)
	}
	return notes
}

func (s *Session) start() {
	if !s.started {
		s.started = true
		s.pending = []string{"greeting"}
	}
}

// finish closes a reply: the command it answered is done, unless the
// exchange goes on (334, 354).
func (s *Session) finish(verb string, code int) []string {
	if len(s.pending) > 0 {
		s.pending = s.pending[1:]
	}
	switch {
	case code == 334:
		s.pending = append([]string{"AUTH"}, s.pending...)
		s.authResponse = true
	case code == 354:
		s.pending = append([]string{"end of data"}, s.pending...)
	}
	if verb == "EHLO" && s.ehlo.active {
		s.ehlo.active = false
		return s.ehloWarnings()
	}
	return nil
}

// TLS explains a finished handshake; now is the time expiry is judged by.
func (s *Session) TLS(state tls.ConnectionState, now time.Time) []string {
	s.tls = true
	notes := []string{fmt.Sprintf("The connection is encrypted with %s, cipher suite %s; from here on nobody on the path can read or change it.",
		tls.VersionName(state.Version), tls.CipherSuiteName(state.CipherSuite))}
	if state.Version < tls.VersionTLS12 {
		notes = append(notes, fmt.Sprintf("WARNING: %s is deprecated (RFC 8996) and weak: the server should offer TLS 1.2 or 1.3, and a current client refuses less.", tls.VersionName(state.Version)))
	}
	if len(state.PeerCertificates) > 0 {
		cert := state.PeerCertificates[0]
		switch left := cert.NotAfter.Sub(now); {
		case left < 0:
			notes = append(notes, fmt.Sprintf("WARNING: the server's certificate expired on %s, %d days before the time of this explanation: a client that checks certificates refuses it.",
				cert.NotAfter.UTC().Format("2006-01-02"), int(-left.Hours()/24)))
		case left < 30*24*time.Hour:
			notes = append(notes, fmt.Sprintf("WARNING: the server's certificate expires on %s, in %d days: it must be renewed soon.",
				cert.NotAfter.UTC().Format("2006-01-02"), int(left.Hours()/24)))
		}
	}
	if len(state.VerifiedChains) > 0 {
		notes = append(notes, "The certificate chain was verified against the trusted CAs, and the certificate is valid for the server's name.")
	} else {
		notes = append(notes, "WARNING: the certificate chain was not verified (InsecureSkipVerify): only a pin protects this connection from a man in the middle.")
	}
	return notes
}

// Pin explains a pin check: depth is where the matching key sat in the
// chain (0: the server's own certificate).
func (s *Session) Pin(matched bool, depth int, cert *x509.Certificate) []string {
	switch {
	case !matched:
		return []string{"No key in the server's chain has the pinned hash: the connection is refused, as it would be behind an intercepting proxy."}
	case depth == 0:
		return []string{"The server's own key has the pinned hash: this is the server expected, not a proxy."}
	}
	return []string{fmt.Sprintf("WARNING: the pin matched only through an intermediate or CA certificate (%s, %d up the chain): any certificate that CA issues passes.", cert.Subject, depth)}
}

// TLSMessage explains a TLS handshake message by name.
func TLSMessage(name string, outgoing bool) []string {
	short, _, _ := strings.Cut(name, " ")
	if n, ok := tlsMessageWords[short]; ok {
		return []string{n}
	}
	if strings.HasPrefix(name, "encrypted") {
		return []string{"Handshake messages under encryption (TLS 1.3 hides the certificate and the rest from onlookers)."}
	}
	return nil
}

var tlsMessageWords = map[string]string{
	"ClientHello":         "The client offers TLS versions, cipher suites and a key share, and names the server it wants (SNI).",
	"ServerHello":         "The server picks the version and cipher suite and sends its key share.",
	"ChangeCipherSpec":    "A compatibility marker: encryption starts here (in TLS 1.3 it means nothing more).",
	"Certificate":         "The server's certificate chain.",
	"ServerKeyExchange":   "The server's key exchange parameters, signed with its certificate's key.",
	"ServerHelloDone":     "The server has said all it had to say for now.",
	"ClientKeyExchange":   "The client's half of the key exchange.",
	"Finished":            "A check that both sides saw the same handshake.",
	"CertificateRequest":  "The server asks the client for a certificate.",
	"NewSessionTicket":    "A ticket to resume this session later without a full handshake.",
	"Alert":               "An alert: a warning, or the reason the handshake failed.",
	"EncryptedExtensions": "The server's answers to the client's extensions (TLS 1.3, encrypted).",
	"CertificateVerify":   "The server proves it holds the certificate's private key.",
}

// commandNotes explains a command.
func commandNotes(verb, arg string) []string {
	switch verb {
	case "EHLO":
		return []string{fmt.Sprintf("The client greets the server as %q and asks which ESMTP extensions it offers.", arg)}
	case "HELO":
		return []string{"The client greets the server the old way (RFC 821): no extensions."}
	case "STARTTLS":
		return []string{"The client asks to switch this connection to TLS (RFC 3207)."}
	case "AUTH":
		mech, _, _ := strings.Cut(arg, " ")
		return strings.Split(authWords(strings.ToUpper(mech)), "\n")
	case "MAIL FROM":
		return []string{mailWords(arg)}
	case "RCPT TO":
		addr, params, _ := strings.Cut(strings.TrimPrefix(arg, "TO:"), " ")
		n := fmt.Sprintf("Adds the recipient %s to the message.", strings.TrimPrefix(addr, "to:"))
		if params != "" {
			n += " Parameters: " + params + "."
		}
		return []string{n}
	case "DATA":
		return []string{"The client asks to send the message content."}
	case "BDAT":
		return []string{"The client sends a chunk of the message of the given size (CHUNKING, RFC 3030); LAST marks the final chunk."}
	case "RSET":
		return []string{"Abandons the current transaction: the server forgets the sender and recipients."}
	case "NOOP":
		return []string{"Does nothing: checks that the server is still there."}
	case "QUIT":
		return []string{"The client ends the session."}
	case "VRFY":
		return []string{"Asks whether a mailbox exists (most servers decline to say)."}
	}
	return []string{"A command this explainer does not know."}
}

func authWords(mech string) string {
	switch mech {
	case "PLAIN":
		return "Authenticates with PLAIN: user name and password in one base64 string. Base64 is not encryption: anyone who sees it can read the password, which is why it must only go over TLS."
	case "LOGIN":
		return "Authenticates with LOGIN: user name and password, each in base64, in answer to the server's prompts. Base64 is not encryption: only over TLS."
	case "CRAM-MD5":
		return "Authenticates with CRAM-MD5: proves the password with a keyed hash (HMAC-MD5) of the server's challenge, without sending it.\nWARNING: CRAM-MD5 is weak: the server must store a password equivalent, and anyone who captured the exchange can try passwords against it offline; prefer SCRAM, or PLAIN over TLS."
	case "DIGEST-MD5":
		return "Authenticates with DIGEST-MD5.\nWARNING: DIGEST-MD5 is obsolete (RFC 6331): weak, and the server must store the password in a reversible form; prefer SCRAM, or PLAIN over TLS."
	case "SCRAM-SHA-256", "SCRAM-SHA-1":
		return "Authenticates with " + mech + ": both sides prove they know the password without sending it (RFC 5802)."
	case "XOAUTH2", "OAUTHBEARER":
		return "Authenticates with an OAuth 2.0 bearer token (" + mech + "). The token is a secret: only over TLS."
	}
	return "Authenticates with the " + mech + " mechanism (RFC 4954)."
}

func mailWords(arg string) string {
	addr, params, _ := strings.Cut(arg, " ")
	from := strings.TrimPrefix(strings.TrimPrefix(addr, "FROM:"), "from:")
	if from == "<>" {
		from = "the null sender <> (a bounce: no bounce comes back for it)"
	}
	n := "Starts a message from " + from + "."
	for _, p := range strings.Fields(params) {
		k, v, _ := strings.Cut(p, "=")
		switch strings.ToUpper(k) {
		case "SIZE":
			n += " It announces " + v + " bytes (SIZE), so the server can refuse it before it is sent."
		case "BODY":
			n += " The body is " + v + "."
		case "SMTPUTF8":
			n += " Addresses may be UTF-8 (SMTPUTF8)."
		case "RET":
			n += " A bounce returns " + map[string]string{"FULL": "the whole message", "HDRS": "the headers only"}[strings.ToUpper(v)] + " (DSN)."
		case "ENVID":
			n += " Envelope id for delivery reports: " + v + "."
		case "REQUIRETLS":
			n += " Every hop must use TLS (REQUIRETLS)."
		}
	}
	return n
}

// replyNotes explains the first line of a reply to verb.
func (s *Session) replyNotes(verb string, code int, text string) []string {
	var notes []string
	switch {
	case verb == "greeting" && code == 220:
		notes = append(notes, "The server greets the client and is ready.")
	case verb == "STARTTLS" && code == 220:
		s.switched = true // what follows goes over TLS, whether or not the log shows the handshake
		notes = append(notes, "The server agrees: the TLS handshake starts now, and every extension learnt so far must be forgotten.")
	case verb == "AUTH" && code == 334:
		if dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text)); err == nil && text != "" && isPrintable(dec) {
			notes = append(notes, fmt.Sprintf("A challenge from the server; decoded: %q.", dec))
		} else {
			notes = append(notes, "A challenge from the server; the client answers on the next line.")
		}
	case (verb == "end of data" || verb == "BDAT" && s.lastChunk) && code == 250:
		notes = append(notes, "The server accepted the message and took responsibility for it; the text usually holds its queue id.")
	case verb == "DATA" && code == 354:
		notes = append(notes, "The server waits for the message content; a line with a single dot ends it.")
	case verb == "MAIL FROM" && code == 250:
		notes = append(notes, "The server accepts the sender.")
	case verb == "RCPT TO" && code == 250:
		notes = append(notes, "The server accepts this recipient.")
	case verb == "RCPT TO" && code >= 400:
		notes = append(notes, fmt.Sprintf("The server refuses this recipient: %d, %s. The other recipients may still get the message.", code, Reply(code)))
	case verb == "AUTH" && code == 235:
		notes = append(notes, "Authentication succeeded: the client may now send mail as this user.")
	default:
		notes = append(notes, fmt.Sprintf("%d: %s.", code, upperFirst(Reply(code))))
	}
	if enh, ok := enhancedPrefix(text, code); ok && (enh[0] != 2 || enh[2] != 0) { // 2.x.0 says nothing more
		notes = append(notes, fmt.Sprintf("%s: %s.", enh, upperFirst(Enhanced(enh[0], enh[1], enh[2]))))
	}
	if code >= 400 {
		notes = append(notes, upperFirst(classWords(code))+".")
	}
	return notes
}

// ehloLine explains one line of a 250 reply to EHLO.
func (s *Session) ehloLine(first bool, text string) []string {
	if first {
		s.ehlo.active = true
		s.ehlo.pipelining, s.ehlo.starttls, s.ehlo.auth, s.ehlo.unsafe = false, false, false, false
		return []string{"The server names itself; each line after this is an extension it offers."}
	}
	keyword, params, _ := strings.Cut(text, " ")
	keyword = strings.ToUpper(keyword)
	switch keyword {
	case "PIPELINING":
		s.ehlo.pipelining = true
	case "STARTTLS":
		s.ehlo.starttls = true
	case "AUTH":
		s.ehlo.auth = true
		for _, m := range strings.Fields(strings.ToUpper(params)) {
			if m == "PLAIN" || m == "LOGIN" {
				s.ehlo.unsafe = true
			}
		}
	}
	return []string{extensionWords(keyword, params)}
}

// ehloWarnings are the warnings a complete EHLO reply calls for.
func (s *Session) ehloWarnings() []string {
	var w []string
	encrypted := s.tls || s.switched
	if s.ehlo.auth && s.ehlo.unsafe && !encrypted {
		w = append(w, "WARNING: AUTH with PLAIN or LOGIN is offered before TLS: a client that used it now would send the password readable by anyone on the path.")
	}
	if !encrypted && !s.ehlo.starttls {
		w = append(w, "WARNING: no STARTTLS offered and the connection is not encrypted: everything, password and message, travels in clear.")
	}
	if !s.ehlo.pipelining {
		w = append(w, "Note: no PIPELINING: each command waits for its reply, one round trip per recipient.")
	}
	return w
}

// extensionWords explains an EHLO keyword and its parameters.
func extensionWords(keyword, params string) string {
	switch keyword {
	case "SIZE":
		n, err := strconv.ParseInt(params, 10, 64)
		if err != nil || n == 0 {
			return "SIZE (RFC 1870): the client may announce a message's size; the server states no limit."
		}
		return fmt.Sprintf("SIZE (RFC 1870): the largest message is %s (%d bytes). Base64 makes an attachment a third larger, so the largest attachment is about %s, a little less once base64's line breaks and the text and headers are counted.",
			Bytes(n), n, Bytes(n*3/4))
	case "8BITMIME":
		return "8BITMIME (RFC 6152): the message body may hold 8-bit text (UTF-8 without encoding)."
	case "PIPELINING":
		return "PIPELINING (RFC 2920): the client may send the sender, every recipient and DATA at once, saving round trips."
	case "AUTH", "AUTH=LOGIN", "AUTH=PLAIN":
		if keyword != "AUTH" {
			return keyword + ": the old (pre-RFC 4954) way some servers announce AUTH, for clients of the 1990s."
		}
		return "AUTH (RFC 4954): the server accepts login with " + params + "."
	case "STARTTLS":
		return "STARTTLS (RFC 3207): the connection can be switched to TLS."
	case "ENHANCEDSTATUSCODES":
		return "ENHANCEDSTATUSCODES (RFC 2034): replies carry codes such as 5.1.1 that say precisely what happened."
	case "DSN":
		return "DSN (RFC 3461): the client may ask for delivery status notifications."
	case "SMTPUTF8":
		return "SMTPUTF8 (RFC 6531): addresses and headers may be UTF-8 (international addresses)."
	case "CHUNKING":
		return "CHUNKING (RFC 3030): the client may send the message with BDAT, in sized chunks, without dot-stuffing and in one round trip."
	case "BINARYMIME":
		return "BINARYMIME (RFC 3030): the body may be binary (with BDAT only)."
	case "REQUIRETLS":
		return "REQUIRETLS (RFC 8689): the client may demand TLS on every hop of the message's way."
	case "HELP":
		return "HELP: the server answers the HELP command."
	case "VRFY":
		return "VRFY: the server answers questions about mailboxes."
	case "ETRN":
		return "ETRN (RFC 1985): a client may ask the server to flush its queue for a domain."
	case "DELIVERBY":
		return "DELIVERBY (RFC 2852): the client may set a delivery deadline."
	case "NO-SOLICITING":
		return "NO-SOLICITING (RFC 3865): the server refuses solicitations of the named kinds."
	case "MT-PRIORITY":
		return "MT-PRIORITY (RFC 6710): messages may carry a priority."
	case "PIPECONNECT":
		return "PIPECONNECT (Exim; draft-harris-early-pipe): the client may send EHLO before the greeting on its next connection, saving a round trip."
	case "LIMITS":
		return "LIMITS (RFC 9422): the server states its limits (" + params + "), such as recipients per message (RCPTMAX) and messages per connection (MAILMAX)."
	case "FUTURERELEASE":
		return "FUTURERELEASE (RFC 4865): the client may ask that a message be held and released at a later time."
	case "XCLIENT":
		return "XCLIENT (Postfix): a trusted client may pass on the address and name of the client it stands for; not for ordinary senders."
	case "XFORWARD":
		return "XFORWARD (Postfix): a trusted content filter may pass on where a message first came from; not for ordinary senders."
	case "BURL":
		return "BURL (RFC 4468): the message may be fetched from an IMAP server by URL instead of being sent."
	case "ATRN":
		return "ATRN (RFC 2645): authenticated turn: a client may ask to receive the mail queued for it on this connection."
	case "SMTP-TLS", "XEXCH50", "X-EXPS", "X-LINK2STATE", "X-RCPTLIMIT", "TURN", "XUSR":
		return keyword + ": a vendor's own (Microsoft Exchange or another), not for ordinary clients."
	}
	return keyword + ": an extension this explainer does not know: it says nothing of it rather than guess."
}

// Bytes formats n bytes in binary units: "100 MiB", "34.2 MiB".
func Bytes(n int64) string {
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d bytes", n)
	}
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d %s", int64(f), units[i])
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

type enhancedCode [3]int

func (e enhancedCode) String() string { return fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2]) }

// enhancedPrefix reads an enhanced status code at the start of text.
func enhancedPrefix(text string, code int) (enhancedCode, bool) {
	word, _, _ := strings.Cut(text, " ")
	parts := strings.Split(word, ".")
	if len(parts) != 3 {
		return enhancedCode{}, false
	}
	var e enhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || len(p) > 3 {
			return enhancedCode{}, false
		}
		e[i] = n
	}
	return e, e[0] == code/100
}

func isPrintable(b []byte) bool {
	for _, c := range b {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
