package explain

import (
	"github.com/mailwire/smtp"
)

// Enhanced describes an enhanced status code (RFC 3463) in words, e.g.
// "bad destination mailbox address" for 5.1.1 (the table is the core's:
// smtp.EnhancedCode.Description).
func Enhanced(class, subject, detail int) string {
	return smtp.EnhancedCode{class, subject, detail}.Description()
}

// classWords says what a reply code's first digit means (RFC 5321 4.2.1).
func classWords(code int) string {
	switch code / 100 {
	case 2:
		return "success"
	case 3:
		return "go on: the server waits for more"
	case 4:
		return "temporary failure: the same command may work later"
	case 5:
		return "permanent failure: do not retry as is"
	}
	return "unknown class"
}

// replyWords are the meanings of common reply codes (RFC 5321 4.2.2 and
// the extensions' RFCs), used when the command does not say more.
var replyWords = map[int]string{
	211: "system status",
	214: "help message",
	220: "the service is ready",
	221: "the server is closing the connection",
	235: "authentication succeeded",
	250: "requested action completed",
	251: "user not local; the server will forward",
	252: "cannot verify the user, but will accept the message",
	334: "authentication challenge: the server waits for the client's answer",
	354: "start the message content; end it with a line holding only a dot",
	421: "the service is not available and is closing the connection",
	432: "a password transition is needed",
	450: "mailbox unavailable (busy, or blocked for now)",
	451: "local error in processing",
	452: "insufficient system storage, or too many recipients",
	454: "temporary authentication failure, or TLS not available",
	455: "the server cannot take the parameters now",
	500: "syntax error, command unrecognised",
	501: "syntax error in parameters or arguments",
	502: "command not implemented",
	503: "bad sequence of commands",
	504: "command parameter not implemented",
	521: "this host does not accept mail",
	523: "encryption needed",
	530: "authentication required",
	534: "authentication mechanism is too weak",
	535: "authentication credentials invalid",
	538: "encryption required for the requested authentication mechanism",
	550: "mailbox unavailable (not found, or refused by policy)",
	551: "user not local",
	552: "exceeded storage allocation (message too big)",
	553: "mailbox name not allowed",
	554: "transaction failed",
	555: "MAIL FROM or RCPT TO parameters not recognised or not implemented",
	556: "domain does not accept mail",
}

// Reply describes a reply code in words.
func Reply(code int) string {
	if w, ok := replyWords[code]; ok {
		return w
	}
	return classWords(code)
}
