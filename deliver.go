package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"golang.org/x/net/idna"
)

// Direct delivery: a message to each recipient domain's own MX hosts, as
// an MTA delivers it, rather than to a submission server the caller names.

// DeliverOptions says how Deliver reaches the recipients' MX hosts. The
// zero value asks the system's resolver and delivers to port 25.
type DeliverOptions struct {
	// Options are the options of each connection: LocalName (the name
	// the MX hosts see in EHLO; they often check that it resolves to the
	// sending address), Timeout, TLSConfig (its RootCAs; its ServerName
	// is set to each MX host's name), Trace. Security and Auth are
	// Deliver's: STARTTLS when the host offers it (required with
	// RequireTLS), and no login, since an MX takes none.
	Options *Options
	// Resolver is the DNS resolver asked, "host:port" (or a host, port
	// 53); "" is the first nameserver of /etc/resolv.conf.
	Resolver string
	// Port is the MX hosts' SMTP port; "" is 25. (Tests use another.)
	Port string
	// RequireTLS refuses a host that does not offer STARTTLS or whose
	// certificate does not verify, and tries the next one: nothing goes
	// out in plaintext.
	RequireTLS bool
	// STSCache keeps MTA-STS policies between calls (RFC 8461 asks that
	// they be kept for their max_age); nil: a cache for this call only.
	STSCache *STSCache
	// STSHTTPClient fetches MTA-STS policies; nil: a client that resolves
	// through Resolver, trusts Options.TLSConfig's RootCAs (or the
	// system's) and follows no redirect.
	STSHTTPClient *http.Client
}

// DomainReceipt is the outcome of the delivery to one recipient domain.
type DomainReceipt struct {
	// Domain is the recipient domain, in A-labels and lower case.
	Domain string
	// Recipients are the envelope's recipients at Domain, in its order.
	Recipients []string
	// Receipt is the accepting host's receipt; nil when none accepted.
	Receipt *Receipt
	// Err is why no host accepted the message (the last attempt's error,
	// or the DNS's); nil when one did.
	Err error
	// Attempts are the hosts tried, in order, with each one's outcome.
	Attempts []Attempt
	// DNSSEC says the resolver validated the MX answer (its AD flag):
	// the host names are the domain's own, and DANE can apply.
	DNSSEC bool
	// STS is the domain's MTA-STS policy that applied; nil for none.
	STS *STSPolicy
}

// Attempt is one MX host, at one of its addresses, tried for a domain.
type Attempt struct {
	// Host is the MX host's name; the domain itself when it has no MX
	// record (Implicit, RFC 5321 section 5.1).
	Host       string
	Preference uint16
	Implicit   bool
	// Addr is the address dialled, "ip:port"; "" when the host had none.
	Addr string
	// TLS is the version and cipher suite the session was encrypted with
	// ("TLS 1.3, TLS_AES_128_GCM_SHA256"); "" when it was not.
	TLS string
	// DANE lists the host's usable TLSA records the certificate was
	// checked against ("3 1 1 <hex>"); none when DANE did not apply.
	DANE []string
	// Result is the attempt in TLS-RPT's words (RFC 8460), for a report.
	Result TLSResult
	// Err is why this host did not take the message; nil when it did.
	Err error
}

// TLSResult is an attempt's TLS outcome in the vocabulary of SMTP TLS
// Reporting (RFC 8460 section 4), so that an application can send the
// reports a recipient domain asks for.
type TLSResult struct {
	// PolicyType is "tlsa" (DANE applied), "sts" (MTA-STS) or
	// "no-policy-found".
	PolicyType string
	// ResultType is "" when the session was secured as the policy asks
	// (or no policy asked anything), else a result type of RFC 8460
	// section 4.3: "starttls-not-supported", "certificate-host-mismatch",
	// "certificate-expired", "certificate-not-trusted",
	// "validation-failure", "tlsa-invalid", "dnssec-invalid",
	// "dane-required", "sts-policy-fetch-error", "sts-policy-invalid",
	// "sts-webpki-invalid".
	ResultType string
	// FailureReason says what went wrong, in words.
	FailureReason string
}

// Deliver sends the message to each recipient domain's MX hosts: the
// recipients grouped by domain (in the order they first appear), each
// domain's hosts tried in MX preference order (hosts of equal preference
// in random order; the domain itself when it has no MX record; none when
// its MX is the null MX "0 .", RFC 7505), each host at each of its
// addresses, moving on to the next after a connection failure, a timeout,
// a 4xx reply or a TLS failure, and stopping at a 5xx (the message is
// refused, wherever it goes) or when the outcome is unknown (the
// connection dropped after the end of data: another host might deliver it
// twice). The message is read again, from its start, for each attempt.
//
// Each host's TLS is its policy's: DANE where its TLSA records are
// authentic (DeliverOptions.Resolver must then be a validating resolver
// on a path you trust, such as one on 127.0.0.1); else the domain's
// MTA-STS policy; else STARTTLS when offered, the certificate checked as
// Options says. A message whose MailOptions ask for REQUIRETLS (RFC 8689)
// goes only to a host found through DNSSEC or listed by MTA-STS, over TLS
// with a verified certificate, that offers REQUIRETLS.
//
// It returns one DomainReceipt per domain, with every attempt in it; its
// error is for the input alone (no recipient, a bad address, no
// resolver), and a delivery that failed is in its DomainReceipt's Err.
func Deliver(ctx context.Context, env *Envelope, msg io.ReadSeeker, opts *DeliverOptions) ([]*DomainReceipt, error) {
	if env == nil || len(env.To) == 0 || msg == nil {
		return nil, errInput("Deliver needs an envelope with a recipient, and a message")
	}
	if opts == nil {
		opts = &DeliverOptions{}
	}
	groups, err := groupByDomain(env.To)
	if err != nil {
		return nil, err
	}
	d, err := newDeliverer(opts, msg)
	if err != nil {
		return nil, err
	}
	out := make([]*DomainReceipt, 0, len(groups))
	for _, g := range groups {
		e := *env
		e.To = g.Recipients
		out = append(out, d.domain(ctx, &e, g))
	}
	return out, nil
}

// groupByDomain groups recipients by domain, in the order the domains
// first appear.
func groupByDomain(to []string) ([]*DomainReceipt, error) {
	var groups []*DomainReceipt
	index := map[string]*DomainReceipt{}
	for _, rcpt := range to {
		at := strings.LastIndexByte(rcpt, '@')
		if at < 1 || at == len(rcpt)-1 {
			return nil, errInput("recipient %q has no domain to deliver to", rcpt)
		}
		domain, err := idna.Lookup.ToASCII(strings.TrimSuffix(rcpt[at+1:], "."))
		if err != nil {
			return nil, errInput("recipient %q: invalid domain: %v", rcpt, err)
		}
		domain = strings.ToLower(domain)
		g := index[domain]
		if g == nil {
			g = &DomainReceipt{Domain: domain}
			index[domain] = g
			groups = append(groups, g)
		}
		g.Recipients = append(g.Recipients, rcpt)
	}
	return groups, nil
}

// CheckMX reports how Deliver would reach domain, sending nothing: its MX
// hosts in order, whether the MX answer is DNSSEC-validated, its MTA-STS
// policy, and for every host at every address the TLS it gets under its
// policy (DANE, MTA-STS or none) in TLS-RPT's words, each connection
// ended with QUIT after TLS. The DomainReceipt's Receipt is nil, and its
// Err is the DNS's (no MX, NXDOMAIN, the null MX): each host's outcome is
// in its Attempt.
func CheckMX(ctx context.Context, domain string, opts *DeliverOptions) (*DomainReceipt, error) {
	groups, err := groupByDomain([]string{"postmaster@" + domain})
	if err != nil {
		return nil, err
	}
	d, err := newDeliverer(opts, nil)
	if err != nil {
		return nil, err
	}
	d.dryRun = true
	dr := d.domain(ctx, &Envelope{}, groups[0])
	dr.Recipients = nil
	if len(dr.Attempts) > 0 {
		dr.Err = nil // each host's outcome is in its attempt
	}
	return dr, nil
}

// deliverer is one Deliver (or CheckMX) call's state.
type deliverer struct {
	dns    *dnsClient
	opts   *DeliverOptions
	sts    *STSCache
	msg    io.ReadSeeker
	start  int64
	dryRun bool // CheckMX: every host, up to TLS, nothing sent
}

func newDeliverer(opts *DeliverOptions, msg io.ReadSeeker) (*deliverer, error) {
	if opts == nil {
		opts = &DeliverOptions{}
	}
	dc, err := newDNSClient(opts.Resolver)
	if err != nil {
		return nil, err
	}
	d := &deliverer{dns: dc, opts: opts, sts: opts.STSCache, msg: msg}
	if d.sts == nil {
		d.sts = NewSTSCache()
	}
	if msg != nil {
		if d.start, err = msg.Seek(0, io.SeekCurrent); err != nil {
			return nil, errInput("the message cannot be read again: %v", err)
		}
	}
	return d, nil
}

// domain delivers to one domain's hosts, filling dr.
func (d *deliverer) domain(ctx context.Context, env *Envelope, dr *DomainReceipt) *DomainReceipt {
	hosts, secure, err := d.dns.lookupMX(ctx, dr.Domain)
	if err != nil {
		dr.Err = err
		return dr
	}
	sts := d.stsPolicy(ctx, dr.Domain)
	dr.DNSSEC, dr.STS = secure, sts.policy
	requireTLS := env.MailOptions != nil && env.MailOptions.RequireTLS
	for _, h := range hosts {
		if ctx.Err() != nil {
			return contextEnded(ctx, dr)
		}
		base := Attempt{Host: h.Name, Preference: h.Preference, Implicit: h.Implicit}
		hp, err := d.hostPolicy(ctx, h.Name, secure, sts, requireTLS)
		if err != nil {
			base.Result, base.Err = hp.result("", err), err
			dr.Attempts, dr.Err = append(dr.Attempts, base), err
			continue
		}
		addrs, err := d.dns.lookupAddrs(ctx, h.Name)
		if err == nil && len(addrs) == 0 {
			err = fmt.Errorf("smtp: MX host %s has no address (A or AAAA)", h.Name)
		}
		if err != nil {
			base.Result, base.Err = hp.result("", nil), err
			dr.Attempts, dr.Err = append(dr.Attempts, base), err
			continue
		}
		for _, ip := range addrs {
			if ctx.Err() != nil {
				return contextEnded(ctx, dr)
			}
			a := base
			a.Addr = net.JoinHostPort(ip, d.port())
			check := hp.newCheck()
			dr.Receipt, a.TLS, a.Err = d.attempt(ctx, a.Addr, h.Name, env, hp, check)
			a.DANE, a.Result = hp.daneRecords(), hp.result(a.TLS, a.Err, check)
			dr.Attempts = append(dr.Attempts, a)
			dr.Err = a.Err
			if d.dryRun {
				continue // CheckMX: every host
			}
			if a.Err == nil || !tryNextHost(a.Err) {
				return dr
			}
		}
	}
	return dr
}

// contextEnded ends dr's delivery when the context has ended: no other
// host is tried, and a domain no host was tried for says why.
func contextEnded(ctx context.Context, dr *DomainReceipt) *DomainReceipt {
	if dr.Err == nil && dr.Receipt == nil {
		dr.Err = fmt.Errorf("smtp: delivery to %s: %w", dr.Domain, context.Cause(ctx))
	}
	return dr
}

func (d *deliverer) port() string {
	if d.opts.Port != "" {
		return d.opts.Port
	}
	return "25"
}

// attempt delivers to one address of host, as hp says.
func (d *deliverer) attempt(ctx context.Context, addr, host string, env *Envelope, hp *hostPolicy, check *webPKICheck) (*Receipt, string, error) {
	if d.msg != nil {
		if _, err := d.msg.Seek(d.start, io.SeekStart); err != nil {
			return nil, "", errInput("the message cannot be read again: %v", err)
		}
	}
	c, err := Dial(ctx, addr, hp.clientOptions(d.opts, host, check))
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	tlsDesc := ""
	if st, ok := c.TLSConnectionState(); ok {
		tlsDesc = tls.VersionName(st.Version) + ", " + tls.CipherSuiteName(st.CipherSuite)
	}
	if d.dryRun {
		return nil, tlsDesc, c.Quit(ctx)
	}
	if ok, _ := c.Extension("REQUIRETLS"); hp.requireTLS && !ok {
		c.Quit(ctx)
		return nil, tlsDesc, fmt.Errorf("%w: %s", ErrRequireTLSNotOffered, host)
	}
	r, err := c.Send(ctx, env, d.msg)
	if err != nil {
		return nil, tlsDesc, err
	}
	c.Quit(ctx)
	return r, tlsDesc, nil
}

// tryNextHost says whether another host may take the message after err:
// yes after a failure to connect, a timeout, a 4xx or a TLS failure; no
// after a 5xx, a bad input, or when the outcome is unknown.
func tryNextHost(err error) bool {
	if errors.Is(err, ErrDeliveryUnknown) {
		return false
	}
	switch Classify(err) {
	case ClassTemporary, ClassTimeout, ClassNetwork, ClassSecurity:
		return true
	}
	return false
}
