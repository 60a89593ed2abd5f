package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/smtplog"
)

// Direct delivery on the command line: `probe --mx DOMAIN` shows how
// mailwire would reach a domain's MX hosts, and `deliver` sends to them.

var deliverHelp = help{
	usage: "mailwire deliver --from ADDR --to ADDR [--to ...] --message FILE|- [--resolver ADDR] [--require-tls] [flags]",
	about: `Delivers a message to each recipient domain's own MX hosts, as a mail
server would, rather than to a submission server: MX hosts in preference
order, the next one after a failure that another host may not have, each
host's TLS as its policy says. DANE (RFC 7672) applies to a host whose
TLSA records the resolver vouches for (DNSSEC): name a validating
resolver you trust (--resolver 127.0.0.1:53, say an Unbound of your own);
else the domain's MTA-STS policy (RFC 8461); else STARTTLS when offered.
--require-tls asks every hop for TLS (REQUIRETLS, RFC 8689).

It prints, for each domain, every host tried and how, in the words of TLS
reports (RFC 8460), explained; --json prints the same as one object.
--trace prints each host's session on stderr, --explain with what each
line means.`,
	examples: `  mailwire deliver --from me@example.org --to you@example.com --message msg.eml --resolver 127.0.0.1:53
  mailwire probe --mx example.com --resolver 127.0.0.1:53`,
	after: `exit status:
  0   every domain took the message
  69  a domain's hosts refused it, or none could be reached as its policy asks
  75  a domain's hosts failed for now (4xx, no connection): try again later`,
}

// mxFlags are the flags of deliver and probe --mx.
type mxFlags struct {
	resolver, port, cafile, ehlo string
	timeout                      time.Duration
	asJSON, trace, explain       bool
}

func (f *mxFlags) register(fs interface {
	StringVar(*string, string, string, string)
	DurationVar(*time.Duration, string, time.Duration, string)
	BoolVar(*bool, string, bool, string)
}, withCA bool) {
	fs.StringVar(&f.resolver, "resolver", "", "the DNS resolver to ask, `HOST:PORT` (default: /etc/resolv.conf's first); DANE needs a validating one you trust")
	fs.StringVar(&f.port, "mx-port", "25", "the MX hosts' SMTP `port`")
	if withCA {
		fs.StringVar(&f.cafile, "cafile", "", "trust only the CA certificates in this PEM `file` (MTA-STS and the hosts' certificates)")
		fs.StringVar(&f.ehlo, "ehlo", "", "`name` to send with EHLO (default \"localhost\"; an MX may want the sending host's own)")
		fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up on a host after this `duration` without an answer")
		fs.BoolVar(&f.asJSON, "json", false, "print one JSON object instead of the report")
		fs.BoolVar(&f.trace, "trace", false, "print each host's session to stderr, as curl -v does")
		fs.BoolVar(&f.explain, "explain", false, "like --trace, with what each line means")
	}
}

func (f *mxFlags) options(stderr io.Writer) (*smtp.DeliverOptions, error) {
	o := &smtp.Options{LocalName: f.ehlo, Timeout: f.timeout}
	switch {
	case f.explain:
		o.Trace = flagTrace(smtplog.Explain(stderr))
	case f.trace:
		o.Trace = flagTrace(smtplog.Log(stderr))
	}
	if f.cafile != "" {
		pem, err := os.ReadFile(f.cafile)
		pool := x509.NewCertPool()
		if err == nil && !pool.AppendCertsFromPEM(pem) {
			err = fmt.Errorf("no PEM certificate in %s", f.cafile)
		}
		if err != nil {
			return nil, fmt.Errorf("--cafile: %v", err)
		}
		o.TLSConfig = &tls.Config{RootCAs: pool}
	}
	return &smtp.DeliverOptions{Resolver: f.resolver, Port: f.port, Options: o}, nil
}

func runDeliver(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("deliver")
	var mf mxFlags
	mf.register(fs, true)
	from := fs.String("from", "", "the envelope sender `ADDR`")
	var to stringList
	fs.Var(&to, "to", "a recipient `ADDR` (repeatable)")
	message := fs.String("message", "", "the RFC 5322 message, a `FILE` or - for standard input")
	requireTLS := fs.Bool("require-tls", false, "ask every hop for TLS (REQUIRETLS, RFC 8689)")
	pos, code, ok := parseArgs(fs, deliverHelp, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) > 0 || len(to) == 0 || *message == "" {
		return usageError(stderr, "deliver", "want --to and --message, and no argument")
	}
	opts, err := mf.options(stderr)
	if err != nil {
		return usageError(stderr, "deliver", "%v", err)
	}
	var raw []byte
	if *message == "-" {
		raw, err = io.ReadAll(stdin)
	} else {
		raw, err = os.ReadFile(*message)
	}
	if err != nil {
		fmt.Fprintln(stderr, "mailwire deliver:", err)
		return exitNoInput
	}
	env := &smtp.Envelope{From: *from, To: to}
	if *requireTLS {
		env.MailOptions = &smtp.MailOptions{RequireTLS: true}
	}
	out, err := smtp.Deliver(ctx, env, strings.NewReader(string(raw)), opts)
	if err != nil {
		fmt.Fprintln(stderr, "mailwire deliver:", err)
		return exitCode(err)
	}
	writeDomains(stdout, out, mf.resolver, mf.asJSON)
	code = exitOK
	for _, dr := range out {
		if dr.Err != nil {
			if c := exitCode(dr.Err); code == exitOK || c == exitUnavail {
				code = c
			}
		}
	}
	return code
}

// runProbeMX is probe --mx DOMAIN.
func runProbeMX(ctx context.Context, domain string, mf mxFlags, stdout, stderr io.Writer) int {
	opts, err := mf.options(stderr)
	if err != nil {
		return usageError(stderr, "probe", "%v", err)
	}
	dr, err := smtp.CheckMX(ctx, domain, opts)
	if err != nil {
		fmt.Fprintln(stderr, "mailwire probe:", err)
		return exitCode(err)
	}
	writeDomains(stdout, []*smtp.DomainReceipt{dr}, mf.resolver, mf.asJSON)
	if dr.Err != nil {
		return exitCode(dr.Err)
	}
	return exitOK
}

// domainJSON is a DomainReceipt as --json prints it.
type domainJSON struct {
	Domain     string        `json:"domain"`
	Recipients []string      `json:"recipients,omitempty"`
	DNSSEC     bool          `json:"dnssec"`
	STS        *stsJSON      `json:"mta_sts"`
	Attempts   []attemptJSON `json:"attempts"`
	Reply      string        `json:"reply,omitempty"`
	Accepted   []string      `json:"accepted,omitempty"`
	Error      string        `json:"error,omitempty"`
}

type stsJSON struct {
	Mode   string   `json:"mode"`
	MX     []string `json:"mx"`
	MaxAge int64    `json:"max_age"`
	ID     string   `json:"id"`
}

type attemptJSON struct {
	Host          string   `json:"host"`
	Preference    uint16   `json:"preference"`
	Implicit      bool     `json:"implicit_mx,omitempty"`
	Addr          string   `json:"addr,omitempty"`
	TLS           string   `json:"tls,omitempty"`
	DANE          []string `json:"tlsa,omitempty"`
	PolicyType    string   `json:"policy_type"`
	ResultType    string   `json:"result_type,omitempty"`
	FailureReason string   `json:"failure_reason,omitempty"`
	Error         string   `json:"error,omitempty"`
}

func toDomainJSON(dr *smtp.DomainReceipt) domainJSON {
	j := domainJSON{Domain: dr.Domain, Recipients: dr.Recipients, DNSSEC: dr.DNSSEC, Attempts: []attemptJSON{}}
	if p := dr.STS; p != nil {
		j.STS = &stsJSON{Mode: p.Mode, MX: p.MX, MaxAge: int64(p.MaxAge / time.Second), ID: p.ID}
	}
	for _, a := range dr.Attempts {
		aj := attemptJSON{Host: a.Host, Preference: a.Preference, Implicit: a.Implicit, Addr: a.Addr, TLS: a.TLS, DANE: a.DANE,
			PolicyType: a.Result.PolicyType, ResultType: a.Result.ResultType, FailureReason: a.Result.FailureReason}
		if a.Err != nil {
			aj.Error = a.Err.Error()
		}
		j.Attempts = append(j.Attempts, aj)
	}
	if dr.Receipt != nil {
		j.Reply, j.Accepted = replyText(dr.Receipt.Reply), dr.Receipt.Accepted
	}
	if dr.Err != nil {
		j.Error = dr.Err.Error()
	}
	return j
}

// writeDomains prints the domains' outcomes, explained, or as JSON.
func writeDomains(w io.Writer, out []*smtp.DomainReceipt, resolver string, asJSON bool) {
	if asJSON {
		var js []domainJSON
		for _, dr := range out {
			js = append(js, toDomainJSON(dr))
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(js)
		return
	}
	var b strings.Builder
	for _, dr := range out {
		writeDomain(&b, dr, resolver)
	}
	writeTerminalSafe(w, b.String())
}

func writeDomain(b *strings.Builder, dr *smtp.DomainReceipt, resolver string) {
	if resolver == "" {
		resolver = "the system's resolver"
	}
	fmt.Fprintf(b, "Domain %s\n", dr.Domain)
	if dr.DNSSEC {
		fmt.Fprintf(b, "  MX answer: validated by DNSSEC (%s set the AD flag)\n", resolver)
		b.WriteString("  # The MX host names are the domain's own, so their TLSA records, when authentic too, say which certificate each host must show (DANE, RFC 7672).\n")
	} else {
		fmt.Fprintf(b, "  MX answer: not validated (%s did not set the AD flag)\n", resolver)
		b.WriteString("  # Nobody vouches for the MX host names: DANE cannot apply, and without MTA-STS an attacker on the path could swap the hosts or strip STARTTLS.\n")
	}
	if p := dr.STS; p != nil {
		fmt.Fprintf(b, "  MTA-STS: mode %s, mx %s, max_age %v, id %s\n", p.Mode, strings.Join(p.MX, " "), p.MaxAge, p.ID)
	} else {
		b.WriteString("  MTA-STS: no policy applies\n")
	}
	for _, a := range dr.Attempts {
		writeAttempt(b, a)
	}
	switch {
	case dr.Receipt != nil:
		fmt.Fprintf(b, "  Delivered: %s (accepted: %s)\n", replyText(dr.Receipt.Reply), strings.Join(dr.Receipt.Accepted, ", "))
	case dr.Err != nil:
		fmt.Fprintf(b, "  Not delivered: %v\n", dr.Err)
	}
}

func writeAttempt(b *strings.Builder, a smtp.Attempt) {
	name := a.Host
	if a.Implicit {
		name += " (no MX record: the domain itself, RFC 5321 section 5.1)"
	}
	fmt.Fprintf(b, "  MX %d %s %s\n", a.Preference, name, a.Addr)
	if len(a.DANE) > 0 {
		fmt.Fprintf(b, "    TLSA: %s\n", strings.Join(a.DANE, "; "))
	}
	if a.TLS != "" {
		fmt.Fprintf(b, "    TLS: %s\n", a.TLS)
	}
	r := a.Result
	outcome := "ok"
	if a.Err != nil {
		outcome = "failed: " + a.Err.Error()
	}
	fmt.Fprintf(b, "    policy %s, result %s: %s\n", r.PolicyType, orDash(r.ResultType), outcome)
	if note := resultNote(r, a.Err); note != "" {
		fmt.Fprintf(b, "    # %s\n", note)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// resultNote explains an attempt's TLS-RPT result.
func resultNote(r smtp.TLSResult, err error) string {
	switch r.ResultType {
	case "":
		switch {
		case r.PolicyType == "tlsa" && err == nil:
			return "DANE: the certificate matches the host's authentic TLSA records; nobody on the path can read or change the session."
		case r.PolicyType == "sts" && err == nil:
			return "MTA-STS: the host is in the domain's policy and its certificate is valid for its name."
		case r.PolicyType == "no-policy-found" && err == nil:
			return "No DANE, no MTA-STS: STARTTLS when offered, but an attacker on the path could have stripped it."
		}
	case "tlsa-invalid":
		return "The certificate matches none of the host's TLSA records: an impostor, or a key changed without the DNS. Not used."
	case "dnssec-invalid":
		return "The TLSA lookup failed validation (a bogus or forged answer, or none): the host can be neither authenticated nor known to need nothing, so it is not used."
	case "starttls-not-supported":
		return "The host did not offer STARTTLS: under DANE or MTA-STS that is what a stripping attacker causes, so nothing is sent to it."
	case "validation-failure":
		return "The host fails the policy (not in the MTA-STS mx list, or its certificate does not verify)."
	case "certificate-host-mismatch":
		return "The certificate is not for the host's name."
	case "certificate-expired":
		return "The certificate has expired."
	case "certificate-not-trusted":
		return "The certificate does not chain to a trusted CA."
	case "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid":
		return "The domain publishes MTA-STS, but its policy could not be had; delivery goes on as without one, and the domain would want a report."
	}
	if errors.Is(err, smtp.ErrRequireTLSNotOffered) {
		return "REQUIRETLS (RFC 8689): this hop cannot keep the promise, so the message does not go there."
	}
	return ""
}

// replyText is a reply as the server wrote it: "250 2.0.0 OK: queued".
func replyText(r smtp.Reply) string {
	s := fmt.Sprint(r.Code)
	if r.Enhanced != (smtp.EnhancedCode{}) {
		s += " " + r.Enhanced.String()
	}
	return s + " " + strings.ReplaceAll(r.Message, "\n", " ")
}
