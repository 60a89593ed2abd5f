package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"
)

// phase is a step of a mail submission, in the order a session takes them.
// The summary states, for each, only what a line of the log shows.
type phase int

const (
	phConnection phase = iota
	phTLS
	phCertificate
	phPin
	phLogin
	phEnvelope
	phContent
	phEndOfData
	phaseCount
)

var phaseNames = [phaseCount]string{"Connection", "TLS", "Certificate", "Key pin", "Login", "Envelope", "Content", "End of data"}

// phaseState is how far the log shows a phase went.
type phaseState int

const (
	notInLog  phaseState = iota // no line of the log is about it
	attempted                   // begun, and the log shows no outcome
	completed                   // a line proves it done
	failed                      // a line proves it failed
)

// phaseRecord is what the log shows of one phase: its state, in words, and
// the number of the line that shows it.
type phaseRecord struct {
	state phaseState
	what  string
	line  int
}

// A phase only moves forward: attempted, then completed or failed. Once
// completed or failed, no later line changes it: a summary of the first
// lines of a log never claims what the rest would take back.

func (x *logExplainer) attempt(p phase, what string) {
	if r := &x.phases[p]; r.state == notInLog {
		*r = phaseRecord{attempted, what, x.lineNo}
	}
}

func (x *logExplainer) complete(p phase, what string) {
	if r := &x.phases[p]; r.state <= attempted {
		*r = phaseRecord{completed, what, x.lineNo}
	}
}

func (x *logExplainer) fail(p phase, what string) {
	if r := &x.phases[p]; r.state <= attempted {
		*r = phaseRecord{failed, what, x.lineNo}
	}
}

func (x *logExplainer) state(p phase) phaseState { return x.phases[p].state }

// tlsProven is called on a server reply read after a TLS handshake began:
// the server answered over TLS, so the handshake was done, and with it
// the checks a client makes inside the handshake (it would have stopped
// otherwise).
func (x *logExplainer) tlsProven(c *logConn) {
	c.tlsPending = false
	if x.state(phTLS) == failed {
		return
	}
	what := "the server answered over TLS"
	if c.tlsDesc != "" {
		what = c.tlsDesc + "; " + what
	} else {
		what += " (the log does not show the version and cipher)"
	}
	x.complete(phTLS, what)
	x.noteHandshake(c, true)
	if c.certCheckedBy != "" {
		x.complete(phCertificate, "verified: "+c.certCheckedBy+" checks the certificate in the handshake, and the session went on")
	}
	if x.state(phPin) == attempted {
		x.complete(phPin, "matched: the client checks the pin in the handshake, and the session went on")
	}
	if c.verifyFailEntry >= 0 {
		e := &x.entries[c.verifyFailEntry]
		e.notes = append(e.notes, "s_client went on anyway (it stops only with -verify_return_error): a mail client would have stopped here.")
		c.verifyFailEntry = -1
	}
}

// toolEvent is a line of a tool's own that shows a phase begun, done or
// failed; its verdict func records it.
type toolEvent struct {
	re      *regexp.Regexp
	verdict func(x *logExplainer, c *logConn, m []string)
}

var toolEvents = []toolEvent{
	// The TCP connection.
	{re(`^(?:Trying |Connecting to ')`), func(x *logExplainer, _ *logConn, _ []string) { x.attempt(phConnection, "the client connects") }},
	{re(`^(?:Connected to |CONNECTED\()`), func(x *logExplainer, c *logConn, m []string) {
		x.complete(phConnection, "the TCP connection is open")
		c.openssl = m[0] == "CONNECTED("
	}},
	{re(`^error receiving '(\d{3}) ': (.*)`), func(x *logExplainer, _ *logConn, m []string) {
		x.complete(phConnection, "the TCP connection is open: gnutls-cli waited on it for the server's "+m[1])
	}},
	{re(`^msmtp: network read error`), func(x *logExplainer, _ *logConn, m []string) {
		x.complete(phConnection, "the TCP connection is open: msmtp waited on it for the server")
	}},
	{re(`(?i)(?:Failed to connect|Connection refused|Could not resolve|No route to host)`), func(x *logExplainer, _ *logConn, m []string) { x.fail(phConnection, m[0]) }},
	// The handshake begins.
	{re(`^(?:TLS handshake, server name|- Certificate type:|TLS session parameters:|SSL handshake has read)`), func(x *logExplainer, c *logConn, _ []string) { x.tlsBegun(c, "the TLS handshake") }},
	// A handshake that failed, in each tool's words.
	{re(`^New, \(NONE\), Cipher is \(NONE\)`), func(x *logExplainer, _ *logConn, _ []string) {
		x.fail(phTLS, "no cipher suite was agreed: the handshake failed")
	}},
	{re(`^(?:TLSv[\d.]+|SSLv\d) \(IN\), TLS alert, (.+?) \(\d+\)`), func(x *logExplainer, c *logConn, m []string) {
		if m[1] != "close notify" && x.state(phTLS) != completed {
			x.fail(phTLS, "the server aborted the handshake with a TLS alert: "+m[1])
		}
	}},
	{re(`^(?:TLSv[\d.]+|SSLv\d) \(OUT\), TLS alert, (.+?) \(\d+\)`), func(x *logExplainer, c *logConn, m []string) {
		if m[1] != "close notify" && x.state(phTLS) != completed {
			x.fail(phTLS, "the client aborted the handshake with a TLS alert: "+m[1])
		}
	}},
	{re(`^Received alert \[(\d+)\]: (.*)`), func(x *logExplainer, _ *logConn, m []string) {
		x.fail(phTLS, fmt.Sprintf("the server aborted the handshake with a TLS alert: %s (%s)", m[2], m[1]))
	}},
	{re(`(?:error:[0-9A-F]+:SSL routines:[^:]*:|TLS startup failed \(|TLS handshake failed: |Fatal error: )(.*)`), tlsFailure},
	// The certificate check.
	{re(`^(?:SSL certificate verify ok|- Status: The certificate is trusted)`), func(x *logExplainer, _ *logConn, m []string) {
		x.complete(phCertificate, "verified: the chain leads to a trusted CA, and the certificate names the host")
	}},
	{re(`^tls_certcheck = on`), func(x *logExplainer, c *logConn, _ []string) { c.certCheckedBy = "msmtp (tls_certcheck = on)" }},
	{re(`^(?:SSL certificate problem: |SSL: (no alternative certificate subject name.*)|- Status: The certificate is NOT trusted\. |PKI verification of server certificate failed|verify error:num=\d+:|msmtp: TLS certificate verification failed: )(.*)`), func(x *logExplainer, _ *logConn, m []string) {
		why := strings.TrimSpace(m[1] + m[2])
		if strings.Contains(why, "fingerprint") {
			x.fail(phPin, "the server's key does not match: "+why)
			x.fail(phTLS, "the client stopped the handshake: the key does not match the pin")
			return
		}
		if why == "" {
			why = "the certificate is not trusted"
		}
		x.fail(phCertificate, "NOT verified: "+why)
		if !strings.HasPrefix(m[0], "verify error:") { // openssl s_client may go on; the others stop
			x.fail(phTLS, "the client stopped the handshake: the certificate could not be verified")
		}
	}},
	{re(`^msmtp: server message: (\d{3}[ -].*)`), func(x *logExplainer, _ *logConn, m []string) {
		x.sum.failures = append(x.sum.failures, failure{"a command the log does not show: " + m[1], x.lineNo})
	}},
	// The key pin.
	{re(`^(?:public key hash: sha256//|tls_fingerprint = [0-9A-Fa-f]{2}:)`), func(x *logExplainer, _ *logConn, _ []string) {
		x.attempt(phPin, "the client checks the server's key against a pin")
	}},
	{re(`^public key pin \S+ matched`), func(x *logExplainer, _ *logConn, _ []string) { x.complete(phPin, "matched") }},
	{re(`^(?:SSL: public key does not match pinned public key|Pin check failed: (.*))`), func(x *logExplainer, _ *logConn, m []string) {
		x.fail(phPin, "MISMATCH: the server's key does not match the pin; the client refused the connection")
		x.fail(phTLS, "the client stopped the handshake: the key does not match the pin")
	}},
	// The client will not go on without STARTTLS.
	{re(`(?:STARTTLS not supported|Host did not advertise STARTTLS|does not support TLS via the STARTTLS command|the server does not offer STARTTLS)`), func(x *logExplainer, _ *logConn, _ []string) {
		x.fail(phTLS, "the client requires STARTTLS, and the server does not offer it")
		x.quitForTLS = true
	}},
	// Login, envelope and content, in the tools' own words.
	{re(`^(?:No authentication type succeeded|msmtp: authentication failed)`), func(x *logExplainer, _ *logConn, m []string) { x.fail(phLogin, m[0]) }},
	{re(`^(?:RCPT failed: (\d+)|msmtp: recipient address (\S+) not accepted by the server|mailwire send: every recipient was refused)`), func(x *logExplainer, _ *logConn, m []string) {
		x.fail(phEnvelope, "the client gave up: "+m[0])
	}},
	{re(`^MAIL failed: (\d+)`), func(x *logExplainer, _ *logConn, m []string) { x.fail(phEnvelope, "MAIL FROM refused ("+m[1]+")") }},
	{re(`^(?:(\d+) bytes of message content sent|We are completely uploaded and fine)`), func(x *logExplainer, _ *logConn, m []string) {
		x.complete(phContent, "the client sent the whole message")
	}},
}

// reSourceRef is the place in OpenSSL's source its errors name.
var reSourceRef = re(`:\.\./[^:]*:\d+:?`)

// tlsFailure reads an error of OpenSSL, GnuTLS or Go from a failed
// handshake, as curl, openssl, swaks, msmtp, gnutls-cli and mailwire write it.
func tlsFailure(x *logExplainer, c *logConn, m []string) {
	if x.state(phTLS) == completed {
		return // an error after the handshake: the tool says what it was
	}
	x.complete(phConnection, "the TLS handshake went over it")
	why := strings.TrimSuffix(strings.TrimSpace(reSourceRef.ReplaceAllString(m[1], " ")), ")")
	why = strings.TrimSpace(strings.TrimSuffix(why, ":"))
	lower := strings.ToLower(why)
	switch {
	case strings.Contains(lower, "pin mismatch"):
		x.fail(phPin, "MISMATCH: the server's key does not match the pin; the client refused the connection")
		x.fail(phTLS, "the client stopped the handshake: the key does not match the pin")
	case strings.Contains(lower, "verify") || strings.Contains(lower, "certificate"):
		x.fail(phCertificate, "NOT verified: "+why)
		x.fail(phTLS, "the client stopped the handshake: the certificate could not be verified")
	case strings.Contains(lower, "wrong version number") || strings.Contains(lower, "does not look like a tls handshake") || strings.Contains(lower, "unexpected tls packet"):
		x.fail(phTLS, "the server did not answer in TLS ("+why+"): this port speaks plaintext SMTP first, where STARTTLS is the way to TLS")
	case strings.Contains(lower, "alert"):
		x.fail(phTLS, "the server aborted the handshake with a TLS alert: "+why)
	default:
		x.fail(phTLS, "the handshake failed: "+why)
	}
}

// tlsBegun marks a TLS handshake begun on c: the next reply proves it done.
func (x *logExplainer) tlsBegun(c *logConn, what string) {
	x.complete(phConnection, "the TLS handshake went over it")
	x.attempt(phTLS, what)
	if x.state(phTLS) != failed && x.state(phTLS) != completed {
		c.tlsPending = true
	}
}

// phaseEvents records what a tool's own line shows of the phases.
func (x *logExplainer) phaseEvents(c *logConn, t, line string) {
	for _, e := range toolEvents {
		if m := e.re.FindStringSubmatch(t); m != nil {
			e.verdict(x, c, m)
		}
	}
	if x.reason == 0 && isGiveUp(line) {
		x.reason = x.lineNo
	}
}

// failedHere notes the phases this line shows failed.
func (x *logExplainer) failedHere() []string {
	var notes []string
	for p := phConnection; p < phaseCount; p++ {
		if r := x.phases[p]; r.state == failed && r.line == x.lineNo {
			notes = append(notes, fmt.Sprintf("%s failed here: %s.", phaseNames[p], strings.TrimSuffix(r.what, ".")))
		}
	}
	return notes
}

// giveUp matches the line a tool ends a failed session with.
var giveUp = re(`^(?:\* )?(?:curl: \(\d+\)|error receiving |\*\*\* |msmtp: |mailwire send: |Closing connection #\d+: |closed$|- Peer has closed)`)

func isGiveUp(t string) bool { return giveUp.MatchString(t) }

// writeSummary prints the phases, what cut the session short, the
// failures and the warnings.
func (x *logExplainer) writeSummary(w io.Writer) {
	x.quitBeforeClear()
	fmt.Fprintln(w, "\nSummary")
	for p := phConnection; p < phaseCount; p++ {
		r := x.phases[p]
		label := phaseNames[p] + ":"
		switch r.state {
		case notInLog:
			fmt.Fprintf(w, "  %-13s %s\n", label, x.notInLogWords(p))
			continue
		case attempted:
			outcome := "the log shows no outcome"
			if p == phEnvelope {
				outcome = fmt.Sprintf("%d recipient(s) accepted, %d refused", x.sum.accepted, len(x.sum.refused))
			}
			fmt.Fprintf(w, "  %-13s attempted: %s; %s%s\n", label, r.what, outcome, x.proof(r.line))
		case completed:
			fmt.Fprintf(w, "  %-13s completed: %s%s\n", label, x.completedWords(p, r), x.proof(r.line))
		case failed:
			fmt.Fprintf(w, "  %-13s FAILED: %s%s\n", label, r.what, x.proof(r.line))
		}
		if p == phEnvelope {
			for _, ref := range x.sum.refused {
				fmt.Fprintf(w, "                refused %s\n", ref)
			}
		}
	}
	if s := x.cutShort(); s != "" {
		fmt.Fprintf(w, "  Cut short:    %s\n", s)
	}
	if x.reason > 0 && x.state(phEndOfData) != completed {
		fmt.Fprintf(w, "  Last word:    the client's: %s\n", x.quote(x.reason))
	}
	for _, f := range x.sum.failures {
		fmt.Fprintf(w, "  Failed:       %s%s\n", f.text, x.proof(f.line))
	}
	for _, n := range x.sum.warnings {
		fmt.Fprintf(w, "  %s\n", n)
	}
	if x.skipped > 0 {
		fmt.Fprintf(w, "  (%d lines of curl's byte counts, such as \"{ [5 bytes data]\", left out)\n", x.skipped)
	}
}

func (x *logExplainer) notInLogWords(p phase) string {
	if p == phTLS && x.state(phLogin)+x.state(phEnvelope) > notInLog {
		return "not in the log: the session was not encrypted, or the log does not show the handshake"
	}
	return "not in the log"
}

func (x *logExplainer) completedWords(p phase, r phaseRecord) string {
	switch p {
	case phEnvelope:
		return fmt.Sprintf("%s; %d recipient(s) accepted, %d refused", r.what, x.sum.accepted, len(x.sum.refused))
	case phLogin:
		if x.sum.login == "" {
			return "the server accepted the login (235); the log does not show the AUTH command"
		}
		return x.sum.login
	}
	return r.what
}

// cutShort says where a session that did not end with the message accepted
// stopped, and why, from the phases.
func (x *logExplainer) cutShort() string {
	if x.state(phEndOfData) == completed {
		return ""
	}
	for p := phConnection; p < phaseCount; p++ {
		if r := x.phases[p]; r.state == failed {
			return fmt.Sprintf("in %s: %s%s", phaseNames[p], r.what, x.proof(r.line))
		}
	}
	if len(x.sum.failures) > 0 { // a refusal outside the phases: a 421 to EHLO
		f := x.sum.failures[0]
		return fmt.Sprintf("the server refused %s%s", f.text, x.proof(f.line))
	}
	last := phase(-1) // the first phase begun and not finished, or the last done
	for p := phConnection; p < phaseCount; p++ {
		r := x.phases[p]
		if r.state == attempted {
			last = p
			break
		}
		if r.state != notInLog && (last < 0 || r.line >= x.phases[last].line) {
			last = p
		}
	}
	switch {
	case last < 0:
		return "the log shows no step of a session"
	case last == phConnection && x.sum.replies == 0:
		return "after the TCP connection: the server said nothing in the log, not even a greeting (a port that expects TLS from the first byte, such as 465, waits in silence for the client's handshake)"
	case last == phEnvelope && x.state(phEnvelope) == attempted && len(x.sum.refused) > 0:
		return fmt.Sprintf("in Envelope: the server refused the recipient(s) and accepted none in the log%s", x.proof(x.phases[phEnvelope].line))
	case last == phContent && x.state(phContent) == completed:
		return "after the whole message was sent, and the log shows no answer to it: whether it was delivered is unknown"
	case x.phases[last].state == attempted:
		return fmt.Sprintf("in %s: begun, and the log shows no more%s", phaseNames[last], x.proof(x.phases[last].line))
	}
	return fmt.Sprintf("after %s: the log goes no further", phaseNames[last])
}

// proof quotes a log's line as the evidence for a claim.
func (x *logExplainer) proof(n int) string {
	if n <= 0 {
		return ""
	}
	return " " + x.quote(n)
}

func (x *logExplainer) quote(n int) string {
	text := strings.TrimSpace(x.lines[n-1])
	if utf8.RuneCountInString(text) > 90 {
		r := []rune(text)
		text = string(r[:90]) + "…"
	}
	return fmt.Sprintf("[line %d: %s]", n, text)
}

// commandPhase records the phase a command the client sent begins.
func (x *logExplainer) commandPhase(verb string) {
	switch verb {
	case "STARTTLS":
		x.attempt(phTLS, "STARTTLS")
	case "AUTH":
		x.attempt(phLogin, "AUTH")
	case "MAIL":
		x.attempt(phEnvelope, "MAIL FROM")
	case "DATA", "BDAT":
		x.attempt(phContent, verb)
	}
}

// replyPhase records what a final reply to verb shows of its phase.
func (x *logExplainer) replyPhase(verb string, code int, reply string) {
	ok := code < 400
	switch {
	case verb == "STARTTLS" && !ok:
		x.fail(phTLS, "STARTTLS refused: "+reply)
	case strings.HasPrefix(verb, "AUTH") && code == 235:
		x.complete(phLogin, "")
	case strings.HasPrefix(verb, "AUTH") && !ok:
		x.fail(phLogin, "refused: "+reply)
	case strings.HasPrefix(verb, "MAIL") && !ok:
		x.fail(phEnvelope, "MAIL FROM refused: "+reply)
	case strings.HasPrefix(verb, "RCPT") && ok:
		x.complete(phEnvelope, "the server took the sender and a recipient")
	case strings.HasPrefix(verb, "RCPT"):
		x.attempt(phEnvelope, "RCPT TO")
	case verb == "DATA" && code == 354:
		x.attempt(phContent, "the server waits for the message (354)")
	case verb == "DATA" && !ok:
		x.fail(phContent, "DATA refused: "+reply)
	case verb == "END OF DATA" || strings.HasPrefix(verb, "BDAT") && strings.HasSuffix(verb, " LAST"):
		x.complete(phContent, "the server answered the end of the message")
		if ok {
			x.complete(phEndOfData, "the message was accepted: "+reply)
		} else {
			x.fail(phEndOfData, "the message was refused: "+reply)
		}
	case strings.HasPrefix(verb, "BDAT") && !ok:
		x.fail(phContent, "BDAT refused: "+reply)
	}
}

var reAngle = re(`<[^<>\s]*>`)

// guessCommand names the command a reply answers when the log does not
// show the client's lines (openssl s_client and gnutls-cli print only what
// they receive). Only codes and enhanced codes that answer one command
// are read; any other reply stays unattributed.
func guessCommand(code int, text string) string {
	rest := ""
	if len(text) > 4 {
		rest = text[4:]
	}
	class, _, _ := strings.Cut(rest, " ")
	switch {
	case code == 235 || code == 334 || code == 535 || code == 534 || code == 538:
		return "AUTH"
	case code == 354:
		return "DATA"
	case code == 221:
		return "QUIT"
	case code == 250 && len(text) > 3 && text[3] == '-':
		return "EHLO"
	case strings.HasSuffix(class, ".1.5") || strings.Contains(rest, "Recipient address"):
		return strings.TrimSuffix("RCPT TO:"+reAngle.FindString(rest), ":")
	case strings.HasSuffix(class, ".1.0") || strings.HasSuffix(class, ".3.4") || strings.Contains(rest, "Sender address"):
		return strings.TrimSuffix("MAIL FROM:"+reAngle.FindString(rest), ":")
	}
	return ""
}

// noSTARTTLS is the warning of an EHLO reply without STARTTLS on a plain
// connection; quitBeforeClear takes it back when the client quit for that
// reason before sending a password or a message.
const noSTARTTLS = "WARNING: no STARTTLS offered and the connection is not encrypted: everything, password and message, travels in clear."

func (x *logExplainer) quitBeforeClear() {
	if !x.quitForTLS || x.state(phLogin) != notInLog || x.state(phEnvelope) != notInLog {
		return
	}
	const instead = "No STARTTLS offered, and the client quit for that reason before it sent a password or a message: only the greeting and EHLO went in clear."
	replace := func(notes []string) {
		for i, n := range notes {
			if n == noSTARTTLS {
				notes[i] = instead
			}
		}
	}
	for i := range x.entries {
		replace(x.entries[i].notes)
	}
	replace(x.sum.warnings)
}
