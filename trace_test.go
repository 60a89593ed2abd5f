package smtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailwire/smtp/internal/golden"
	"github.com/mailwire/smtp/internal/peer"
	"github.com/mailwire/smtp/smtptest"
)

const goldenMessage = golden.Message

// runFullSession runs fullSession with trace and returns the peer's result.
func runFullSession(t *testing.T, trace *Trace) *peer.Result {
	t.Helper()
	cert, pool := golden.PKI(t)
	srv := peer.New(golden.FullSession(cert))
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
	res := runFullSession(t, onLines(record("C: "), record("S: ")))

	// What the script says crossed the wire, in order, with the secret
	// redacted and the message content left out.
	var want []string
	for _, st := range strings.Split(scriptText(golden.FullSession(goldenCertForText)), "\n") {
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

func TestComposeTrace(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var sent []string
	mine := onLines(func(l string) { sent = append(sent, l) }, nil)
	log := &Trace{Event: func(ev Event) {
		switch ev.Kind {
		case EventLineSent:
			buf.WriteString("> " + ev.Line + "\n")
		case EventLineReceived:
			buf.WriteString("< " + ev.Line + "\n")
		}
	}}
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
	if mine.TLSRecords || log.TLSRecords {
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
	trace := onLines(func(string) { n++ }, func(string) { n++ })
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
// DEL in a reply are shown, not acted on, in Error() (smtplog's tests check
// the logs).
func TestServerTextIsTerminalSafe(t *testing.T) {
	t.Parallel()
	hostile := "550 5.1.1 \x1b[2J\x1b]0;pwned\x07no\rsuch\x00user\x7f\u009b31m"
	c, srv, err := dialSteps(t, plainOpts(), peer.Script(greeting+ehlo("PIPELINING")+"C: VRFY bob\nS: "+hostile+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Cmd(bg, "VRFY bob")
	if err == nil {
		t.Fatal("Cmd(VRFY) succeeded")
	}
	c.Close()
	peerResult(t, srv)
	if i := strings.IndexAny(err.Error(), "\x1b\x07\r\x00\x7f\u009b"); i >= 0 {
		t.Errorf("Error() holds a raw control character at %d: %q", i, err)
	}
	if !strings.Contains(err.Error(), `\x1b[2J\x1b]0;pwned\ano\rsuch\x00user\x7f\u009b31m`) {
		t.Errorf("Error() does not show the reply escaped: %q", err)
	}
}

// A trace given with the context reports that call's events, besides
// Options.Trace: Dial's (connection, TLS), then one Send's and no other's.
func TestWithTrace(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	var mu sync.Mutex
	kinds := map[string][]EventKind{}
	collect := func(name string) *Trace {
		return &Trace{Event: func(ev Event) { mu.Lock(); kinds[name] = append(kinds[name], ev.Kind); mu.Unlock() }}
	}
	opts := realOpts(srv, StartTLS)
	opts.Trace = collect("options")
	c, err := Dial(WithTrace(context.Background(), collect("dial")), srv.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Send(WithTrace(context.Background(), collect("send")), realEnv, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(context.Background(), realEnv, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	has := func(name string, k EventKind) bool { return slices.Contains(kinds[name], k) }
	switch {
	case !has("dial", EventConnectDone) || !has("dial", EventTLSHandshakeDone) || has("dial", EventDataDone):
		t.Errorf("Dial's trace: %v", kinds["dial"])
	case has("send", EventConnectStart) || !has("send", EventLineSent) || !has("send", EventLineReceived) || !has("send", EventIdle):
		t.Errorf("Send's trace: %v", kinds["send"])
	}
	if n, m := count(kinds["send"], EventDataDone), count(kinds["options"], EventDataDone); n != 1 || m != 2 {
		t.Errorf("data-done: %d in the Send's trace (want 1), %d in Options.Trace (want 2)", n, m)
	}
}

func count(ks []EventKind, k EventKind) (n int) {
	for _, x := range ks {
		if x == k {
			n++
		}
	}
	return n
}
