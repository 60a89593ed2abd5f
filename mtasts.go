package smtp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// MTA-STS (RFC 8461): a domain publishes, over HTTPS, which MX hosts it
// has and that they must be reached over TLS with a certificate valid for
// their name; a TXT record says a policy exists and which one.

// STSPolicy is a domain's MTA-STS policy (RFC 8461 section 3.2).
type STSPolicy struct {
	// Mode is "enforce" (deliver only to the listed hosts, over verified
	// TLS), "testing" (deliver anyway, report what would have failed) or
	// "none".
	Mode string
	// MX are the host patterns: "mail.example.com", "*.example.net" (one
	// label for the star).
	MX []string
	// MaxAge is how long the policy may be kept.
	MaxAge time.Duration
	// ID is the id of the TXT record it was fetched for.
	ID string
	// Fetched is when it was fetched.
	Fetched time.Time
}

// maxSTSAge caps a policy's max_age (RFC 8461 section 3.2: a year).
const maxSTSAge = 31557600 * time.Second

// maxSTSPolicyBytes bounds the policy body read.
const maxSTSPolicyBytes = 64 << 10

// Matches says whether host is one the policy lists (RFC 8461 section
// 4.1): equal, or "*.rest" for a host of one more label ending in rest.
func (p *STSPolicy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		pat = strings.ToLower(strings.TrimSuffix(pat, "."))
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if _, tail, found := strings.Cut(host, "."); found && tail == rest {
				return true
			}
		} else if pat == host {
			return true
		}
	}
	return false
}

// parseSTSPolicy reads a policy body: "key: value" lines (CRLF or LF).
func parseSTSPolicy(body []byte) (*STSPolicy, error) {
	p := &STSPolicy{}
	version, age := "", ""
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("smtp: MTA-STS policy: line %q is not key: value", line)
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "version":
			version = v
		case "mode":
			p.Mode = v
		case "mx":
			p.MX = append(p.MX, v)
		case "max_age":
			age = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("smtp: MTA-STS policy: %v", err)
	}
	secs, err := strconv.ParseUint(age, 10, 32)
	switch {
	case version != "STSv1":
		return nil, fmt.Errorf("smtp: MTA-STS policy: version %q, want STSv1", version)
	case p.Mode != "enforce" && p.Mode != "testing" && p.Mode != "none":
		return nil, fmt.Errorf("smtp: MTA-STS policy: mode %q, want enforce, testing or none", p.Mode)
	case err != nil:
		return nil, fmt.Errorf("smtp: MTA-STS policy: max_age %q: want seconds", age)
	case p.Mode != "none" && len(p.MX) == 0:
		return nil, fmt.Errorf("smtp: MTA-STS policy: mode %s lists no mx", p.Mode)
	}
	p.MaxAge = min(time.Duration(secs)*time.Second, maxSTSAge)
	return p, nil
}

// parseSTSRecord reads the TXT records of _mta-sts.<domain>: the id of the
// one that starts "v=STSv1" (RFC 8461 section 3.1); ok false when none
// does; an error when several do or its id is missing.
func parseSTSRecord(txts []string) (id string, ok bool, err error) {
	n := 0
	for _, t := range txts {
		if !strings.HasPrefix(t, "v=STSv1") {
			continue
		}
		n++
		for _, field := range strings.Split(t, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(field), "=")
			if k == "id" {
				id = v
			}
		}
	}
	switch {
	case n == 0:
		return "", false, nil
	case n > 1:
		return "", true, errors.New("smtp: MTA-STS: several v=STSv1 records")
	case id == "" || len(id) > 32:
		return "", true, errors.New("smtp: MTA-STS: the record's id is missing or longer than 32")
	}
	return id, true, nil
}

// STSCache keeps MTA-STS policies between Deliver calls, each for its
// max_age, as RFC 8461 section 5.1 asks: a policy fetched once protects
// the deliveries after it, even when an attacker hides the TXT record.
// Safe for concurrent use.
type STSCache struct {
	mu sync.Mutex
	m  map[string]*STSPolicy
}

// NewSTSCache returns an empty cache.
func NewSTSCache() *STSCache { return &STSCache{m: map[string]*STSPolicy{}} }

func (c *STSCache) get(domain string, now time.Time) *STSPolicy {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.m[domain]
	if p == nil || now.Sub(p.Fetched) > p.MaxAge {
		return nil
	}
	return p
}

func (c *STSCache) put(domain string, p *STSPolicy) {
	c.mu.Lock()
	c.m[domain] = p
	c.mu.Unlock()
}

// stsOutcome is a domain's MTA-STS state for a delivery: its policy (nil:
// none applies), or why none could be had (a TLS-RPT result type).
type stsOutcome struct {
	policy     *STSPolicy
	resultType string // sts-policy-fetch-error, sts-policy-invalid, sts-webpki-invalid
	reason     string
}

// stsPolicy finds domain's policy: the cached one while its id is still
// the published one (or nothing is published), else a new fetch.
func (d *deliverer) stsPolicy(ctx context.Context, domain string) stsOutcome {
	now := time.Now()
	cached := d.sts.get(domain, now)
	txts, err := d.dns.lookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		if cached != nil {
			return stsOutcome{policy: cached}
		}
		return stsOutcome{}
	}
	id, ok, err := parseSTSRecord(txts)
	switch {
	case !ok:
		return stsOutcome{policy: cached} // none published: the cached one still binds
	case err != nil && cached != nil:
		return stsOutcome{policy: cached}
	case err != nil:
		return stsOutcome{resultType: "sts-policy-invalid", reason: err.Error()}
	case cached != nil && cached.ID == id:
		return stsOutcome{policy: cached}
	}
	p, out := d.fetchSTSPolicy(ctx, domain)
	if p == nil {
		if cached != nil {
			return stsOutcome{policy: cached}
		}
		return out
	}
	p.ID, p.Fetched = id, now
	d.sts.put(domain, p)
	return stsOutcome{policy: p}
}

// fetchSTSPolicy gets https://mta-sts.<domain>/.well-known/mta-sts.txt:
// a valid certificate for that name, no redirect, 200, text/plain.
func (d *deliverer) fetchSTSPolicy(ctx context.Context, domain string) (*STSPolicy, stsOutcome) {
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, stsOutcome{resultType: "sts-policy-fetch-error", reason: err.Error()}
	}
	resp, err := d.stsClient().Do(req)
	if err != nil {
		var certErr *tls.CertificateVerificationError
		if errors.As(err, &certErr) {
			return nil, stsOutcome{resultType: "sts-webpki-invalid", reason: err.Error()}
		}
		return nil, stsOutcome{resultType: "sts-policy-fetch-error", reason: err.Error()}
	}
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || mt != "text/plain" {
		return nil, stsOutcome{resultType: "sts-policy-fetch-error", reason: fmt.Sprintf("%s: %s, %q", url, resp.Status, mt)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSTSPolicyBytes))
	if err != nil {
		return nil, stsOutcome{resultType: "sts-policy-fetch-error", reason: err.Error()}
	}
	p, err := parseSTSPolicy(body)
	if err != nil {
		return nil, stsOutcome{resultType: "sts-policy-invalid", reason: err.Error()}
	}
	return p, stsOutcome{}
}

// stsClient is the caller's client, or one that resolves through the
// delivery's resolver, trusts Options.TLSConfig's roots (or the
// system's), and follows no redirect (RFC 8461 section 3.3).
func (d *deliverer) stsClient() *http.Client {
	if d.opts.STSHTTPClient != nil {
		return d.opts.STSHTTPClient
	}
	var roots *x509.CertPool
	if d.opts.Options != nil && d.opts.Options.TLSConfig != nil {
		roots = d.opts.Options.TLSConfig.RootCAs
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second}
	return &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				ips, err := d.dns.lookupAddrs(ctx, host)
				if err != nil || len(ips) == 0 {
					return nil, fmt.Errorf("smtp: MTA-STS: %s has no address: %v", host, err)
				}
				return dialer.DialContext(ctx, network, net.JoinHostPort(ips[0], port))
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// lookupTXT returns name's TXT strings, each record's joined.
func (d *dnsClient) lookupTXT(ctx context.Context, name string) ([]string, error) {
	r, err := d.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("smtp: DNS TXT %s: %s", name, dns.RcodeToString[r.Rcode])
	}
	var out []string
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, nil
}

// webPKICheck verifies a chain for host as a browser would, keeping the
// error: for MTA-STS, which in testing mode reports a failure without
// failing the delivery.
type webPKICheck struct {
	roots *x509.CertPool
	host  string
	err   error
}

func (w *webPKICheck) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		w.err = errors.New("no certificate")
		return w.err
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, w.err = cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: w.roots, Intermediates: inter, DNSName: w.host})
	return w.err
}

// certResultType is a certificate error in TLS-RPT's words.
func certResultType(err error) string {
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	switch {
	case errors.As(err, &host):
		return "certificate-host-mismatch"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "certificate-expired"
	case errors.As(err, &unknown):
		return "certificate-not-trusted"
	case errors.Is(err, ErrStartTLSNotOffered), errors.Is(err, ErrStartTLSRefused):
		return "starttls-not-supported"
	}
	return "validation-failure"
}
