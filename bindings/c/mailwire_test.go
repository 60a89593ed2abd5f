//go:build cgo

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	smtp "github.com/mailwire/smtp"
	"github.com/mailwire/smtp/smtptest"
)

func TestCEnums(t *testing.T) {
	for c, g := range cStatus {
		if c != g {
			t.Errorf("C status %d is %d in Go", c, g)
		}
	}
	if len(cStatus) != len(categories)+1 {
		t.Errorf("%d C statuses, %d categories", len(cStatus), len(categories))
	}
	for c, g := range cEventKinds {
		if c != int(g) {
			t.Errorf("C event kind %d is %v (%d) in Go", c, g, g)
		}
	}
	if got := eventName(len(cEventKinds)); got != "unknown" {
		t.Errorf("smtp.EventKind(%d) is %q: the C enum mailwire_event_kind lacks a kind", len(cEventKinds), got)
	}
}

func TestParseOptions(t *testing.T) {
	for _, bad := range []string{
		`{`, `[]`, `1`, `{"securty":"auto"}`, `{"security":"ssl"}`, `{"pins":["sha256//x"]}`,
		`{"ca_pem":"junk"}`, `{"password":"p"}`, `{"timeout_ms":-1}`, `{} {}`, `{"pins":"sha256//x"}`,
	} {
		if _, e := parseOptions(bad); e == nil || e.status != statusInvalid {
			t.Errorf("parseOptions(%s) = %v, want invalid", bad, e)
		}
	}
	for _, good := range []string{``, ` `, `null`, `{}`, `{"security":"STARTTLS","timeout_ms":1000,"local_name":"x.example"}`} {
		if _, e := parseOptions(good); e != nil {
			t.Errorf("parseOptions(%s): %v", good, e.Error)
		}
	}
	for _, bad := range []string{`{"max_conns":-1}`, `{"idle_timeout_ms":-5}`, `{"maxconns":1}`} {
		if _, e := parsePoolOptions(bad); e == nil {
			t.Errorf("parsePoolOptions(%s) accepted", bad)
		}
	}
	for _, bad := range []string{``, `[]`, `["a@b"] x`, `"a@b"`, `[1]`, `null`} {
		if _, e := parseEnvelope("", bad); e == nil {
			t.Errorf("parseEnvelope(%q) accepted", bad)
		}
	}
}

func TestClassify(t *testing.T) {
	_, invalid := smtp.PinVerifier("sha256//not-a-pin") // an argument the library refuses
	rcpt := func(code int) *smtp.RecipientError {
		return &smtp.RecipientError{Addr: "x@y", Err: &smtp.Error{Command: "RCPT TO", Reply: smtp.Reply{Code: code}}}
	}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{&smtp.Error{Command: "MAIL FROM", Reply: smtp.Reply{Code: 451}}, statusTemporary},
		{&smtp.Error{Command: "end of data", Reply: smtp.Reply{Code: 554}}, statusPermanent},
		{&smtp.RecipientsError{Rejected: []*smtp.RecipientError{rcpt(550), rcpt(450)}}, statusTemporary},
		{&smtp.RecipientsError{Rejected: []*smtp.RecipientError{rcpt(550), rcpt(551)}}, statusPermanent},
		{fmt.Errorf("x: %w", smtp.ErrDeliveryUnknown), statusDeliveryUnknown},
		{fmt.Errorf("x: %w", smtp.ErrPinMismatch), statusTLS},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), statusTimeout},
		{smtp.ErrClosed, statusClosed},
		{smtp.ErrPoolClosed, statusClosed},
		{fmt.Errorf("x: %w", smtp.ErrInsecureAuth), statusAuth},
		{invalid, statusInvalid},
		{fmt.Errorf("%w: 20 bytes", smtp.ErrMessageTooLarge), statusPermanent}, // reason message_too_large
		{&smtp.Error{Command: "AUTH", Reply: smtp.Reply{Code: 535}}, statusAuth},
		{fmt.Errorf("smtp: DATA: %w", io.ErrUnexpectedEOF), statusNetwork},
	} {
		if got := classify(tc.err); got.status != tc.want {
			t.Errorf("classify(%v) = %d (%s), want %d", tc.err, got.status, got.Category, tc.want)
		}
	}
	e := classify(&smtp.RecipientsError{Rejected: []*smtp.RecipientError{rcpt(550), rcpt(450)}})
	if e.Code != 450 || len(e.Rejected) != 2 {
		t.Errorf("mixed refusals: %s", e.json())
	}
}

func TestQueueID(t *testing.T) {
	for msg, want := range map[string]string{
		"OK: queued as Q0001":           "Q0001",
		"2.0.0 Ok: queued as 4XyZ12AbC": "4XyZ12AbC",
		"OK id=1b0PsA-0004Yc-Lm":        "1b0PsA-0004Yc-Lm",
		"Message accepted for delivery": "",
		"Ok: queued as 4Fh; id=abc":     "4Fh",
	} {
		got := ""
		if id := queueID(msg); id != nil {
			got = *id
		}
		if got != want {
			t.Errorf("queueID(%q) = %q, want %q", msg, got, want)
		}
	}
}

// TestEndToEnd drives the Go side of the C API against smtptest.
func TestEndToEnd(t *testing.T) {
	srv := smtptest.NewServer(&smtptest.Config{
		TLS:   smtptest.StartTLS,
		Users: map[string]string{"alice": "pw-secret"},
		RejectRecipients: map[string]*smtptest.Reply{
			"nobody@example.net": {Code: 550, EnhancedCode: smtptest.EnhancedCode{5, 1, 1}, Message: "No such user"},
		},
	})
	defer srv.Close()
	opts, _ := json.Marshal(map[string]any{"security": "starttls", "ca_pem": string(srv.CACertPEM()),
		"pins": []string{srv.Pin()}, "user": "alice", "password": "pw-secret"})

	var mu sync.Mutex
	var lines []string
	tr := &traceBridge{fn: func(conn int64, kind int, line string) {
		mu.Lock()
		lines = append(lines, fmt.Sprintf("%s|%s", eventName(kind), line))
		mu.Unlock()
	}}
	before := openHandles()
	h, e := openClient(srv.Addr(), string(opts), tr, 10000)
	if e != nil {
		t.Fatal(e.Error)
	}
	env, _ := parseEnvelope("alice@example.com", `["bob@example.net","nobody@example.net"]`)
	r, e := clientSend(h, env, []byte("Subject: hi\r\n\r\nhello\r\n"), 10000)
	if e != nil {
		t.Fatal(e.Error)
	}
	var got receiptOut
	if err := json.Unmarshal([]byte(r), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Accepted) != 1 || len(got.Rejected) != 1 || got.Rejected[0].EnhancedCode != "5.1.1" || got.QueueID == nil || *got.QueueID != "Q0001" {
		t.Errorf("receipt %s", r)
	}
	if _, e := clientSend(h+1000, env, nil, 0); e == nil || e.status != statusInvalid {
		t.Errorf("unknown handle: %v", e)
	}
	if e := closeClient(h, 10000); e != nil {
		t.Fatal(e.Error)
	}
	if e := closeClient(h, 10000); e == nil {
		t.Error("closed twice")
	}
	mu.Lock()
	n := len(lines)
	all := strings.Join(lines, "\n")
	mu.Unlock()
	if !strings.Contains(all, "sent|AUTH PLAIN [redacted]") || strings.Contains(all, "pw-secret") {
		t.Errorf("trace:\n%s", all)
	}
	tr.event(smtp.Event{Kind: smtp.EventLineSent, Line: "late"})
	if mu.Lock(); len(lines) != n {
		t.Error("trace after close")
	}
	mu.Unlock()

	p, e := openPool(srv.Addr(), string(opts), `{"max_conns":2}`, nil)
	if e != nil {
		t.Fatal(e.Error)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env, _ := parseEnvelope("alice@example.com", `["bob@example.net"]`)
			if _, e := poolSend(p, env, []byte("Subject: pool\r\n\r\nx\r\n"), 10000); e != nil {
				t.Error(e.Error)
			}
		}()
	}
	wg.Wait()
	if e := closePool(p, 10000); e != nil {
		t.Fatal(e.Error)
	}
	if got := len(srv.Messages()); got != 5 {
		t.Errorf("%d messages", got)
	}
	if openHandles() != before {
		t.Errorf("%d handles open, want %d", openHandles(), before)
	}
}

// An error with a remedy carries it, worded in options_json's keys: the C
// and Python users never read the Go field names.
func TestClassifyHints(t *testing.T) {
	srv := smtptest.NewServer(&smtptest.Config{TLS: smtptest.NoTLS})
	defer srv.Close()
	_, err := smtp.Dial(context.Background(), srv.Addr(), &smtp.Options{Security: smtp.StartTLS, Timeout: 5 * time.Second})
	e := classify(err)
	if e.Remedy != "no_starttls" || !strings.Contains(e.Hint, `"security":"implicit"`) || !strings.Contains(e.Hint, `"security":"starttls-optional"`) {
		t.Errorf("no STARTTLS: %s", e.json())
	}
	for _, s := range []string{e.Error, e.Hint} {
		if strings.Contains(s, "Options.") || strings.Contains(s, "Security ") {
			t.Errorf("Go names in %q", s)
		}
	}
	if e := classify(errors.New("plain")); e.Remedy != "" || e.Hint != "" {
		t.Errorf("a remedy for an error without one: %s", e.json())
	}
}

// The JSON handed to C is not escaped for HTML: "<" stays "<".
func TestJSONNotHTMLEscaped(t *testing.T) {
	e := classify(&smtp.RecipientsError{Rejected: []*smtp.RecipientError{
		{Addr: "bob@example.net", Err: &smtp.Error{Command: "RCPT TO", Reply: smtp.Reply{Code: 550, Message: "<bob@example.net>: no such user & more"}}}}})
	j := e.json()
	if !strings.Contains(j, "<bob@example.net>: no such user & more") || strings.Contains(j, `\u003c`) || strings.Contains(j, `\u0026`) {
		t.Errorf("error JSON = %s", j)
	}
}

// A message over SIZE is permanent, with a reason that tells it apart.
func TestMessageTooLargeReason(t *testing.T) {
	e := classify(fmt.Errorf("%w: 20 bytes", smtp.ErrMessageTooLarge))
	if e.status != statusPermanent || e.Reason != "message_too_large" || !strings.Contains(e.json(), `"reason":"message_too_large"`) {
		t.Errorf("too large: %s", e.json())
	}
}

// options_json takes the CA as a file too, not with ca_pem as well.
func TestOptionsCAFile(t *testing.T) {
	srv := smtptest.NewServer(nil)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, e := parseOptions(`{"ca_file":` + strconv.Quote(path) + `}`)
	if e != nil || opts.TLSConfig == nil || opts.TLSConfig.RootCAs == nil {
		t.Fatalf("ca_file: %+v, %v", opts, e)
	}
	for _, bad := range []string{`{"ca_file":"/nonexistent/ca.pem"}`, `{"ca_file":` + strconv.Quote(path) + `,"ca_pem":"x"}`} {
		if _, e := parseOptions(bad); e == nil || e.status != statusInvalid {
			t.Errorf("parseOptions(%s) accepted", bad)
		}
	}
}

// "proxy" reaches smtp.Options.Proxy, which Dial checks: a bad one is an
// invalid argument, named without its password.
func TestOptionsProxy(t *testing.T) {
	opts, e := parseOptions(`{"proxy":"socks5h://u:p@127.0.0.1:1080"}`)
	if e != nil || opts.Proxy != "socks5h://u:p@127.0.0.1:1080" {
		t.Fatalf("proxy: %+v, %v", opts, e)
	}
	opts, _ = parseOptions(`{"proxy":"ftp://u:top-secret@127.0.0.1:21"}`)
	_, err := smtp.Dial(context.Background(), "127.0.0.1:25", opts)
	if !errors.Is(err, smtp.ErrInvalidArgument) || strings.Contains(err.Error(), "top-secret") {
		t.Errorf("a bad proxy: %v", err)
	}
}
