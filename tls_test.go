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
