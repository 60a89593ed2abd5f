package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/internal/explain"
	"github.com/mailwire/smtp/internal/termsafe"
	"github.com/mailwire/smtp/smtplog"
)

var shellHelp = help{
	usage: "mailwire shell HOST[:PORT] [flags]    (or --server HOST[:PORT])",
	about: `An interactive SMTP session, as with "openssl s_client -starttls smtp" or
telnet, but mailwire does TLS (STARTTLS or implicit TLS on port 465, the
certificate checked), shows every reply as it comes, and knows a few
commands of its own:

  auth USER             log in with the strongest mechanism offered
  auth plain USER       log in with PLAIN, or LOGIN with "auth login USER";
                        the password is asked without echo and never shown
  explain               what the last reply means, line by line
  send                  write a message in $VISUAL or $EDITOR (or type it, up to
                        a line with a single dot), then give sender and recipients
  DATA                  type the message after the 354, up to a line with a
                        single dot; lines starting with a dot are dot-stuffed
                        for you, so type them as they are
  raw LINE              send LINE as it is, even "AUTH PLAIN <base64>"
  help                  this list
  quit                  QUIT and leave (so does Ctrl-D or Ctrl-C)

Any other line goes to the server as it is typed (EHLO, NOOP, MAIL FROM:<a>,
RCPT TO:<b>, RSET, VRFY, HELP...). STARTTLS and BDAT are refused: TLS is done
already, and BDAT needs its chunk sent in the same breath. On a terminal,
lines can be edited (arrows, Ctrl-A/E/K/U/W) and recalled (Up, Down); on
a pipe, lines are read one by one without prompts.`,
	after: `exit status: 0 after quit or end of input; 69 or 75 when the connection could
not be made or was lost (as for send); 2 bad usage.`,
	examples: `  mailwire shell smtp.example.com                  # STARTTLS on port 587
  mailwire shell --cafile ca.pem 127.0.0.1:2587
  printf 'EHLO me\nNOOP\nquit\n' | mailwire shell mail.local:25 --security plain
  mailwire shell --server smtp.example.com:465 --cert me.pem --key me.key`,
}

// shell is one interactive session.
type shell struct {
	ctx    context.Context
	con    console
	c      *smtp.Client
	sess   explain.Session
	log    func(smtp.Event) // smtplog.Log's, for connection and TLS events
	last   []notedLine      // the last reply, with its notes
	inLast bool             // the last reply is still coming
	quiet  bool             // do not echo the line being sent: the user typed it
	closed bool
	editor func(path string) error // runs $EDITOR; nil: none
}

type notedLine struct {
	line  string
	notes []string
}

func runShell(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("shell")
	var cf connFlags
	cf.register(fs, true)
	timeout := fs.Duration("timeout", time.Minute, "the longest wait for a reply")
	insecureAuth := fs.Bool("allow-insecure-auth", false, "allow a password in clear over an unencrypted connection (lab servers only)")
	pos, code, ok := parseArgs(fs, shellHelp, args, stdout, stderr)
	if !ok {
		return code
	}
	addr, rest, err := cf.serverAddr(pos)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument %q (the server is the only argument)", rest[0])
	}
	if err != nil {
		return usageError(stderr, "shell", "%v", err)
	}
	opts, code := cf.options("shell", addr, stderr)
	if opts == nil {
		return code
	}
	s := &shell{ctx: ctx}
	if fd, ok := terminalFd(stdin); ok {
		tc, err := newTermConsole(fd, stdin, stdout)
		if err != nil {
			fmt.Fprintln(stderr, "mailwire shell:", err)
			return exitFailure
		}
		defer tc.close()
		s.con = tc
		s.editor = editorRunner(ctx, stdin, stdout)
	} else {
		s.con = &pipeConsole{r: bufio.NewReader(stdin), w: stdout}
	}
	s.log = flagTrace(smtplog.Log(s.con)).Event
	opts.Trace = &smtp.Trace{Event: s.event}
	opts.Timeout = *timeout
	opts.AllowInsecureAuth = *insecureAuth
	c, err := smtp.Dial(ctx, addr, opts)
	if err != nil {
		fmt.Fprintf(s.con, "mailwire shell: %s\n", cliError(err))
		return exitCode(err)
	}
	s.c = c
	defer c.Close()
	fmt.Fprintln(s.con, "* Ready: type SMTP commands, or help.")
	return s.loop()
}

// event shows the session as it happens and feeds the explainer.
func (s *shell) event(ev smtp.Event) {
	switch ev.Kind {
	case smtp.EventLineSent:
		s.sess.Sent(ev.Line)
		if !s.quiet {
			fmt.Fprintf(s.con, "> %s\n", ev.Line)
		}
	case smtp.EventLineReceived:
		if !s.inLast {
			s.last = nil
		}
		s.last = append(s.last, notedLine{ev.Line, s.sess.Received(ev.Line)})
		s.inLast = len(ev.Line) > 3 && ev.Line[3] == '-'
		fmt.Fprintf(s.con, "< %s\n", termsafe.String(ev.Line))
	case smtp.EventTLSHandshakeDone:
		if ev.Err == nil {
			s.sess.TLS(*ev.TLS, time.Now())
		}
		s.log(ev)
	case smtp.EventClosed:
		s.closed = true
		s.log(ev)
	default:
		s.log(ev)
	}
}

func (s *shell) loop() int {
	for {
		line, err := s.con.readLine("smtp> ")
		if err != nil {
			s.c.Quit(s.ctx)
			return exitOK
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if s.do(line) {
			return exitOK
		}
		if s.closed {
			fmt.Fprintln(s.con, "mailwire shell: the connection is closed")
			return exitTempFail
		}
	}
}

// do runs one typed line; it reports whether the session is over.
func (s *shell) do(line string) (quit bool) {
	verb, rest, _ := strings.Cut(line, " ")
	words := strings.Fields(rest)
	switch strings.ToLower(verb) {
	case "quit", "exit":
		s.c.Quit(s.ctx)
		return true
	case "help", "?":
		fmt.Fprintln(s.con, shellCommands)
	case "explain":
		s.explainLast()
	case "auth":
		if len(words) == 1 && !isMechanism(words[0]) || len(words) == 2 && isShellMech(words[0]) {
			s.auth(words)
		} else {
			s.raw(line)
		}
	case "send":
		s.send()
	case "data":
		s.data()
	case "raw":
		s.raw(rest)
	case "starttls":
		fmt.Fprintln(s.con, "! mailwire did TLS when it connected (see --security); STARTTLS now would break the session")
	case "bdat":
		fmt.Fprintln(s.con, "! BDAT needs its chunk sent with it: use send or DATA")
	default:
		s.raw(line)
	}
	return false
}

const shellCommands = `auth [plain|login] USER, explain, send, DATA, raw LINE, help, quit;
anything else goes to the server as typed`

func isShellMech(w string) bool {
	return strings.EqualFold(w, "plain") || strings.EqualFold(w, "login")
}

// isMechanism tells "auth login" (sent raw: the server prompts) from
// "auth alice" (log in as alice).
func isMechanism(w string) bool {
	switch w = strings.ToUpper(w); {
	case isShellMech(w), w == "CRAM-MD5", w == "XOAUTH2", w == "OAUTHBEARER", w == "ANONYMOUS",
		w == "EXTERNAL", strings.HasPrefix(w, "SCRAM-"), strings.HasPrefix(w, "DIGEST-"):
		return true
	}
	return false
}

// raw sends a typed line as it is.
func (s *shell) raw(line string) {
	s.quiet = true
	_, err := s.c.Cmd(s.ctx, line)
	s.quiet = false
	s.report(err)
}

// report shows an error the replies on screen do not already tell.
func (s *shell) report(err error) {
	var e *smtp.Error
	if err != nil && !errors.As(err, &e) {
		fmt.Fprintf(s.con, "! %s\n", cliError(err))
	}
}

func (s *shell) explainLast() {
	if len(s.last) == 0 {
		fmt.Fprintln(s.con, "! no reply yet")
		return
	}
	for _, l := range s.last {
		fmt.Fprintf(s.con, "< %s\n", termsafe.String(l.line))
		for _, n := range l.notes {
			fmt.Fprintf(s.con, "  # %s\n", termsafe.String(n))
		}
	}
}

// auth logs in: words are [USER] or [MECH USER].
func (s *shell) auth(words []string) {
	user := words[len(words)-1]
	pass, err := s.con.readPassword("Password for " + user + ": ")
	if err != nil {
		fmt.Fprintln(s.con, "! no password read:", err)
		return
	}
	a := smtp.PasswordAuth(user, pass)
	if len(words) == 2 {
		a = smtp.PasswordAuth(user, pass, strings.ToUpper(words[0])) // as typed: PLAIN or LOGIN
	}
	s.report(s.c.Auth(s.ctx, a))
}

// data sends DATA and the lines typed after it, up to a lone dot.
func (s *shell) data() {
	s.quiet = true
	w, err := s.c.Data(s.ctx)
	s.quiet = false
	if err != nil {
		s.report(err)
		return
	}
	fmt.Fprintln(s.con, "* Type the message, headers first; a line with a single dot ends it.")
	for {
		line, err := s.con.readLine("")
		if err != nil {
			fmt.Fprintln(s.con, "! input ended inside the message: closing without sending it")
			s.c.Close()
			return
		}
		if line == "." {
			break
		}
		if _, err := io.WriteString(w, line+"\n"); err != nil {
			s.report(err)
			return
		}
	}
	s.report(w.Close())
}
