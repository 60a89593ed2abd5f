package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/internal/explain"
	"github.com/mailwire/smtp/smtplog"
)

var sendHelp = help{
	usage: `mailwire send HOST[:PORT] --from ADDR --to ADDR [--to ...] [--cc ...] [--bcc ...]
                     [--subject S] [--body TEXT | --body-file F] [--attach FILE ...] [--header 'N: V' ...]
       mailwire send HOST[:PORT] --from ADDR --to ADDR ... --message FILE|-
       mailwire send HOST[:PORT] [--from ADDR --to ADDR] --quit-after connect|ehlo|tls|auth|mail|rcpt
       (--server HOST[:PORT] may name the server instead, as in earlier versions)`,
	about: `Sends one message. Either mailwire writes it (--subject, --body or
--body-file, --attach: Date, Message-ID, From, To, Cc and Subject headers,
a UTF-8 text part, attachments in base64 with their type from the file name),
or --message gives a whole RFC 5322 message ("-": standard input), sent as is.
--bcc recipients get the message but are never written in its header; with
--message, --to, --cc and --bcc only choose who receives it (the envelope).
An address may carry a name ("Alice <alice@example.com>") and one flag may
list several, separated by commas. --header adds a field ("X-Test: 1") to
the header mailwire writes, replacing one of the same name (as swaks does);
with --message it goes above the message's own fields.

The connection is encrypted (implicit TLS on port 465, mandatory STARTTLS
elsewhere) unless --security says otherwise. With --user, the password comes
from --password-env, --password-file or a prompt without echo; it is never
a flag, since flags show in ps and in shell history. --trace prints the
session to stderr as curl -v does, --explain adds what each line means; the
password never appears in either. On a terminal, a message over 1 MiB shows
its progress on stderr (bytes sent, rate, time left).

--quit-after stops the session after a step, as swaks --quit-after does,
says on standard output what each step did, and sends no message: connect
(the greeting), ehlo (the first EHLO, before STARTTLS), tls, auth, mail
(MAIL FROM), rcpt (every RCPT TO); then RSET and QUIT. --connect-to dials
another address (a test instance, a load balancer's member) while TLS still
checks the certificate against the server's name, and --tls-server-name
checks another name; --cert and --key present a client certificate.

On success the server's final reply, which holds its queue id, is printed on
standard output. Recipients the server refused are listed on stderr, one
per line; the message still went to the others.`,
	after: `exit status:
  0   the server took the message for every recipient
  65  (EX_DATAERR) the server refused this message for good: a recipient (even
      one, when it went to the others), the sender, or the content (5xx to
      MAIL, RCPT, DATA or the end of data), or it is larger than SIZE. Fix the
      addresses or the message; resending it as is fails again.
  69  (EX_UNAVAILABLE) the server refused this session for good: a 5xx greeting
      or EHLO, bad credentials (535), no STARTTLS, an untrusted certificate,
      a pin mismatch, AUTH that would go in clear, a host that does not exist,
      a port that speaks another --security mode (the error names the one).
  75  (EX_TEMPFAIL) try again later: a 4xx reply (to anything, recipients
      included, when none was refused for good), a network failure, a
      timeout, or "delivery unknown": the connection broke after the whole
      message was sent and before the server's reply. The server may have
      queued it then. 75 still: retrying risks a duplicate, not retrying
      risks losing the message, and mail servers in the same spot retry
      (RFC 1047 describes the duplicates this causes). A script that must
      not send twice can look for "delivery unknown" on stderr.
  66  (EX_NOINPUT) a file given cannot be read
  2   bad usage`,
	examples: `  mailwire send smtp.example.com --user alice@example.com \
      --from 'Alice <alice@example.com>' --to bob@example.com \
      --subject 'Report' --body-file notes.txt --attach report.pdf
  SMTP_PASSWORD=... mailwire send smtp.example.com:465 --user alice \
      --password-env SMTP_PASSWORD --from alice@example.com --to bob@example.com \
      --bcc archive@example.com --subject Hi --body 'Hello Bob' --explain
  git format-patch -1 --stdout | mailwire send mail.local:25 \
      --security starttls-optional --from me@local --to list@local --message -
  mailwire send mx.example.com:25 --from me@example.com --to bob@example.com \
      --quit-after rcpt                             # would bob's address be taken?
  mailwire send smtp.example.com --connect-to 10.0.0.7:587 --header 'X-Test: 1' \
      --from me@example.com --to me@example.com --body test`,
}

type sendFlags struct {
	connFlags
	dkim                                   dkimFlags
	from, subject, body, bodyFile, message string
	to, cc, bcc, attach, headers           stringList
	user, passEnv, passFile, quitAfter     string
	trace, explain, allowInsecureAuth      bool
	timeout                                time.Duration
}

func runSend(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("send")
	var f sendFlags
	f.register(fs)
	pos, code, ok := parseArgs(fs, sendHelp, args, stdout, stderr)
	if !ok {
		return code
	}
	addr, step, env, comp, err := f.check(pos)
	if err != nil {
		return usageError(stderr, "send", "%v", err)
	}
	opts, code := f.options("send", addr, stderr)
	if opts == nil {
		return code
	}
	if opts.DKIM, err = f.dkim.options(); err != nil {
		fmt.Fprintln(stderr, "mailwire send:", err)
		return exitNoInput
	}
	if code := f.session(opts, step, stdin, stderr); code != exitOK {
		return code
	}
	if step != quitNever {
		s := &earlyStop{step: step, addr: addr, user: f.user, env: env, out: stdout, stderr: stderr}
		return s.run(ctx, opts)
	}
	msg, cleanup, err := f.source(comp, stdin, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "mailwire send:", err)
		return exitNoInput
	}
	defer cleanup()
	return send(ctx, addr, opts, env, msg, stdout, stderr)
}

// session sets the options of the session beyond the connection: the
// login (reading the password), the timeout and the trace.
func (f *sendFlags) session(opts *smtp.Options, step quitStep, stdin io.Reader, stderr io.Writer) int {
	if f.user != "" && (step == quitNever || step >= quitAuth) {
		if f.message == "-" && step == quitNever && f.passEnv == "" && f.passFile == "" {
			return usageError(stderr, "send", "--message - takes standard input: give the password with --password-env or --password-file")
		}
		pass, err := readSecret(f.passEnv, f.passFile, stdin, stderr, "Password for "+f.user+": ")
		if err != nil {
			fmt.Fprintln(stderr, "mailwire send:", err)
			return exitNoInput
		}
		opts.Auth = smtp.PasswordAuth(f.user, pass)
	}
	opts.AllowInsecureAuth = f.allowInsecureAuth
	opts.Timeout = f.timeout
	switch {
	case f.explain:
		opts.Trace = flagTrace(smtplog.Explain(stderr))
	case f.trace:
		opts.Trace = flagTrace(smtplog.Log(stderr))
	}
	return exitOK
}

func (f *sendFlags) register(fs *flag.FlagSet) {
	f.dkim.register(fs)
	fs.StringVar(&f.from, "from", "", "the sender `address`, for the envelope and the From header")
	fs.Var(&f.to, "to", "a recipient `address` (repeatable, or comma-separated)")
	fs.Var(&f.cc, "cc", "a recipient `address` shown in the Cc header (repeatable)")
	fs.Var(&f.bcc, "bcc", "a hidden recipient `address`: in the envelope, never in the header (repeatable)")
	fs.StringVar(&f.subject, "subject", "", "the Subject `text`")
	fs.StringVar(&f.body, "body", "", "the message `text`")
	fs.StringVar(&f.bodyFile, "body-file", "", "read the message text from `file` (UTF-8)")
	fs.Var(&f.attach, "attach", "attach this `file` (repeatable)")
	fs.Var(&f.headers, "header", "add the header field `\"Name: value\"` (repeatable; replaces mailwire's field of that name)")
	fs.StringVar(&f.message, "message", "", "send this whole RFC 5322 message `file` as is (\"-\": standard input)")
	fs.StringVar(&f.quitAfter, "quit-after", "", "stop after this `step` and send no message: connect, ehlo, tls, auth, mail or rcpt")
	fs.StringVar(&f.user, "user", "", "log in as this `user` (AUTH, the strongest mechanism offered)")
	fs.StringVar(&f.passEnv, "password-env", "", "read the password from the environment variable `VAR`")
	fs.StringVar(&f.passFile, "password-file", "", "read the password from the first line of `file`")
	fs.BoolVar(&f.allowInsecureAuth, "allow-insecure-auth", false, "allow a password in clear over an unencrypted connection (lab servers only)")
	fs.BoolVar(&f.trace, "trace", false, "print the session to stderr, as curl -v does (the password is never shown)")
	fs.BoolVar(&f.explain, "explain", false, "like --trace, with what each line means")
	fs.DurationVar(&f.timeout, "timeout", 0, "the longest wait for each reply (0: 5 minutes, 10 after the message)")
	f.connFlags.register(fs, true)
}

// check validates the arguments and flags: the server's address, the
// --quit-after step, the envelope and what to compose.
func (f *sendFlags) check(pos []string) (string, quitStep, *smtp.Envelope, *composition, error) {
	addr, rest, err := f.serverAddr(pos)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument %q (the server is the only argument; the rest are flags)", rest[0])
	}
	if err != nil {
		return "", 0, nil, nil, err
	}
	step, err := parseQuitAfter(f.quitAfter)
	if err != nil {
		return "", 0, nil, nil, err
	}
	if err := f.checkMessage(step); err != nil {
		return "", 0, nil, nil, err
	}
	env, comp, err := f.envelope()
	if err == nil {
		comp.headers, err = parseHeaders(f.headers)
	}
	return addr, step, env, comp, err
}

// checkMessage checks the flags that are required or exclusive. A
// --quit-after before MAIL needs no sender, one before RCPT no recipient.
func (f *sendFlags) checkMessage(step quitStep) error {
	switch {
	case f.from == "" && (step == quitNever || step >= quitMail):
		return errors.New("--from is required")
	case len(f.to)+len(f.cc)+len(f.bcc) == 0 && (step == quitNever || step >= quitRcpt):
		return errors.New("no recipient: give --to, --cc or --bcc")
	case f.message != "" && (f.subject != "" || f.body != "" || f.bodyFile != "" || len(f.attach) > 0):
		return errors.New("--message sends a whole message: it goes without --subject, --body, --body-file and --attach")
	case f.body != "" && f.bodyFile != "":
		return errors.New("give --body or --body-file, not both")
	}
	return nil
}

// envelope parses the addresses.
func (f *sendFlags) envelope() (*smtp.Envelope, *composition, error) {
	c := &composition{subject: f.subject, body: f.body, bodyFile: f.bodyFile, attach: f.attach}
	env := &smtp.Envelope{}
	if f.from != "" {
		from, err := mail.ParseAddress(f.from)
		if err != nil {
			return nil, nil, fmt.Errorf("--from %q: %v", f.from, err)
		}
		c.from, env.From = from, from.Address
	}
	for _, l := range []struct {
		name string
		vals stringList
		dst  *[]*mail.Address
	}{{"--to", f.to, &c.to}, {"--cc", f.cc, &c.cc}, {"--bcc", f.bcc, nil}} {
		for _, v := range l.vals {
			list, err := mail.ParseAddressList(v)
			if err != nil {
				return nil, nil, fmt.Errorf("%s %q: %v", l.name, v, err)
			}
			for _, a := range list {
				env.To = append(env.To, a.Address)
			}
			if l.dst != nil {
				*l.dst = append(*l.dst, list...)
			}
		}
	}
	return env, c, nil
}

// source opens the message to send: standard input, the --message file,
// or a message composed into a temporary file; the --header fields go
// first. Its progress shows on stderr when that is a terminal.
func (f *sendFlags) source(c *composition, stdin io.Reader, stderr io.Writer) (io.Reader, func(), error) {
	out := progressOut(stderr)
	if f.message == "-" {
		r := stdin
		if len(c.headers) > 0 {
			r = io.MultiReader(strings.NewReader(headerLines(c.headers)), stdin)
		}
		return newProgressReader(r, -1, out), func() {}, nil
	}
	file, temp, err := f.openMessage(c)
	if err != nil {
		return nil, func() {}, err
	}
	cleanup := func() {
		file.Close()
		if temp {
			os.Remove(file.Name())
		}
	}
	st, err := file.Stat()
	if err != nil {
		cleanup()
		return nil, func() {}, err
	}
	return newProgressReader(io.NewSectionReader(file, 0, st.Size()), st.Size(), out), cleanup, nil
}

// openMessage opens the file to send: --message as it is, --message after
// the --header fields, or the composed message; temp says the file is a
// temporary one, to remove.
func (f *sendFlags) openMessage(c *composition) (file *os.File, temp bool, err error) {
	switch {
	case f.message != "" && len(c.headers) == 0:
		file, err = os.Open(f.message)
		return file, false, err
	case f.message != "":
		file, err = withHeaderFile(c.headers, f.message)
		return file, true, err
	}
	file, err = c.writeTemp()
	return file, true, err
}

// send connects, sends and reports.
func send(ctx context.Context, addr string, opts *smtp.Options, env *smtp.Envelope, msg io.Reader, stdout, stderr io.Writer) int {
	c, err := smtp.Dial(ctx, addr, opts)
	if err != nil {
		return sendFailed(err, stderr)
	}
	defer c.Close()
	if sized, ok := msg.(interface{ Size() int64 }); ok {
		// The library refuses it too, with an error that does not say
		// it is about the message; this gives exit status 65.
		if size, max := sized.Size(), c.MaxMessageSize(); max > 0 && size > max {
			fmt.Fprintf(stderr, "mailwire send: the message is %d bytes (%s); the server takes at most %d (%s, SIZE): nothing was sent\n",
				size, explain.Bytes(size), max, explain.Bytes(max))
			c.Quit(ctx)
			return exitDataErr
		}
	}
	r, err := c.Send(ctx, env, msg)
	if p, ok := msg.(interface{ finish() }); ok {
		p.finish() // ends the progress line before anything else is said
	}
	if err != nil {
		return sendFailed(err, stderr)
	}
	c.Quit(ctx) // the message is delivered whatever QUIT gets
	fmt.Fprintln(stdout, formatReply(r.Reply))
	if len(r.Rejected) == 0 {
		return exitOK
	}
	listRejected(stderr, r.Rejected)
	fmt.Fprintf(stderr, "mailwire send: the message went to %d of %d recipients: send again only to the refused ones\n",
		len(r.Accepted), len(r.Accepted)+len(r.Rejected))
	return rejectedCode(r.Rejected)
}

func sendFailed(err error, stderr io.Writer) int {
	var rs *smtp.RecipientsError
	if errors.As(err, &rs) {
		listRejected(stderr, rs.Rejected)
		fmt.Fprintln(stderr, "mailwire send: every recipient was refused: nothing was sent")
		return exitCode(err)
	}
	fmt.Fprintln(stderr, "mailwire send:", cliError(err))
	var e *smtp.Error
	switch {
	case errors.Is(err, smtp.ErrDeliveryUnknown):
		fmt.Fprintln(stderr, "mailwire send: delivery unknown: the server may have queued the message; sending it again may deliver it twice")
	case errors.As(err, &e) && e.Enhanced != (smtp.EnhancedCode{}):
		fmt.Fprintf(stderr, "mailwire send: %s: %s\n", e.Enhanced, e.Enhanced.Description())
	}
	return exitCode(err)
}

func listRejected(w io.Writer, rejected []*smtp.RecipientError) {
	for _, r := range rejected {
		fmt.Fprintf(w, "refused: <%s>: %s", r.Addr, formatReply(r.Err.Reply))
		if d := r.Err.Enhanced.Description(); d != "" {
			fmt.Fprintf(w, " (%s)", d)
		}
		fmt.Fprintln(w)
	}
}

// formatReply writes a reply as the server sent it, on one line.
func formatReply(r smtp.Reply) string {
	s := fmt.Sprint(r.Code)
	if r.Enhanced != (smtp.EnhancedCode{}) {
		s += " " + r.Enhanced.String()
	}
	if r.Message != "" {
		s += " " + strings.ReplaceAll(r.Message, "\n", " ")
	}
	return s
}
