package smtp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// The DNS that direct delivery needs: MX hosts in the order RFC 5321
// section 5.1 gives them, and their addresses, asked of one resolver the
// caller names (or the system's), through github.com/miekg/dns so that
// the answer's flags (the AD bit that DANE needs) are there to read.

// ErrNullMX is the error of a domain that says it takes no mail: its one MX
// record is "0 ." (RFC 7505). It is permanent: trying again cannot help.
var ErrNullMX = errors.New("smtp: the domain accepts no mail (null MX, RFC 7505)")

// ErrNoSuchDomain is the error of a recipient domain that does not exist
// (the resolver answered NXDOMAIN): permanent.
var ErrNoSuchDomain = errors.New("smtp: the recipient domain does not exist (NXDOMAIN)")

// dnsClient asks one resolver, over UDP and then TCP when the answer was
// truncated.
type dnsClient struct {
	server string // host:port
}

// newDNSClient uses server ("host:port", or a host for port 53), or the
// first nameserver of /etc/resolv.conf when server is "".
func newDNSClient(server string) (*dnsClient, error) {
	if server == "" {
		conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(conf.Servers) == 0 {
			return nil, fmt.Errorf("smtp: no DNS resolver named, and none in /etc/resolv.conf: %v", err)
		}
		server = net.JoinHostPort(conf.Servers[0], conf.Port)
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "53")
	}
	return &dnsClient{server: server}, nil
}

// query asks for name's records of type qtype, with the DO bit (DNSSEC
// records and the AD flag wanted), and returns the answer whatever its
// rcode; an error only when no answer came.
func (d *dnsClient) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(4096, true)
	m.AuthenticatedData = true
	r, err := d.exchange(ctx, "udp", m)
	if err == nil && r.Truncated {
		r, err = d.exchange(ctx, "tcp", m)
	}
	if err != nil && ctx.Err() != nil {
		err = context.Cause(ctx) // the context ended the wait, not the resolver
	}
	if err != nil {
		return nil, fmt.Errorf("smtp: DNS %s %s at %s: %w", dns.TypeToString[qtype], name, d.server, err)
	}
	return r, nil
}

// exchange sends m over network and reads the answer. miekg/dns honours
// only a context's deadline; a cancel ends the wait here too, by closing
// the connection (a deadline set then could be overwritten by miekg's).
func (d *dnsClient) exchange(ctx context.Context, network string, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: network}
	conn, err := c.DialContext(ctx, d.server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	return r, err
}

// mxHost is a host to deliver to: its name and MX preference, and
// whether it stands for the domain itself (no MX record: RFC 5321's
// implicit MX).
type mxHost struct {
	Name       string
	Preference uint16
	Implicit   bool
}

// lookupMX returns domain's mail hosts, lowest preference first, hosts of
// equal preference in random order (RFC 5321 section 5.1); the domain
// itself when it has no MX record but an address; ErrNullMX for "0 .";
// ErrNoSuchDomain for NXDOMAIN. secure says the resolver validated the
// answer (its AD flag).
func (d *dnsClient) lookupMX(ctx context.Context, domain string) (hosts []mxHost, secure bool, err error) {
	hosts, r, err := d.lookupMXAnswer(ctx, domain)
	return hosts, err == nil && r.AuthenticatedData, err
}

func (d *dnsClient) lookupMXAnswer(ctx context.Context, domain string) ([]mxHost, *dns.Msg, error) {
	r, err := d.query(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, nil, err
	}
	switch r.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, r, fmt.Errorf("%w: %s", ErrNoSuchDomain, domain)
	default:
		return nil, r, fmt.Errorf("smtp: DNS MX %s: %s", domain, dns.RcodeToString[r.Rcode])
	}
	var hosts []mxHost
	null := false
	for _, rr := range r.Answer {
		mx, ok := rr.(*dns.MX)
		if !ok {
			continue // a CNAME on the way
		}
		if mx.Mx == "." {
			null = true
			continue
		}
		hosts = append(hosts, mxHost{Name: strings.TrimSuffix(strings.ToLower(mx.Mx), "."), Preference: mx.Preference})
	}
	if null && len(hosts) == 0 {
		return nil, r, fmt.Errorf("%w: %s", ErrNullMX, domain)
	}
	if len(hosts) == 0 {
		return []mxHost{{Name: strings.ToLower(domain), Implicit: true}}, r, nil
	}
	rand.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
	slices.SortStableFunc(hosts, func(a, b mxHost) int { return int(a.Preference) - int(b.Preference) })
	return hosts, r, nil
}

// lookupAddrs returns host's IPv4 then IPv6 addresses (none is not an
// error: the host is then skipped, as an MX without an address is).
func (d *dnsClient) lookupAddrs(ctx context.Context, host string) ([]string, error) {
	var addrs []string
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		r, err := d.query(ctx, host, qtype)
		if err != nil {
			return addrs, err
		}
		for _, rr := range r.Answer {
			switch a := rr.(type) {
			case *dns.A:
				addrs = append(addrs, a.A.String())
			case *dns.AAAA:
				addrs = append(addrs, a.AAAA.String())
			}
		}
	}
	return addrs, nil
}
