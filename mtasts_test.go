package smtp

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/mailwire/smtp/internal/testcert"
	"github.com/mailwire/smtp/smtptest"
)

func TestParseSTSPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body, want string // want: "mode mx... age" or "error"
	}{
		{"version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n", "enforce [mail.example.com *.example.net] 168h0m0s"},
		{"version: STSv1\r\nmode: testing\r\nmx: a.test\r\nmax_age: 86400\r\nextension: ignored\r\n", "testing [a.test] 24h0m0s"},
		{"version: STSv1\nmode: none\nmax_age: 99999999999\n", "error"},          // max_age beyond 32 bits
		{"version: STSv1\nmode: none\nmax_age: 40000000\n", "none [] 8766h0m0s"}, // capped at a year
		{"mode: enforce\nmx: a.test\nmax_age: 1\n", "error"},                     // no version
		{"version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n", "error"},      // no such mode
		{"version: STSv1\nmode: enforce\nmax_age: 1\n", "error"},                 // enforce with no mx
		{"version: STSv1\nmode: enforce\nmx: a.test\n", "error"},                 // no max_age
		{"version: STSv1\nmode enforce\n", "error"},                              // not key: value
	} {
		p, err := parseSTSPolicy([]byte(tc.body))
		got := "error"
		if err == nil {
			got = fmt.Sprintf("%s %v %v", p.Mode, p.MX, p.MaxAge)
			if p.MX == nil {
				got = fmt.Sprintf("%s [] %v", p.Mode, p.MaxAge)
			}
		}
		if got != tc.want {
			t.Errorf("%q: %s (%v), want %s", tc.body, got, err, tc.want)
		}
	}
}

func TestSTSPolicyMatches(t *testing.T) {
	t.Parallel()
	p := &STSPolicy{MX: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com": true, "MAIL.example.com.": true, "a.example.net": true,
		"example.net": false, "a.b.example.net": false, "mail2.example.com": false, "example.com": false,
	} {
		if p.Matches(host) != want {
			t.Errorf("Matches(%q) = %v", host, !want)
		}
	}
}

func TestParseSTSRecord(t *testing.T) {
	t.Parallel()
	if id, ok, err := parseSTSRecord([]string{"v=spf1 -all", "v=STSv1; id=20160831085700Z;"}); id != "20160831085700Z" || !ok || err != nil {
		t.Errorf("one record: %q %v %v", id, ok, err)
	}
	if _, ok, err := parseSTSRecord([]string{"v=spf1 -all"}); ok || err != nil {
		t.Errorf("none: %v %v", ok, err)
	}
	for _, bad := range [][]string{{"v=STSv1; id=1", "v=STSv1; id=2"}, {"v=STSv1;"}, {"v=STSv1; id=" + strings.Repeat("x", 33)}} {
		if _, _, err := parseSTSRecord(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// policyServer serves MTA-STS policies over HTTPS, by host name, with a
// certificate of a test CA for those names, and counts the fetches.
type policyServer struct {
	mu       sync.Mutex
	policies map[string]string // host → body ("" → 404)
	fetches  map[string]int
	client   *http.Client
}

func startPolicyServer(t *testing.T, policies map[string]string) *policyServer {
	t.Helper()
	ps := &policyServer{policies: policies, fetches: map[string]int{}}
	ca := testcert.NewCA("policy CA")
	var names []string
	for host := range policies {
		names = append(names, host)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.mu.Lock()
		body := ps.policies[r.Host]
		ps.fetches[r.Host]++
		ps.mu.Unlock()
		if body == "" || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, body)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(testcert.Leaf{Names: names})}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	ps.client = &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.Pool()},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr) // every policy host is this server
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return ps
}

func (ps *policyServer) fetched(host string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.fetches[host]
}

// MTA-STS through Deliver:
//   - enforce: a host not in the policy is never dialled; a listed host
//     without STARTTLS (as when the path strips it) gets nothing in
//     plaintext; the listed host with a valid certificate takes the
//     message. Each in TLS-RPT's words.
//   - testing: a certificate for another name is reported
//     (certificate-host-mismatch), and the message delivered all the same.
//   - a policy that cannot be fetched: reported (sts-policy-fetch-error),
//     the delivery goes on as without a policy.
//   - the cache: the same id, no second fetch; a new id, a new fetch.
func TestDeliverMTASTS(t *testing.T) {
	t.Parallel()
	servers, port := mxServers(t, map[string]*smtptest.Config{
		"127.0.0.2": {TLS: smtptest.StartTLS}, // localhost: the right one
		"127.0.0.3": {TLS: smtptest.NoTLS},    // listed, STARTTLS stripped
		"127.0.0.4": {TLS: smtptest.StartTLS}, // testing.test's, a certificate for another name
		"127.0.0.5": {TLS: smtptest.StartTLS}, // not in sts.test's policy
	})
	ps := startPolicyServer(t, map[string]string{
		"mta-sts.sts.test":     "version: STSv1\nmode: enforce\nmx: localhost\nmx: plain.sts.test\nmax_age: 86400\n",
		"mta-sts.testing.test": "version: STSv1\nmode: testing\nmx: *.testing.test\nmax_age: 86400\n",
		"mta-sts.fail.test":    "",
	})
	z := startTestDNS(t,
		`_mta-sts.sts.test. 300 IN TXT "v=STSv1; id=1"`,
		"sts.test. 300 IN MX 10 rogue.sts.test.", "rogue.sts.test. 300 IN A 127.0.0.5",
		"sts.test. 300 IN MX 20 plain.sts.test.", "plain.sts.test. 300 IN A 127.0.0.3",
		"sts.test. 300 IN MX 30 localhost.", "localhost. 300 IN A 127.0.0.2",
		`_mta-sts.testing.test. 300 IN TXT "v=STSv1; id=7"`,
		"testing.test. 300 IN MX 10 mx.testing.test.", "mx.testing.test. 300 IN A 127.0.0.4",
		`_mta-sts.fail.test. 300 IN TXT "v=STSv1; id=1"`,
		"fail.test. 300 IN MX 10 localhost.",
	)
	cache := NewSTSCache()
	roots := servers["127.0.0.2"].ClientTLSConfig().RootCAs
	roots.AppendCertsFromPEM(servers["127.0.0.4"].CACertPEM())
	opts := func() *DeliverOptions {
		return &DeliverOptions{STSCache: cache, STSHTTPClient: ps.client, Options: &Options{LocalName: "sender.test", TLSConfig: &tls.Config{RootCAs: roots}}}
	}
	out := deliver(t, z, port, []string{"bob@sts.test", "carol@testing.test", "dan@fail.test"}, opts())
	describe := func(dr *DomainReceipt) string {
		var lines []string
		for _, a := range dr.Attempts {
			lines = append(lines, fmt.Sprintf("%s %s/%s tls=%v err=%v", a.Host, a.Result.PolicyType, a.Result.ResultType, a.TLS != "", a.Err != nil))
		}
		return strings.Join(lines, "; ")
	}
	for i, want := range []string{
		"rogue.sts.test sts/validation-failure tls=false err=true; plain.sts.test sts/starttls-not-supported tls=false err=true; localhost sts/ tls=true err=false",
		"mx.testing.test sts/certificate-host-mismatch tls=true err=false",
		"localhost sts/sts-policy-fetch-error tls=true err=false",
	} {
		if got := describe(out[i]); out[i].Err != nil || got != want {
			t.Errorf("%s: %v\n got %s\nwant %s", out[i].Domain, out[i].Err, got, want)
		}
	}
	if n := len(servers["127.0.0.4"].Commands()); n == 0 || len(servers["127.0.0.4"].Messages()) != 1 {
		t.Errorf("the host of testing.test: %d commands, %d messages: want the message", n, len(servers["127.0.0.4"].Messages()))
	}
	if n := len(servers["127.0.0.5"].Commands()); n != 0 {
		t.Errorf("the host not in sts.test's policy was dialled (%d commands)", n)
	}
	if n := len(servers["127.0.0.3"].Messages()); n != 0 {
		t.Errorf("the stripped host got %d messages in plaintext", n)
	}

	// The cache: same id, no fetch; a new id, a new fetch.
	deliver(t, z, port, []string{"bob@sts.test"}, opts())
	if n := ps.fetched("mta-sts.sts.test"); n != 1 {
		t.Errorf("policy fetched %d times for the same id, want 1", n)
	}
	z.replace(t, "_mta-sts.sts.test.", dns.TypeTXT, `_mta-sts.sts.test. 300 IN TXT "v=STSv1; id=2"`)
	deliver(t, z, port, []string{"bob@sts.test"}, opts())
	if n := ps.fetched("mta-sts.sts.test"); n != 2 {
		t.Errorf("policy fetched %d times after the id changed, want 2", n)
	}
	// The TXT record hidden (as an attacker would): the cached policy
	// still binds, and the rogue host is still passed over.
	z.replace(t, "_mta-sts.sts.test.", dns.TypeTXT)
	out = deliver(t, z, port, []string{"bob@sts.test"}, opts())
	if a := out[0].Attempts; len(a) == 0 || a[0].Result.ResultType != "validation-failure" || a[0].Host != "rogue.sts.test" || len(servers["127.0.0.5"].Commands()) != 0 {
		t.Errorf("with the record hidden: %s", describe(out[0]))
	}
}

// FuzzParseSTSPolicy: any body either fails to parse or gives a policy
// that keeps the rules (a known mode, a max_age of a year at most, hosts
// for a mode that uses them); never a panic.
func FuzzParseSTSPolicy(f *testing.F) {
	f.Add([]byte("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n"))
	f.Add([]byte("version: STSv1\r\nmode: testing\r\nmx: a.test\r\nmax_age: 86400\r\n"))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 40000000\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseSTSPolicy(body)
		if err != nil {
			return
		}
		if p.Mode != "enforce" && p.Mode != "testing" && p.Mode != "none" {
			t.Fatalf("mode %q", p.Mode)
		}
		if p.MaxAge < 0 || p.MaxAge > maxSTSAge {
			t.Fatalf("max_age %v", p.MaxAge)
		}
		if p.Mode != "none" && len(p.MX) == 0 {
			t.Fatalf("mode %s with no mx", p.Mode)
		}
		for _, h := range []string{"a.test", "mail.example.com", ""} {
			p.Matches(h) // must not panic
		}
	})
}

// FuzzParseSTSRecord: a record's id, when taken, is 1 to 32 bytes.
func FuzzParseSTSRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;", "v=spf1 -all")
	f.Add("v=STSv1;", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		id, ok, err := parseSTSRecord([]string{a, b})
		if ok && err == nil && (id == "" || len(id) > 32) {
			t.Fatalf("id %q taken", id)
		}
	})
}
