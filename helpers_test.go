package smtp

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailwire/smtp/internal/peer"
)

// greeting and ehlo build the opening of a scripted session.
const greeting = "S: 220 peer.test ESMTP\n"

func ehlo(exts ...string) string {
	var b strings.Builder
	b.WriteString("C: EHLO localhost\n")
	lines := append([]string{"peer.test greets localhost"}, exts...)
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		b.WriteString("S: 250" + sep + l + "\n")
	}
	return b.String()
}

// plainOpts are the options of a test over the scripted peer: no TLS, a
// short timeout so that a test stuck on a wrong script fails fast.
func plainOpts() *Options {
	return &Options{Security: Plaintext, Timeout: 3 * time.Second}
}

// dialScript starts a scripted peer running script and dials it.
func dialScript(t *testing.T, script string) (*Client, *peer.Server) {
	t.Helper()
	srv := peer.New(peer.Script(script))
	t.Cleanup(srv.Close)
	c, err := Dial(context.Background(), srv.Addr(), plainOpts())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, srv
}

// finish closes the client and returns the peer's result, failing the test
// on any deviation from the script.
func finish(t *testing.T, c *Client, srv *peer.Server) *peer.Result {
	t.Helper()
	c.Close()
	res := srv.Wait()
	if len(res) == 0 {
		t.Fatal("the peer saw no connection")
	}
	if err := res[0].Err; err != nil {
		t.Errorf("peer: %v", err)
	}
	return res[0]
}

func pemOf(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// dialRefused dials a fresh listener with opts and returns Dial's error,
// failing the test if Dial made a connection at all: a bad option must be
// refused before anything reaches the network.
func dialRefused(t *testing.T, opts *Options) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, dialErr := Dial(context.Background(), ln.Addr().String(), opts)
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(50 * time.Millisecond))
	if conn, err := ln.Accept(); err == nil {
		conn.Close()
		t.Errorf("Dial connected before refusing the options (%v)", dialErr)
	}
	return dialErr
}

// onLines is a Trace that hands the lines sent and received to the given
// funcs (either may be nil).
func onLines(sent, received func(string)) *Trace {
	return &Trace{Event: func(ev Event) {
		switch {
		case ev.Kind == EventLineSent && sent != nil:
			sent(ev.Line)
		case ev.Kind == EventLineReceived && received != nil:
			received(ev.Line)
		}
	}}
}
