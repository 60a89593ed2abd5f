package smtptest

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

var users = map[string]string{"alice": "s3cret", "bob": "hunter2"}

func TestAuth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		client   sasl.Client
		wantCode int // 0: success
	}{
		{"plain good", sasl.NewPlainClient("", "alice", "s3cret"), 0},
		{"plain identity", sasl.NewPlainClient("bob", "bob", "hunter2"), 0},
		{"plain bad password", sasl.NewPlainClient("", "alice", "wrong"), 535},
		{"plain unknown user", sasl.NewPlainClient("", "mallory", "s3cret"), 535},
		{"plain other identity", sasl.NewPlainClient("alice", "bob", "hunter2"), 535},
		{"login good", sasl.NewLoginClient("bob", "hunter2"), 0},
		{"login bad password", sasl.NewLoginClient("bob", "s3cret"), 535},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, &Config{TLS: StartTLS, Users: users, RequireAuth: true})
			c, err := gosmtp.DialStartTLS(s.Addr(), s.ClientTLSConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Auth(tc.client)
			var se *gosmtp.SMTPError
			switch {
			case tc.wantCode == 0 && err != nil:
				t.Fatalf("Auth: %v", err)
			case tc.wantCode != 0 && (!errors.As(err, &se) || se.Code != tc.wantCode || se.EnhancedCode != (gosmtp.EnhancedCode{5, 7, 8})):
				t.Fatalf("Auth: %v, want %d 5.7.8", err, tc.wantCode)
			}
			err = c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader("Subject: x\r\n\r\n"))
			if tc.wantCode != 0 {
				if !errors.As(err, &se) || se.Code != 530 {
					t.Errorf("MAIL without AUTH: %v, want 530", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := s.Messages()
			if len(m) != 1 || m[0].AuthUser == "" || users[m[0].AuthUser] == "" {
				t.Fatalf("messages %+v", m)
			}
		})
	}
}

func TestAuthPolicy(t *testing.T) {
	t.Parallel()
	plainIR := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00s3cret"))
	for _, tc := range []struct {
		name     string
		cfg      Config
		offered  bool
		authCode int
	}{
		{"no users", Config{TLS: StartTLS}, false, 502},
		{"before STARTTLS", Config{TLS: StartTLS, Users: users}, false, 538},
		{"insecure allowed", Config{Users: users, AllowInsecureAuth: true}, true, 235},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			s := newServer(t, &cfg)
			c, _ := dialRaw(t, s)
			ext := ehloKeywords(c.expect("EHLO me", 250))
			if mechs, ok := ext["AUTH"]; ok != tc.offered || (ok && mechs != "PLAIN LOGIN") {
				t.Errorf("AUTH advertised %v %q, want %v", ok, mechs, tc.offered)
			}
			if r := c.cmd("AUTH PLAIN " + plainIR); r.code != tc.authCode {
				t.Errorf("AUTH: %d %q, want %d", r.code, r.text, tc.authCode)
			}
			for _, cmd := range s.Commands() {
				if strings.Contains(cmd.Args, plainIR) {
					t.Errorf("credentials recorded: %+v", cmd)
				}
			}
		})
	}
}

// LOGIN's exchange, step by step, with the user name asked for.
func TestAuthLoginRaw(t *testing.T) {
	t.Parallel()
	s := newServer(t, &Config{Users: users, AllowInsecureAuth: true})
	c, _ := dialRaw(t, s)
	c.expect("EHLO me", 250)
	b64 := base64.StdEncoding.EncodeToString
	if r := c.expect("AUTH LOGIN", 334); r.text != b64([]byte("Username:")) {
		t.Errorf("first challenge %q", r.text)
	}
	if r := c.expect(b64([]byte("alice")), 334); r.text != b64([]byte("Password:")) {
		t.Errorf("second challenge %q", r.text)
	}
	c.expect(b64([]byte("s3cret")), 235)
	c.expect("AUTH LOGIN", 503)
	c.expect("MAIL FROM:<a@example.com> AUTH=alice@example.com", 250)
	c.expect("RCPT TO:<b@example.com>", 250)
	c.expect("DATA", 354)
	c.send("Subject: x\r\n\r\n.\r\n")
	if r := c.read(); r.code != 250 {
		t.Fatalf("DATA: %d %q", r.code, r.text)
	}
	m := s.Messages()
	if len(m) != 1 || m[0].AuthUser != "alice" || m[0].MailOptions.Auth == nil || *m[0].MailOptions.Auth != "alice@example.com" {
		t.Fatalf("messages %+v", m)
	}
	// The SASL responses are not commands.
	for _, cmd := range s.Commands() {
		if cmd.Verb == "" {
			t.Errorf("SASL response taken as a command: %+v", cmd)
		}
	}
}
