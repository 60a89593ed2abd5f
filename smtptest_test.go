package smtp

// Behaviour tests against smtptest: a real server (go-smtp's engine) in
// process, which reads the RFCs independently of this package.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailwire/smtp/smtptest"
)

func newServer(t *testing.T, cfg *smtptest.Config) *smtptest.Server {
	t.Helper()
	srv := smtptest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv
}

func realOpts(srv *smtptest.Server, mode Security) *Options {
	return &Options{Security: mode, TLSConfig: srv.ClientTLSConfig(), Timeout: 5 * time.Second}
}

var realEnv = &Envelope{From: "alice@example.com", To: []string{"bob@example.com"}}

func TestRealServerSecurityModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		server  smtptest.TLSMode
		client  Security
		wantTLS bool
		wantErr error
	}{
		{smtptest.StartTLS, StartTLS, true, nil},
		{smtptest.StartTLS, SecurityAuto, true, nil},
		{smtptest.StartTLS, StartTLSOptional, true, nil},
		{smtptest.ImplicitTLS, ImplicitTLS, true, nil},
		{smtptest.NoTLS, StartTLSOptional, false, nil},
		{smtptest.NoTLS, Plaintext, false, nil},
		{smtptest.NoTLS, StartTLS, false, ErrStartTLSNotOffered},
		{smtptest.NoTLS, SecurityAuto, false, ErrStartTLSNotOffered},
		{smtptest.StartTLS, ImplicitTLS, false, ErrTLSHandshake},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v server, %v client", tt.server, tt.client), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, &smtptest.Config{TLS: tt.server})
			r, err := SendMail(bg, srv.Addr(), realOpts(srv, tt.client), realEnv, strings.NewReader("Subject: x\r\n\r\nhi\r\n"))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("SendMail error = %v, want %v", err, tt.wantErr)
				}
				if n := len(srv.Messages()); n != 0 {
					t.Errorf("%d messages delivered despite the error", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("SendMail: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 || msgs[0].TLS != tt.wantTLS || r.Reply.Message != "OK: queued as "+msgs[0].ID {
				t.Errorf("delivered %d, TLS %v, reply %q; want 1 over TLS=%v with the queue id", len(msgs), len(msgs) > 0 && msgs[0].TLS, r.Reply.Message, tt.wantTLS)
			}
		})
	}
}

func TestRealServerPinnedKey(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	opts := realOpts(srv, StartTLS)
	opts.Pins = []string{srv.Pin()}
	if _, err := SendMail(bg, srv.Addr(), opts, realEnv, strings.NewReader("x\r\n")); err != nil {
		t.Fatalf("pinned: %v", err)
	}
	other := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	opts.Pins = []string{other.Pin()}
	if _, err := SendMail(bg, srv.Addr(), opts, realEnv, strings.NewReader("x\r\n")); !errors.Is(err, ErrPinMismatch) {
		t.Errorf("another server's pin: %v, want ErrPinMismatch", err)
	}
}

func TestRealServerAuth(t *testing.T) {
	t.Parallel()
	users := map[string]string{"alice": "s3cret"}
	tests := []struct {
		name    string
		cfg     smtptest.Config
		opts    func(*Options)
		auth    Auth
		wantErr func(error) bool
	}{
		{"PLAIN over STARTTLS", smtptest.Config{TLS: smtptest.StartTLS, Users: users}, nil, PasswordAuth("alice", "s3cret"), nil},
		{"LOGIN over implicit TLS", smtptest.Config{TLS: smtptest.ImplicitTLS, Users: users}, func(o *Options) { o.Security = ImplicitTLS },
			SASLAuth(newLoginClient("alice", "s3cret")), nil},
		{"wrong password", smtptest.Config{TLS: smtptest.StartTLS, Users: users}, nil, PasswordAuth("alice", "nope"),
			func(err error) bool { var e *Error; return errors.As(err, &e) && e.Code == 535 && e.Command == "AUTH" }},
		{"plaintext refused", smtptest.Config{Users: users, AllowInsecureAuth: true}, func(o *Options) { o.Security = Plaintext },
			PasswordAuth("alice", "s3cret"), func(err error) bool { return errors.Is(err, ErrInsecureAuth) }},
		{"plaintext allowed", smtptest.Config{Users: users, AllowInsecureAuth: true}, func(o *Options) { o.Security = Plaintext; o.AllowInsecureAuth = true },
			PasswordAuth("alice", "s3cret"), nil},
		{"AUTH only after TLS", smtptest.Config{TLS: smtptest.StartTLS, Users: users}, func(o *Options) { o.Security = StartTLSOptional },
			PasswordAuth("alice", "s3cret"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, &tt.cfg)
			opts := realOpts(srv, StartTLS)
			opts.Auth = tt.auth
			if tt.opts != nil {
				tt.opts(opts)
			}
			_, err := SendMail(bg, srv.Addr(), opts, realEnv, strings.NewReader("x\r\n"))
			if tt.wantErr != nil {
				if !tt.wantErr(err) {
					t.Errorf("SendMail error = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("SendMail: %v", err)
			}
			if m := srv.Messages(); len(m) != 1 || m[0].AuthUser != "alice" {
				t.Errorf("messages = %+v, want one sent as alice", m)
			}
		})
	}
}

func TestRealServerReuse(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	c, err := Dial(bg, srv.Addr(), realOpts(srv, StartTLS))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 100
	for i := range n {
		if _, err := c.Send(bg, realEnv, strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if err := c.Quit(bg); err != nil {
		t.Errorf("Quit: %v", err)
	}
	msgs := srv.Messages()
	if len(msgs) != n || srv.Connections() != 1 {
		t.Fatalf("%d messages over %d connections, want %d over 1", len(msgs), srv.Connections(), n)
	}
	for i, m := range msgs {
		if got := m.Header.Get("Subject"); got != fmt.Sprint(i) {
			t.Errorf("message %d has Subject %q", i, got)
		}
	}
}

func TestRealServerContentRoundTrip(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	bodies := []string{
		".leading dot\r\n..two\r\n.\r\nend",
		"bare\nLF\nlines\n",
		"bare\rCR",
		"x\r\n.\r\nMAIL FROM:<evil@example.com>\r\n",
		strings.Repeat("y", 998) + "\r\n",
		"caf\xc3\xa9 8-bit\r\n",
	}
	c, err := Dial(bg, srv.Addr(), realOpts(srv, Plaintext))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, body := range bodies {
		if _, err := c.Send(bg, realEnv, strings.NewReader(body)); err != nil {
			t.Fatalf("Send(%q): %v", body, err)
		}
	}
	for i, m := range srv.Messages() {
		if want := normalize([]byte(bodies[i])); !bytes.Equal(m.Raw, want) {
			t.Errorf("received %q, want %q", m.Raw, want)
		}
		if eight := has8bit([]byte(bodies[i])); eight != (m.MailOptions.Body == gosmtp.Body8BitMIME) {
			t.Errorf("body %q arrived with BODY=%q", bodies[i], m.MailOptions.Body)
		}
	}
	if n := len(srv.Messages()); n != len(bodies) {
		t.Errorf("%d messages, want %d; the smuggled MAIL must not make another", n, len(bodies))
	}
}

func TestRealServerRejectionsAndFaults(t *testing.T) {
	t.Parallel()
	t.Run("one recipient refused", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, &smtptest.Config{RejectRecipients: map[string]*smtptest.Reply{
			"nobody@example.com": {Code: 550, EnhancedCode: smtptest.EnhancedCode{5, 1, 1}, Message: "no such user"}}})
		r, err := SendMail(bg, srv.Addr(), realOpts(srv, Plaintext), &Envelope{From: "a@example.com", To: []string{"b@example.com", "nobody@example.com"}}, strings.NewReader("x\r\n"))
		if err != nil || len(r.Rejected) != 1 || r.Rejected[0].Err.Enhanced != (EnhancedCode{5, 1, 1}) {
			t.Fatalf("SendMail = %+v, %v", r, err)
		}
		if m := srv.Messages(); len(m) != 1 || len(m[0].To) != 1 || m[0].To[0] != "b@example.com" {
			t.Errorf("delivered to %v", m)
		}
	})
	t.Run("refused after data", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, &smtptest.Config{CommandErrors: map[string]*smtptest.Reply{
			smtptest.StepAfterData: {Code: 552, EnhancedCode: smtptest.EnhancedCode{5, 3, 4}, Message: "too big"}}})
		_, err := SendMail(bg, srv.Addr(), realOpts(srv, Plaintext), realEnv, strings.NewReader("x\r\n"))
		var e *Error
		if !errors.As(err, &e) || e.Code != 552 || e.Command != "end of data" || errors.Is(err, ErrDeliveryUnknown) {
			t.Errorf("SendMail error = %v, want *Error 552 at the end of data", err)
		}
	})
	t.Run("dropped after the final dot", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, &smtptest.Config{DropAt: smtptest.StepAfterData})
		_, err := SendMail(bg, srv.Addr(), realOpts(srv, Plaintext), realEnv, strings.NewReader("x\r\n"))
		if !errors.Is(err, ErrDeliveryUnknown) {
			t.Errorf("SendMail error = %v, want ErrDeliveryUnknown", err)
		}
		if len(srv.Messages()) != 1 {
			t.Error("the server did not record the message: the test proves nothing")
		}
	})
	t.Run("dropped at RCPT, DATA", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, &smtptest.Config{DropAt: "RCPT", DisableChunking: true})
		_, err := SendMail(bg, srv.Addr(), realOpts(srv, Plaintext), realEnv, strings.NewReader("x\r\n"))
		if err == nil || errors.Is(err, ErrDeliveryUnknown) {
			t.Errorf("SendMail error = %v, want a plain network error", err)
		}
	})
	t.Run("dropped at RCPT, BDAT", func(t *testing.T) {
		t.Parallel()
		// MAIL, RCPT and BDAT LAST with the content went out together:
		// once they are on the wire, a lost reply leaves the outcome open.
		srv := newServer(t, &smtptest.Config{DropAt: "RCPT"})
		_, err := SendMail(bg, srv.Addr(), realOpts(srv, Plaintext), realEnv, strings.NewReader("x\r\n"))
		if !errors.Is(err, ErrDeliveryUnknown) {
			t.Errorf("SendMail error = %v, want ErrDeliveryUnknown", err)
		}
	})
	t.Run("421 after two messages", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, &smtptest.Config{ShutdownAfter: 2})
		c, err := Dial(bg, srv.Addr(), realOpts(srv, Plaintext))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := range 2 {
			if _, err := c.Send(bg, realEnv, strings.NewReader("x\r\n")); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
		}
		_, err = c.Send(bg, realEnv, strings.NewReader("x\r\n"))
		var e *Error
		if !errors.As(err, &e) || e.Code != 421 {
			t.Fatalf("third Send = %v, want a 421", err)
		}
		if err2 := c.Noop(bg); err2 != err {
			t.Errorf("after the 421 the client is not closed: %v", err2)
		}
	})
	t.Run("SIZE refused before sending", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, &smtptest.Config{MaxMessageBytes: 1000})
		_, err := SendMail(bg, srv.Addr(), realOpts(srv, Plaintext), realEnv, strings.NewReader(strings.Repeat("x", 2000)))
		if !errors.Is(err, ErrMessageTooLarge) || !strings.Contains(err.Error(), "limit is 1000 bytes") {
			t.Errorf("SendMail error = %v, want a SIZE error", err)
		}
		for _, cmd := range srv.Commands() {
			if cmd.Verb == "MAIL" {
				t.Errorf("MAIL was sent: %v", cmd)
			}
		}
	})
	t.Run("timeout on a slow server", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, &smtptest.Config{ReplyDelay: 2 * time.Second})
		ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := Dial(ctx, srv.Addr(), realOpts(srv, Plaintext))
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
			t.Errorf("Dial = %v after %v, want DeadlineExceeded within a second", err, time.Since(start))
		}
	})
}

// TestRealServerAllRefusedThenNextMessage: with CHUNKING, every recipient
// refused leaves go-smtp's transaction open (BDAT is refused, MAIL is
// kept); without a reset, the next MAIL was "nested" and its recipients
// joined the old transaction, delivering under the old sender. Found by the
// bindings' tests.
func TestRealServerAllRefusedThenNextMessage(t *testing.T) {
	t.Parallel()
	for _, chunking := range []bool{true, false} {
		srv := newServer(t, &smtptest.Config{DisableChunking: !chunking, RejectRecipients: map[string]*smtptest.Reply{
			"nobody@example.com": {Code: 550, EnhancedCode: smtptest.EnhancedCode{5, 1, 1}, Message: "no such user"}}})
		c, err := Dial(bg, srv.Addr(), realOpts(srv, Plaintext))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Send(bg, &Envelope{From: "old@example.com", To: []string{"nobody@example.com"}}, strings.NewReader("first\r\n"))
		var re *RecipientsError
		if !errors.As(err, &re) {
			t.Fatalf("chunking %v: first Send = %v, want *RecipientsError", chunking, err)
		}
		if _, err := c.Send(bg, &Envelope{From: "new@example.com", To: []string{"bob@example.com"}}, strings.NewReader("second\r\n")); err != nil {
			t.Fatalf("chunking %v: second Send: %v", chunking, err)
		}
		c.Close()
		if m := srv.Messages(); len(m) != 1 || m[0].From != "new@example.com" {
			t.Errorf("chunking %v: delivered %+v, want the second message from new@", chunking, m)
		}
	}
}

// TestRealServerExtensions checks the ESMTP parameters against go-smtp's
// reading of them: DSN, SMTPUTF8, BINARYMIME, and the 8-bit body type.
func TestRealServerExtensions(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c, err := Dial(bg, srv.Addr(), realOpts(srv, Plaintext))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dsn := &Envelope{From: "alice@example.com", To: []string{"bob@example.com"},
		MailOptions: &MailOptions{Return: "HDRS", EnvelopeID: "id+1=2"},
		RcptOptions: map[string]*RcptOptions{"bob@example.com": {Notify: []DSNNotify{"SUCCESS", "DELAY"}, OriginalRecipient: "bob+x@example.com"}}}
	if _, err := c.Send(bg, dsn, strings.NewReader("dsn\r\n")); err != nil {
		t.Fatalf("DSN: %v", err)
	}
	if _, err := c.Send(bg, &Envelope{From: "andré@example.com", To: []string{"jürgen@münchen.example"}}, strings.NewReader("utf8\r\n")); err != nil {
		t.Fatalf("SMTPUTF8: %v", err)
	}
	binary := &Envelope{From: "alice@example.com", To: []string{"bob@example.com"}, MailOptions: &MailOptions{Body: "BINARYMIME"}}
	if _, err := c.Send(bg, binary, strings.NewReader("\x00\xff\nraw\r")); err != nil {
		t.Fatalf("BINARYMIME: %v", err)
	}
	m := srv.Messages()
	if len(m) != 3 {
		t.Fatalf("%d messages", len(m))
	}
	mo, ro := m[0].MailOptions, m[0].RcptOptions[0]
	if mo.Return != gosmtp.DSNReturnHeaders || mo.EnvelopeID != "id+1=2" || ro.OriginalRecipient != "bob+x@example.com" ||
		fmt.Sprint(ro.Notify) != "[SUCCESS DELAY]" {
		t.Errorf("DSN as the server read it: RET=%q ENVID=%q NOTIFY=%v ORCPT=%q", mo.Return, mo.EnvelopeID, ro.Notify, ro.OriginalRecipient)
	}
	if !m[1].MailOptions.UTF8 || m[1].From != "andré@example.com" || m[1].To[0] != "jürgen@münchen.example" {
		t.Errorf("SMTPUTF8 as the server read it: %v %q %q", m[1].MailOptions.UTF8, m[1].From, m[1].To)
	}
	if m[2].MailOptions.Body != gosmtp.BodyBinaryMIME || string(m[2].Raw) != "\x00\xff\nraw\r" || !m[2].Chunked {
		t.Errorf("BINARYMIME as the server read it: BODY=%q %q chunked %v", m[2].MailOptions.Body, m[2].Raw, m[2].Chunked)
	}
}
