package smtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailwire/smtp/internal/peer"
	"github.com/mailwire/smtp/internal/testcert"
)

var update = flag.Bool("update", false, "rewrite the golden files of the trace tests")

// goldenPKI is the fixed certificate of the golden logs, committed in
// testdata/golden so that every date and pin in the logs stays the same.
func goldenPKI(t testing.TB) (tls.Certificate, *x509.CertPool) {
	cert, err := tls.LoadX509KeyPair("testdata/golden/server.pem", "testdata/golden/server.key")
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile("testdata/golden/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	return cert, pool
}

// fullSession is STARTTLS, AUTH PLAIN, two messages (one recipient of the
// second refused) and QUIT, as a script for the peer.
func fullSession(cert tls.Certificate) []peer.Step {
	steps := peer.Script(`
		S: 220 mail.example.test ESMTP Postfix
		C: EHLO client.example
		S: 250-mail.example.test
		S: 250-PIPELINING
		S: 250-SIZE 104857600
		S: 250-STARTTLS
		S: 250-ENHANCEDSTATUSCODES
		S: 250 8BITMIME
		C: STARTTLS
		S: 220 2.0.0 Ready to start TLS
	`)
	steps = append(steps, peer.StartTLS(serverTLS(cert)))
	return append(steps, peer.Script(`
		C: EHLO client.example
		S: 250-mail.example.test
		S: 250-PIPELINING
		S: 250-SIZE 104857600
		S: 250-AUTH PLAIN LOGIN
		S: 250-ENHANCEDSTATUSCODES
		S: 250 8BITMIME
		C: AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQtUDRzcw==
		S: 235 2.7.0 Authentication successful
		C: MAIL FROM:<alice@example.test> SIZE=46
		C: RCPT TO:<bob@example.test>
		C: DATA
		S: 250 2.1.0 Ok
		S: 250 2.1.5 Ok
		S: 354 End data with <CR><LF>.<CR><LF>
		C: <data>
		S: 250 2.0.0 Ok: queued as 4Bq2ZP1xYz
		C: MAIL FROM:<alice@example.test> SIZE=46
		C: RCPT TO:<carol@example.test>
		C: RCPT TO:<nobody@example.test>
		C: DATA
		S: 250 2.1.0 Ok
		S: 250 2.1.5 Ok
		S: 550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown
		S: 354 End data with <CR><LF>.<CR><LF>
		C: <data>
		S: 250 2.0.0 Ok: queued as 4Bq2ZQ3kLm
		C: QUIT
		S: 221 2.0.0 Bye
	`)...)
}

const goldenMessage = "Subject: hello\r\n\r\nTwo messages, one session.\r\n"

// runFullSession runs fullSession with trace and returns the peer's result.
func runFullSession(t *testing.T, trace *Trace) *peer.Result {
	t.Helper()
	cert, pool := goldenPKI(t)
	srv := peer.New(fullSession(cert))
	defer srv.Close()
	opts := &Options{
		Security:  StartTLS,
		TLSConfig: &tls.Config{RootCAs: pool},
		Pins:      []string{Pin(cert.Leaf)},
		LocalName: "client.example",
		Auth:      PasswordAuth("alice@example.test", "s3cret-P4ss"),
		Trace:     trace,
		Timeout:   3 * time.Second,
		Dialer:    &portDialer{target: srv.Addr()},
	}
	c, err := Dial(bg, "mail.example.test:587", opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if _, err := c.Send(bg, &Envelope{From: "alice@example.test", To: []string{"bob@example.test"}}, strings.NewReader(goldenMessage)); err != nil {
		t.Fatalf("first Send: %v", err)
	}
	r, err := c.Send(bg, &Envelope{From: "alice@example.test", To: []string{"carol@example.test", "nobody@example.test"}}, strings.NewReader(goldenMessage))
	if err != nil || len(r.Rejected) != 1 {
		t.Fatalf("second Send = %+v, %v; want one rejection", r, err)
	}
	if err := c.Quit(bg); err != nil {
		t.Fatalf("Quit: %v", err)
	}
	return peerResult(t, srv)
}

func TestTraceReportsTheWireInOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var events []string
	record := func(prefix string) func(string) {
		return func(l string) { mu.Lock(); events = append(events, prefix+l); mu.Unlock() }
	}
	res := runFullSession(t, &Trace{LineSent: record("C: "), LineReceived: record("S: ")})

	// What the script says crossed the wire, in order, with the secret
	// redacted and the message content left out.
	var want []string
	for _, st := range strings.Split(scriptText(fullSession(goldenCertForText)), "\n") {
		if st == "" || st == "C: <data>" {
			continue
		}
		want = append(want, strings.Replace(st, "AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQtUDRzcw==", "[redacted]", 1))
	}
	if got := strings.Join(events, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("traced lines:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	// And the client's lines are the bytes the peer received, each once.
	wire := strings.ReplaceAll(string(res.Received), goldenMessage+".\r\n", "")
	wire = strings.Replace(wire, "AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQtUDRzcw==", "[redacted]", 1)
	var sent []string
	for _, e := range events {
		if l, ok := strings.CutPrefix(e, "C: "); ok {
			sent = append(sent, l)
		}
	}
	if got := strings.Join(sent, "\r\n") + "\r\n"; got != wire {
		t.Errorf("traced sent lines %q\nwire %q", got, wire)
	}
}

// goldenCertForText stands in for the certificate when a script is only
// read for its text.
var goldenCertForText tls.Certificate

// scriptText renders the C: and S: lines of a script, as the peer plays it.
func scriptText(steps []peer.Step) string {
	var b strings.Builder
	for _, st := range steps {
		b.WriteString(peer.Describe(st))
	}
	return b.String()
}

func TestLogTraceGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	runFullSession(t, LogTrace(&buf))
	checkGolden(t, "testdata/golden/logtrace.txt", buf.Bytes())
}

func TestExplainTraceGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	runFullSession(t, ExplainTrace(&buf))
	checkGolden(t, "testdata/golden/explaintrace.txt", buf.Bytes())
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
	for _, secret := range secretForms("alice@example.test", "s3cret-P4ss") {
		if bytes.Contains(got, []byte(secret)) {
			t.Errorf("the log holds the secret as %q", secret)
		}
	}
}

func TestLogTraceNumbersConnections(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	trace := LogTrace(&buf)
	for range 2 {
		srv := peer.New(peer.Script(greeting + ehlo("PIPELINING")))
		c, err := Dial(bg, srv.Addr(), &Options{Security: Plaintext, Trace: trace})
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

func TestExplainTraceWarnings(t *testing.T) {
	t.Parallel()
	soon := testCA.Issue(testcert.Leaf{NotAfter: time.Now().Add(10 * 24 * time.Hour)})
	steps := peer.Script(greeting + ehlo("STARTTLS", "AUTH PLAIN LOGIN") + "C: STARTTLS\nS: 220 Go ahead\n")
	steps = append(steps, peer.StartTLS(serverTLS(soon)))
	steps = append(steps, peer.Script(ehlo("SIZE 35882577"))...)
	var buf bytes.Buffer
	opts := tlsOpts(StartTLS)
	opts.Pins = []string{Pin(testCA.Cert)}
	opts.Trace = ExplainTrace(&buf)
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

func TestSlogTrace(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := plainOpts()
	opts.Trace = SlogTrace(l)
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
	if sent["dir"] != "sent" || sent["line"] != "NOOP" || sent["conn"] != float64(0) {
		t.Errorf("sent record = %v", sent)
	}
	if recv["dir"] != "received" || recv["code"] != "250" || recv["line"] != "250 2.0.0 Ok" {
		t.Errorf("received record = %v", recv)
	}
	if records[2]["event"] != "closed" {
		t.Errorf("last record = %v, want closed", records[2])
	}
}

func TestComposeTrace(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var sent []string
	mine := &Trace{LineSent: func(l string) { sent = append(sent, l) }}
	log := LogTrace(&buf)
	opts := plainOpts()
	opts.Trace = ComposeTrace(mine, nil, log)
	c, srv, err := dialSteps(t, opts, peer.Script(greeting+ehlo("PIPELINING")+"C: NOOP\nS: 250 Ok\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.Noop(bg)
	c.Close()
	peerResult(t, srv)
	if strings.Join(sent, ",") != "EHLO localhost,NOOP" || !strings.Contains(buf.String(), "> NOOP\n< 250 Ok\n") {
		t.Errorf("composed hooks saw %v and logged:\n%s", sent, buf.String())
	}
	if mine.Event != nil || log.LineSent != nil {
		t.Error("ComposeTrace modified a trace it was given")
	}
}

func TestEnhancedCodeDescription(t *testing.T) {
	t.Parallel()
	for code, want := range map[EnhancedCode]string{
		{5, 1, 1}: "bad destination mailbox address", {4, 2, 2}: "mailbox full", {5, 7, 30}: "REQUIRETLS support required",
		{5, 9, 9}: "unknown status 5.9.9", {4, 4, 99}: "network and routing status", {}: "",
	} {
		if got := code.Description(); got != want {
			t.Errorf("%v.Description() = %q, want %q", code, got, want)
		}
	}
}

// BenchmarkSendTraced is BenchmarkSend with a Trace that records lines:
// compare with BenchmarkSend (nil Trace) to see what tracing costs.
func BenchmarkSendTraced(b *testing.B) {
	addr := sink(b)
	var n int
	trace := &Trace{LineSent: func(string) { n++ }, LineReceived: func(string) { n++ }}
	c, err := Dial(context.Background(), addr, &Options{Security: Plaintext, Trace: trace})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	env := &Envelope{From: "alice@example.com", To: []string{"bob@example.com"}}
	var msg bytes.Reader
	b.ReportAllocs()
	for b.Loop() {
		msg.Reset(benchMessage)
		if _, err := c.Send(context.Background(), env, &msg); err != nil {
			b.Fatal(err)
		}
	}
}

// Server text reaches a person escaped: escape sequences, BEL, CR, NUL and
// DEL in a reply are shown, not acted on, in Error(), LogTrace and
// ExplainTrace.
func TestServerTextIsTerminalSafe(t *testing.T) {
	t.Parallel()
	hostile := "550 5.1.1 \x1b[2J\x1b]0;pwned\x07no\rsuch\x00user\x7f\u009b31m"
	for _, explain := range []bool{false, true} {
		var log bytes.Buffer
		opts := plainOpts()
		opts.Trace = LogTrace(&log)
		if explain {
			opts.Trace = ExplainTrace(&log)
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
