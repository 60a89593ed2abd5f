package smtpotel

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/mailwire/smtp"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// The attributes of our own, in the "smtp." namespace: the semantic
// conventions have none for SMTP. Where they have a name (server.address,
// error.type, tls.*), semconv's is used instead.
const (
	replyCodeKey          = attribute.Key("smtp.reply.code")          // int: 250
	replyEnhancedKey      = attribute.Key("smtp.reply.enhanced_code") // "5.1.1"
	recipientsAcceptedKey = attribute.Key("smtp.recipients.accepted") // int
	recipientsRejectedKey = attribute.Key("smtp.recipients.rejected") // int
	transactionsKey       = attribute.Key("smtp.transactions")        // int
	messageSizeKey        = attribute.Key("smtp.message.size")        // int, bytes
	authMechanismKey      = attribute.Key("smtp.auth.mechanism")      // "PLAIN"
	proxyKey              = attribute.Key("smtp.proxy")               // "socks5h://host:port"
	throttleReasonKey     = attribute.Key("smtp.throttle.reason")     // the Pool's words on its wait
	outcomeKey            = attribute.Key("outcome")                  // of the message and recipient counters
	retryReasonKey        = attribute.Key("smtp.retry.reason")        // "reconnect", "throttled"
)

// otherValue stands for a value that does not fit the attribute's form,
// as the semantic conventions' "_OTHER" does.
const otherValue = "_OTHER"

// errorType is the error.type of err: for a reply of the server (an
// *smtp.Error, also inside a *smtp.RecipientsError) its code, e.g. "550";
// otherwise the class smtp.Classify gives, e.g. "network" or "timeout".
// Both are few, so the attribute can go on metrics.
func errorType(err error) string {
	var e *smtp.Error
	if errors.As(err, &e) && e.Code != 0 {
		return strconv.Itoa(e.Code)
	}
	return smtp.Classify(err).String()
}

// handshakeErrorType is the error.type of a failed TLS handshake, which
// the library has not wrapped yet: "timeout" or "network" when the
// connection failed, else the Go type of what TLS refused, e.g.
// "*tls.CertificateVerificationError", or "crypto/tls.alert" for an alert
// the server sent.
func handshakeErrorType(err error) string {
	if class := smtp.Classify(err); class == smtp.ClassTimeout {
		return class.String()
	}
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "remote error":
		return semconv.ErrorType(op.Err).Value.AsString()
	case op != nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return smtp.ClassNetwork.String()
	}
	return semconv.ErrorType(err).Value.AsString()
}

// Outcomes of a message, the values of the outcome attribute of
// smtp.client.messages.
const (
	outcomeAccepted = "accepted" // the server took the message (maybe not for every recipient)
	outcomeRejected = "rejected" // the server refused it with a 4xx or 5xx reply
	outcomeFailed   = "failed"   // anything else: network, TLS, AUTH, a bad argument, a timeout
	outcomeUnknown  = "unknown"  // smtp.ErrDeliveryUnknown: it may have been delivered
)

// outcome sorts the result of a Send for smtp.client.messages.
func outcome(err error) string {
	switch smtp.Classify(err) {
	case smtp.ClassNone:
		return outcomeAccepted
	case smtp.ClassDeliveryUnknown:
		return outcomeUnknown
	case smtp.ClassTemporary, smtp.ClassPermanent:
		return outcomeRejected
	}
	return outcomeFailed
}

// serverAttrs are server.address, server.port and network.transport for
// a dialled "host:port"; none when addr is not one.
func serverAttrs(addr string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return nil
	}
	attrs := []attribute.KeyValue{semconv.ServerAddress(host), semconv.NetworkTransportTCP}
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, semconv.ServerPort(p))
	}
	return attrs
}

// peerAttrs are network.peer.address and network.peer.port of the address
// actually connected to (the proxy's, through a proxy).
func peerAttrs(addr string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	attrs := []attribute.KeyValue{semconv.NetworkPeerAddress(host)}
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, semconv.NetworkPeerPort(p))
	}
	return attrs
}

// tlsAttrs describe a finished handshake: tls.protocol.name and .version
// ("1.3"), tls.cipher (its IANA name, as the conventions ask) and
// tls.resumed.
func tlsAttrs(s *tls.ConnectionState) []attribute.KeyValue {
	if s == nil || !s.HandshakeComplete {
		return nil
	}
	return []attribute.KeyValue{
		semconv.TLSProtocolNameTLS,
		semconv.TLSProtocolVersion(tlsVersion(s.Version)),
		semconv.TLSCipher(tls.CipherSuiteName(s.CipherSuite)),
		semconv.TLSResumed(s.DidResume),
	}
}

// tlsVersion is the numeric part of a TLS version, "1.3".
func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "1.0"
	case tls.VersionTLS11:
		return "1.1"
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS13:
		return "1.3"
	}
	return otherValue
}

// replyAttrs are smtp.reply.code and, when the reply has one,
// smtp.reply.enhanced_code.
func replyAttrs(code int, enhanced smtp.EnhancedCode) []attribute.KeyValue {
	if enhanced == (smtp.EnhancedCode{}) {
		return []attribute.KeyValue{replyCodeKey.Int(code)}
	}
	return []attribute.KeyValue{replyCodeKey.Int(code), replyEnhancedKey.String(enhanced.String())}
}

// finalReply reads a received line that ends a reply, "250 2.1.5 Ok" or a
// bare "250": its code, and its enhanced status code when the word after
// the code is one (RFC 3463). ok is false for the other lines of a
// multiline reply ("250-PIPELINING") and for lines that are no reply.
func finalReply(line string) (code int, enhanced smtp.EnhancedCode, ok bool) {
	if len(line) < 3 || len(line) > 3 && line[3] != ' ' ||
		line[0] < '2' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return 0, enhanced, false
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) > 4 {
		word := line[4:]
		if i := strings.IndexByte(word, ' '); i >= 0 {
			word = word[:i]
		}
		enhanced, _ = parseEnhanced(word, code)
	}
	return code, enhanced, true
}

// parseEnhanced reads w as an enhanced status code of a reply's code:
// "class.subject.detail", the class 2, 4 or 5 and the code's first digit,
// subject and detail of 1 to 3 digits.
func parseEnhanced(w string, code int) (smtp.EnhancedCode, bool) {
	var enh smtp.EnhancedCode
	class := code / 100
	if len(w) < 5 || class == 3 || int(w[0]-'0') != class || w[1] != '.' {
		return smtp.EnhancedCode{}, false
	}
	enh[0] = class
	w = w[2:]
	for part := 1; part < 3; part++ {
		n := 0
		for n < len(w) && isDigit(w[n]) {
			enh[part] = enh[part]*10 + int(w[n]-'0')
			n++
		}
		if n == 0 || n > 3 {
			return smtp.EnhancedCode{}, false
		}
		w = w[n:]
		if part == 1 {
			if w == "" || w[0] != '.' {
				return smtp.EnhancedCode{}, false
			}
			w = w[1:]
		}
	}
	if w != "" {
		return smtp.EnhancedCode{}, false
	}
	return enh, true
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// authMechanism is the mechanism of a traced AUTH line ("AUTH PLAIN
// [redacted]" gives "PLAIN"), and whether the line is an AUTH command.
// Only the word after AUTH is ever looked at, never what follows it; a
// word that is not a SASL mechanism name (RFC 4422 section 3.1: up to 20
// of A-Z, 0-9, '-' and '_') is "_OTHER".
func authMechanism(line string) (string, bool) {
	if len(line) < 5 || !strings.EqualFold(line[:5], "AUTH ") {
		return "", false
	}
	mech := line[5:]
	if i := strings.IndexByte(mech, ' '); i >= 0 {
		mech = mech[:i]
	}
	mech = strings.ToUpper(mech)
	if mech == "" || len(mech) > 20 {
		return otherValue, true
	}
	for i := 0; i < len(mech); i++ {
		if b := mech[i]; !('A' <= b && b <= 'Z' || isDigit(b) || b == '-' || b == '_') {
			return otherValue, true
		}
	}
	return mech, true
}

// verb names the command of a traced line for matching it with its reply:
// "MAIL FROM", "RCPT TO", "BDAT LAST" for the last chunk, else the first
// word upper-cased ("DATA", "EHLO", "RSET"). A line sent in the middle of
// an AUTH exchange is "AUTH".
func verb(line string, inAuth bool) string {
	switch {
	case inAuth:
		return "AUTH"
	case hasPrefixFold(line, "MAIL FROM"):
		return "MAIL FROM"
	case hasPrefixFold(line, "RCPT TO"):
		return "RCPT TO"
	case hasPrefixFold(line, "BDAT "):
		if strings.HasSuffix(strings.ToUpper(line), " LAST") {
			return "BDAT LAST"
		}
		return "BDAT"
	}
	w := line
	if i := strings.IndexByte(w, ' '); i >= 0 {
		w = w[:i]
	}
	return strings.ToUpper(w)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
