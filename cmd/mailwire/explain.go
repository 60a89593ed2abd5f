package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mailwire/smtp/internal/explain"
	"github.com/mailwire/smtp/internal/termsafe"
)

var explainHelp = help{
	usage: "mailwire explain [FILE|-]",
	about: `Reads the log of an SMTP session and prints each line with what it means:
commands, replies and their codes in words, the largest message and
attachment from SIZE, the TLS version, cipher and certificate, and warnings
(AUTH before TLS, a password readable in the log, a certificate about to
expire, no PIPELINING). A summary ends it: for each phase (connection,
TLS, certificate, key pin, login, envelope, content, end of data) whether
the log shows it attempted, completed or failed, with the number and text
of the line that shows it, and only that: TLS is done when the server
answers over it, a message is taken when the server says so. A session cut
short says where, with the client's last word.

It reads, from FILE or standard input:
  curl -v                  "> " sent, "< " received, "* " curl's own lines
  mailwire's logs          smtplog.Log, smtplog.Explain, --trace (its notes are redone)
  openssl s_client,        lines without prefixes: a line starting with a
  gnutls-cli, telnet       three-digit code is the server's, a known command
                           (EHLO, MAIL, AUTH...) or an answer to a 334 is the
                           client's, the rest is the tool's own output
  C:/S:, send>/recv>,      as in RFCs, tutorials and swaks
  swaks (->, <-),
  msmtp --debug (-->, <--)

curl's byte counts ("{ [5 bytes data]") are left out, and so are PEM
certificates but for one line. A password or token found in the log (AUTH
PLAIN, AUTH LOGIN, XOAUTH2) is replaced by [redacted] in the output, with a
warning: base64 hides nothing, and whoever has the log has the password.`,
	examples: `  curl -v --url smtp://mail.example.com:587 ... 2>&1 | mailwire explain
  mailwire explain session.log
  openssl s_client -quiet -starttls smtp -connect mail.example.com:587 2>&1 | tee s.log
  mailwire explain s.log`,
	after: `exit status: 0 (whatever the session did); 66 the file cannot be read; 2 bad usage.`,
}

func runExplain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("explain")
	pos, code, ok := parseArgs(fs, explainHelp, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		return usageError(stderr, "explain", "want one FILE, or none to read standard input")
	}
	in := stdin
	if _, ok := terminalFd(stdin); ok && len(pos) == 0 {
		fmt.Fprintln(stderr, "mailwire explain: paste the log, then Ctrl-D (or give a FILE; -h for help)")
	}
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			fmt.Fprintln(stderr, "mailwire explain:", err)
			return exitNoInput
		}
		defer f.Close()
		in = f
	}
	x := newLogExplainer(time.Now())
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		x.line(sc.Text())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(stderr, "mailwire explain:", err)
		return exitNoInput
	}
	x.finish()
	var out bytes.Buffer
	x.write(&out)
	writeTerminalSafe(stdout, out.String())
	return exitOK
}

// writeTerminalSafe writes text line by line with what a terminal could act
// on escaped: the log is the server's text (and whoever pasted it), and an
// escape sequence in it must be shown, not run.
func writeTerminalSafe(w io.Writer, text string) {
	for _, line := range strings.SplitAfter(text, "\n") {
		body := strings.TrimSuffix(line, "\n")
		io.WriteString(w, termsafe.String(body))
		if len(body) < len(line) {
			io.WriteString(w, "\n")
		}
	}
}

// entry is one line of the output and its notes.
type entry struct {
	line  string
	notes []string
}

// logExplainer reads a log line by line and explains it.
type logExplainer struct {
	now     time.Time
	entries []entry
	conns   map[string]*logConn
	skipped int // curl's byte counts left out
	sum     summary

	lineNo     int      // the number of the line being read, from 1
	lines      []string // every line read, as shown (a password redacted)
	phases     [phaseCount]phaseRecord
	reason     int  // the line a tool gave up with, 0 if none
	quitForTLS bool // the client quit because STARTTLS was not offered
}

// logConn is what is known of one connection of the log.
type logConn struct {
	sess          explain.Session
	pending       []string // the commands whose replies are due, oldest first
	greeted       bool     // a reply or command was seen: the greeting is past
	data          bool     // the lines sent now are the message content
	dataLines     int
	dataEntry     int // the 354's entry
	authMech      string
	authStep      int  // answers given to 334 challenges
	authNext      bool // the next line sent answers a 334
	challenge     string
	tls           *tlsFacts // a handshake whose details are still being read
	pem           int       // index of an open PEM block's entry, -1 if none
	pemLines      int
	inReply       bool // a multiline reply is being read
	greetingInLog bool // the log shows the session from the server's greeting
	openssl       bool // the log is openssl s_client's
	handshake     *handshakeNotes
	greetingRead  bool // s_client read the greeting itself (-starttls smtp)

	tlsPending      bool   // a handshake began: the next reply proves it done
	tlsDesc         string // "TLS 1.3, TLS_AES_128_GCM_SHA256"
	certCheckedBy   string // the tool checks the certificate in the handshake (msmtp's tls_certcheck)
	noPeerCert      bool   // openssl kept no certificate of the server
	verifyFailEntry int    // openssl's failed "Verify return code", -1 if none
}

func newLogExplainer(now time.Time) *logExplainer {
	return &logExplainer{now: now, conns: map[string]*logConn{}}
}

func (x *logExplainer) conn(id string) *logConn {
	c := x.conns[id]
	if c == nil {
		c = &logConn{pem: -1, verifyFailEntry: -1}
		x.conns[id] = c
	}
	return c
}

// add appends an output line and gathers its warnings for the summary.
func (x *logExplainer) add(line string, notes []string) {
	x.entries = append(x.entries, entry{line, notes})
	if x.lineNo > 0 {
		x.lines[x.lineNo-1] = line
	}
	x.noteWarnings(notes)
}

func (x *logExplainer) noteWarnings(notes []string) {
	for _, n := range notes {
		if strings.HasPrefix(n, "WARNING:") && !contains(x.sum.warnings, n) {
			x.sum.warnings = append(x.sum.warnings, n)
		}
	}
}

// line explains one line of the log.
func (x *logExplainer) line(raw string) {
	raw = strings.TrimRight(raw, "\r\n")
	x.lineNo++
	x.lines = append(x.lines, raw)
	id, rest := splitConnPrefix(raw)
	if strings.HasPrefix(rest, "  # ") { // a note of smtplog.Explain: redone here
		return
	}
	c := x.conn(id)
	if x.pemBlock(c, raw, strings.TrimSpace(rest)) {
		return
	}
	kind, text := classify(rest, c)
	switch kind {
	case kindSkip:
		if strings.HasPrefix(strings.TrimSpace(rest), "{ [") || strings.HasPrefix(strings.TrimSpace(rest), "} [") {
			x.skipped++
		}
	case kindSent:
		x.sent(c, raw, text)
	case kindReceived:
		x.received(c, raw, text)
	default:
		x.phaseEvents(c, text, strings.TrimSpace(rest))
		x.add(raw, append(x.infoNotes(c, text), x.failedHere()...))
	}
}

func (x *logExplainer) sent(c *logConn, raw, text string) {
	x.flushTLS(c)
	if c.data {
		x.content(c, raw, text)
		return
	}
	if text == "" {
		return
	}
	var notes []string
	if !c.greeted { // the log starts after the greeting
		c.sess.Received("220 (greeting not in the log)")
		c.greeted = true
		notes = append(notes, "The log starts without the server's greeting, as openssl s_client -starttls smtp logs: it does EHLO and STARTTLS itself first. If so, the session is encrypted and warnings about plaintext below do not apply.")
	}
	notes = append(notes, c.sess.Sent(text)...)
	if c.authNext {
		c.authNext = false
		c.authStep++
		shown, secret, user := authAnswer(c.authMech, c.challenge, c.authStep, text)
		x.loginUser(user)
		if secret != nil {
			notes = secret
			raw = strings.Replace(raw, text, shown, 1)
		}
		x.add(raw, notes)
		return
	}
	c.pending = append(c.pending, text)
	verb, arg, _ := strings.Cut(text, " ")
	x.commandPhase(strings.ToUpper(verb))
	if strings.EqualFold(verb, "AUTH") {
		mech, ir, _ := strings.Cut(strings.TrimSpace(arg), " ")
		c.authMech, c.authStep = strings.ToUpper(mech), 0
		x.sum.login = c.authMech
		if c.greetingInLog && x.state(phTLS) != completed {
			notes = append(notes, authBeforeTLS(c.authMech))
		}
		if ir != "" {
			shown, secret, user := authAnswer(c.authMech, "", 1, ir)
			x.loginUser(user)
			if secret != nil {
				notes = append(notes, secret...)
				raw = strings.Replace(raw, ir, shown, 1)
			}
		}
	}
	x.add(raw, notes)
}

// content is a line of the message after a 354.
func (x *logExplainer) content(c *logConn, raw, text string) {
	if text == "." {
		c.data = false
		x.complete(phContent, fmt.Sprintf("the client sent the message (%d lines) and the dot that ends it", c.dataLines))
		x.add(raw, []string{fmt.Sprintf("A line with a single dot ends the message (%d lines of content above); the server answers next.", c.dataLines)})
		return
	}
	var notes []string
	if c.dataLines == 0 {
		notes = []string{"The message content starts: its header fields, a blank line, then the text."}
		if c.dataEntry >= 0 { // the 354's note says the log shows no content: this one does
			x.entries[c.dataEntry].notes = []string{"The server waits for the message content, shown below; a line with a single dot ends it."}
		}
	}
	c.dataLines++
	x.add(raw, notes)
}

func (x *logExplainer) received(c *logConn, raw, text string) {
	if !replyShaped(text) { // "recv> - Peer has closed the GNUTLS connection"
		x.add(raw, x.infoNotes(c, text))
		return
	}
	x.flushTLS(c)
	code, _ := strconv.Atoi(text[:3])
	if c.openssl && !c.greeted && c.tlsPending && code == 250 && len(text) > 3 && text[3] == ' ' {
		// s_client -starttls smtp read the greeting and the EHLO reply
		// itself, in plaintext; it prints that reply's last line after the
		// handshake. It proves nothing of TLS.
		x.add(raw, []string{"openssl s_client prints here the last line of the EHLO reply it read before STARTTLS: it came in plaintext, before the handshake, and says nothing of TLS."})
		c.greetingRead = true
		return
	}
	x.sum.replies++
	x.complete(phConnection, "the server answered")
	if c.tlsPending {
		x.tlsProven(c)
	}
	var lead []string
	wasGreeted := c.greeted
	if !c.greeted && !c.greetingRead && (code == 220 || code == 421 || code == 554) {
		c.greetingInLog = true
	}
	if !c.greeted && (c.greetingRead || code != 220 && code != 421 && code != 554) {
		c.sess.Received("220 (greeting not in the log)")
		wasGreeted = true
		lead = append(lead, "The log starts after the server's greeting (openssl s_client and gnutls-cli with STARTTLS read it, and the first EHLO, themselves).")
	}
	c.data, c.greeted = false, true
	if !c.inReply && len(c.pending) == 0 {
		if guess := guessCommand(code, text); guess != "" {
			c.sess.Sent(guess) // its notes are for a line the log does not have
			c.pending = append(c.pending, guess)
			verb, _, _ := strings.Cut(guess, " ")
			x.commandPhase(strings.ToUpper(verb))
			lead = append(lead, fmt.Sprintf("The log does not show the command this answers (the tool does not print what is typed); by its code, it answers %s.", verb))
		}
	}
	notes := append(lead, c.sess.Received(text)...)
	x.add(raw, notes)
	c.inReply = len(text) > 3 && text[3] == '-'
	if c.inReply {
		return
	}
	cmd := "greeting"
	switch {
	case len(c.pending) > 0:
		cmd = c.pending[0]
		c.pending = c.pending[1:]
	case wasGreeted:
		cmd = "a command the log does not show"
	}
	switch code {
	case 334:
		c.pending = append([]string{cmd}, c.pending...)
		c.authNext = true
		dec, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(text[3:], " ")))
		c.challenge = string(dec)
	case 354:
		c.pending = append([]string{"end of data"}, c.pending...)
		c.data, c.dataLines, c.dataEntry = true, 0, len(x.entries)-1
	case 220:
		if strings.EqualFold(cmd, "STARTTLS") {
			x.tlsBegun(c, "the server agreed to STARTTLS (220)")
		}
	}
	x.outcome(cmd, code, strings.TrimSpace(text), notes)
}

// outcome files a final reply to cmd in the summary.
func (x *logExplainer) outcome(cmd string, code int, reply string, notes []string) {
	verb := strings.ToUpper(cmd)
	x.replyPhase(verb, code, reply)
	switch {
	case strings.HasPrefix(verb, "RCPT") && code < 400:
		x.sum.accepted++
	case strings.HasPrefix(verb, "RCPT"):
		x.sum.refused = append(x.sum.refused, fmt.Sprintf("%s: %s", addrOf(cmd), reply))
	}
	if code >= 400 && !strings.HasPrefix(verb, "RCPT") { // refused recipients are listed apart
		why := reply
		if len(notes) > 1 {
			why += " (" + strings.TrimSuffix(notes[1], ".") + ")"
		}
		if strings.HasPrefix(verb, "AUTH") && x.sum.login != "" {
			cmd = "AUTH " + x.sum.login
		}
		x.sum.failures = append(x.sum.failures, failure{fmt.Sprintf("%s: %s", cmd, why), x.lineNo})
	}
}

func (x *logExplainer) loginUser(user string) {
	if user != "" {
		x.sum.login += " as " + strconv.Quote(user)
	}
}

// authAnswer explains a client's answer in an AUTH exchange, and finds the
// user name in it. When it gives a secret away, it returns the line to show
// instead and a warning.
func authAnswer(mech, challenge string, step int, text string) (shown string, notes []string, user string) {
	if text == "[redacted]" || text == "*" || text == "=" {
		return text, nil, ""
	}
	dec, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return text, nil, ""
	}
	const leak = "Base64 is not encryption: anyone who has this log can read it. Change the password if the log went anywhere; mailwire's own logs write [redacted] here."
	redacted := fmt.Sprintf("[redacted: %d characters of base64]", len(text))
	switch {
	case mech == "PLAIN":
		parts := strings.Split(string(dec), "\x00")
		if len(parts) != 3 {
			return text, nil, ""
		}
		return redacted, []string{fmt.Sprintf("WARNING: the user name and password in base64, as PLAIN sends them: user %q and a password of %d characters, in clear in this log.", parts[1], len(parts[2])), leak}, parts[1]
	case mech == "LOGIN":
		ch := strings.ToLower(challenge)
		if strings.Contains(ch, "user") || !strings.Contains(ch, "pass") && step == 1 {
			return text, []string{fmt.Sprintf("The user name in base64: %q.", dec)}, string(dec)
		}
		return redacted, []string{fmt.Sprintf("WARNING: the password in base64 (%d characters), in clear in this log.", len(dec)), leak}, ""
	case mech == "XOAUTH2" || mech == "OAUTHBEARER":
		return redacted, []string{"WARNING: an OAuth bearer token in base64: whoever has this log can use it until it expires."}, ""
	case mech == "CRAM-MD5":
		user, _, _ := strings.Cut(string(dec), " ")
		return text, []string{fmt.Sprintf("The user name %q and a keyed hash of the challenge: the password itself is not in the log.", user)}, user
	}
	return text, nil, ""
}

// authBeforeTLS warns of a login on a connection the log shows unencrypted.
func authBeforeTLS(mech string) string {
	switch mech {
	case "PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER":
		return "WARNING: AUTH before TLS: the password (or token) crosses the network readable by anyone on the path."
	}
	return "WARNING: AUTH before TLS: the password itself is not sent, but anyone on the path can capture the exchange and try passwords against it offline, and read or change everything after it."
}

// addrOf is the address of a RCPT TO command.
func addrOf(cmd string) string {
	if i := strings.IndexByte(cmd, '<'); i >= 0 {
		if j := strings.IndexByte(cmd[i:], '>'); j >= 0 {
			return cmd[i : i+j+1]
		}
	}
	return cmd
}

func (x *logExplainer) finish() {
	for _, c := range x.conns {
		x.flushTLS(c)
		x.noteHandshake(c, false)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
