package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/internal/explain"
)

// attachmentHeadroom is what the largest attachment leaves of the largest
// message for the header section, a short text part and the MIME framing.
const attachmentHeadroom = 16 << 10

var probeHelp = help{
	usage: "mailwire probe HOST[:PORT] [flags]    (or --server HOST[:PORT])\n       mailwire probe --mx DOMAIN [--resolver HOST:PORT] [--mx-port 25] [flags]",
	about: `Connects to an SMTP server and reports what it offers, without sending any
mail: the greeting, the EHLO capabilities before and after STARTTLS (each
explained), the TLS version and cipher suite, the certificate chain (names,
issuers, days to expiry), the server key's pin ready to paste into --pin or
smtp.Options.Pins, the AUTH mechanisms, the largest message and attachment
the server takes, and what is missing or unsafe. It ends with QUIT.

PORT defaults to 587. Security follows the port: implicit TLS on 465,
mandatory STARTTLS elsewhere; --security changes that. Without --security,
probe finds the mode by itself: when a port gives no plaintext greeting
within 5 s (--greeting-timeout), it tries implicit TLS on a new connection,
and when a port answers the TLS handshake in plaintext, it tries STARTTLS;
the report then says which --security send and shell need. When the TLS
checks fail, probe still shows what it saw (the certificate chain and its
pin included) and exits 69.

The largest attachment is SIZE x 3/4 (base64 turns 3 bytes into 4), less
16 KiB for the header and a short text part, less 2.6% for the CRLF that
base64 puts after every 76 characters.`,
	after: `--json prints one object with these fields:
  server, security        the server named and the security mode used
  connect_to              the address dialled instead (--connect-to), or ""
  switched                null, or {tried, error, reason, flag} when the mode the
                          port number suggests failed and security is the one
                          that was tried next (flag: its --security for send)
  greeting                the greeting's lines, as sent
  ehlo_before_tls         the EHLO reply lines in plaintext (null for implicit TLS)
  ehlo                    the EHLO reply lines the session ended with: after TLS,
                          or the plaintext ones when it stayed in plaintext; null
                          when TLS failed
  tls                     {version, cipher_suite, server_name, verified}, or null
  certificates            the chain, server first: {subject, issuer, dns_names,
                          ip_addresses, not_before, not_after, expires_in_days, pin}
  pin                     the server key's pin, "sha256//..." ("" without TLS)
  auth_mechanisms         offered in "ehlo"; auth_mechanisms_before_tls in plaintext
  max_message_bytes       SIZE of the last EHLO seen (0: no limit stated)
  max_attachment_bytes    the estimate above; attachment_headroom_bytes is the 16 KiB
  warnings                what is missing or unsafe, in words
  error                   why the probe stopped early, or ""

exit status: 0 the probe completed; 69 the server or the TLS checks refused the
session (no STARTTLS, untrusted certificate, 5xx greeting), or the port speaks
another security mode than --security; 75 a network failure or timeout; 2 bad
usage.`,
	examples: `  mailwire probe smtp.example.com                 # port 587, STARTTLS
  mailwire probe smtp.example.com:465             # implicit TLS
  mailwire probe --cafile ca.pem 127.0.0.1:2587   # a lab server with its own CA
  mailwire probe --insecure mail.local:25         # see a self-signed key's pin
  mailwire probe --json smtp.example.com | jq .max_attachment_bytes
  mailwire probe --server mx.example.com:25 --connect-to 10.0.0.7:25`,
}

// probeResult is what probe learnt; it is also the --json object.
type probeResult struct {
	Server            string           `json:"server"`
	ConnectTo         string           `json:"connect_to"`
	Security          string           `json:"security"`
	Switched          *probeSwitch     `json:"switched"`
	Greeting          []string         `json:"greeting"`
	EHLOBeforeTLS     []string         `json:"ehlo_before_tls"`
	EHLO              []string         `json:"ehlo"`
	TLS               *probeTLS        `json:"tls"`
	Certificates      []probeCert      `json:"certificates"`
	Pin               string           `json:"pin"`
	AuthMechanisms    []string         `json:"auth_mechanisms"`
	AuthBeforeTLS     []string         `json:"auth_mechanisms_before_tls"`
	MaxMessageBytes   int64            `json:"max_message_bytes"`
	MaxAttachment     int64            `json:"max_attachment_bytes"`
	AttachmentReserve int64            `json:"attachment_headroom_bytes"`
	Warnings          []string         `json:"warnings"`
	Error             string           `json:"error"`
	notes             map[int][]string // explanation of each line, by index in lines
	lines             []string         // every line of the session, "> " or "< " first
}

type probeTLS struct {
	Version     string `json:"version"`
	CipherSuite string `json:"cipher_suite"`
	ServerName  string `json:"server_name"`
	Verified    bool   `json:"verified"`
}

type probeCert struct {
	Subject       string    `json:"subject"`
	Issuer        string    `json:"issuer"`
	DNSNames      []string  `json:"dns_names"`
	IPAddresses   []string  `json:"ip_addresses"`
	NotBefore     time.Time `json:"not_before"`
	NotAfter      time.Time `json:"not_after"`
	ExpiresInDays int       `json:"expires_in_days"`
	Pin           string    `json:"pin"`
}

// prober follows the session through the Trace's Event hook: the Client
// keeps only the last EHLO table, so the plaintext one is caught here. The
// hook runs on the goroutine that calls the Client, so no lock is needed.
type prober struct {
	res     probeResult
	session explain.Session
	now     time.Time
	sent    int
	tlsDone bool
	ehlo    *[]string // the EHLO reply being read, nil when none
	chain   []*x509.Certificate
}

func (p *prober) event(ev smtp.Event) {
	r := &p.res
	switch ev.Kind {
	case smtp.EventLineSent:
		p.sent++
		r.notes[len(r.lines)] = p.session.Sent(ev.Line)
		r.lines = append(r.lines, "> "+ev.Line)
		verb, _, _ := strings.Cut(strings.ToUpper(ev.Line), " ")
		if verb == "EHLO" || verb == "HELO" {
			target := &r.EHLOBeforeTLS
			if p.tlsDone {
				target = &r.EHLO
			}
			*target = []string{}
			p.ehlo = target
		}
	case smtp.EventLineReceived:
		r.notes[len(r.lines)] = p.session.Received(ev.Line)
		r.lines = append(r.lines, "< "+ev.Line)
		switch {
		case p.sent == 0:
			r.Greeting = append(r.Greeting, ev.Line)
		case p.ehlo != nil:
			*p.ehlo = append(*p.ehlo, ev.Line)
		}
		if len(ev.Line) < 4 || ev.Line[3] != '-' {
			p.ehlo = nil
		}
	case smtp.EventTLSHandshakeDone:
		if ev.Err != nil {
			var ve *tls.CertificateVerificationError
			if errors.As(ev.Err, &ve) {
				p.chain = ve.UnverifiedCertificates
			}
			return
		}
		p.tlsDone = true
		st := ev.TLS
		p.chain = st.PeerCertificates
		r.notes[len(r.lines)] = p.session.TLS(*st, p.now)
		r.lines = append(r.lines, fmt.Sprintf("* TLS handshake done: %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite)))
		r.TLS = &probeTLS{Version: tls.VersionName(st.Version), CipherSuite: tls.CipherSuiteName(st.CipherSuite),
			ServerName: ev.ServerName, Verified: len(st.VerifiedChains) > 0}
	}
}

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("probe")
	var cf connFlags
	cf.register(fs, false)
	asJSON := fs.Bool("json", false, "print one JSON object (fields below) instead of the report")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this `duration` without an answer")
	mx := fs.String("mx", "", "instead of one server, a `DOMAIN`: its MX hosts, each one's TLS under its DANE or MTA-STS policy, explained")
	var mf mxFlags
	mf.register(fs, false)
	pos, code, ok := parseArgs(fs, probeHelp, args, stdout, stderr)
	if !ok {
		return code
	}
	if *mx != "" {
		if len(pos) > 0 {
			return usageError(stderr, "probe", "--mx takes a domain, and no server argument")
		}
		mf.cafile, mf.ehlo, mf.timeout, mf.asJSON = cf.cafile, cf.ehlo, *timeout, *asJSON
		return runProbeMX(ctx, *mx, mf, stdout, stderr)
	}
	addr, rest, err := cf.serverAddr(pos)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument %q (the server is the only argument)", rest[0])
	}
	if err != nil {
		return usageError(stderr, "probe", "%v", err)
	}
	opts, code := cf.options("probe", addr, stderr)
	if opts == nil {
		return code
	}
	opts.Timeout = *timeout
	auto := opts.Security == smtp.SecurityAuto
	if auto && opts.GreetingTimeout == 0 {
		opts.GreetingTimeout = probeGreetingTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, 3**timeout) // room for a second attempt
	defer cancel()
	p, err := probeModes(ctx, addr, opts, auto)
	p.output(stdout, stderr, *asJSON, err)
	return exitCode(err)
}

// probeOnce probes addr in the mode opts say, on one connection.
func probeOnce(ctx context.Context, addr string, opts smtp.Options) (*prober, error) {
	p := &prober{now: time.Now()}
	p.res.notes = map[int][]string{}
	opts.Trace = &smtp.Trace{Event: p.event}
	c, err := smtp.Dial(ctx, addr, &opts)
	r := &p.res
	r.Server = addr
	if d, ok := opts.Dialer.(*fixedDialer); ok {
		r.ConnectTo = d.addr
	}
	r.Security = securityUsed(opts.Security, addr, r.TLS != nil)
	if err == nil {
		c.Quit(ctx) // the probe is done whatever QUIT gets
	} else {
		r.Error = cliError(err)
	}
	p.fill()
	return p, err
}

// output prints the findings: the report or the JSON object on stdout. The
// report holds the error, if any; with --json it goes to stderr as well,
// which stays free of it otherwise, so that it is read once.
func (p *prober) output(stdout, stderr io.Writer, asJSON bool, err error) {
	r := &p.res
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(r)
	} else {
		var out bytes.Buffer
		p.report(&out)
		writeTerminalSafe(stdout, out.String()) // the server's text, escaped
	}
	if err == nil {
		return
	}
	if asJSON {
		fmt.Fprintln(stderr, "mailwire probe:", cliError(err))
	}
	if r.TLS == nil && len(p.chain) > 0 && !errors.Is(err, smtp.ErrPinMismatch) {
		fmt.Fprintln(stderr, "mailwire probe: to trust this server, give its CA with --cafile, or pin its key: --insecure --pin", r.Pin)
	}
}

// securityUsed names the mode a probe of addr ran in.
func securityUsed(s smtp.Security, addr string, tlsOn bool) string {
	s = resolvedMode(s, addr)
	if s == smtp.StartTLSOptional && !tlsOn {
		return "StartTLSOptional (stayed in plaintext)"
	}
	return s.String()
}

// fill computes the figures, the chain and the warnings.
func (p *prober) fill() {
	r := &p.res
	if !p.tlsDone && r.Error == "" {
		r.EHLO = r.EHLOBeforeTLS // plaintext all along: one table
	}
	r.AuthMechanisms = authIn(r.EHLO)
	r.AuthBeforeTLS = authIn(r.EHLOBeforeTLS)
	r.MaxMessageBytes = sizeIn(r.EHLO)
	if r.EHLO == nil { // TLS failed: the plaintext figure is the best known
		r.MaxMessageBytes = sizeIn(r.EHLOBeforeTLS)
	}
	if r.MaxMessageBytes > 0 {
		r.AttachmentReserve = attachmentHeadroom
		r.MaxAttachment = maxAttachment(r.MaxMessageBytes)
	}
	for _, cert := range p.chain {
		pc := probeCert{Subject: cert.Subject.String(), Issuer: cert.Issuer.String(), DNSNames: cert.DNSNames,
			NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(),
			ExpiresInDays: int(cert.NotAfter.Sub(p.now).Hours() / 24), Pin: smtp.Pin(cert)}
		for _, ip := range cert.IPAddresses {
			pc.IPAddresses = append(pc.IPAddresses, ip.String())
		}
		r.Certificates = append(r.Certificates, pc)
	}
	if len(r.Certificates) > 0 {
		r.Pin = r.Certificates[0].Pin
	}
	r.Warnings = p.warnings()
}

// maxAttachment estimates the largest file that fits in a message of size
// bytes once base64-encoded: 3 bytes in 4, a CRLF after every 76
// characters, and attachmentHeadroom for the rest of the message.
func maxAttachment(size int64) int64 {
	n := (size - attachmentHeadroom) / 78 * 76 / 4 * 3
	return max(n, 0)
}

func (p *prober) warnings() []string {
	r := &p.res
	w := []string{}
	plain := extensionSet(r.EHLOBeforeTLS)
	final := extensionSet(r.EHLO)
	if r.EHLOBeforeTLS != nil && !plain["STARTTLS"] {
		w = append(w, "no STARTTLS: the server offers no encryption on this port; the password and the message would travel in clear (try port 465)")
	}
	if len(r.AuthBeforeTLS) > 0 {
		w = append(w, "AUTH is offered before TLS ("+strings.Join(r.AuthBeforeTLS, " ")+"): a client that logs in at once sends its password in clear; the server should offer AUTH only after STARTTLS")
	}
	if r.EHLO != nil && !final["PIPELINING"] {
		w = append(w, "no PIPELINING: each command waits for its reply, one round trip per recipient")
	}
	if r.EHLO != nil && !final["SIZE"] {
		w = append(w, "no SIZE: the server states no limit, so a message too large is refused only after it was sent")
	}
	if p.tlsDone && len(r.AuthMechanisms) == 0 {
		w = append(w, "no AUTH after TLS: this server takes no login (a relay for its own domains, not a submission server)")
	}
	if r.TLS != nil && !r.TLS.Verified {
		w = append(w, "the certificate was not verified (--insecure): only a --pin protects a session with this server")
	}
	if len(r.Certificates) > 0 && r.Certificates[0].ExpiresInDays < 30 {
		w = append(w, fmt.Sprintf("the certificate expires in %d days (%s)", r.Certificates[0].ExpiresInDays, r.Certificates[0].NotAfter.Format("2006-01-02")))
	}
	return w
}

// extensionSet is the set of keywords of an EHLO reply's lines.
func extensionSet(lines []string) map[string]bool {
	set := map[string]bool{}
	for i, l := range lines {
		if i == 0 || len(l) < 4 {
			continue
		}
		kw, _, _ := strings.Cut(l[4:], " ")
		set[strings.ToUpper(kw)] = true
	}
	return set
}

func extensionParams(lines []string, keyword string) (string, bool) {
	for i, l := range lines {
		if i == 0 || len(l) < 4 {
			continue
		}
		kw, params, _ := strings.Cut(l[4:], " ")
		if strings.EqualFold(kw, keyword) {
			return params, true
		}
	}
	return "", false
}

func authIn(lines []string) []string {
	params, _ := extensionParams(lines, "AUTH")
	return strings.Fields(params)
}

func sizeIn(lines []string) int64 {
	params, _ := extensionParams(lines, "SIZE")
	n, _ := strconv.ParseInt(params, 10, 64)
	return n
}
