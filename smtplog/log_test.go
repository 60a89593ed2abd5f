package smtplog

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/internal/golden"
	"github.com/mailwire/smtp/internal/peer"
	"github.com/mailwire/smtp/internal/testcert"
)

var update = flag.Bool("update", false, "rewrite the golden files of the log tests")

var bg = context.Background()

// The opening of a scripted session, as package smtp's tests write it.
const greeting = peer.Greeting

func ehlo(exts ...string) string { return peer.EHLO(exts...) }

var testCA = testcert.NewCA("mailwire test CA")

func serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

// dialSteps starts a scripted peer and dials it with opts.
func dialSteps(t *testing.T, opts *smtp.Options, steps []peer.Step) (*smtp.Client, *peer.Server, error) {
	t.Helper()
	srv := peer.New(steps)
	t.Cleanup(srv.Close)
	c, err := smtp.Dial(bg, srv.Addr(), opts)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, srv, err
}

// peerResult waits for the peer and fails on any deviation from its script.
func peerResult(t *testing.T, srv *peer.Server) *peer.Result {
	t.Helper()
	res := srv.Wait()
	if len(res) == 0 {
		t.Fatal("the peer saw no connection")
	}
	if res[0].Err != nil {
		t.Fatalf("peer: %v", res[0].Err)
	}
	return res[0]
}

// portDialer dials target whatever address it is asked for, so that the
// session can name mail.example.test.
type portDialer struct{ target string }

func (d *portDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	return nd.DialContext(ctx, network, d.target)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// secretForms are the ways a password could leak into a log.
func secretForms(user, pass string) []string {
	return []string{pass, b64(pass), b64("\x00" + user + "\x00" + pass)}
}

// runFullSession runs fullSession with trace and returns the peer's result.
func runFullSession(t *testing.T, trace *smtp.Trace) *peer.Result {
	t.Helper()
	cert, pool := golden.PKI(t)
	srv := peer.New(golden.FullSession(cert))
	defer srv.Close()
	opts := &smtp.Options{
		Security:  smtp.StartTLS,
		TLSConfig: &tls.Config{RootCAs: pool},
		Pins:      []string{smtp.Pin(cert.Leaf)},
		LocalName: "client.example",
		Auth:      smtp.PasswordAuth("alice@example.test", "s3cret-P4ss"),
		Trace:     trace,
		Timeout:   3 * time.Second,
		Dialer:    &portDialer{target: srv.Addr()},
	}
	c, err := smtp.Dial(bg, "mail.example.test:587", opts)
	if err != nil {
		t.Fatalf("smtp.Dial: %v", err)
	}
	if _, err := c.Send(bg, &smtp.Envelope{From: "alice@example.test", To: []string{"bob@example.test"}}, strings.NewReader(golden.Message)); err != nil {
		t.Fatalf("first Send: %v", err)
	}
	r, err := c.Send(bg, &smtp.Envelope{From: "alice@example.test", To: []string{"carol@example.test", "nobody@example.test"}}, strings.NewReader(golden.Message))
	if err != nil || len(r.Rejected) != 1 {
		t.Fatalf("second Send = %+v, %v; want one rejection", r, err)
	}
	if err := c.Quit(bg); err != nil {
		t.Fatalf("Quit: %v", err)
	}
	return peerResult(t, srv)
}

func TestLogGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	runFullSession(t, Log(&buf))
	checkGolden(t, "testdata/logtrace.txt", buf.Bytes())
}

func TestExplainGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	runFullSession(t, Explain(&buf))
	checkGolden(t, "testdata/explaintrace.txt", buf.Bytes())
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -run %s -update rewrites it):\n%s", filepath.Base(path), t.Name(), got)
	}
	for _, secret := range secretForms(golden.User, golden.Password) {
		if bytes.Contains(got, []byte(secret)) {
			t.Errorf("the log holds the secret as %q", secret)
		}
	}
}

func TestLogNumbersConnections(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	trace := Log(&buf)
	for range 2 {
		srv := peer.New(peer.Script(greeting + ehlo("PIPELINING")))
		c, err := smtp.Dial(bg, srv.Addr(), &smtp.Options{Security: smtp.Plaintext, Trace: trace})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		srv.Close()
	}
	log := buf.String()
	for _, want := range []string{"port ", "(#0)\n", "#1 * Connected to 127.0.0.1 (127.0.0.1) port", "(#1)\n", "#1 < 220 peer.test ESMTP", "* Closing connection #0\n", "#1 * Closing connection #1\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestExplainWarnings(t *testing.T) {
	t.Parallel()
	soon := testCA.Issue(testcert.Leaf{NotAfter: time.Now().Add(10 * 24 * time.Hour)})
	steps := peer.Script(greeting + ehlo("STARTTLS", "AUTH PLAIN LOGIN") + "C: STARTTLS\nS: 220 Go ahead\n")
	steps = append(steps, peer.StartTLS(serverTLS(soon)))
	steps = append(steps, peer.Script(ehlo("SIZE 35882577"))...)
	var buf bytes.Buffer
	opts := &smtp.Options{Security: smtp.StartTLS, TLSConfig: &tls.Config{RootCAs: testCA.Pool()}, Timeout: 3 * time.Second}
	opts.Pins = []string{smtp.Pin(testCA.Cert)}
	opts.Trace = Explain(&buf)
	c, srv, err := dialSteps(t, opts, steps)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	peerResult(t, srv)
	log := buf.String()
	for _, want := range []string{
		"WARNING: AUTH with PLAIN or LOGIN is offered before TLS",
		"WARNING: the server's certificate expires on",
		"Note: no PIPELINING",
		"WARNING: the pin matched only through an intermediate or CA certificate",
		"the largest message is 34.2 MiB (35882577 bytes)",
		"the largest attachment is about 25.7 MiB",
		"* TLS (OUT), ClientHello (1)",
		"* TLS (IN), ServerHello (2)",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("explained log lacks %q:\n%s", want, log)
		}
	}
}

func TestSlog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := &smtp.Options{Security: smtp.Plaintext, Timeout: 3 * time.Second}
	opts.Trace = Slog(l)
	c, srv, err := dialSteps(t, opts, peer.Script(greeting+ehlo("PIPELINING")+"C: NOOP\nS: 250 2.0.0 Ok\n"))
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset() // from NOOP on
	if err := c.Noop(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Close()
	peerResult(t, srv)
	var records []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		records = append(records, r)
	}
	if len(records) < 3 {
		t.Fatalf("records = %v", records)
	}
	sent, recv := records[0], records[1]
	if sent["dir"] != "sent" || sent["line"] != "NOOP" || sent["conn"] == nil || sent["conn"] != recv["conn"] || sent["conn"] == float64(0) {
		t.Errorf("sent record = %v", sent)
	}
	if recv["dir"] != "received" || recv["code"] != "250" || recv["line"] != "250 2.0.0 Ok" {
		t.Errorf("received record = %v", recv)
	}
	if records[2]["event"] != "closed" {
		t.Errorf("last record = %v, want closed", records[2])
	}
}

// Server text reaches a person escaped: escape sequences, BEL, CR, NUL and
// DEL in a reply are shown, not acted on, in Log and Explain.
func TestServerTextIsTerminalSafe(t *testing.T) {
	t.Parallel()
	hostile := "550 5.1.1 \x1b[2J\x1b]0;pwned\x07no\rsuch\x00user\x7f\u009b31m"
	for _, explain := range []bool{false, true} {
		var log bytes.Buffer
		opts := &smtp.Options{Security: smtp.Plaintext, Timeout: 3 * time.Second}
		opts.Trace = Log(&log)
		if explain {
			opts.Trace = Explain(&log)
		}
		c, srv, err := dialSteps(t, opts, peer.Script(greeting+ehlo("PIPELINING", "X\x1b[1mBOLD")+"C: VRFY bob\nS: "+hostile+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Cmd(bg, "VRFY bob")
		if err == nil {
			t.Fatal("Cmd(VRFY) succeeded")
		}
		c.Close()
		peerResult(t, srv)
		for what, text := range map[string]string{"Error()": err.Error(), "log": log.String()} {
			if i := strings.IndexAny(text, "\x1b\x07\r\x00\x7f\u009b"); i >= 0 {
				t.Errorf("explain=%v: %s holds a raw control character at %d: %q", explain, what, i, text)
			}
			if !strings.Contains(text, `\x1b[2J\x1b]0;pwned\ano\rsuch\x00user\x7f\u009b31m`) {
				t.Errorf("explain=%v: %s does not show the reply escaped: %q", explain, what, text)
			}
		}
		if !strings.Contains(log.String(), `X\x1b[1mBOLD`) {
			t.Errorf("explain=%v: the EHLO keyword is not shown escaped: %q", explain, log.String())
		}
	}
}

// A failure the library knows a remedy for gets it as a note, in Go
// terms: the explained log is read by a Go programmer.
func TestExplainNamesTheRemedy(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	opts := &smtp.Options{Security: smtp.StartTLS, TLSConfig: &tls.Config{RootCAs: testCA.Pool()}, Timeout: 3 * time.Second, Trace: Explain(&buf)}
	_, _, err := dialSteps(t, opts, append(peer.Script(greeting+ehlo("PIPELINING")), peer.ExpectClose()))
	if !errors.Is(err, smtp.ErrStartTLSNotOffered) {
		t.Fatalf("Dial = %v", err)
	}
	if want := "  # To fix: " + smtp.RemedyNoStartTLS.Hint() + ".\n"; !strings.Contains(buf.String(), want) {
		t.Errorf("the explained log lacks %q:\n%s", want, buf.String())
	}
}
