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
expire, no PIPELINING). A summary ends it: TLS, login, recipients, the
queue id, what failed.

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
	now      time.Time
	entries  []entry
	conns    map[string]*logConn
	skipped  int  // curl's byte counts left out
	startTLS bool // a server accepted STARTTLS (220)
	sum      summary
}

// logConn is what is known of one connection of the log.
type logConn struct {
	sess      explain.Session
	pending   []string // the commands whose replies are due, oldest first
	greeted   bool     // a reply or command was seen: the greeting is past
	data      bool     // the lines sent now are the message content
	dataLines int
	dataEntry int // the 354's entry
	authMech  string
	authStep  int  // answers given to 334 challenges
	authNext  bool // the next line sent answers a 334
	challenge string
	tls       *tlsFacts // a handshake whose details are still being read
	pem       int       // index of an open PEM block's entry, -1 if none
	pemLines  int
}

func newLogExplainer(now time.Time) *logExplainer {
	return &logExplainer{now: now, conns: map[string]*logConn{}}
}

func (x *logExplainer) conn(id string) *logConn {
	c := x.conns[id]
	if c == nil {
		c = &logConn{pem: -1}
		x.conns[id] = c
	}
	return c
}

// add appends an output line and gathers its warnings for the summary.
func (x *logExplainer) add(line string, notes []string) {
	x.entries = append(x.entries, entry{line, notes})
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
		x.add(raw, x.infoNotes(c, text))
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
	if strings.EqualFold(verb, "AUTH") {
		mech, ir, _ := strings.Cut(strings.TrimSpace(arg), " ")
		c.authMech, c.authStep = strings.ToUpper(mech), 0
		x.sum.login = c.authMech
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
	c.data, c.greeted = false, true
	notes := c.sess.Received(text)
	x.add(raw, notes)
	if len(text) > 3 && text[3] == '-' {
		return
	}
	code, _ := strconv.Atoi(text[:3])
	cmd := "greeting"
	if len(c.pending) > 0 {
		cmd = c.pending[0]
		c.pending = c.pending[1:]
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
		if cmd == "STARTTLS" {
			x.startTLS = true
		}
	}
	x.outcome(cmd, code, strings.TrimSpace(text), notes)
}

// outcome files a final reply to cmd in the summary.
func (x *logExplainer) outcome(cmd string, code int, reply string, notes []string) {
	verb := strings.ToUpper(cmd)
	switch {
	case strings.HasPrefix(verb, "RCPT") && code < 400:
		x.sum.accepted++
	case strings.HasPrefix(verb, "RCPT"):
		x.sum.refused = append(x.sum.refused, fmt.Sprintf("%s: %s", addrOf(cmd), reply))
	case strings.HasPrefix(verb, "AUTH") && code == 235:
		x.sum.login += ": accepted"
	case code == 250 && (cmd == "end of data" || strings.HasPrefix(verb, "BDAT") && strings.HasSuffix(verb, " LAST")):
		x.sum.queued = reply
	}
	if code >= 400 && !strings.HasPrefix(verb, "RCPT") { // refused recipients are listed apart
		why := reply
		if len(notes) > 1 {
			why += " (" + strings.TrimSuffix(notes[1], ".") + ")"
		}
		if strings.HasPrefix(verb, "AUTH") {
			cmd = "AUTH " + x.sum.login
			x.sum.login += ": refused"
		}
		x.sum.failures = append(x.sum.failures, fmt.Sprintf("%s: %s", cmd, why))
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
