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
)

var sendHelp = help{
	usage: `mailwire send --server HOST[:PORT] --from ADDR --to ADDR [--to ...] [--cc ...] [--bcc ...]
                     [--subject S] [--body TEXT | --body-file F] [--attach FILE ...]
       mailwire send --server HOST[:PORT] --from ADDR --to ADDR ... --message FILE|-`,
	about: `Sends one message. Either mailwire writes it (--subject, --body or
--body-file, --attach: Date, Message-ID, From, To, Cc and Subject headers,
a UTF-8 text part, attachments in base64 with their type from the file name),
or --message gives a whole RFC 5322 message ("-": standard input), sent as is.
--bcc recipients get the message but are never written in its header; with
--message, --to, --cc and --bcc only choose who receives it (the envelope).
An address may carry a name ("Alice <alice@example.com>") and one flag may
list several, separated by commas.

The connection is encrypted (implicit TLS on port 465, mandatory STARTTLS
elsewhere) unless --security says otherwise. With --user, the password comes
from --password-env, --password-file or a prompt without echo; it is never
a flag, since flags show in ps and in shell history. --trace prints the
session to stderr as curl -v does, --explain adds what each line means; the
password never appears in either.

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
      a pin mismatch, AUTH that would go in clear, a host that does not exist.
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
	examples: `  mailwire send --server smtp.example.com --user alice@example.com \
      --from 'Alice <alice@example.com>' --to bob@example.com \
      --subject 'Report' --body-file notes.txt --attach report.pdf
  SMTP_PASSWORD=... mailwire send --server smtp.example.com:465 --user alice \
      --password-env SMTP_PASSWORD --from alice@example.com --to bob@example.com \
      --bcc archive@example.com --subject Hi --body 'Hello Bob' --explain
  git format-patch -1 --stdout | mailwire send --server mail.local:25 \
      --security starttls-optional --from me@local --to list@local --message -`,
}

type sendFlags struct {
	tlsFlags
	server, from, subject, body, bodyFile, message string
	to, cc, bcc, attach                            stringList
	user, passEnv, passFile                        string
	trace, explain, allowInsecureAuth              bool
	timeout                                        time.Duration
}

func runSend(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("send")
	var f sendFlags
	f.register(fs)
	pos, code, ok := parseArgs(fs, sendHelp, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(stderr, "send", "unexpected argument %q (flags only)", pos[0])
	}
	env, comp, err := f.check()
	if err != nil {
		return usageError(stderr, "send", "%v", err)
	}
	opts, code := f.options("send", stderr)
	if opts == nil {
		return code
	}
	msg, cleanup, err := f.source(comp, stdin, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "mailwire send:", err)
		return exitNoInput
	}
	defer cleanup()
	if f.user != "" {
		if f.message == "-" && f.passEnv == "" && f.passFile == "" {
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
		opts.Trace = smtp.ExplainTrace(stderr)
	case f.trace:
		opts.Trace = smtp.LogTrace(stderr)
	}
	return send(ctx, withPort(f.server), opts, env, msg, stdout, stderr)
}

func (f *sendFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", "", "the server's `HOST[:PORT]` (port 587 when left out)")
	fs.StringVar(&f.from, "from", "", "the sender `address`, for the envelope and the From header")
	fs.Var(&f.to, "to", "a recipient `address` (repeatable, or comma-separated)")
	fs.Var(&f.cc, "cc", "a recipient `address` shown in the Cc header (repeatable)")
	fs.Var(&f.bcc, "bcc", "a hidden recipient `address`: in the envelope, never in the header (repeatable)")
	fs.StringVar(&f.subject, "subject", "", "the Subject `text`")
	fs.StringVar(&f.body, "body", "", "the message `text`")
	fs.StringVar(&f.bodyFile, "body-file", "", "read the message text from `file` (UTF-8)")
	fs.Var(&f.attach, "attach", "attach this `file` (repeatable)")
	fs.StringVar(&f.message, "message", "", "send this whole RFC 5322 message `file` as is (\"-\": standard input)")
	fs.StringVar(&f.user, "user", "", "log in as this `user` (AUTH, the strongest mechanism offered)")
	fs.StringVar(&f.passEnv, "password-env", "", "read the password from the environment variable `VAR`")
	fs.StringVar(&f.passFile, "password-file", "", "read the password from the first line of `file`")
	fs.BoolVar(&f.allowInsecureAuth, "allow-insecure-auth", false, "allow a password in clear over an unencrypted connection (lab servers only)")
	fs.BoolVar(&f.trace, "trace", false, "print the session to stderr, as curl -v does (the password is never shown)")
	fs.BoolVar(&f.explain, "explain", false, "like --trace, with what each line means")
	fs.DurationVar(&f.timeout, "timeout", 0, "the longest wait for each reply (0: 5 minutes, 10 after the message)")
	f.tlsFlags.register(fs, true)
}

// check validates the flags and parses the addresses.
func (f *sendFlags) check() (*smtp.Envelope, *composition, error) {
	switch {
	case f.server == "":
		return nil, nil, errors.New("--server is required")
	case f.from == "":
		return nil, nil, errors.New("--from is required")
	case len(f.to)+len(f.cc)+len(f.bcc) == 0:
		return nil, nil, errors.New("no recipient: give --to, --cc or --bcc")
	case f.message != "" && (f.subject != "" || f.body != "" || f.bodyFile != "" || len(f.attach) > 0):
		return nil, nil, errors.New("--message sends a whole message: it goes without --subject, --body, --body-file and --attach")
	case f.body != "" && f.bodyFile != "":
		return nil, nil, errors.New("give --body or --body-file, not both")
	}
	from, err := mail.ParseAddress(f.from)
	if err != nil {
		return nil, nil, fmt.Errorf("--from %q: %v", f.from, err)
	}
	c := &composition{from: from, subject: f.subject, body: f.body, bodyFile: f.bodyFile, attach: f.attach}
	env := &smtp.Envelope{From: from.Address}
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

// source opens the message to send: the --message file, standard input,
// or a message composed into a temporary file.
func (f *sendFlags) source(c *composition, stdin io.Reader, stderr io.Writer) (io.Reader, func(), error) {
	showProgress := false
	if _, ok := terminalFd(stderr); ok {
		showProgress = true
	}
	if f.message == "-" {
		return newProgressReader(stdin, -1, progressOut(showProgress, stderr)), func() {}, nil
	}
	var file *os.File
	var err error
	cleanup := func() {}
	if f.message != "" {
		file, err = os.Open(f.message)
	} else {
		file, err = c.writeTemp()
	}
	if err != nil {
		return nil, cleanup, err
	}
	cleanup = func() {
		file.Close()
		if f.message == "" {
			os.Remove(file.Name())
		}
	}
	st, err := file.Stat()
	if err != nil {
		cleanup()
		return nil, func() {}, err
	}
	return newProgressReader(io.NewSectionReader(file, 0, st.Size()), st.Size(), progressOut(showProgress, stderr)), cleanup, nil
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
	fmt.Fprintln(stderr, "mailwire send:", err)
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
