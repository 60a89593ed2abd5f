package smtp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailwire/smtp/smtptest"
)

// testDNS is an authoritative DNS server for test zones on 127.0.0.1: it
// answers from its records, NXDOMAIN for a name it has no record of, and
// counts the questions.
type testDNS struct {
	addr string
	mu   sync.Mutex
	rrs  []dns.RR
	asks map[string]int // "MX example.test." → times asked
	// ad sets the AD flag on every answer, as a validating resolver
	// that vouches for them would (the real one is Unbound, in
	// dane_unbound_test.go).
	ad bool
	// servfail lists names answered SERVFAIL, as a validating resolver
	// answers a bogus one.
	servfail map[string]bool
	// held lists names never answered, with what to do when one is
	// asked for (a resolver gone silent at a chosen moment).
	held map[string]func()
}

func startTestDNS(t *testing.T, records ...string) *testDNS {
	t.Helper()
	z := &testDNS{asks: map[string]int{}}
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatalf("record %q: %v", r, err)
		}
		z.rrs = append(z.rrs, rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(z.answer)}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	z.addr = pc.LocalAddr().String()
	return z
}

func (z *testDNS) answer(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	q := r.Question[0]
	z.mu.Lock()
	z.asks[dns.TypeToString[q.Qtype]+" "+strings.ToLower(q.Name)]++
	m.AuthenticatedData = z.ad
	if onAsk, ok := z.held[strings.ToLower(q.Name)]; ok {
		z.mu.Unlock()
		onAsk()
		return
	}
	if z.servfail[strings.ToLower(q.Name)] {
		z.mu.Unlock()
		m.Rcode, m.AuthenticatedData = dns.RcodeServerFailure, false
		w.WriteMsg(m)
		return
	}
	known := false
	for _, rr := range z.rrs {
		if !strings.EqualFold(rr.Header().Name, q.Name) {
			continue
		}
		known = true
		if rr.Header().Rrtype == q.Qtype {
			m.Answer = append(m.Answer, rr)
		}
	}
	z.mu.Unlock()
	if !known {
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
}

// vouch makes the server set the AD flag, as a validating resolver that
// vouches for its answers does.
func (z *testDNS) vouch(ad bool) {
	z.mu.Lock()
	z.ad = ad
	z.mu.Unlock()
}

// fail makes the server answer SERVFAIL for name, as a validating
// resolver answers a bogus one.
func (z *testDNS) fail(name string) {
	z.mu.Lock()
	if z.servfail == nil {
		z.servfail = map[string]bool{}
	}
	z.servfail[name] = true
	z.mu.Unlock()
}

// hold makes the server never answer for name, calling onAsk each time
// it is asked.
func (z *testDNS) hold(name string, onAsk func()) {
	z.mu.Lock()
	if z.held == nil {
		z.held = map[string]func(){}
	}
	z.held[name] = onAsk
	z.mu.Unlock()
}

// replace drops name's records of type rrtype and adds records.
func (z *testDNS) replace(t *testing.T, name string, rrtype uint16, records ...string) {
	t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	kept := z.rrs[:0]
	for _, rr := range z.rrs {
		if !(strings.EqualFold(rr.Header().Name, name) && rr.Header().Rrtype == rrtype) {
			kept = append(kept, rr)
		}
	}
	z.rrs = kept
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatalf("record %q: %v", r, err)
		}
		z.rrs = append(z.rrs, rr)
	}
}

func (z *testDNS) asked(q string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.asks[q]
}

// mxServers starts an smtptest server on each of the loopback addresses
// ips (127.0.0.2...), all on one port, as MX hosts all listen on 25; a
// nil Config leaves that address with nothing listening.
func mxServers(t *testing.T, cfgs map[string]*smtptest.Config) (map[string]*smtptest.Server, string) {
	t.Helper()
	for try := 0; try < 20; try++ {
		probe, err := net.Listen("tcp", "127.0.0.9:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(probe.Addr().String())
		probe.Close()
		servers := map[string]*smtptest.Server{}
		ok := true
		for ip, cfg := range cfgs {
			if cfg == nil {
				continue
			}
			s, err := smtptest.Start(cfg, net.JoinHostPort(ip, port))
			if err != nil {
				ok = false
				break
			}
			servers[ip] = s
			t.Cleanup(func() { s.Close() })
		}
		if ok {
			return servers, port
		}
		for _, s := range servers {
			s.Close()
		}
	}
	t.Fatal("no port free on every loopback address")
	return nil, ""
}

func plainMX() *smtptest.Config { return &smtptest.Config{TLS: smtptest.NoTLS} }

var testMessage = "From: ann@sender.test\r\nSubject: direct\r\n\r\nhello\r\n"

func deliver(t *testing.T, z *testDNS, port string, to []string, opts *DeliverOptions) []*DomainReceipt {
	t.Helper()
	if opts == nil {
		opts = &DeliverOptions{}
	}
	opts.Resolver, opts.Port = z.addr, port
	if opts.Options == nil {
		opts.Options = &Options{LocalName: "sender.test"}
	}
	out, err := Deliver(context.Background(), &Envelope{From: "ann@sender.test", To: to}, strings.NewReader(testMessage), opts)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	return out
}

// Hosts in preference order; past one that refuses the connection and one
// that answers 451, to the third; the 451 host and the third keep what
// they got.
func TestDeliverFallsBackInPreferenceOrder(t *testing.T) {
	t.Parallel()
	servers, port := mxServers(t, map[string]*smtptest.Config{
		"127.0.0.2": {TLS: smtptest.NoTLS, CommandErrors: map[string]*smtptest.Reply{"MAIL": {Code: 451, EnhancedCode: smtptest.EnhancedCode{4, 3, 0}, Message: "try later"}}},
		"127.0.0.3": plainMX(),
		"127.0.0.4": nil, // nothing listens
	})
	z := startTestDNS(t,
		"example.test. 300 IN MX 30 mx3.example.test.",
		"example.test. 300 IN MX 10 mx1.example.test.",
		"example.test. 300 IN MX 20 mx2.example.test.",
		"mx1.example.test. 300 IN A 127.0.0.4",
		"mx2.example.test. 300 IN A 127.0.0.2",
		"mx3.example.test. 300 IN A 127.0.0.3",
	)
	out := deliver(t, z, port, []string{"bob@example.test"}, nil)
	if len(out) != 1 {
		t.Fatalf("%d domain receipts, want 1", len(out))
	}
	dr := out[0]
	if dr.Err != nil || dr.Receipt == nil || len(dr.Receipt.Accepted) != 1 {
		t.Fatalf("delivery: %v, receipt %+v", dr.Err, dr.Receipt)
	}
	var got []string
	for _, a := range dr.Attempts {
		got = append(got, fmt.Sprintf("%s %d %v", a.Host, a.Preference, Classify(a.Err)))
	}
	want := []string{"mx1.example.test 10 network", "mx2.example.test 20 temporary", "mx3.example.test 30 none"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("attempts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := len(servers["127.0.0.2"].Messages()); n != 0 {
		t.Errorf("the 451 host kept %d messages", n)
	}
	if m := servers["127.0.0.3"].Messages(); len(m) != 1 || m[0].Helo != "sender.test" || m[0].To[0] != "bob@example.test" {
		t.Errorf("the third host got %v", m)
	}
}

// A 5xx is final: the next host is not tried. An unknown outcome (the
// connection dropped after the end of data) is final too: another host
// could deliver it twice.
func TestDeliverStopsAtPermanentOrUnknown(t *testing.T) {
	t.Parallel()
	servers, port := mxServers(t, map[string]*smtptest.Config{
		"127.0.0.2": {TLS: smtptest.NoTLS, CommandErrors: map[string]*smtptest.Reply{"MAIL": {Code: 550, EnhancedCode: smtptest.EnhancedCode{5, 7, 1}, Message: "sender refused"}}},
		"127.0.0.3": {TLS: smtptest.NoTLS, DropAt: smtptest.StepAfterData},
		"127.0.0.4": plainMX(),
	})
	z := startTestDNS(t,
		"refuses.test. 300 IN MX 10 mx1.refuses.test.",
		"refuses.test. 300 IN MX 20 mx2.refuses.test.",
		"mx1.refuses.test. 300 IN A 127.0.0.2",
		"mx2.refuses.test. 300 IN A 127.0.0.4",
		"drops.test. 300 IN MX 10 mx1.drops.test.",
		"drops.test. 300 IN MX 20 mx2.drops.test.",
		"mx1.drops.test. 300 IN A 127.0.0.3",
		"mx2.drops.test. 300 IN A 127.0.0.4",
	)
	out := deliver(t, z, port, []string{"bob@refuses.test", "carol@drops.test"}, nil)
	if len(out) != 2 || out[0].Domain != "refuses.test" || out[1].Domain != "drops.test" {
		t.Fatalf("receipts %+v", out)
	}
	if e := out[0].Err; Classify(e) != ClassPermanent || len(out[0].Attempts) != 1 || !strings.Contains(e.Error(), "550 5.7.1") {
		t.Errorf("refuses.test: %v after %d attempts, want the 550 after 1", e, len(out[0].Attempts))
	}
	if e := out[1].Err; !errors.Is(e, ErrDeliveryUnknown) || len(out[1].Attempts) != 1 {
		t.Errorf("drops.test: %v after %d attempts, want ErrDeliveryUnknown after 1", e, len(out[1].Attempts))
	}
	if n := len(servers["127.0.0.4"].Messages()); n != 0 {
		t.Errorf("the second hosts got %d messages after a final outcome", n)
	}
	if n := len(servers["127.0.0.3"].Messages()); n != 1 {
		t.Errorf("the dropping host kept %d messages, want 1 (delivered, unknown to the client)", n)
	}
}

// No MX record: the domain itself (RFC 5321 section 5.1). The null MX:
// no attempt at all (RFC 7505). NXDOMAIN: no attempt.
func TestDeliverImplicitAndNullMX(t *testing.T) {
	t.Parallel()
	servers, port := mxServers(t, map[string]*smtptest.Config{"127.0.0.2": plainMX()})
	z := startTestDNS(t,
		"nomx.test. 300 IN A 127.0.0.2",
		"null.test. 300 IN MX 0 .",
		"null.test. 300 IN A 127.0.0.2",
	)
	out := deliver(t, z, port, []string{"bob@NoMX.test", "carol@null.test", "dan@nowhere.test"}, nil)
	if len(out) != 3 {
		t.Fatalf("%d receipts", len(out))
	}
	if a := out[0].Attempts; out[0].Err != nil || len(a) != 1 || !a[0].Implicit || a[0].Host != "nomx.test" {
		t.Errorf("nomx.test: %v, attempts %+v", out[0].Err, a)
	}
	if !errors.Is(out[1].Err, ErrNullMX) || len(out[1].Attempts) != 0 || z.asked("A null.test.") != 0 {
		t.Errorf("null.test: %v, %d attempts, A asked %d times", out[1].Err, len(out[1].Attempts), z.asked("A null.test."))
	}
	if !errors.Is(out[2].Err, ErrNoSuchDomain) || len(out[2].Attempts) != 0 {
		t.Errorf("nowhere.test: %v, %d attempts", out[2].Err, len(out[2].Attempts))
	}
	if m := servers["127.0.0.2"].Messages(); len(m) != 1 || len(m[0].To) != 1 || m[0].To[0] != "bob@NoMX.test" {
		t.Errorf("the server got %v, want bob's message only", m)
	}
}

// Recipients grouped per domain, each domain's host given only its own.
func TestDeliverGroupsRecipientsByDomain(t *testing.T) {
	t.Parallel()
	servers, port := mxServers(t, map[string]*smtptest.Config{"127.0.0.2": plainMX(), "127.0.0.3": plainMX()})
	z := startTestDNS(t,
		"a.test. 300 IN MX 10 mx.a.test.", "mx.a.test. 300 IN A 127.0.0.2",
		"b.test. 300 IN MX 10 mx.b.test.", "mx.b.test. 300 IN A 127.0.0.3",
	)
	out := deliver(t, z, port, []string{"bob@a.test", "carol@B.test", "dan@a.test"}, nil)
	if len(out) != 2 || strings.Join(out[0].Recipients, ",") != "bob@a.test,dan@a.test" || strings.Join(out[1].Recipients, ",") != "carol@B.test" {
		t.Fatalf("groups %+v %+v", out[0], out[1])
	}
	if m := servers["127.0.0.2"].Messages(); len(m) != 1 || strings.Join(m[0].To, ",") != "bob@a.test,dan@a.test" {
		t.Errorf("a.test's host got %v", m)
	}
	if m := servers["127.0.0.3"].Messages(); len(m) != 1 || strings.Join(m[0].To, ",") != "carol@B.test" {
		t.Errorf("b.test's host got %v", m)
	}
}

// STARTTLS is used when offered; with RequireTLS a host without it is
// passed over for one with it (whose certificate is verified against the
// MX host's name).
func TestDeliverRequireTLS(t *testing.T) {
	t.Parallel()
	servers, port := mxServers(t, map[string]*smtptest.Config{"127.0.0.2": plainMX(), "127.0.0.3": {TLS: smtptest.StartTLS}})
	z := startTestDNS(t,
		"tls.test. 300 IN MX 10 plain.tls.test.", "plain.tls.test. 300 IN A 127.0.0.2",
		"tls.test. 300 IN MX 20 localhost.", "localhost. 300 IN A 127.0.0.3",
	)
	opts := func(require bool) *DeliverOptions {
		return &DeliverOptions{RequireTLS: require, Options: &Options{LocalName: "sender.test", TLSConfig: servers["127.0.0.3"].ClientTLSConfig()}}
	}
	out := deliver(t, z, port, []string{"bob@tls.test"}, opts(false))
	if a := out[0].Attempts; out[0].Err != nil || len(a) != 1 || a[0].TLS != "" {
		t.Errorf("opportunistic: %v, attempts %+v: want plaintext to the first host", out[0].Err, a)
	}
	out = deliver(t, z, port, []string{"bob@tls.test"}, opts(true))
	a := out[0].Attempts
	if out[0].Err != nil || len(a) != 2 || Classify(a[0].Err) != ClassSecurity || !strings.HasPrefix(a[1].TLS, "TLS 1.3") {
		t.Errorf("RequireTLS: %v, attempts %+v: want the first passed over, TLS 1.3 to the second", out[0].Err, a)
	}
	if m := servers["127.0.0.3"].Messages(); len(m) != 1 || !m[0].TLS {
		t.Errorf("the TLS host got %v", m)
	}
}

// Hosts of equal preference come in random order; lower preferences
// first always.
func TestLookupMXOrder(t *testing.T) {
	t.Parallel()
	z := startTestDNS(t,
		"eq.test. 300 IN MX 20 c.eq.test.",
		"eq.test. 300 IN MX 10 a.eq.test.",
		"eq.test. 300 IN MX 10 b.eq.test.",
	)
	dc, err := newDNSClient(z.addr)
	if err != nil {
		t.Fatal(err)
	}
	orders := map[string]bool{}
	for range 64 {
		hosts, _, err := dc.lookupMX(context.Background(), "eq.test")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, h := range hosts {
			names = append(names, h.Name)
		}
		if len(names) != 3 || names[2] != "c.eq.test" {
			t.Fatalf("order %v: the preference 20 host must come last", names)
		}
		orders[strings.Join(names, ",")] = true
	}
	if !orders["a.eq.test,b.eq.test,c.eq.test"] || !orders["b.eq.test,a.eq.test,c.eq.test"] {
		t.Errorf("orders seen in 64 lookups: %v, want both of the equal hosts first", orders)
	}
}

func TestDeliverBadInput(t *testing.T) {
	t.Parallel()
	for _, env := range []*Envelope{nil, {From: "a@b.test"}, {From: "a@b.test", To: []string{"nodomain"}}, {From: "a@b.test", To: []string{"bob@"}}} {
		_, err := Deliver(context.Background(), env, strings.NewReader(testMessage), &DeliverOptions{Resolver: "127.0.0.1:1"})
		if Classify(err) != ClassInvalidArgument {
			t.Errorf("Deliver(%+v) = %v, want an invalid-argument error", env, err)
		}
	}
}

// silentHost accepts connections on addr and never says a word; it calls
// the function onAccept holds, if any, for each connection it accepts.
func silentHost(t *testing.T, addr string, onAccept *atomic.Pointer[func()]) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			if f := onAccept.Load(); f != nil {
				(*f)()
			}
		}
	}()
}

// A host that never greets: with a Timeout, the next host takes the
// message; with the context ending while the first host holds the
// session, Deliver returns at once and tries no other host.
func TestDeliverSilentHostAndCancel(t *testing.T) {
	t.Parallel()
	servers, port := mxServers(t, map[string]*smtptest.Config{"127.0.0.3": plainMX()})
	var onAccept atomic.Pointer[func()]
	silentHost(t, "127.0.0.2:"+port, &onAccept)
	z := startTestDNS(t,
		"silent.test. 300 IN MX 10 mx1.silent.test.", "mx1.silent.test. 300 IN A 127.0.0.2",
		"silent.test. 300 IN MX 20 mx2.silent.test.", "mx2.silent.test. 300 IN A 127.0.0.3",
	)
	out := deliver(t, z, port, []string{"bob@silent.test"}, &DeliverOptions{Options: &Options{LocalName: "sender.test", Timeout: 300 * time.Millisecond}})
	if a := out[0].Attempts; out[0].Err != nil || len(a) != 2 || Classify(a[0].Err) != ClassTimeout {
		t.Fatalf("timeout: %v, attempts %+v: want the silent host timed out, the next delivered", out[0].Err, a)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelOnAccept := func() { time.AfterFunc(50*time.Millisecond, cancel) }
	onAccept.Store(&cancelOnAccept)
	res, err := Deliver(ctx, &Envelope{From: "ann@sender.test", To: []string{"bob@silent.test"}}, strings.NewReader(testMessage),
		&DeliverOptions{Resolver: z.addr, Port: port, Options: &Options{LocalName: "sender.test", Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if dr := res[0]; !errors.Is(dr.Err, context.Canceled) || len(dr.Attempts) != 1 || dr.Attempts[0].Host != "mx1.silent.test" {
		t.Errorf("cancelled: %v after attempts %+v: want the context's end at the first host, no second host", dr.Err, dr.Attempts)
	}
	if n := len(servers["127.0.0.3"].Messages()); n != 1 {
		t.Errorf("the second host has %d messages, want the 1 of the first delivery only", n)
	}
}

// The context ending while the resolver is asked for the first host's
// address: Deliver says so and asks nothing about the second host.
func TestDeliverCancelDuringAddressLookup(t *testing.T) {
	t.Parallel()
	z := startTestDNS(t,
		"held.test. 300 IN MX 10 mx1.held.test.", "mx1.held.test. 300 IN A 127.0.0.2",
		"held.test. 300 IN MX 20 mx2.held.test.", "mx2.held.test. 300 IN A 127.0.0.3",
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelled atomic.Int64
	z.hold("mx1.held.test.", func() { cancelled.Store(time.Now().UnixNano()); cancel() })
	res, err := Deliver(ctx, &Envelope{From: "ann@sender.test", To: []string{"bob@held.test"}}, strings.NewReader(testMessage),
		&DeliverOptions{Resolver: z.addr, Port: "1", Options: &Options{LocalName: "sender.test", Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	// miekg/dns alone would wait out its 2 s read timeout.
	if d := time.Since(time.Unix(0, cancelled.Load())); d > 1500*time.Millisecond {
		t.Errorf("Deliver returned %v after the cancel: the question was not given up", d)
	}
	dr := res[0]
	if !errors.Is(dr.Err, context.Canceled) || len(dr.Attempts) != 1 || dr.Attempts[0].Host != "mx1.held.test" {
		t.Errorf("%v after attempts %+v: want the context's end while mx1's address was asked, no other host", dr.Err, dr.Attempts)
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if n := z.asks["A mx2.held.test."] + z.asks["AAAA mx2.held.test."]; n != 0 {
		t.Errorf("mx2's address asked %d times after the context ended", n)
	}
}

// The context ended before Deliver starts: no question, no host, the
// context's error.
func TestDeliverContextAlreadyEnded(t *testing.T) {
	t.Parallel()
	z := startTestDNS(t, "gone.test. 300 IN MX 10 mx1.gone.test.", "mx1.gone.test. 300 IN A 127.0.0.2")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Deliver(ctx, &Envelope{From: "ann@sender.test", To: []string{"bob@gone.test"}}, strings.NewReader(testMessage),
		&DeliverOptions{Resolver: z.addr, Port: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if dr := res[0]; !errors.Is(dr.Err, context.Canceled) || len(dr.Attempts) != 0 {
		t.Errorf("%v after %d attempts: want the context's error and no attempt", dr.Err, len(dr.Attempts))
	}
}

// A resolver that never answers: Deliver ends with the context, saying so.
func TestDeliverSilentResolver(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	out, err := Deliver(ctx, &Envelope{From: "ann@sender.test", To: []string{"bob@example.test"}}, strings.NewReader(testMessage),
		&DeliverOptions{Resolver: pc.LocalAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second || out[0].Err == nil || len(out[0].Attempts) != 0 {
		t.Errorf("after %v: %v, %d attempts: want the DNS's failure soon, no attempt", d, out[0].Err, len(out[0].Attempts))
	}
}

// failingReader fails after its first bytes.
type failingReader struct{ r *strings.Reader }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.r.Len() < 10 {
		return 0, errors.New("disk gone")
	}
	return f.r.Read(p[:min(len(p), 5)])
}
func (f *failingReader) Seek(off int64, whence int) (int64, error) { return f.r.Seek(off, whence) }

// A message reader that fails part-way: no host keeps a message, and the
// delivery says it failed.
func TestDeliverReaderFails(t *testing.T) {
	t.Parallel()
	servers, port := mxServers(t, map[string]*smtptest.Config{"127.0.0.2": plainMX(), "127.0.0.3": plainMX()})
	z := startTestDNS(t,
		"r.test. 300 IN MX 10 mx1.r.test.", "mx1.r.test. 300 IN A 127.0.0.2",
		"r.test. 300 IN MX 20 mx2.r.test.", "mx2.r.test. 300 IN A 127.0.0.3",
	)
	out, err := Deliver(context.Background(), &Envelope{From: "ann@sender.test", To: []string{"bob@r.test"}},
		&failingReader{strings.NewReader(testMessage + strings.Repeat("x", 5000))}, &DeliverOptions{Resolver: z.addr, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err == nil || out[0].Receipt != nil || !strings.Contains(out[0].Err.Error(), "disk gone") {
		t.Errorf("delivery: %v, receipt %+v: want the reader's failure", out[0].Err, out[0].Receipt)
	}
	for ip, s := range servers {
		if n := len(s.Messages()); n != 0 {
			t.Errorf("%s kept %d messages from a reader that failed", ip, n)
		}
	}
}
