// Package dnstest is an authoritative DNS server for tests, serving one
// DNSSEC-signed zone: every answer with its RRSIG, NODATA and NXDOMAIN
// with the zone's NSEC records, the DNSKEY at the apex, signatures made
// when they are sent (so records can change during a test). A validating
// resolver (Unbound, started by scripts/unbound/up.sh with this zone's key
// as its trust anchor) can then tell a true answer from a forged one:
// Forge makes the server answer a name without signatures, as an attacker
// on the path would.
//
// The zone's key (testdata/dane.test.key and .private) is a test key,
// committed so that the resolver's trust anchor is known before the test
// starts.
package dnstest

import (
	"crypto"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Origin is the zone the committed key signs.
const Origin = "dane.test."

// TTL of every record: short, so that a resolver's cache does not keep
// one test's answer for the next.
const TTL = 1

// Zone is the signed zone and its server.
type Zone struct {
	key    *dns.DNSKEY
	signer crypto.Signer

	mu     sync.Mutex
	rrs    []dns.RR
	forged map[string]bool // names answered without signatures
}

// KeyFile is the path of the committed key, without its .key or .private.
func KeyFile() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "dane.test")
}

// TrustAnchor is the DNSKEY record a resolver trusts for the zone, as
// Unbound's trust-anchor option takes it.
func TrustAnchor() (string, error) {
	b, err := os.ReadFile(KeyFile() + ".key")
	if err != nil {
		return "", err
	}
	rr, err := dns.NewRR(string(b))
	if err != nil {
		return "", err
	}
	k := rr.(*dns.DNSKEY)
	return fmt.Sprintf("%s DNSKEY %d %d %d %s", k.Hdr.Name, k.Flags, k.Protocol, k.Algorithm, k.PublicKey), nil
}

// NewZone loads the committed key and starts with the apex's SOA and NS.
func NewZone() (*Zone, error) {
	pub, err := os.ReadFile(KeyFile() + ".key")
	if err != nil {
		return nil, err
	}
	rr, err := dns.NewRR(string(pub))
	if err != nil {
		return nil, err
	}
	key := rr.(*dns.DNSKEY)
	key.Hdr.Ttl = TTL
	f, err := os.Open(KeyFile() + ".private")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	priv, err := key.ReadPrivateKey(f, KeyFile()+".private")
	if err != nil {
		return nil, err
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("dnstest: the key cannot sign")
	}
	z := &Zone{key: key, signer: signer, forged: map[string]bool{}}
	err = z.Add(
		"dane.test. 1 IN SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 1",
		"dane.test. 1 IN NS ns.dane.test.",
		"ns.dane.test. 1 IN A 127.0.0.1",
	)
	return z, err
}

// Add adds records, in zone-file syntax, to the zone.
func (z *Zone) Add(records ...string) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			return fmt.Errorf("dnstest: %q: %v", r, err)
		}
		if !dns.IsSubDomain(Origin, rr.Header().Name) {
			return fmt.Errorf("dnstest: %s is outside %s", rr.Header().Name, Origin)
		}
		rr.Header().Name = dns.CanonicalName(rr.Header().Name)
		z.rrs = append(z.rrs, rr)
	}
	return nil
}

// Forge makes the server answer queries for name without signatures, as
// an attacker who can change answers but not sign them would.
func (z *Zone) Forge(name string) {
	z.mu.Lock()
	z.forged[dns.CanonicalName(name)] = true
	z.mu.Unlock()
}

// Serve answers on addr (UDP and TCP, "127.0.0.1:15354") until stop.
// The port is fixed (the resolver asks there) and the tests of several
// packages may want it at once: Serve waits up to a minute for it.
func (z *Zone) Serve(addr string) (stop func(), err error) {
	var pc net.PacketConn
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if pc, err = net.ListenPacket("udp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		return nil, err
	}
	udp := &dns.Server{PacketConn: pc, Handler: z}
	tcp := &dns.Server{Listener: ln, Handler: z}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	return func() {
		udp.Shutdown()
		tcp.Shutdown()
		pc.Close()
		ln.Close()
	}, nil
}

// ServeDNS answers one query.
func (z *Zone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := z.answer(req)
	w.WriteMsg(m)
}

func (z *Zone) answer(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	if !dns.IsSubDomain(Origin, name) {
		m.Rcode = dns.RcodeRefused
		return m
	}
	if o := req.IsEdns0(); o != nil {
		m.SetEdns0(4096, o.Do())
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	forged := z.forged[name]
	rrset := z.rrset(name, q.Qtype)
	switch {
	case len(rrset) > 0:
		m.Answer = rrset
		if !forged {
			m.Answer = append(m.Answer, z.sign(rrset))
		}
	case z.exists(name):
		m.Ns = z.denial(name, false)
	default:
		m.Rcode = dns.RcodeNameError
		m.Ns = z.denial(name, true)
	}
	return m
}

// rrset is the records of name and type, the DNSKEY and NSEC made here.
func (z *Zone) rrset(name string, qtype uint16) []dns.RR {
	switch {
	case qtype == dns.TypeDNSKEY && name == Origin:
		return []dns.RR{z.key}
	case qtype == dns.TypeNSEC:
		for _, n := range z.chain() {
			if n.Hdr.Name == name {
				return []dns.RR{n}
			}
		}
		return nil
	}
	var out []dns.RR
	for _, rr := range z.rrs {
		if rr.Header().Name == name && rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	return out
}

func (z *Zone) exists(name string) bool {
	for _, rr := range z.rrs {
		if rr.Header().Name == name {
			return true
		}
	}
	return name == Origin
}

// denial is the authority section of NODATA or NXDOMAIN: the SOA and the
// zone's NSEC records, each signed (the resolver takes the proofs it
// needs from them: the zone is small).
func (z *Zone) denial(name string, nx bool) []dns.RR {
	soa := z.rrset(Origin, dns.TypeSOA)
	out := append([]dns.RR{}, soa...)
	out = append(out, z.sign(soa))
	for _, n := range z.chain() {
		out = append(out, n, z.sign([]dns.RR{n}))
	}
	return out
}

// chain is the zone's NSEC records, in canonical order.
func (z *Zone) chain() []*dns.NSEC {
	types := map[string][]uint16{Origin: {dns.TypeDNSKEY}}
	for _, rr := range z.rrs {
		n := rr.Header().Name
		if !slices.Contains(types[n], rr.Header().Rrtype) {
			types[n] = append(types[n], rr.Header().Rrtype)
		}
	}
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	slices.SortFunc(names, canonicalCompare)
	out := make([]*dns.NSEC, len(names))
	for i, n := range names {
		bitmap := append(types[n], dns.TypeRRSIG, dns.TypeNSEC)
		slices.Sort(bitmap)
		out[i] = &dns.NSEC{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: TTL},
			NextDomain: names[(i+1)%len(names)], TypeBitMap: bitmap}
	}
	return out
}

// canonicalCompare orders names as DNSSEC does (RFC 4034 section 6.1):
// by their labels from the right, each compared as lower-case bytes.
func canonicalCompare(a, b string) int {
	la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
	for i := 1; i <= len(la) && i <= len(lb); i++ {
		if c := strings.Compare(strings.ToLower(la[len(la)-i]), strings.ToLower(lb[len(lb)-i])); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}

// sign makes the RRSIG of rrset, valid from an hour ago to an hour on.
func (z *Zone) sign(rrset []dns.RR) dns.RR {
	now := time.Now()
	sig := &dns.RRSIG{
		Hdr:        dns.RR_Header{Name: rrset[0].Header().Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: TTL},
		Algorithm:  z.key.Algorithm,
		Inception:  uint32(now.Add(-time.Hour).Unix()),
		Expiration: uint32(now.Add(time.Hour).Unix()),
		KeyTag:     z.key.KeyTag(),
		SignerName: Origin,
	}
	if err := sig.Sign(z.signer, rrset); err != nil {
		panic(fmt.Sprintf("dnstest: sign %s: %v", rrset[0].Header().Name, err))
	}
	return sig
}

// Start serves a new zone for test t where the validating resolver asks
// for it (MAILWIRE_DNSSEC_ZONE) until the test ends, and returns it with
// the resolver's address (MAILWIRE_UNBOUND). Without them (scripts/test.sh
// sets them) it skips the test, saying why.
func Start(t testing.TB) (zone *Zone, resolver string) {
	t.Helper()
	resolver, addr := os.Getenv("MAILWIRE_UNBOUND"), os.Getenv("MAILWIRE_DNSSEC_ZONE")
	if resolver == "" || addr == "" {
		t.Skip("no validating resolver: MAILWIRE_UNBOUND and MAILWIRE_DNSSEC_ZONE unset (scripts/test.sh starts Unbound with scripts/unbound/up.sh)")
	}
	zone, err := NewZone()
	if err != nil {
		t.Fatal(err)
	}
	stop, err := zone.Serve(addr)
	if err != nil {
		t.Fatalf("serve the zone on %s (fixed: the resolver asks there): %v", addr, err)
	}
	t.Cleanup(stop)
	return zone, resolver
}
