package smtpotel_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/smtpotel"
	"github.com/mailwire/smtp/smtptest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

var (
	accepted = attribute.String("outcome", "accepted")
	rejected = attribute.String("outcome", "rejected")
	failed   = attribute.String("outcome", "failed")
)

// A Send through a Pool to two recipients, one refused: the span tree of a
// first Send (connect, TLS, AUTH, the transaction) and its metrics; then a
// second Send reuses the connection: no smtp.connect, a pool wait.
func TestSendThroughPool(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv := newServer(t, nil)
	pool := newPool(t, srv.Addr(), clientOptions(srv), nil)
	ctx := context.Background()

	r, err := h.inst.Send(ctx, pool, envelope("bob@example.com", "nobody@example.org"), strings.NewReader(testMessage))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Accepted) != 1 || len(r.Rejected) != 1 {
		t.Fatalf("Receipt: accepted %v, rejected %v", r.Accepted, r.Rejected)
	}
	spans := h.spans.Ended()
	logSpans(t, spans)
	send := only(t, spans, "smtp.send")
	if got, want := childNames(spans, send), []string{"smtp.auth", "smtp.connect", "smtp.tls", "smtp.transaction"}; !slices.Equal(got, want) {
		t.Errorf("children of smtp.send: %v, want %v", got, want)
	}
	if send.SpanKind() != trace.SpanKindClient {
		t.Errorf("smtp.send is a %v span, want client", send.SpanKind())
	}
	host, port, _ := net.SplitHostPort(srv.Addr())
	wantStatus(t, send, codes.Unset)
	wantAttrs(t, send, map[attribute.Key]any{
		"server.address": host, "server.port": port, "network.transport": "tcp",
		"smtp.recipients.accepted": 1, "smtp.recipients.rejected": 1, "smtp.transactions": 1,
		"smtp.message.size": len(testMessage), "smtp.reply.code": 250, "error.type": nil,
	})
	wantAttrs(t, only(t, spans, "smtp.connect"), map[attribute.Key]any{
		"server.address": host, "server.port": port, "network.transport": "tcp", "network.peer.address": host,
	})
	tlsSpan := only(t, spans, "smtp.tls")
	wantAttrs(t, tlsSpan, map[attribute.Key]any{"tls.protocol.version": "1.3", "tls.resumed": false})
	if v, _ := attr(tlsSpan, "tls.cipher"); !strings.HasPrefix(v.AsString(), "TLS_") {
		t.Errorf("tls.cipher = %q, want an IANA name", v.AsString())
	}
	auth := only(t, spans, "smtp.auth")
	wantStatus(t, auth, codes.Unset)
	wantAttrs(t, auth, map[attribute.Key]any{"smtp.auth.mechanism": "PLAIN", "smtp.reply.code": 235})
	tx := only(t, spans, "smtp.transaction")
	wantStatus(t, tx, codes.Unset)
	wantAttrs(t, tx, map[attribute.Key]any{
		"smtp.recipients.accepted": 1, "smtp.recipients.rejected": 1, "smtp.message.size": len(testMessage), "smtp.reply.code": 250,
	})
	for _, s := range children(spans, send) {
		if s.StartTime().Before(send.StartTime()) || s.EndTime().After(send.EndTime()) {
			t.Errorf("span %s [%v, %v] is not within smtp.send [%v, %v]", s.Name(), s.StartTime(), s.EndTime(), send.StartTime(), send.EndTime())
		}
	}

	rm := h.collect(t)
	logMetrics(t, rm)
	server := attribute.String("server.address", host)
	for _, c := range []struct {
		name  string
		attrs []attribute.KeyValue
		want  int64
	}{
		{"smtp.client.messages", []attribute.KeyValue{server, accepted}, 1},
		{"smtp.client.messages", nil, 1},
		{"smtp.client.recipients", []attribute.KeyValue{accepted}, 1},
		{"smtp.client.recipients", []attribute.KeyValue{rejected}, 1},
		{"smtp.client.replies", []attribute.KeyValue{attribute.Int("smtp.reply.code", 550), attribute.String("smtp.reply.enhanced_code", "5.1.1")}, 1},
		{"smtp.client.replies", []attribute.KeyValue{attribute.Int("smtp.reply.code", 235)}, 1},
		{"smtp.client.send.duration", []attribute.KeyValue{server}, 1},
		{"smtp.client.message.size", []attribute.KeyValue{server}, 1},
		{"smtp.client.pool.wait", []attribute.KeyValue{server}, 1},
		{"smtp.client.retries", nil, 0},
	} {
		if got := count(t, rm, c.name, c.attrs...); got != c.want {
			t.Errorf("%s%v = %d, want %d", c.name, c.attrs, got, c.want)
		}
	}
	if n := count(t, rm, "smtp.client.replies", attribute.Int("smtp.reply.code", 250)); n < 3 {
		t.Errorf("smtp.client.replies{250} = %d, want the EHLOs', MAIL's, RCPT's and the message's", n)
	}

	// The second Send takes the same connection up again.
	h.spans.Reset()
	if _, err := h.inst.Send(ctx, pool, envelope("bob@example.com"), strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}
	spans = h.spans.Ended()
	logSpans(t, spans)
	send = only(t, spans, "smtp.send")
	if got, want := childNames(spans, send), []string{"smtp.transaction"}; !slices.Equal(got, want) {
		t.Errorf("children of the second smtp.send: %v, want %v", got, want)
	}
	wantAttrs(t, send, map[attribute.Key]any{"server.address": host, "smtp.recipients.accepted": 1, "smtp.recipients.rejected": 0})
	if n := srv.Connections(); n != 1 {
		t.Errorf("the server saw %d connections, want 1", n)
	}
	rm = h.collect(t)
	logMetrics(t, rm)
	if got := count(t, rm, "smtp.client.pool.wait", server); got != 2 {
		t.Errorf("smtp.client.pool.wait recorded %d times, want 2", got)
	}
	if got := count(t, rm, "smtp.client.messages", server, accepted); got != 2 {
		t.Errorf("smtp.client.messages{accepted} = %d, want 2", got)
	}
}

// Without CHUNKING and PIPELINING: DATA, one command at a time; the
// transaction's reply is the one to the end of data.
func TestSendWithData(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv := newServer(t, &smtptest.Config{DisableChunking: true, DisablePipelining: true})
	pool := newPool(t, srv.Addr(), clientOptions(srv), nil)

	if _, err := h.inst.Send(context.Background(), pool, envelope("bob@example.com", "nobody@example.org"), strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}
	spans := h.spans.Ended()
	logSpans(t, spans)
	tx := only(t, spans, "smtp.transaction")
	wantStatus(t, tx, codes.Unset)
	wantAttrs(t, tx, map[attribute.Key]any{
		"smtp.recipients.accepted": 1, "smtp.recipients.rejected": 1, "smtp.message.size": len(testMessage),
		"smtp.reply.code": 250, "smtp.reply.enhanced_code": "2.0.0",
	})
	rm := h.collect(t)
	if got := count(t, rm, "smtp.client.replies", attribute.Int("smtp.reply.code", 354)); got != 1 {
		t.Errorf("smtp.client.replies{354} = %d, want 1", got)
	}
	if got := count(t, rm, "smtp.client.message.size"); got != 1 {
		t.Errorf("smtp.client.message.size recorded %d times, want 1", got)
	}
}

// Over LMTP a reply comes for each recipient after the message: one
// refused there counts as refused, and the transaction fails only when
// every recipient's delivery does.
func TestSendLMTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	overQuota := &smtptest.Reply{Code: 552, EnhancedCode: smtptest.EnhancedCode{5, 2, 2}, Message: "Mailbox full"}
	srv := newServer(t, &smtptest.Config{
		LMTP:            true,
		RejectAfterData: map[string]*smtptest.Reply{"carol@example.com": overQuota, "dave@example.com": overQuota},
	})
	opts := clientOptions(srv)
	opts.LMTP = true
	pool := newPool(t, srv.Addr(), opts, nil)
	ctx := context.Background()

	r, err := h.inst.Send(ctx, pool, envelope("bob@example.com", "carol@example.com", "nobody@example.org"), strings.NewReader(testMessage))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Accepted) != 1 || len(r.Rejected) != 2 {
		t.Fatalf("Receipt: accepted %v, rejected %v", r.Accepted, r.Rejected)
	}
	_, err = h.inst.Send(ctx, pool, envelope("carol@example.com", "dave@example.com"), strings.NewReader(testMessage))
	var all *smtp.RecipientsError
	if !errors.As(err, &all) {
		t.Fatalf("Send to two full mailboxes: %v, want a *smtp.RecipientsError", err)
	}
	spans := h.spans.Ended()
	logSpans(t, spans)
	sends := named(spans, "smtp.send")
	slices.SortFunc(sends, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	tx := named(children(spans, sends[0]), "smtp.transaction")[0]
	wantStatus(t, tx, codes.Unset)
	wantAttrs(t, tx, map[attribute.Key]any{"smtp.recipients.accepted": 1, "smtp.recipients.rejected": 2, "smtp.reply.code": 250})
	wantAttrs(t, sends[0], map[attribute.Key]any{"smtp.recipients.accepted": 1, "smtp.recipients.rejected": 2})

	tx = named(children(spans, sends[1]), "smtp.transaction")[0]
	wantStatus(t, tx, codes.Error)
	wantAttrs(t, tx, map[attribute.Key]any{"smtp.recipients.accepted": 0, "smtp.recipients.rejected": 2, "error.type": "552"})
	wantStatus(t, sends[1], codes.Error)
	wantAttrs(t, sends[1], map[attribute.Key]any{"error.type": "552", "smtp.recipients.rejected": 2})

	rm := h.collect(t)
	if got := count(t, rm, "smtp.client.replies", attribute.Int("smtp.reply.code", 552)); got != 3 {
		t.Errorf("smtp.client.replies{552} = %d, want 3", got)
	}
	if got := count(t, rm, "smtp.client.recipients", rejected); got != 4 {
		t.Errorf("smtp.client.recipients{rejected} = %d, want 4", got)
	}
}

// Every recipient refused: the Send fails, its span says so with the
// reply code as error.type, and the message counts as rejected.
func TestSendAllRecipientsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv := newServer(t, nil)
	pool := newPool(t, srv.Addr(), clientOptions(srv), nil)

	_, err := h.inst.Send(context.Background(), pool, envelope("nobody@example.org", "nobody2@example.org"), strings.NewReader(testMessage))
	var all *smtp.RecipientsError
	if !errors.As(err, &all) {
		t.Fatalf("Send: %v, want a *smtp.RecipientsError", err)
	}
	spans := h.spans.Ended()
	logSpans(t, spans)
	send := only(t, spans, "smtp.send")
	wantStatus(t, send, codes.Error)
	if send.Status().Description != err.Error() {
		t.Errorf("status %q, want the error %q", send.Status().Description, err)
	}
	wantAttrs(t, send, map[attribute.Key]any{
		"error.type": "550", "smtp.reply.code": 550, "smtp.reply.enhanced_code": "5.1.1",
		"smtp.recipients.accepted": 0, "smtp.recipients.rejected": 2,
	})
	tx := only(t, spans, "smtp.transaction")
	wantStatus(t, tx, codes.Error)
	wantAttrs(t, tx, map[attribute.Key]any{"error.type": "550", "smtp.recipients.rejected": 2, "smtp.recipients.accepted": 0})

	rm := h.collect(t)
	logMetrics(t, rm)
	if got := count(t, rm, "smtp.client.messages", rejected); got != 1 {
		t.Errorf("smtp.client.messages{rejected} = %d, want 1", got)
	}
	if got := count(t, rm, "smtp.client.recipients", rejected); got != 2 {
		t.Errorf("smtp.client.recipients{rejected} = %d, want 2", got)
	}
	if got := count(t, rm, "smtp.client.send.duration", attribute.String("error.type", "550")); got != 1 {
		t.Errorf("smtp.client.send.duration{error.type=550} recorded %d times, want 1", got)
	}
}

// closedAddr returns the address of a port nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// A connection refused: Send's and Dial's spans fail with error.type
// "network", and so does their smtp.connect.
func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	addr := closedAddr(t)
	pool := newPool(t, addr, nil, nil)

	_, err := h.inst.Send(context.Background(), pool, envelope("bob@example.com"), strings.NewReader(testMessage))
	if err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
	if _, err := h.inst.Dial(context.Background(), addr, nil); err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
	spans := h.spans.Ended()
	logSpans(t, spans)
	host, port, _ := net.SplitHostPort(addr)
	for _, name := range []string{"smtp.send", "smtp.dial"} {
		s := only(t, spans, name)
		wantStatus(t, s, codes.Error)
		wantAttrs(t, s, map[attribute.Key]any{"error.type": "network", "server.address": host, "server.port": port})
		connect := children(spans, s)
		if len(connect) != 1 || connect[0].Name() != "smtp.connect" {
			t.Fatalf("children of %s: %v, want smtp.connect", name, childNames(spans, s))
		}
		wantStatus(t, connect[0], codes.Error)
		wantAttrs(t, connect[0], map[attribute.Key]any{"error.type": "network"})
	}
	rm := h.collect(t)
	logMetrics(t, rm)
	if got := count(t, rm, "smtp.client.messages", failed, attribute.String("server.address", host)); got != 1 {
		t.Errorf("smtp.client.messages{failed} = %d, want 1", got)
	}
	if got := count(t, rm, "smtp.client.send.duration", attribute.String("error.type", "network")); got != 1 {
		t.Errorf("smtp.client.send.duration{error.type=network} recorded %d times, want 1", got)
	}
}

// A certificate the client does not trust: the TLS span fails with what
// TLS refused, the Dial with error.type "security".
func TestUntrustedCertificate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv := newServer(t, nil)
	if _, err := h.inst.Dial(context.Background(), srv.Addr(), &smtp.Options{}); !errors.Is(err, smtp.ErrTLSHandshake) {
		t.Fatalf("Dial without the server's CA: %v, want ErrTLSHandshake", err)
	}
	spans := h.spans.Ended()
	logSpans(t, spans)
	dial := only(t, spans, "smtp.dial")
	wantStatus(t, dial, codes.Error)
	wantAttrs(t, dial, map[attribute.Key]any{"error.type": "security"})
	tlsSpan := only(t, spans, "smtp.tls")
	wantStatus(t, tlsSpan, codes.Error)
	wantAttrs(t, tlsSpan, map[attribute.Key]any{"error.type": "*tls.CertificateVerificationError"})
}

// A Send the server's recipient limit splits: a span for each
// transaction, the message sent twice.
func TestSendSplit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv := newServer(t, &smtptest.Config{MaxRecipients: 1})
	pool := newPool(t, srv.Addr(), clientOptions(srv), nil)
	r, err := h.inst.Send(context.Background(), pool, envelope("bob@example.com", "carol@example.com"), strings.NewReader(testMessage))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Transactions) != 2 {
		t.Fatalf("%d transactions in the Receipt, want 2", len(r.Transactions))
	}
	spans := h.spans.Ended()
	logSpans(t, spans)
	send := only(t, spans, "smtp.send")
	wantAttrs(t, send, map[attribute.Key]any{"smtp.transactions": 2, "smtp.recipients.accepted": 2})
	txs := named(children(spans, send), "smtp.transaction")
	if len(txs) != 2 {
		t.Fatalf("%d smtp.transaction spans, want 2", len(txs))
	}
	for _, tx := range txs {
		wantStatus(t, tx, codes.Unset)
		wantAttrs(t, tx, map[attribute.Key]any{"smtp.recipients.accepted": 1, "smtp.reply.code": 250})
	}
	if txs[0].EndTime().After(txs[1].StartTime()) {
		t.Errorf("the transactions overlap: the first ends at %v, the second starts at %v", txs[0].EndTime(), txs[1].StartTime())
	}
	if got := count(t, h.collect(t), "smtp.client.message.size"); got != 2 {
		t.Errorf("smtp.client.message.size recorded %d times, want 2", got)
	}
}

// Concurrent Sends through one Pool: each span has its own transaction,
// and every child span belongs to the Send that made it.
func TestConcurrentSends(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv := newServer(t, nil)
	pool := newPool(t, srv.Addr(), clientOptions(srv), nil)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	parent := tp.Tracer("test")

	const goroutines, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Go(func() {
			for n := range each {
				// Each Send under a parent span of the test's, named for it.
				ctx, span := parent.Start(context.Background(), fmt.Sprintf("caller %d.%d", g, n))
				_, err := h.inst.Send(ctx, pool, envelope("bob@example.com"), strings.NewReader(testMessage))
				span.End()
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	spans := h.spans.Ended()
	sends := named(spans, "smtp.send")
	if len(sends) != goroutines*each {
		t.Fatalf("%d smtp.send spans, want %d", len(sends), goroutines*each)
	}
	ids := map[trace.SpanID]bool{}
	for _, s := range sends {
		ids[s.SpanContext().SpanID()] = true
		callers := 0
		for _, c := range spans {
			if c.SpanContext().SpanID() == s.Parent().SpanID() && strings.HasPrefix(c.Name(), "caller ") {
				callers++
			}
		}
		if callers != 1 {
			t.Errorf("smtp.send %s: parent %s is not one caller span", s.SpanContext().SpanID(), s.Parent().SpanID())
		}
		if tx := named(children(spans, s), "smtp.transaction"); len(tx) != 1 {
			t.Errorf("smtp.send %s has %d smtp.transaction children, want 1", s.SpanContext().SpanID(), len(tx))
		}
	}
	connects := 0
	for _, s := range spans {
		switch s.Name() {
		case "smtp.connect", "smtp.tls", "smtp.auth", "smtp.transaction":
			if !ids[s.Parent().SpanID()] {
				t.Errorf("span %s: parent %s is no smtp.send", s.Name(), s.Parent().SpanID())
			}
			if s.Name() == "smtp.connect" {
				connects++
			}
		}
	}
	if n := srv.Connections(); connects != n {
		t.Errorf("%d smtp.connect spans for %d connections", connects, n)
	}
	rm := h.collect(t)
	if got := count(t, rm, "smtp.client.messages", accepted); got != goroutines*each {
		t.Errorf("smtp.client.messages{accepted} = %d, want %d", got, goroutines*each)
	}
	if got := count(t, rm, "smtp.client.pool.wait"); got != goroutines*each {
		t.Errorf("smtp.client.pool.wait recorded %d times, want %d", got, goroutines*each)
	}
	t.Logf("%d Sends over %d connections", len(sends), connects)
}

// No span, span event, status or metric holds the password, nor its PLAIN
// or LOGIN encodings; the AUTH span names the mechanism only. Also when
// the server refuses the credentials.
func TestAuthHoldsNoPassword(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv := newServer(t, nil)
	ctx := context.Background()
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		opts := clientOptions(srv)
		opts.Auth = smtp.PasswordAuth(testUser, testPassword, mech)
		c, err := h.inst.Dial(ctx, srv.Addr(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.inst.Send(ctx, c, envelope("bob@example.com"), strings.NewReader(testMessage)); err != nil {
			t.Fatal(err)
		}
		c.Quit(ctx)
	}
	wrong := clientOptions(srv)
	wrong.Auth = smtp.PasswordAuth(testUser, testPassword+"x")
	if _, err := h.inst.Dial(ctx, srv.Addr(), wrong); err == nil {
		t.Fatal("Dial with a wrong password succeeded")
	}

	spans := h.spans.Ended()
	logSpans(t, spans)
	auths := named(spans, "smtp.auth")
	if len(auths) != 3 {
		t.Fatalf("%d smtp.auth spans, want 3", len(auths))
	}
	for i, mech := range []string{"PLAIN", "LOGIN", "PLAIN"} {
		wantAttrs(t, auths[i], map[attribute.Key]any{"smtp.auth.mechanism": mech})
	}
	wantStatus(t, auths[2], codes.Error)
	wantAttrs(t, auths[2], map[attribute.Key]any{"error.type": "535"})
	for _, d := range named(spans, "smtp.dial") {
		if len(named(children(spans, d), "smtp.auth")) != 1 {
			t.Errorf("smtp.dial %s has no smtp.auth child", d.SpanContext().SpanID())
		}
	}

	secrets := []string{
		testPassword,
		base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPassword)),
		base64.StdEncoding.EncodeToString([]byte(testPassword)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPassword + "x")),
	}
	check := func(where, s string) {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("%s holds a secret: %q", where, s)
			}
		}
	}
	for _, s := range spans {
		check(s.Name()+" status", s.Status().Description)
		for _, kv := range s.Attributes() {
			check(s.Name()+" attribute "+string(kv.Key), kv.Value.String())
		}
		for _, ev := range s.Events() {
			check(s.Name()+" event", ev.Name)
			for _, kv := range ev.Attributes {
				check(s.Name()+" event attribute "+string(kv.Key), kv.Value.String())
			}
		}
	}
	for _, sm := range h.collect(t).ScopeMetrics {
		for _, m := range sm.Metrics {
			check("metric", fmt.Sprintf("%+v", m))
		}
	}
}

// A throttling reply becomes an event of the Send's span, and the Pool's
// retry a second transaction and a count in smtp.client.retries.
func TestThrottledRetry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv := newServer(t, &smtptest.Config{
		CommandErrors:      map[string]*smtptest.Reply{"MAIL": {Code: 451, EnhancedCode: smtptest.EnhancedCode{4, 7, 0}, Message: "slow down"}},
		CommandErrorsTimes: 1,
	})
	pool := newPool(t, srv.Addr(), clientOptions(srv), &smtp.PoolOptions{MaxThrottleRetries: 1})

	if _, err := h.inst.Send(context.Background(), pool, envelope("bob@example.com"), strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}
	spans := h.spans.Ended()
	logSpans(t, spans)
	send := only(t, spans, "smtp.send")
	wantStatus(t, send, codes.Unset)
	wantAttrs(t, send, map[attribute.Key]any{"smtp.transactions": 2})
	var throttled []string
	for _, ev := range send.Events() {
		if ev.Name == "smtp.throttled" {
			for _, kv := range ev.Attributes {
				throttled = append(throttled, string(kv.Key)+"="+kv.Value.String())
			}
		}
	}
	if !slices.Contains(throttled, "smtp.reply.code=451") || !slices.Contains(throttled, "smtp.reply.enhanced_code=4.7.0") {
		t.Errorf("smtp.throttled event: %v, want the reply 451 4.7.0", throttled)
	}
	txs := named(children(spans, send), "smtp.transaction")
	if len(txs) != 2 {
		t.Fatalf("%d transactions, want 2", len(txs))
	}
	slices.SortFunc(txs, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	wantStatus(t, txs[0], codes.Error)
	wantAttrs(t, txs[0], map[attribute.Key]any{"error.type": "451", "smtp.reply.code": 451})
	wantStatus(t, txs[1], codes.Unset)
	rm := h.collect(t)
	logMetrics(t, rm)
	if got := count(t, rm, "smtp.client.retries", attribute.String("smtp.retry.reason", "throttled")); got != 1 {
		t.Errorf("smtp.client.retries{throttled} = %d, want 1", got)
	}
	if got := count(t, rm, "smtp.client.messages", accepted); got != 1 {
		t.Errorf("smtp.client.messages{accepted} = %d, want 1", got)
	}
}

// A Client from Dial, sent through Send: smtp.dial has the connection's
// spans, smtp.send the transaction and the server's address; a Client
// waits for no connection, so no pool.wait is recorded.
func TestDialThenSend(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv := newServer(t, nil)
	ctx := context.Background()
	c, err := h.inst.Dial(ctx, srv.Addr(), clientOptions(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit(ctx)
	if _, err := h.inst.Send(ctx, c, envelope("bob@example.com"), strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}
	spans := h.spans.Ended()
	logSpans(t, spans)
	dial := only(t, spans, "smtp.dial")
	if got, want := childNames(spans, dial), []string{"smtp.auth", "smtp.connect", "smtp.tls"}; !slices.Equal(got, want) {
		t.Errorf("children of smtp.dial: %v, want %v", got, want)
	}
	send := only(t, spans, "smtp.send")
	if got, want := childNames(spans, send), []string{"smtp.transaction"}; !slices.Equal(got, want) {
		t.Errorf("children of smtp.send: %v, want %v", got, want)
	}
	host, _, _ := net.SplitHostPort(srv.Addr())
	wantAttrs(t, send, map[attribute.Key]any{"server.address": host})
	rm := h.collect(t)
	if got := count(t, rm, "smtp.client.pool.wait"); got != 0 {
		t.Errorf("smtp.client.pool.wait recorded %d times for a Client, want 0", got)
	}
	if got := count(t, rm, "smtp.client.messages", accepted, attribute.String("server.address", host)); got != 1 {
		t.Errorf("smtp.client.messages{accepted} = %d, want 1", got)
	}
}

// New with nil providers uses the global ones.
func TestNewGlobalProviders(t *testing.T) {
	t.Parallel()
	inst, err := smtpotel.New(nil, nil)
	if err != nil || inst == nil {
		t.Fatalf("New(nil, nil) = %v, %v", inst, err)
	}
	srv := newServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool := newPool(t, srv.Addr(), clientOptions(srv), nil)
	if _, err := inst.Send(ctx, pool, envelope("bob@example.com"), strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}
}

// A trace the caller gave ctx with smtp.WithTrace still hears every event
// of an instrumented Send.
func TestCallersOwnTraceStillHears(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv := newServer(t, &smtptest.Config{})
	pool := newPool(t, srv.Addr(), clientOptions(srv), nil)
	var mu sync.Mutex
	var kinds []smtp.EventKind
	ctx := smtp.WithTrace(context.Background(), &smtp.Trace{Event: func(ev smtp.Event) {
		mu.Lock()
		kinds = append(kinds, ev.Kind)
		mu.Unlock()
	}})
	if _, err := h.inst.Send(ctx, pool, envelope("bob@example.com"), strings.NewReader(testMessage)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(kinds, smtp.EventConnectDone) || !slices.Contains(kinds, smtp.EventDataDone) {
		t.Errorf("the caller's trace heard %v", kinds)
	}
	if len(named(h.spans.Ended(), "smtp.transaction")) != 1 {
		t.Error("no transaction span")
	}
}
