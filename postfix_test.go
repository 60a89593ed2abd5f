package smtp

// Interoperability with a real Postfix (with Dovecot for SASL), started by
// scripts/postfix/up.sh. The README's test command starts it and sets
// MAILWIRE_POSTFIX=1 and the variables below; plain `go test` skips these
// tests and says so.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/xdg-go/scram"
)

// postfixEnv is the running Postfix, from the environment.
type postfixEnv struct {
	submission, smtps, plain string
	maildir                  string
	user, pass               string
	tls                      *tls.Config
}

func postfix(t *testing.T) *postfixEnv {
	t.Helper()
	if os.Getenv("MAILWIRE_POSTFIX") != "1" {
		t.Skip("no Postfix: run the README's test command (scripts/test.sh) to start one, or set MAILWIRE_POSTFIX=1 and its variables")
	}
	caPEM, err := os.ReadFile(os.Getenv("MAILWIRE_POSTFIX_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &postfixEnv{
		submission: os.Getenv("MAILWIRE_POSTFIX_SUBMISSION"),
		smtps:      os.Getenv("MAILWIRE_POSTFIX_SMTPS"),
		plain:      os.Getenv("MAILWIRE_POSTFIX_PLAIN"),
		maildir:    os.Getenv("MAILWIRE_POSTFIX_MAILDIR"),
		user:       os.Getenv("MAILWIRE_POSTFIX_USER"),
		pass:       os.Getenv("MAILWIRE_POSTFIX_PASS"),
		tls:        &tls.Config{RootCAs: pool, ServerName: os.Getenv("MAILWIRE_POSTFIX_TLS_NAME")},
	}
}

func (p *postfixEnv) opts(mode Security) *Options {
	return &Options{Security: mode, TLSConfig: p.tls, Timeout: 20 * time.Second}
}

var messageSeq atomic.Int64

// uniqueMessage makes a message with a Message-ID to find it by.
func uniqueMessage(t *testing.T, body string) (id, msg string) {
	id = fmt.Sprintf("<%s.%d.%d@mailwire.test>", strings.ReplaceAll(t.Name(), "/", "."), time.Now().UnixNano(), messageSeq.Add(1))
	msg = "From: alice@mailwire.test\r\nTo: bob@mailwire.test\r\nSubject: " + t.Name() + "\r\nDate: Fri, 27 Nov 2026 09:00:00 +0000\r\nMessage-ID: " + id + "\r\n\r\n" + body
	return id, msg
}

// delivered waits for the maildir file of the message with id for rcpt
// and returns it.
func (p *postfixEnv) delivered(t *testing.T, id, rcpt string) []byte {
	t.Helper()
	return p.deliveredWith(t, []byte("Message-ID: "+id), rcpt)
}

// postfixSubmission dials the submission port with STARTTLS and AUTH.
func postfixSubmission(t *testing.T) *Client {
	t.Helper()
	pf := postfix(t)
	opts := pf.opts(StartTLS)
	opts.Auth = PasswordAuth(pf.user, pf.pass)
	c, err := Dial(bg, pf.submission, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// deliveredWith waits for the maildir file for rcpt that holds marker.
func (p *postfixEnv) deliveredWith(t *testing.T, marker []byte, rcpt string) []byte {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(p.maildir, "new", "*"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err == nil && bytes.Contains(data, marker) && bytes.Contains(data, []byte("Delivered-To: "+rcpt+"\n")) {
				return data
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no message with %q for %s within 20 s", marker, rcpt)
	return nil
}

// checkDelivered checks the delivered file holds the message as sent,
// byte for byte, after the headers Postfix adds (the maildir stores LF).
func (p *postfixEnv) checkDelivered(t *testing.T, id, rcpt, msg string) {
	t.Helper()
	data := p.delivered(t, id, rcpt)
	want := strings.ReplaceAll(string(normalize([]byte(msg))), "\r\n", "\n")
	if !strings.HasSuffix(string(data), want) {
		got := string(data)
		if len(got) > 2000 {
			got = got[:1000] + " … " + got[len(got)-1000:]
		}
		t.Errorf("delivered message differs from what was sent:\n%s", got)
	}
}

func TestPostfixListenersAndSecurityModes(t *testing.T) {
	pf := postfix(t)
	port465 := &portDialer{target: pf.smtps}
	tests := []struct {
		name    string
		addr    string
		mode    Security
		dialer  *portDialer
		wantTLS bool
		wantErr error
	}{
		{"submission StartTLS", pf.submission, StartTLS, nil, true, nil},
		{"submission SecurityAuto", pf.submission, SecurityAuto, nil, true, nil},
		{"submission StartTLSOptional", pf.submission, StartTLSOptional, nil, true, nil},
		{"submission Plaintext", pf.submission, Plaintext, nil, false, nil},
		{"smtps ImplicitTLS", pf.smtps, ImplicitTLS, nil, true, nil},
		{"smtps SecurityAuto on port 465", "localhost:465", SecurityAuto, port465, true, nil},
		{"plain Plaintext", pf.plain, Plaintext, nil, false, nil},
		{"plain StartTLSOptional", pf.plain, StartTLSOptional, nil, false, nil},
		{"plain StartTLS", pf.plain, StartTLS, nil, false, ErrStartTLSNotOffered},
		{"plain SecurityAuto", pf.plain, SecurityAuto, nil, false, ErrStartTLSNotOffered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := pf.opts(tt.mode)
			if tt.dialer != nil {
				opts.Dialer = tt.dialer
			}
			id, msg := uniqueMessage(t, "hello\r\n")
			r, err := SendMail(bg, tt.addr, opts, &Envelope{From: "alice@mailwire.test", To: []string{"bob@mailwire.test"}}, strings.NewReader(msg))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("SendMail = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("SendMail: %v", err)
			}
			if !strings.Contains(r.Reply.Message, "queued as") {
				t.Errorf("Reply = %+v, want a queue id", r.Reply)
			}
			data := pf.delivered(t, id, "bob@mailwire.test")
			if gotTLS := bytes.Contains(data, []byte("(using TLS")); gotTLS != tt.wantTLS {
				t.Errorf("Received header says TLS %v, want %v", gotTLS, tt.wantTLS)
			}
		})
	}
}

func TestPostfixAuthMechanisms(t *testing.T) {
	pf := postfix(t)
	mechs := map[string]func() sasl.Client{
		"PLAIN":    func() sasl.Client { return sasl.NewPlainClient("", pf.user, pf.pass) },
		"LOGIN":    func() sasl.Client { return newLoginClient(pf.user, pf.pass) },
		"CRAM-MD5": func() sasl.Client { return &cramMD5Client{username: pf.user, password: pf.pass} },
		"SCRAM-SHA-1": func() sasl.Client {
			c, _ := newSCRAM(scram.SHA1, "SCRAM-SHA-1", pf.user, pf.pass, nil)
			return c
		},
		"SCRAM-SHA-256": func() sasl.Client {
			c, _ := newSCRAM(scram.SHA256, "SCRAM-SHA-256", pf.user, pf.pass, nil)
			return c
		},
	}
	for _, listener := range []struct {
		name, addr string
		mode       Security
	}{{"submission", pf.submission, StartTLS}, {"smtps", pf.smtps, ImplicitTLS}, {"plain", pf.plain, Plaintext}} {
		for mech, client := range mechs {
			t.Run(listener.name+"/"+mech, func(t *testing.T) {
				opts := pf.opts(listener.mode)
				opts.Auth = SASLAuth(client())
				opts.AllowInsecureAuth = listener.mode == Plaintext
				var lines []string
				opts.Trace = onLines(func(l string) { lines = append(lines, l) }, nil)
				c, err := Dial(bg, listener.addr, opts)
				if err != nil {
					t.Fatalf("AUTH %s: %v", mech, err)
				}
				c.Quit(bg)
				log := strings.Join(lines, "\n")
				if !strings.Contains(log, "AUTH "+mech) || strings.Contains(log, pf.pass) {
					t.Errorf("trace:\n%s", log)
				}
			})
		}
	}
	t.Run("PasswordAuth picks SCRAM-SHA-256", func(t *testing.T) {
		opts := pf.opts(StartTLS)
		opts.Auth = PasswordAuth(pf.user, pf.pass)
		var lines []string
		opts.Trace = onLines(func(l string) { lines = append(lines, l) }, nil)
		c, err := Dial(bg, pf.submission, opts)
		if err != nil {
			t.Fatal(err)
		}
		c.Quit(bg)
		if !strings.Contains(strings.Join(lines, "\n"), "AUTH SCRAM-SHA-256") {
			t.Errorf("trace: %v", lines)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		opts := pf.opts(StartTLS)
		opts.Auth = PasswordAuth(pf.user, "wrong")
		_, err := Dial(bg, pf.submission, opts)
		var e *Error
		if !errors.As(err, &e) || e.Code != 535 || e.Enhanced != (EnhancedCode{5, 7, 8}) {
			t.Errorf("Dial = %v, want 535 5.7.8", err)
		}
	})
	t.Run("plaintext without AllowInsecureAuth", func(t *testing.T) {
		opts := pf.opts(Plaintext)
		opts.Auth = SASLAuth(sasl.NewPlainClient("", pf.user, pf.pass))
		if _, err := Dial(bg, pf.plain, opts); !errors.Is(err, ErrInsecureAuth) {
			t.Errorf("Dial = %v, want ErrInsecureAuth", err)
		}
	})
}

func TestPostfixContentByteForByte(t *testing.T) {
	pf := postfix(t)
	attachment := make([]byte, 9<<20*3/4) // 9 MiB once base64-encoded
	for i := range attachment {
		attachment[i] = byte(i * 7)
	}
	var b64 strings.Builder
	enc := base64Lines(attachment)
	b64.WriteString("MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	b64.WriteString(enc)
	bodies := map[string]string{
		"leading dots":   ".\r\n..\r\n.hidden\r\nx.\r\n",
		"8-bit text":     "Grüße aus München\r\n",
		"998 characters": strings.Repeat("x", 998) + "\r\n",
		"no final CRLF":  "the end",
		"bare LF and CR": "one\ntwo\rthree\r\n",
	}
	for _, chunking := range []bool{true, false} {
		for name, body := range bodies {
			t.Run(fmt.Sprintf("%s/chunking=%v", name, chunking), func(t *testing.T) {
				id, msg := uniqueMessage(t, body)
				c, err := Dial(bg, pf.submission, pf.opts(StartTLS))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Quit(bg)
				if !chunking {
					delete(c.ext, "CHUNKING")
				}
				var reader io.Reader = strings.NewReader(msg)
				if name == "no final CRLF" {
					reader = io.MultiReader(reader) // unknown size: streamed BDAT
				}
				if _, err := c.Send(bg, &Envelope{From: "alice@mailwire.test", To: []string{"bob@mailwire.test"}}, reader); err != nil {
					t.Fatal(err)
				}
				pf.checkDelivered(t, id, "bob@mailwire.test", msg)
			})
		}
	}
	t.Run("9 MiB attachment", func(t *testing.T) {
		id, msg := uniqueMessage(t, "")
		msg = strings.Replace(msg, "\r\n\r\n", "\r\n"+b64.String()[:strings.Index(b64.String(), "\r\n\r\n")]+"\r\n\r\n", 1) + enc
		if len(msg) < 9<<20 || len(msg) > 10<<20 {
			t.Fatalf("message of %d bytes", len(msg))
		}
		if _, err := SendMail(bg, pf.submission, pf.opts(StartTLS), &Envelope{From: "alice@mailwire.test", To: []string{"bob@mailwire.test"}}, strings.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
		pf.checkDelivered(t, id, "bob@mailwire.test", msg)
	})
}

// base64Lines encodes b in 76-character lines.
func base64Lines(b []byte) string {
	s := b64(string(b))
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	out.WriteString(s + "\r\n")
	return out.String()
}

func TestPostfixSizeLimit(t *testing.T) {
	pf := postfix(t)
	big := strings.Repeat(strings.Repeat("z", 998)+"\r\n", 11<<20/1000)
	c, err := Dial(bg, pf.submission, pf.opts(StartTLS))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit(bg)
	if got := c.MaxMessageSize(); got != 10<<20 {
		t.Errorf("MaxMessageSize = %d, want 10 MiB", got)
	}
	_, err = c.Send(bg, &Envelope{From: "alice@mailwire.test", To: []string{"bob@mailwire.test"}}, strings.NewReader(big))
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("Send of 11 MiB = %v, want refused before MAIL", err)
	}
	// Of unknown size, it goes, and Postfix refuses it at the end.
	_, err = c.Send(bg, &Envelope{From: "alice@mailwire.test", To: []string{"bob@mailwire.test"}}, io.MultiReader(strings.NewReader(big)))
	var e *Error
	if !errors.As(err, &e) || e.Code != 552 || e.Enhanced != (EnhancedCode{5, 3, 4}) {
		t.Errorf("Send of 11 MiB streamed = %v, want 552 5.3.4", err)
	}
	if err := c.Noop(bg); err != nil {
		t.Errorf("the connection is not usable after a refused message: %v", err)
	}
}

func TestPostfixManyMessagesAndRejections(t *testing.T) {
	pf := postfix(t)
	c, err := Dial(bg, pf.submission, pf.opts(StartTLS))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit(bg)
	var ids []string
	for i := range 100 {
		id, msg := uniqueMessage(t, fmt.Sprintf("message %d\r\n", i))
		ids = append(ids, id)
		if _, err := c.Send(bg, &Envelope{From: "alice@mailwire.test", To: []string{"bob@mailwire.test"}}, strings.NewReader(msg)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	for _, id := range []string{ids[0], ids[50], ids[99]} {
		pf.delivered(t, id, "bob@mailwire.test")
	}
	// A rejected recipient in a pipelined envelope.
	id, msg := uniqueMessage(t, "to two\r\n")
	r, err := c.Send(bg, &Envelope{From: "alice@mailwire.test", To: []string{"carol@mailwire.test", "reject@mailwire.test"}}, strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rejected) != 1 || r.Rejected[0].Err.Code != 550 || r.Rejected[0].Err.Enhanced != (EnhancedCode{5, 1, 1}) {
		t.Errorf("Rejected = %v, want reject@ with 550 5.1.1", r.Rejected)
	}
	pf.delivered(t, id, "carol@mailwire.test")
}

// Postfix limits recipients without LIMITS (smtpd_recipient_limit, 100 in
// the test instance) and defers the rest with 452 4.5.3: a Send to 250
// goes out as three transactions on one connection, and reaches everyone.
func TestPostfixTooManyRecipientsDeferred(t *testing.T) {
	pf := postfix(t)
	c, err := Dial(bg, pf.submission, pf.opts(StartTLS))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit(bg)
	var to []string
	for i := range 250 {
		to = append(to, fmt.Sprintf("many%03d@mailwire.test", i))
	}
	id, msg := uniqueMessage(t, "to 250\r\n")
	r, err := c.Send(bg, &Envelope{From: "alice@mailwire.test", To: to}, strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Accepted) != 250 || len(r.Rejected) != 0 || len(r.Transactions) != 3 || len(r.Transactions[0].Accepted) != 100 || len(r.Transactions[2].Accepted) != 50 {
		t.Fatalf("%d accepted, %d rejected, %d transactions", len(r.Accepted), len(r.Rejected), len(r.Transactions))
	}
	for _, rcpt := range []string{to[0], to[100], to[249]} {
		pf.checkDelivered(t, id, rcpt, msg)
	}
}

func TestPostfixSecondConnectionReusesNothing(t *testing.T) {
	pf := postfix(t)
	var states []tls.ConnectionState
	for range 2 {
		c, err := Dial(bg, pf.submission, pf.opts(StartTLS))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := c.TLSConnectionState()
		states = append(states, st)
		c.Quit(bg)
	}
	if states[1].DidResume {
		t.Error("the second connection resumed the first one's TLS session")
	}
}

func TestPostfixExtensions(t *testing.T) {
	pf := postfix(t)
	c := postfixSubmission(t)
	defer c.Quit(bg)
	for _, ext := range []string{"PIPELINING", "CHUNKING", "DSN", "SMTPUTF8", "8BITMIME", "ENHANCEDSTATUSCODES", "AUTH"} {
		if ok, _ := c.Extension(ext); !ok {
			t.Errorf("Postfix does not offer %s", ext)
		}
	}
	t.Run("DSN", func(t *testing.T) {
		id, msg := uniqueMessage(t, "dsn\r\n")
		env := &Envelope{From: "alice@mailwire.test", To: []string{"bob@mailwire.test"},
			MailOptions: &MailOptions{Return: "HDRS", EnvelopeID: "env+1"},
			RcptOptions: map[string]*RcptOptions{"bob@mailwire.test": {Notify: []DSNNotify{"FAILURE"}, OriginalRecipient: "bob@mailwire.test"}}}
		if _, err := c.Send(bg, env, strings.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
		pf.delivered(t, id, "bob@mailwire.test")
	})
	t.Run("SMTPUTF8", func(t *testing.T) {
		id, msg := uniqueMessage(t, "utf8\r\n")
		if _, err := c.Send(bg, &Envelope{From: "alice@mailwire.test", To: []string{"jürgen@mailwire.test"}}, strings.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
		pf.delivered(t, id, "jürgen@mailwire.test")
	})
	t.Run("IDN domain", func(t *testing.T) {
		_, msg := uniqueMessage(t, "idn\r\n")
		r, err := c.Send(bg, &Envelope{From: "alice@mailwire.test", To: []string{"bob@bücher.example"}}, strings.NewReader(msg))
		if err != nil || len(r.Accepted) != 1 {
			t.Fatalf("Send to an IDN domain = %+v, %v", r, err)
		}
	})
	t.Run("8-bit downgrade", func(t *testing.T) {
		id, msg := uniqueMessage(t, "Grüße\r\n")
		delete(c.ext, "8BITMIME") // as if Postfix were a 7-bit server
		defer func() { c.ext["8BITMIME"] = "" }()
		msg = strings.Replace(msg, "\r\n\r\n", "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", 1)
		if _, err := c.Send(bg, &Envelope{From: "alice@mailwire.test", To: []string{"bob@mailwire.test"}}, strings.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
		data := pf.delivered(t, id, "bob@mailwire.test")
		if !bytes.Contains(data, []byte("Gr=C3=BC=C3=9Fe")) || has8bit(data) {
			t.Errorf("delivered:\n%s", data)
		}
	})
}

// BenchmarkPostfixReconnect measures the client's own CPU time (the server
// is another process) for a new STARTTLS connection to the test Postfix
// with AUTH: a full handshake, and one that resumes the session.
func BenchmarkPostfixReconnect(b *testing.B) {
	if os.Getenv("MAILWIRE_POSTFIX") != "1" {
		b.Skip("no Postfix")
	}
	pf := &postfixEnv{submission: os.Getenv("MAILWIRE_POSTFIX_SUBMISSION"), user: os.Getenv("MAILWIRE_POSTFIX_USER"), pass: os.Getenv("MAILWIRE_POSTFIX_PASS")}
	ca, _ := os.ReadFile(os.Getenv("MAILWIRE_POSTFIX_CA"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	pf.tls = &tls.Config{RootCAs: roots, ServerName: os.Getenv("MAILWIRE_POSTFIX_TLS_NAME")}
	for _, resume := range []bool{false, true} {
		name := map[bool]string{false: "full", true: "resumed"}[resume]
		b.Run(name, func(b *testing.B) {
			opts := pf.opts(StartTLS)
			opts.Auth = PasswordAuth(pf.user, pf.pass)
			if resume {
				opts.TLSConfig = withSessionCache(opts.TLSConfig)
			}
			before := cpuTime()
			for b.Loop() {
				c, err := Dial(bg, pf.submission, opts)
				if err != nil {
					b.Fatal(err)
				}
				c.Quit(bg)
			}
			b.ReportMetric(float64((cpuTime()-before).Microseconds())/float64(b.N), "client-cpu-µs/op")
		})
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// LMTP against the real Dovecot LMTP that up.sh starts: one reply per
// recipient after the message. alice gets it; full@ is over its quota
// (552 5.2.2 after the message); nobody@ does not exist (550 at RCPT).
func TestDovecotLMTP(t *testing.T) {
	pf := postfix(t)
	addr, full := os.Getenv("MAILWIRE_DOVECOT_LMTP"), os.Getenv("MAILWIRE_DOVECOT_LMTP_FULL_USER")
	if addr == "" || full == "" {
		t.Fatal("MAILWIRE_DOVECOT_LMTP or MAILWIRE_DOVECOT_LMTP_FULL_USER not set: an old up.sh?")
	}
	c, err := Dial(bg, addr, &Options{Security: Plaintext, LMTP: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit(bg)
	id, msg := uniqueMessage(t, "over LMTP\r\n")
	r, err := c.Send(bg, &Envelope{From: "sender@mailwire.test", To: []string{full, "nobody@mailwire.test", pf.user + "@mailwire.test"}}, strings.NewReader(msg))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(r.Accepted) != 1 || r.Accepted[0] != pf.user+"@mailwire.test" || len(r.Rejected) != 2 {
		t.Fatalf("accepted %v, rejected %v", r.Accepted, r.Rejected)
	}
	if e := r.Rejected[0]; e.Addr != "nobody@mailwire.test" || e.Err.Command != "RCPT TO" || e.Err.Code != 550 {
		t.Errorf("refused at RCPT: %v", e)
	}
	if e := r.Rejected[1]; e.Addr != full || e.Err.Command != "end of data" || e.Err.Code != 552 || e.Err.Enhanced != (EnhancedCode{5, 2, 2}) {
		t.Errorf("refused after the message: %v", e)
	}
	if !strings.Contains(r.Reply.Message, "Saved") {
		t.Errorf("Reply %q, want Dovecot's for alice", r.Reply.Message)
	}
	// Delivered into alice's Maildir.
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(os.Getenv("MAILWIRE_DOVECOT_LMTP_MAIL"), pf.user, "new", "*"))
		found := false
		for _, f := range files {
			if data, err := os.ReadFile(f); err == nil && bytes.Contains(data, []byte(id)) {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the message is not in alice's Maildir")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A composed message with a 7 MiB attachment (base64 makes it 9.5 MB, under
// the test Postfix's 10 MiB), streamed from a reader that computes its
// bytes, reaches the maildir whole: the attachment decodes to the same
// bytes, Bcc is in the envelope and not in the content.
func TestPostfixComposedAttachment(t *testing.T) {
	pf := postfix(t)
	c := postfixSubmission(t)
	defer c.Quit(bg)
	const size = 7 << 20
	id := fmt.Sprintf("composed.%d@mailwire.test", time.Now().UnixNano())
	m := &Message{From: &mail.Address{Name: "Ann Échec", Address: "alice@mailwire.test"},
		To: []*mail.Address{{Name: "Bob", Address: "bob@mailwire.test"}}, Bcc: []*mail.Address{{Address: "carol@mailwire.test"}},
		Subject: "Grüße: the report", MessageID: id, Text: "The report is attached.\n",
		Attachments: []Part{{Filename: "report.bin", Body: io.NewSectionReader(patternReaderAt{}, 0, size)}}}
	if _, err := c.SendComposed(bg, m); err != nil {
		t.Fatal(err)
	}
	checkComposedDelivery(t, pf, id, size, nil)
}

// A composed message with the same 7 MiB attachment, DKIM-signed by the
// client (RSA-SHA256, relaxed/relaxed) and spooled to a temporary file
// while signed: what Postfix stored in the maildir verifies with
// go-msgauth's own verifier.
func TestPostfixComposedDKIM(t *testing.T) {
	pf := postfix(t)
	opts := pf.opts(StartTLS)
	opts.Auth = PasswordAuth(pf.user, pf.pass)
	opts.DKIM = &DKIM{Domain: "example.com", Selector: "mw", Key: testRSAKey, SpoolDir: t.TempDir()}
	c, err := Dial(bg, pf.submission, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit(bg)
	const size = 7 << 20
	id := fmt.Sprintf("signed.%d@mailwire.test", time.Now().UnixNano())
	m := &Message{From: &mail.Address{Name: "Ann Échec", Address: "alice@mailwire.test"},
		To: []*mail.Address{{Name: "Bob", Address: "bob@mailwire.test"}}, Bcc: []*mail.Address{{Address: "carol@mailwire.test"}},
		Subject: "Grüße: signed", MessageID: id, Text: "The report is attached, signed.\n",
		Attachments: []Part{{Filename: "report.bin", Body: io.NewSectionReader(patternReaderAt{}, 0, size)}}}
	if _, err := c.SendComposed(bg, m); err != nil {
		t.Fatal(err)
	}
	checkComposedDelivery(t, pf, id, size, func(t *testing.T, data []byte) {
		// The maildir stores LF line endings; the message went with CRLF.
		verifyDKIM(t, bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")), testRSAKey)
	})
}

// checkComposedDelivery checks both recipients got the message with the
// attachment whole and no Bcc, and runs check on each delivered file.
func checkComposedDelivery(t *testing.T, pf *postfixEnv, id string, size int64, check func(*testing.T, []byte)) {
	t.Helper()
	for _, rcpt := range []string{"bob@mailwire.test", "carol@mailwire.test"} {
		data := pf.deliveredWith(t, []byte(id), rcpt) // go-message writes "Message-Id"
		if check != nil {
			check(t, data)
		}
		if bytes.Contains(data, []byte("carol@mailwire.test>")) && !bytes.Contains(data, []byte("Delivered-To: carol")) || bytes.Contains(data, []byte("Bcc:")) {
			t.Errorf("%s: Bcc shows in the content", rcpt)
		}
		r, err := mail.CreateReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for {
			p, err := r.NextPart()
			if err != nil {
				t.Fatalf("%s: no attachment: %v", rcpt, err)
			}
			if _, ok := p.Header.(*mail.AttachmentHeader); !ok {
				continue
			}
			got, _ := io.ReadAll(p.Body)
			want, _ := io.ReadAll(io.NewSectionReader(patternReaderAt{}, 0, size))
			if !bytes.Equal(got, want) {
				t.Errorf("%s: the attachment differs (%d bytes, want %d)", rcpt, len(got), size)
			}
			break
		}
	}
}

// patternReaderAt computes its bytes from their offset: a file of any size
// without memory.
type patternReaderAt struct{}

func (patternReaderAt) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		x := uint64(off) + uint64(i)
		p[i] = byte(x*2654435761>>13 ^ x)
	}
	return len(p), nil
}

// A 50 MiB message with an attachment, composed, DKIM-signed and sent to
// Postfix's implicit-TLS port (which takes 80 MiB): the attachment arrives
// byte for byte, and the maildir's exact bytes verify with go-msgauth and
// with OpenDKIM's opendkim-testmsg. The peak heap in use of the sending is
// logged (a figure, not a test: memory targets live in benchmarks).
func TestPostfixComposed50MiBSigned(t *testing.T) {
	pf := postfix(t)
	if os.Getenv("MAILWIRE_POSTFIX_SMTPS_SIZE_LIMIT") == "" {
		t.Fatal("MAILWIRE_POSTFIX_SMTPS_SIZE_LIMIT is not set: an old up.sh?")
	}
	opts := pf.opts(ImplicitTLS)
	opts.Auth = PasswordAuth(pf.user, pf.pass)
	opts.DKIM = &DKIM{Domain: "example.com", Selector: "mw", Key: testRSAKey, SpoolDir: t.TempDir()}
	opts.Timeout = time.Minute
	c, err := Dial(bg, pf.smtps, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit(bg)
	const size = 37 << 20 // 50.6 MiB once in base64 lines
	id := fmt.Sprintf("big.%d@mailwire.test", time.Now().UnixNano())
	m := &Message{From: &mail.Address{Name: "Ann", Address: "alice@mailwire.test"},
		To: []*mail.Address{{Address: "bob@mailwire.test"}}, Bcc: []*mail.Address{{Address: "carol@mailwire.test"}},
		Subject: "50 MiB, signed", MessageID: id, Date: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC), Text: "A big one.\n",
		Attachments: []Part{{Filename: "big.bin", Body: io.NewSectionReader(patternReaderAt{}, 0, size)}}}
	runtime.GC()
	peak := sampleHeapPeak()
	r, err := c.SendComposed(bg, m)
	heap := peak()
	if err != nil {
		t.Fatal(err)
	}
	record, _ := DKIMRecord(testRSAKey)
	checkComposedDelivery(t, pf, id, size, func(t *testing.T, data []byte) {
		t.Logf("delivered %.1f MiB; peak heap in use while composing, signing and sending it: %.2f MiB (%s)",
			float64(len(data))/(1<<20), float64(heap)/(1<<20), r.Reply.Message)
		verifyDKIM(t, bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")), testRSAKey)
		if out, err := opendkimVerify(t, data, "mw._domainkey.example.com", record); err != nil {
			t.Errorf("opendkim-testmsg: %v: %s", err, out)
		}
		tampered := bytes.Replace(data, []byte("A big one."), []byte("A bog one."), 1)
		if _, err := opendkimVerify(t, tampered, "mw._domainkey.example.com", record); err == nil {
			t.Error("opendkim-testmsg verified a tampered message: it does not check")
		}
	})
}

// sampleHeapPeak samples the heap in use (MemStats.HeapInuse, from
// runtime/metrics without stopping the world) every millisecond until the
// function it returns is called, which returns the peak.
func sampleHeapPeak() func() uint64 {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			if v := samples[0].Value.Uint64() + samples[1].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 { close(stop); <-done; return peak.Load() }
}
