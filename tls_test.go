package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailwire/smtp/internal/peer"
	"github.com/mailwire/smtp/internal/testcert"
)

// The test PKI, made once: a CA, a valid leaf for 127.0.0.1 and localhost,
// and the bad ones.
var (
	testCA      = testcert.NewCA("mailwire test CA")
	goodCert    = testCA.Issue(testcert.Leaf{})
	mailCert    = testCA.Issue(testcert.Leaf{Names: []string{"mail.test"}})
	otherCert   = testCA.Issue(testcert.Leaf{Names: []string{"mx.example.net", "smtp.example.net"}})
	expiredCert = testCA.Issue(testcert.Leaf{
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:  time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC),
	})
	selfSigned = (*testcert.CA)(nil).Issue(testcert.Leaf{})
)

func serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

func tlsOpts(mode Security) *Options {
	return &Options{Security: mode, TLSConfig: &tls.Config{RootCAs: testCA.Pool()}, Timeout: 3 * time.Second}
}

// startTLSScript is a session that upgrades with cert, then says EHLO again
// with other extensions, then runs after.
func startTLSScript(cert tls.Certificate, after string) []peer.Step {
	steps := peer.Script(greeting + ehlo("PIPELINING", "STARTTLS", "AUTH PLAIN") + "C: STARTTLS\nS: 220 2.0.0 Ready to start TLS\n")
	steps = append(steps, peer.StartTLS(serverTLS(cert)))
	return append(steps, peer.Script(ehlo("PIPELINING", "SIZE 2000", "AUTH PLAIN LOGIN")+after)...)
}

func dialSteps(t *testing.T, opts *Options, steps ...[]peer.Step) (*Client, *peer.Server, error) {
	t.Helper()
	srv := peer.New(steps...)
	t.Cleanup(srv.Close)
	c, err := Dial(context.Background(), srv.Addr(), opts)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, srv, err
}

func peerResult(t *testing.T, srv *peer.Server) *peer.Result {
	t.Helper()
	res := srv.Wait()
	if len(res) == 0 {
		t.Fatal("the peer saw no connection")
	}
	if res[0].Err != nil {
		t.Errorf("peer: %v", res[0].Err)
	}
	return res[0]
}

func TestStartTLS(t *testing.T) {
	t.Parallel()
	for _, mode := range []Security{SecurityAuto, StartTLS, StartTLSOptional} {
		t.Run(mode.String(), func(t *testing.T) {
			c, srv, err := dialSteps(t, tlsOpts(mode), startTLSScript(goodCert, "C: NOOP\nS: 250 2.0.0 Ok\n"))
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			state, ok := c.TLSConnectionState()
			if !ok || !state.HandshakeComplete || !state.PeerCertificates[0].Equal(goodCert.Leaf) {
				t.Errorf("TLSConnectionState() = %v, %v; want a completed handshake with the server's certificate", state.HandshakeComplete, ok)
			}
			// Only what the server said over TLS counts.
			if ok, _ := c.Extension("STARTTLS"); ok {
				t.Error("STARTTLS still in the table after TLS")
			}
			if _, params := c.Extension("AUTH"); params != "PLAIN LOGIN" || c.MaxMessageSize() != 2000 {
				t.Errorf("after TLS: AUTH %q, SIZE %d; want the post-TLS EHLO's", params, c.MaxMessageSize())
			}
			if err := c.Noop(bg); err != nil {
				t.Errorf("Noop over TLS: %v", err)
			}
			c.Close()
			peerResult(t, srv)
		})
	}
}

func TestStartTLSResponseInjection(t *testing.T) {
	t.Parallel()
	steps := peer.Script(greeting + ehlo("PIPELINING", "STARTTLS") + "C: STARTTLS\n")
	// An attacker's reply rides in the same packet as the 220.
	steps = append(steps, peer.Raw("220 2.0.0 Ready\r\n250-injected\r\n250 AUTH PLAIN\r\n"), peer.ExpectClose())
	_, srv, err := dialSteps(t, tlsOpts(StartTLS), steps)
	if !errors.Is(err, ErrStartTLSInjection) {
		t.Fatalf("Dial error = %v, want ErrStartTLSInjection", err)
	}
	if res := peerResult(t, srv); !strings.HasSuffix(string(res.Received), "STARTTLS\r\n") {
		t.Errorf("sent after the STARTTLS reply: %q", res.Received)
	}
}

func TestStartTLSNotOffered(t *testing.T) {
	t.Parallel()
	for _, mode := range []Security{SecurityAuto, StartTLS} {
		t.Run(mode.String(), func(t *testing.T) {
			steps := append(peer.Script(greeting+ehlo("PIPELINING", "AUTH PLAIN LOGIN")), peer.ExpectClose())
			_, srv, err := dialSteps(t, tlsOpts(mode), steps)
			if !errors.Is(err, ErrStartTLSNotOffered) {
				t.Fatalf("Dial error = %v, want ErrStartTLSNotOffered", err)
			}
			peerResult(t, srv) // nothing after EHLO: no AUTH, no MAIL
		})
	}
	t.Run("optional", func(t *testing.T) {
		c, srv, err := dialSteps(t, tlsOpts(StartTLSOptional), peer.Script(greeting+ehlo("PIPELINING")+"C: NOOP\nS: 250 Ok\n"))
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		if _, ok := c.TLSConnectionState(); ok {
			t.Error("TLS state on a plaintext connection")
		}
		if err := c.Noop(bg); err != nil {
			t.Error(err)
		}
		c.Close()
		peerResult(t, srv)
	})
}

func TestStartTLSRefused(t *testing.T) {
	t.Parallel()
	refuse := greeting + ehlo("PIPELINING", "STARTTLS") + "C: STARTTLS\nS: 454 4.7.0 TLS not available due to local problem\n"
	for _, mode := range []Security{SecurityAuto, StartTLS} {
		t.Run(mode.String(), func(t *testing.T) {
			steps := append(peer.Script(refuse), peer.ExpectClose())
			_, srv, err := dialSteps(t, tlsOpts(mode), steps)
			if !errors.Is(err, ErrStartTLSRefused) {
				t.Fatalf("Dial error = %v, want ErrStartTLSRefused", err)
			}
			want := "smtp: the server refused STARTTLS: 454 4.7.0 TLS not available due to local problem"
			if err.Error() != want {
				t.Errorf("Error() = %q, want %q", err, want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != 454 {
				t.Errorf("errors.As(*Error) = %v, want the 454", e)
			}
			peerResult(t, srv)
		})
	}
	t.Run("optional", func(t *testing.T) {
		c, srv, err := dialSteps(t, tlsOpts(StartTLSOptional), peer.Script(refuse+"C: NOOP\nS: 250 Ok\n"))
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		if err := c.Noop(bg); err != nil {
			t.Error(err)
		}
		c.Close()
		peerResult(t, srv)
	})
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	srv := peer.NewTLS(serverTLS(goodCert), peer.Script(greeting+ehlo("PIPELINING", "AUTH PLAIN")+"C: NOOP\nS: 250 Ok\n"))
	defer srv.Close()
	c, err := Dial(bg, srv.Addr(), tlsOpts(ImplicitTLS))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if _, ok := c.TLSConnectionState(); !ok {
		t.Error("no TLS state")
	}
	if err := c.Noop(bg); err != nil {
		t.Error(err)
	}
	c.Close()
	peerResult(t, srv)
}

// portDialer dials the test server whatever the address, so a test can
// name port 465.
type portDialer struct {
	target string
	dialed []string
}

func (d *portDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.dialed = append(d.dialed, addr)
	var nd net.Dialer
	return nd.DialContext(ctx, network, d.target)
}

func TestSecurityAutoOnPort465IsImplicitTLS(t *testing.T) {
	t.Parallel()
	srv := peer.NewTLS(serverTLS(mailCert), peer.Script(greeting+ehlo("PIPELINING")))
	defer srv.Close()
	d := &portDialer{target: srv.Addr()}
	opts := tlsOpts(SecurityAuto)
	opts.Dialer = d
	c, err := Dial(bg, "mail.test:465", opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	state, ok := c.TLSConnectionState()
	if !ok || state.ServerName != "mail.test" {
		t.Errorf("TLS = %v with %q, want implicit TLS to mail.test", ok, state.ServerName)
	}
	if len(d.dialed) != 1 || d.dialed[0] != "mail.test:465" {
		t.Errorf("dialed %v", d.dialed)
	}
	c.Close()
	peerResult(t, srv)
}

func TestPins(t *testing.T) {
	t.Parallel()
	leafPin, caPin := Pin(goodCert.Leaf), Pin(testCA.Cert)
	otherPin := Pin(otherCert.Leaf)
	tests := []struct {
		name string
		pins []string
		ok   bool
	}{
		{"leaf", []string{leafPin}, true},
		{"CA in the verified chain", []string{caPin}, true},
		{"several, one right", []string{otherPin, leafPin}, true},
		{"several in one string", []string{otherPin + ";" + leafPin}, true},
		{"wrong", []string{otherPin}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := tlsOpts(ImplicitTLS)
			opts.Pins = tt.pins
			script := peer.Script(greeting + ehlo("PIPELINING"))
			if !tt.ok {
				script = nil
			}
			srv := peer.NewTLS(serverTLS(goodCert), script)
			defer srv.Close()
			c, err := Dial(bg, srv.Addr(), opts)
			if tt.ok {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				c.Close()
				return
			}
			if !errors.Is(err, ErrPinMismatch) || !errors.Is(err, ErrTLSHandshake) {
				t.Fatalf("Dial error = %v, want ErrPinMismatch in ErrTLSHandshake", err)
			}
			want := "certificate pin mismatch: got " + leafPin + " (CN=localhost), " + caPin + " (CN=mailwire test CA,O=mailwire tests), want one of " + otherPin
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Error() = %q, want it to contain %q", err, want)
			}
		})
	}
}

func TestMalformedPin(t *testing.T) {
	t.Parallel()
	for _, pin := range []string{"", "sha256//", "sha1//abcd", "sha256//not base64!", "sha256//AAAA", "sha256//" + strings.Repeat("A", 43) + "=;oops"} {
		opts := tlsOpts(StartTLS)
		opts.Pins = []string{pin}
		if err := dialRefused(t, opts); err == nil || !strings.Contains(err.Error(), "pin") {
			t.Errorf("pin %q: Dial error = %v, want a pin error", pin, err)
		}
	}
}

func TestPinOnlyTrustOfSelfSigned(t *testing.T) {
	t.Parallel()
	pin := Pin(selfSigned.Leaf)
	insecure := func(pins ...string) *Options {
		return &Options{Security: ImplicitTLS, TLSConfig: &tls.Config{InsecureSkipVerify: true}, Pins: pins, Timeout: 3 * time.Second}
	}
	srv := peer.NewTLS(serverTLS(selfSigned), peer.Script(greeting+ehlo("PIPELINING")), nil, nil)
	defer srv.Close()
	c, err := Dial(bg, srv.Addr(), insecure(pin))
	if err != nil {
		t.Fatalf("pinned self-signed: %v", err)
	}
	c.Close()
	// A wrong pin is refused even with chain verification off.
	if _, err := Dial(bg, srv.Addr(), insecure(Pin(goodCert.Leaf))); !errors.Is(err, ErrPinMismatch) {
		t.Errorf("wrong pin on self-signed: %v, want ErrPinMismatch", err)
	}
	// A pin does not switch chain verification off.
	opts := tlsOpts(ImplicitTLS)
	opts.Pins = []string{pin}
	if _, err := Dial(bg, srv.Addr(), opts); !errors.Is(err, ErrTLSHandshake) || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("pinned self-signed with verification on: %v, want unknown authority", err)
	}
}

func TestVerifyConnectionAborts(t *testing.T) {
	t.Parallel()
	veto := errors.New("policy says no")
	steps := peer.Script(greeting + ehlo("STARTTLS") + "C: STARTTLS\nS: 220 Go ahead\n")
	steps = append(steps, peer.StartTLS(serverTLS(goodCert)))
	opts := tlsOpts(StartTLS)
	var seen tls.ConnectionState
	opts.TLSConfig.VerifyConnection = func(cs tls.ConnectionState) error { seen = cs; return veto }
	_, srv, err := dialSteps(t, opts, steps)
	if !errors.Is(err, veto) || !errors.Is(err, ErrTLSHandshake) {
		t.Fatalf("Dial error = %v, want the verifier's error in ErrTLSHandshake", err)
	}
	if len(seen.VerifiedChains) == 0 {
		t.Error("the verifier ran before chain verification")
	}
	if res := peerResult(t, srv); res.TLSErr == nil {
		t.Error("the server completed the handshake: the client did not abort it")
	}
}

func TestCAFileHoldingOnlyTheServerCertificate(t *testing.T) {
	t.Parallel()
	// The seed's way: a CA file with only the server's certificate.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemOf(selfSigned.Leaf))
	srv := peer.NewTLS(serverTLS(selfSigned), peer.Script(greeting+ehlo("PIPELINING")), nil)
	defer srv.Close()
	opts := &Options{Security: ImplicitTLS, TLSConfig: &tls.Config{RootCAs: pool}, Timeout: 3 * time.Second}
	c, err := Dial(bg, srv.Addr(), opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Close()
	// A proxy's certificate, even one from a CA, is refused.
	proxy := peer.NewTLS(serverTLS(goodCert), nil)
	defer proxy.Close()
	if _, err := Dial(bg, proxy.Addr(), opts); !errors.Is(err, ErrTLSHandshake) {
		t.Errorf("another certificate: %v, want ErrTLSHandshake", err)
	}
}

func TestCertificateErrorsInWords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cert tls.Certificate
		opts *Options
		want string
	}{
		{"hostname mismatch", otherCert, tlsOpts(ImplicitTLS),
			`smtp: TLS handshake with 127.0.0.1: certificate is not valid for "127.0.0.1": it names mx.example.net, smtp.example.net`},
		{"expired", expiredCert, tlsOpts(ImplicitTLS),
			"smtp: TLS handshake with 127.0.0.1: certificate for localhost, 127.0.0.1 expired on 2021-01-02T03:04:05Z"},
		{"unknown authority", goodCert, &Options{Security: ImplicitTLS, Timeout: 3 * time.Second},
			"smtp: TLS handshake with 127.0.0.1: certificate signed by an unknown authority (subject CN=localhost, issuer CN=mailwire test CA,O=mailwire tests)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := peer.NewTLS(serverTLS(tt.cert), nil)
			defer srv.Close()
			_, err := Dial(bg, srv.Addr(), tt.opts)
			if !errors.Is(err, ErrTLSHandshake) || err.Error() != tt.want {
				t.Errorf("Dial error = %q, want %q", err, tt.want)
			}
			if r := RemedyOf(err); (r == RemedyTrustCertificate) != (tt.name == "unknown authority") {
				t.Errorf("RemedyOf = %v", r)
			}
		})
	}
}

func TestTLSConfigIsNotModified(t *testing.T) {
	t.Parallel()
	cfg := &tls.Config{RootCAs: testCA.Pool()}
	srv := peer.NewTLS(serverTLS(goodCert), peer.Script(greeting+ehlo("PIPELINING")))
	defer srv.Close()
	c, err := Dial(bg, srv.Addr(), &Options{Security: ImplicitTLS, TLSConfig: cfg, Pins: []string{Pin(goodCert.Leaf)}})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if cfg.ServerName != "" || cfg.VerifyConnection != nil || cfg.MinVersion != 0 {
		t.Errorf("the caller's tls.Config was modified: %q %v %d", cfg.ServerName, cfg.VerifyConnection != nil, cfg.MinVersion)
	}
	if state, _ := c.TLSConnectionState(); state.Version < tls.VersionTLS12 {
		t.Errorf("TLS version %x, want at least 1.2", state.Version)
	}
}

func TestNewClientNeedsServerName(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	defer server.Close()
	_, err := NewClient(bg, client, &Options{Security: StartTLS})
	if !errors.Is(err, ErrInvalidArgument) || RemedyOf(err) != RemedyServerName || !strings.Contains(RemedyOf(err).Hint(), "TLSConfig.ServerName") {
		t.Errorf("NewClient error = %v (remedy %v), want a ServerName error", err, RemedyOf(err))
	}
}

// A plaintext client that meets a port speaking TLS first hears nothing: it
// is told so within Options.GreetingTimeout, with the mode to try, and the
// error is still a timeout.
func TestWrongSecurityNoGreeting(t *testing.T) {
	srv := peer.NewTLS(serverTLS(goodCert), peer.Script(greeting))
	t.Cleanup(srv.Close)
	opts := tlsOpts(StartTLS)
	opts.GreetingTimeout = 300 * time.Millisecond
	start := time.Now()
	_, err := Dial(context.Background(), srv.Addr(), opts)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Dial took %v, want about the 300ms greeting timeout", took)
	}
	if !errors.Is(err, ErrWrongSecurity) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrWrongSecurity and DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "smtp: greeting: no greeting within 300ms") {
		t.Errorf("error %q does not say what happened", err)
	}
	if r := RemedyOf(err); r != RemedySilentPort || !strings.Contains(r.Hint(), "ImplicitTLS") || !strings.Contains(r.Hint(), "GreetingTimeout") {
		t.Errorf("RemedyOf = %v (%q), want the silent port's", r, r.Hint())
	}
}

// The greeting wait is the shorter of GreetingTimeout's default and
// Options.Timeout.
func TestGreetingTimeoutDefault(t *testing.T) {
	c := &Client{}
	if got := c.greetingTimeout(); got != DefaultGreetingTimeout {
		t.Errorf("greetingTimeout() = %v, want %v", got, DefaultGreetingTimeout)
	}
	c.opts.Timeout = time.Second
	if got := c.greetingTimeout(); got != time.Second {
		t.Errorf("with Timeout 1s, greetingTimeout() = %v, want 1s", got)
	}
	c.opts.GreetingTimeout = time.Minute
	c.opts.Timeout = 0
	if got := c.greetingTimeout(); got != time.Minute {
		t.Errorf("with GreetingTimeout 1m, greetingTimeout() = %v, want 1m", got)
	}
}

// A TLS record where the greeting belongs names ImplicitTLS at once, and
// is no timeout.
func TestWrongSecurityTLSRecordAsGreeting(t *testing.T) {
	alert := "\x15\x03\x03\x00\x02\x02\x0a" // a TLS alert record: unexpected_message
	_, _, err := dialSteps(t, plainOpts(), []peer.Step{peer.Raw(alert), peer.Hang()})
	if !errors.Is(err, ErrWrongSecurity) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrWrongSecurity and no timeout", err)
	}
	if !strings.Contains(err.Error(), "this port speaks TLS from the first byte") || RemedyOf(err) != RemedyImplicitTLS {
		t.Errorf("error %q (remedy %v) does not say the port speaks TLS, or name ImplicitTLS", err, RemedyOf(err))
	}
}

// A TLS client on a port that greets in plaintext names StartTLS, quoting
// (escaped) what the server sent.
func TestWrongSecurityPlaintextAnswersTLS(t *testing.T) {
	_, _, err := dialSteps(t, tlsOpts(ImplicitTLS), []peer.Step{peer.Raw("220 \x1b[2J peer.test ESMTP\r\n"), peer.Hang()})
	if !errors.Is(err, ErrWrongSecurity) || !errors.Is(err, ErrTLSHandshake) {
		t.Fatalf("err = %v, want ErrWrongSecurity and ErrTLSHandshake", err)
	}
	if !strings.Contains(err.Error(), `the server answered in plaintext ("220 \x1b`) || RemedyOf(err) != RemedyStartTLS {
		t.Errorf("error %q (remedy %v) lacks the plaintext answer or StartTLS", err, RemedyOf(err))
	}
	if strings.Contains(err.Error(), "\x1b") {
		t.Errorf("error %q carries a raw ESC", err)
	}
}

// A greeting that comes late, but within GreetingTimeout, is a greeting.
func TestSlowGreetingWithinTimeout(t *testing.T) {
	opts := plainOpts()
	opts.GreetingTimeout = 2 * time.Second
	c, _, err := dialSteps(t, opts, append([]peer.Step{peer.Sleep(300 * time.Millisecond)}, peer.Script(greeting+ehlo("PIPELINING")+"C: QUIT\nS: 221 bye\n")...))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if err := c.Quit(context.Background()); err != nil {
		t.Errorf("Quit: %v", err)
	}
}

// What an attacker injected after the STARTTLS 220 is shown as received
// lines in the Trace, and quoted (escaped) in the error, not only counted.
func TestStartTLSInjectionShown(t *testing.T) {
	t.Parallel()
	var received []string
	opts := tlsOpts(StartTLS)
	opts.Trace = onLines(nil, func(l string) { received = append(received, l) })
	steps := peer.Script(greeting + ehlo("PIPELINING", "STARTTLS") + "C: STARTTLS\n")
	steps = append(steps, peer.Raw("220 2.0.0 Ready\r\n250-injected\r\n250 AUTH \x1b]0;owned\x07PLAIN\r\n"), peer.ExpectClose())
	_, srv, err := dialSteps(t, opts, steps)
	if !errors.Is(err, ErrStartTLSInjection) || !strings.Contains(err.Error(), `250-injected\r\n250 AUTH \x1b]0;owned\aPLAIN`) {
		t.Fatalf("Dial error = %v, want the injected bytes quoted", err)
	}
	if strings.ContainsAny(err.Error(), "\x1b\x07") {
		t.Errorf("raw control bytes in the error: %q", err)
	}
	got := strings.Join(received, "|")
	if !strings.Contains(got, "220 2.0.0 Ready|250-injected|250 AUTH \x1b]0;owned\x07PLAIN") {
		t.Errorf("trace = %q, want the injected lines as received lines", got)
	}
	peerResult(t, srv)
}

// A certificate whose names hold escape sequences is named, escaped, in
// the error.
func TestCertificateNamesEscaped(t *testing.T) {
	t.Parallel()
	evil := testCA.Issue(testcert.Leaf{Names: []string{"mx\x1b[31m.example"}})
	steps := append(peer.Script(greeting+ehlo("PIPELINING", "STARTTLS")+"C: STARTTLS\nS: 220 go\n"), peer.StartTLS(serverTLS(evil)))
	_, _, err := dialSteps(t, tlsOpts(StartTLS), steps)
	if err == nil || !strings.Contains(err.Error(), `mx\x1b[31m.example`) || strings.Contains(err.Error(), "\x1b") {
		t.Fatalf("Dial error = %q, want the certificate's name escaped", err)
	}
}

// GreetingTimeout bounds the wait for the greeting's first byte only: a
// server that starts "220-" at once and pauses before the rest (Postfix's
// postscreen) is not taken for a silent TLS port.
func TestGreetingTimeoutCoversTheFirstByteOnly(t *testing.T) {
	t.Parallel()
	opts := plainOpts()
	opts.GreetingTimeout = 200 * time.Millisecond
	steps := append([]peer.Step{peer.Raw("220-peer.test ESMTP\r\n"), peer.Sleep(500 * time.Millisecond)},
		peer.Script("S: 220 peer.test ESMTP\n"+ehlo("PIPELINING")+"C: QUIT\nS: 221 bye\n")...)
	c, _, err := dialSteps(t, opts, steps)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Quit(bg)
}
