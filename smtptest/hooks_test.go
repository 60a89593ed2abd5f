package smtptest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

func TestRejectRecipients(t *testing.T) {
	t.Parallel()
	noUser := &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	full := &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
	s := newServer(t, &Config{RejectRecipients: map[string]*Reply{"Gone@Example.org": replyOf(noUser), "full@example.org": replyOf(full)}})

	c, err := gosmtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.com", nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rcpt string
		want *gosmtp.SMTPError
	}{
		{"gone@example.org", noUser}, // case does not matter
		{"full@example.org", full},
		{"here@example.org", nil},
	} {
		err := c.Rcpt(tc.rcpt, nil)
		var se *gosmtp.SMTPError
		if tc.want == nil {
			if err != nil {
				t.Errorf("RCPT %s: %v", tc.rcpt, err)
			}
			continue
		}
		if !errors.As(err, &se) || se.Code != tc.want.Code || se.EnhancedCode != tc.want.EnhancedCode || se.Message != tc.want.Message {
			t.Errorf("RCPT %s: %v, want %v", tc.rcpt, err, tc.want)
		}
	}
	wc, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	wc.Write([]byte("Subject: x\r\n\r\n"))
	if err := wc.Close(); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages(); len(m) != 1 || strings.Join(m[0].To, ",") != "here@example.org" {
		t.Fatalf("messages %+v", m)
	}
}

func TestCommandErrors(t *testing.T) {
	t.Parallel()
	e := func(code int, a, b, c int, msg string) *gosmtp.SMTPError {
		return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{a, b, c}, Message: msg}
	}
	for _, tc := range []struct {
		step   string
		err    *gosmtp.SMTPError
		script []string // commands; "+" sends a message's content
		want   string   // reply to the last line
		closed bool
		msgs   int
	}{
		{"MAIL", e(451, 4, 3, 0, "Try later"), []string{"EHLO me", "MAIL FROM:<a@example.com>"}, "451 4.3.0 Try later", false, 0},
		{"RCPT", e(550, 5, 7, 1, "Relay denied"), []string{"EHLO me", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>"}, "550 5.7.1 Relay denied", false, 0},
		{"DATA", e(554, 5, 5, 0, "No thanks"), []string{"EHLO me", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA"}, "554 5.5.0 No thanks", false, 0},
		{"afterdata", e(554, 5, 6, 0, "Content rejected"), []string{"EHLO me", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA", "+"}, "554 5.6.0 Content rejected", false, 0},
		{StepAfterData, e(421, 4, 3, 2, "Shutting down"), []string{"EHLO me", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA", "+"}, "421 4.3.2 Shutting down", true, 0},
		{"NOOP", e(421, 4, 4, 2, "Bye now"), []string{"EHLO me", "NOOP"}, "421 4.4.2 Bye now", true, 0},
		{"EHLO", e(550, 5, 7, 1, "Go away"), []string{"EHLO me"}, "550 Go away", false, 0},
		{"RSET", e(500, 0, 0, 0, "No reset"), []string{"EHLO me", "RSET"}, "500 5.0.0 No reset", false, 0},
		{"STARTTLS", e(454, 4, 7, 0, "TLS not available"), []string{"EHLO me", "STARTTLS"}, "454 4.7.0 TLS not available", false, 0},
		{"AUTH", e(454, 4, 7, 0, "Temporary auth failure"), []string{"EHLO me", "AUTH PLAIN AGFsaWNlAHMzY3JldA=="}, "454 4.7.0 Temporary auth failure", false, 0},
		{"BDAT", e(552, 5, 3, 4, "Too big"), []string{"EHLO me", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "BDAT 5 LAST\r\nhello"}, "552 5.3.4 Too big", false, 0},
		{StepConnect, e(554, 5, 3, 2, "No service"), []string{"EHLO me", "MAIL FROM:<a@example.com>"}, "503 Bad sequence of commands", false, 0},
	} {
		t.Run(tc.step, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, &Config{TLS: StartTLS, Users: users, CommandErrors: map[string]*Reply{tc.step: replyOf(tc.err)}})
			c, greeting := dialRaw(t, s)
			if tc.step == StepConnect {
				if greeting.code != tc.err.Code || greeting.text != tc.err.Message {
					t.Errorf("greeting %d %q", greeting.code, greeting.text)
				}
			}
			var last reply
			for _, line := range tc.script {
				if line == "+" {
					c.send("Subject: x\r\n\r\nhi\r\n.\r\n")
					last = c.read()
					continue
				}
				if strings.Contains(line, "\r\n") { // BDAT and its chunk
					c.send(line)
					last = c.read()
					continue
				}
				last = c.cmd(line)
			}
			got := fmt.Sprintf("%d %s", last.code, last.text)
			if got != tc.want {
				t.Errorf("last reply %q, want %q", got, tc.want)
			}
			if tc.closed {
				c.waitClosed()
			} else if tc.step == StepConnect {
				c.expect("QUIT", 221)
				c.waitClosed()
			} else {
				c.expect("NOOP", 250) // the connection goes on
			}
			if n := len(s.Messages()); n != tc.msgs {
				t.Errorf("%d messages recorded, want %d", n, tc.msgs)
			}
		})
	}
}

func TestDropAt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		step  string
		until string // the command whose reply never comes
		msgs  int
	}{
		{StepConnect, "", 0},
		{"EHLO", "EHLO me", 0},
		{"MAIL", "MAIL FROM:<a@example.com>", 0},
		{"RCPT", "RCPT TO:<b@example.com>", 0},
		{"DATA", "DATA", 0},
		{StepAfterData, "+", 1},
		{"QUIT", "QUIT", 1},
	} {
		t.Run(tc.step, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, &Config{DropAt: tc.step})
			c, greeting := dialRaw(t, s)
			if tc.step == StepConnect {
				if greeting.code != 0 {
					t.Errorf("greeting %d %q, want none", greeting.code, greeting.text)
				}
				return
			}
			script := []string{"EHLO me", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA", "+", "QUIT"}
			for _, line := range script {
				var r reply
				if line == "+" {
					c.send("Subject: x\r\n\r\nhi\r\n.\r\n")
					r = c.read()
				} else {
					r = c.cmd(line)
				}
				if line == tc.until {
					if r.code != 0 {
						t.Errorf("%s: reply %d %q, want none", line, r.code, r.text)
					}
					break
				}
				if r.code == 0 || r.code >= 400 {
					t.Fatalf("%s: %d %q", line, r.code, r.text)
				}
			}
			if n := len(s.Messages()); n != tc.msgs {
				t.Errorf("%d messages recorded, want %d", n, tc.msgs)
			}
		})
	}
}

func TestMaxMessagesPerConn(t *testing.T) {
	t.Parallel()
	s := newServer(t, &Config{MaxMessagesPerConn: 2})
	c, _ := dialRaw(t, s)
	c.expect("EHLO me", 250)
	for i := range 2 {
		if r := c.sendMessage("a@example.com", []string{"b@example.com"}, "Subject: x\r\n\r\n"); r.code != 250 {
			t.Fatalf("message %d: %d %q", i, r.code, r.text)
		}
	}
	if r := c.cmd("MAIL FROM:<a@example.com>"); r.code != 451 || !strings.HasPrefix(r.text, "4.7.0 ") {
		t.Errorf("third MAIL: %d %q, want 451 4.7.0", r.code, r.text)
	}
	c.expect("NOOP", 250) // still open

	c2, _ := dialRaw(t, s)
	c2.expect("EHLO me", 250)
	if r := c2.sendMessage("a@example.com", []string{"b@example.com"}, "Subject: x\r\n\r\n"); r.code != 250 {
		t.Fatalf("new connection: %d %q", r.code, r.text)
	}
	if m := s.Messages(); len(m) != 3 || m[2].ConnID != 2 || s.Connections() != 2 {
		t.Errorf("%d messages, last ConnID %d, %d connections", len(m), m[len(m)-1].ConnID, s.Connections())
	}
}

func TestShutdownAfter(t *testing.T) {
	t.Parallel()
	s := newServer(t, &Config{ShutdownAfter: 1})
	c, err := gosmtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader("Subject: 1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	err = c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader("Subject: 2\r\n\r\n"))
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code != 421 || se.EnhancedCode != (gosmtp.EnhancedCode{4, 7, 0}) {
		t.Fatalf("second message: %v, want 421 4.7.0", err)
	}
	if m := s.Messages(); len(m) != 1 {
		t.Errorf("%d messages", len(m))
	}
}

func TestReplyDelay(t *testing.T) {
	t.Parallel()
	const delay = 60 * time.Millisecond
	s := newServer(t, &Config{ReplyDelay: delay})
	start := time.Now()
	c, greeting := dialRaw(t, s)
	if greeting.code != 220 {
		t.Fatalf("greeting %d", greeting.code)
	}
	c.expect("EHLO me", 250)
	c.expect("NOOP", 250)
	if d := time.Since(start); d < 3*delay {
		t.Errorf("three replies in %v, want at least %v", d, 3*delay)
	}
}

func TestDisableExtensions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		cfg     Config
		gone    []string
		command string // refused now, "" for none
		code    int
	}{
		{"pipelining", Config{DisablePipelining: true}, []string{"PIPELINING"}, "", 0},
		{"8bitmime", Config{Disable8BitMIME: true}, []string{"8BITMIME"}, "MAIL FROM:<a@example.com> BODY=8BITMIME", 504},
		{"enhanced", Config{DisableEnhancedStatusCodes: true}, []string{"ENHANCEDSTATUSCODES"}, "", 0},
		{"chunking", Config{DisableChunking: true}, []string{"CHUNKING", "BINARYMIME"}, "BDAT 3 LAST\r\nabc", 502},
		{"binarymime", Config{DisableBinaryMIME: true}, []string{"BINARYMIME"}, "MAIL FROM:<a@example.com> BODY=BINARYMIME", 504},
		{"size", Config{DisableSize: true}, []string{"SIZE"}, "MAIL FROM:<a@example.com> SIZE=10", 504},
		{"smtputf8", Config{DisableSMTPUTF8: true}, []string{"SMTPUTF8"}, "MAIL FROM:<a@example.com> SMTPUTF8", 504},
		{"dsn", Config{DisableDSN: true}, []string{"DSN"}, "MAIL FROM:<a@example.com> RET=FULL", 504},
		{"requiretls", Config{TLS: ImplicitTLS, DisableRequireTLS: true}, []string{"REQUIRETLS"}, "MAIL FROM:<a@example.com> REQUIRETLS", 504},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			s := newServer(t, &cfg)
			c, _ := dialAny(t, s)
			ext := ehloKeywords(c.expect("EHLO me", 250))
			for _, k := range tc.gone {
				if _, ok := ext[k]; ok {
					t.Errorf("%s still advertised: %v", k, ext)
				}
			}
			if len(ext) < 4 {
				t.Errorf("too few extensions left: %v", ext)
			}
			r := c.expect("NOOP", 250)
			if hasCode := strings.HasPrefix(r.text, "2.0.0 "); hasCode == cfg.DisableEnhancedStatusCodes {
				t.Errorf("NOOP reply %q: enhanced code present %v", r.text, hasCode)
			}
			if tc.command != "" {
				var r reply
				if strings.HasPrefix(tc.command, "BDAT") {
					c.expect("MAIL FROM:<a@example.com>", 250)
					c.expect("RCPT TO:<b@example.com>", 250)
					c.send(tc.command) // the chunk has no CRLF of its own
					r = c.read()
				} else {
					r = c.cmd(tc.command)
				}
				if r.code != tc.code {
					t.Errorf("%q: %d %q, want %d", tc.command, r.code, r.text, tc.code)
				}
				c.expect("NOOP", 250) // in step again
			}
		})
	}
}

// replyOf is the Reply that makes the server send e.
func replyOf(e *gosmtp.SMTPError) *Reply {
	return &Reply{Code: e.Code, EnhancedCode: EnhancedCode(e.EnhancedCode), Message: e.Message}
}
