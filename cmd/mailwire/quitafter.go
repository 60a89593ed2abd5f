package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mailwire/smtp"
)

// quitStep is where --quit-after ends a send, as swaks' --quit-after does:
// the session goes that far, then RSET (after MAIL) and QUIT, and no
// message is sent.
type quitStep int

const (
	quitNever   quitStep = iota
	quitConnect          // after the greeting (and the handshake, in implicit TLS)
	quitEHLO             // after the first EHLO, before STARTTLS
	quitTLS              // after TLS and the EHLO that follows STARTTLS
	quitAuth             // after AUTH (--user)
	quitMail             // after MAIL FROM
	quitRcpt             // after every RCPT TO
)

// quitNames are the --quit-after values, by step.
var quitNames = [...]string{"", "connect", "ehlo", "tls", "auth", "mail", "rcpt"}

// quitAliases are swaks' other names for the steps.
var quitAliases = map[string]quitStep{
	"banner": quitConnect, "greeting": quitConnect, "helo": quitEHLO, "first-helo": quitEHLO,
	"first-ehlo": quitEHLO, "starttls": quitTLS, "from": quitMail, "to": quitRcpt,
}

// parseQuitAfter reads a --quit-after value; "" is quitNever.
func parseQuitAfter(s string) (quitStep, error) {
	s = strings.ToLower(s)
	for i, name := range quitNames {
		if s == name {
			return quitStep(i), nil
		}
	}
	if step, ok := quitAliases[s]; ok {
		return step, nil
	}
	return 0, fmt.Errorf("unknown --quit-after %q: want connect, ehlo, tls, auth, mail or rcpt", s)
}

func (q quitStep) String() string { return quitNames[q] }

// earlyStop is a send that stops after a step. It says on out what each
// step did.
type earlyStop struct {
	step   quitStep
	addr   string
	user   string // "" without --user
	env    *smtp.Envelope
	out    io.Writer
	stderr io.Writer
	log    sessionLog
}

// run goes as far as the step, then ends the session.
func (s *earlyStop) run(ctx context.Context, opts *smtp.Options) int {
	if s.step == quitConnect {
		return s.greetOnly(ctx, opts)
	}
	o := *opts
	o.Trace = smtp.ComposeTrace(opts.Trace, &smtp.Trace{Event: s.log.event})
	mode := resolvedMode(o.Security, s.addr)
	if s.step < quitAuth {
		o.Auth = nil
	}
	if s.step == quitEHLO && mode != smtp.ImplicitTLS {
		o.Security = smtp.Plaintext // the first EHLO, and no STARTTLS after it
	}
	c, err := smtp.Dial(ctx, s.addr, &o)
	if err != nil {
		return sendFailed(err, s.stderr)
	}
	defer c.Close()
	s.sayOpening(c, mode)
	code := exitOK
	if s.step >= quitMail {
		code = s.envelope(ctx, c)
		c.Reset(ctx) // ends the transaction, if the server opened one
	}
	c.Quit(ctx)
	sayStep(s.out, "quit", fmt.Sprintf("after %s (--quit-after): no message was sent", s.step))
	return code
}

// sayStep writes one step of the report.
func sayStep(w io.Writer, step, text string) {
	fmt.Fprintf(w, "%-8s %s\n", step+":", text)
}

// sayOpening reports the greeting, EHLO, TLS and AUTH, in the order they
// happened.
func (s *earlyStop) sayOpening(c *smtp.Client, mode smtp.Security) {
	sayStep(s.out, "connect", s.addr+": "+strings.Join(s.log.greeting, " / "))
	if mode == smtp.ImplicitTLS {
		sayStep(s.out, "tls", tlsSummary(c, mode))
	}
	if len(s.log.ehlo) > 0 {
		sayStep(s.out, "ehlo", ehloSummary(s.log.ehlo[0]))
	}
	if s.step >= quitTLS && mode != smtp.ImplicitTLS {
		sayStep(s.out, "tls", tlsSummary(c, mode))
	}
	if s.step >= quitAuth {
		if s.user == "" {
			sayStep(s.out, "auth", "none: no --user")
		} else {
			sayStep(s.out, "auth", "logged in as "+s.user)
		}
	}
}

// envelope sends MAIL FROM and each RCPT TO, and reports every reply.
func (s *earlyStop) envelope(ctx context.Context, c *smtp.Client) int {
	err := c.Mail(ctx, s.env.From, nil)
	s.sayReply("mail", "MAIL FROM:<"+s.env.From+">", err)
	if err != nil || s.step < quitRcpt {
		return exitCode(err)
	}
	var refused []*smtp.RecipientError
	for _, to := range s.env.To {
		err := c.Rcpt(ctx, to, nil)
		s.sayReply("rcpt", "RCPT TO:<"+to+">", err)
		var e *smtp.Error
		switch {
		case errors.As(err, &e):
			refused = append(refused, &smtp.RecipientError{Addr: to, Err: e})
		case err != nil:
			return exitCode(err) // the connection is gone
		}
	}
	if len(refused) > 0 {
		return rejectedCode(refused)
	}
	return exitOK
}

// sayReply reports the outcome of a command.
func (s *earlyStop) sayReply(step, cmd string, err error) {
	var e *smtp.Error
	switch {
	case err == nil:
		sayStep(s.out, step, cmd+": accepted: "+strings.Join(s.log.last, " / "))
	case errors.As(err, &e):
		sayStep(s.out, step, cmd+": refused: "+formatReply(e.Reply))
	default:
		sayStep(s.out, step, cmd+": "+cliError(err))
	}
}

// tlsSummary says how the session is secured.
func tlsSummary(c *smtp.Client, mode smtp.Security) string {
	st, ok := c.TLSConnectionState()
	switch {
	case ok:
		verified := "certificate verified"
		if len(st.VerifiedChains) == 0 {
			verified = "certificate NOT verified (--insecure)"
		}
		return fmt.Sprintf("%s, %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), verified)
	case mode == smtp.Plaintext:
		return "none (--security plain)"
	}
	return "none: the server offers no STARTTLS, and --security starttls-optional stays in plaintext"
}

// ehloSummary is the extensions of an EHLO reply, on one line.
func ehloSummary(reply []string) string {
	if len(reply) < 2 {
		return strings.Join(reply, " ") + " (no extensions)"
	}
	var kws []string
	for _, l := range reply[1:] {
		if len(l) > 4 {
			kws = append(kws, l[4:])
		}
	}
	return strings.Join(kws, ", ")
}

// sessionLog keeps what --quit-after reports, from the Trace: the
// greeting, each EHLO reply, and the last reply.
type sessionLog struct {
	sent     int
	greeting []string
	ehlo     [][]string
	last     []string
	inEHLO   bool
}

func (l *sessionLog) event(ev smtp.Event) {
	switch ev.Kind {
	case smtp.EventLineSent:
		l.sent++
		l.last = nil
		verb, _, _ := strings.Cut(strings.ToUpper(ev.Line), " ")
		l.inEHLO = verb == "EHLO" || verb == "HELO"
		if l.inEHLO {
			l.ehlo = append(l.ehlo, nil)
		}
	case smtp.EventLineReceived:
		l.last = append(l.last, ev.Line)
		if l.sent == 0 {
			l.greeting = append(l.greeting, ev.Line)
		}
		if l.inEHLO {
			l.ehlo[len(l.ehlo)-1] = append(l.ehlo[len(l.ehlo)-1], ev.Line)
		}
	}
}
