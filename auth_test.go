package smtp

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/xdg-go/scram"

	"github.com/mailwire/smtp/internal/peer"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// authScript is a plaintext session offering mechs, then the exchange.
func authScript(mechs, exchange string) string {
	return greeting + ehlo("PIPELINING", "AUTH "+mechs) + exchange
}

// insecureOK are options for AUTH tests over the plaintext peer.
func insecureOK() *Options {
	o := plainOpts()
	o.AllowInsecureAuth = true
	return o
}

func TestAuthVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		auth   func() Auth
		mechs  string
		script string
	}{
		{"RFC 4616 PLAIN", func() Auth { return PasswordAuth("tim", "tanstaaftanstaaf") }, "PLAIN",
			"C: AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\nS: 235 2.7.0 Authentication successful\n"},
		{"RFC 2195 CRAM-MD5", func() Auth { return PasswordAuth("tim", "tanstaaftanstaaf") }, "CRAM-MD5",
			"C: AUTH CRAM-MD5\nS: 334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\n" +
				"C: dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\nS: 235 2.7.0 Ok\n"},
		{"RFC 7677 SCRAM-SHA-256", func() Auth {
			sc, err := newSCRAM(scram.SHA256, "SCRAM-SHA-256", "user", "pencil", func() string { return "rOprNGfwEbeRWgbNEkqO" })
			if err != nil {
				t.Fatal(err)
			}
			return SASLAuth(sc)
		}, "SCRAM-SHA-256",
			"C: AUTH SCRAM-SHA-256 " + b64("n,,n=user,r=rOprNGfwEbeRWgbNEkqO") + "\n" +
				"S: 334 " + b64("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") + "\n" +
				"C: " + b64("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=") + "\n" +
				"S: 334 " + b64("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") + "\n" +
				"C: \nS: 235 2.7.0 Ok\n"}, // an empty response is an empty line, as Dovecot demands
		{"RFC 7628 OAUTHBEARER", func() Auth { return OAuth2Auth("user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==") }, "OAUTHBEARER XOAUTH2",
			"C: AUTH OAUTHBEARER " + b64("n,a=user@example.com,\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01") + "\n" +
				"S: 235 2.7.0 Ok\n"},
		{"XOAUTH2", func() Auth {
			return OAuth2Auth("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
		}, "XOAUTH2 PLAIN",
			"C: AUTH XOAUTH2 dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==\n" +
				"S: 235 2.7.0 Accepted\n"},
		{"LOGIN, classic prompts", func() Auth { return PasswordAuth("tim", "tanstaaf") }, "LOGIN",
			"C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: dGlt\nS: 334 UGFzc3dvcmQ6\nC: dGFuc3RhYWY=\nS: 235 Ok\n"},
		{"LOGIN, other prompts", func() Auth { return PasswordAuth("tim", "tanstaaf") }, "LOGIN",
			"C: AUTH LOGIN\nS: 334 " + b64("User Name") + "\nC: dGlt\nS: 334 " + b64("Password, please") + "\nC: dGFuc3RhYWY=\nS: 235 Ok\n"},
		{"LOGIN, no prompt text", func() Auth { return PasswordAuth("tim", "tanstaaf") }, "LOGIN",
			"C: AUTH LOGIN\nS: 334\nC: dGlt\nS: 334\nC: dGFuc3RhYWY=\nS: 235 Ok\n"},
		{"go-sasl EXTERNAL, empty initial response", func() Auth { return SASLAuth(sasl.NewExternalClient("")) }, "EXTERNAL",
			"C: AUTH EXTERNAL =\nS: 235 Ok\n"},
		{"go-sasl ANONYMOUS", func() Auth { return SASLAuth(sasl.NewAnonymousClient("trace")) }, "ANONYMOUS",
			"C: AUTH ANONYMOUS dHJhY2U=\nS: 235 Ok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := insecureOK()
			opts.Auth = tt.auth()
			c, srv, err := dialSteps(t, opts, peer.Script(authScript(tt.mechs, tt.script)))
			if err != nil {
				t.Fatalf("Dial with %s: %v", tt.name, err)
			}
			c.Close()
			peerResult(t, srv)
		})
	}
}

func TestAuthFailures(t *testing.T) {
	t.Parallel()
	oauthStatus := `{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}`
	tests := []struct {
		name, mechs, script string
		auth                Auth
		code                int
		enhanced            EnhancedCode
		detail              string
	}{
		{"535 bad password", "PLAIN", "C: AUTH PLAIN " + b64("\x00tim\x00wrong") + "\nS: 535 5.7.8 Error: authentication failed\n",
			PasswordAuth("tim", "wrong"), 535, EnhancedCode{5, 7, 8}, ""},
		{"454 temporary", "PLAIN", "C: AUTH PLAIN " + b64("\x00tim\x00pw") + "\nS: 454 4.7.0 Temporary authentication failure\n",
			PasswordAuth("tim", "pw"), 454, EnhancedCode{4, 7, 0}, ""},
		{"538 encryption required", "PLAIN", "C: AUTH PLAIN " + b64("\x00tim\x00pw") + "\nS: 538 5.7.11 Encryption required\n",
			PasswordAuth("tim", "pw"), 538, EnhancedCode{5, 7, 11}, ""},
		{"RFC 7628 OAUTHBEARER error flow", "OAUTHBEARER",
			"C: AUTH OAUTHBEARER " + b64("n,a=user@example.com,\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01") + "\n" +
				"S: 334 " + b64(oauthStatus) + "\nC: AQ==\nS: 535 5.7.8 Authentication credentials invalid\n",
			OAuth2Auth("user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="), 535, EnhancedCode{5, 7, 8}, "invalid_token"},
		{"XOAUTH2 JSON failure", "XOAUTH2",
			"C: AUTH XOAUTH2 " + b64("user=u@example.com\x01auth=Bearer tok\x01\x01") + "\n" +
				"S: 334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0cHM6Ly9tYWlsLmdvb2dsZS5jb20vIn0K\n" +
				"C: \nS: 535-5.7.8 Username and Password not accepted.\nS: 535 5.7.8 Learn more\n",
			OAuth2Auth("u@example.com", "tok"), 535, EnhancedCode{5, 7, 8}, "XOAUTH2 authentication error (401)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := insecureOK()
			opts.Auth = tt.auth
			_, srv, err := dialSteps(t, opts, peer.Script(authScript(tt.mechs, tt.script)))
			var e *Error
			if !errors.As(err, &e) || e.Command != "AUTH" || e.Code != tt.code || e.Enhanced != tt.enhanced {
				t.Fatalf("Dial error = %v, want *Error %d %v to AUTH", err, tt.code, tt.enhanced)
			}
			if tt.detail != "" && !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("error %q lacks the server's status %q", err, tt.detail)
			}
			peerResult(t, srv)
		})
	}
}

func TestAuthCancelsOnBadChallenge(t *testing.T) {
	t.Parallel()
	opts := insecureOK()
	opts.Auth = PasswordAuth("tim", "pw")
	_, srv, err := dialSteps(t, opts, peer.Script(authScript("CRAM-MD5",
		"C: AUTH CRAM-MD5\nS: 334 not*base64\nC: *\nS: 501 5.7.0 Authentication cancelled\n")))
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("Dial error = %v, want a cancelled AUTH", err)
	}
	peerResult(t, srv)
}

func TestSCRAMNeedsServerProof(t *testing.T) {
	t.Parallel()
	sc, _ := newSCRAM(scram.SHA256, "SCRAM-SHA-256", "user", "pencil", func() string { return "rOprNGfwEbeRWgbNEkqO" })
	opts := insecureOK()
	opts.Auth = SASLAuth(sc)
	_, srv, err := dialSteps(t, opts, peer.Script(authScript("SCRAM-SHA-256",
		"C: AUTH SCRAM-SHA-256 "+b64("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")+"\nS: 235 2.7.0 Ok, trust me\n")))
	if err == nil || !strings.Contains(err.Error(), "did not prove") {
		t.Errorf("Dial error = %v, want a missing server proof", err)
	}
	peerResult(t, srv)
}

func TestSecondAuthGetsServerRefusal(t *testing.T) {
	t.Parallel()
	opts := insecureOK()
	opts.Auth = PasswordAuth("tim", "pw")
	c, srv, err := dialSteps(t, opts, peer.Script(authScript("PLAIN",
		"C: AUTH PLAIN "+b64("\x00tim\x00pw")+"\nS: 235 Ok\nC: AUTH PLAIN "+b64("\x00tim\x00pw")+"\nS: 503 5.5.1 Error: already authenticated\n")))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Auth(bg, PasswordAuth("tim", "pw"))
	var e *Error
	if !errors.As(err, &e) || e.Code != 503 || e.Command != "AUTH" {
		t.Errorf("second Auth = %v, want the server's 503", err)
	}
	c.Close()
	peerResult(t, srv)
}

// TestPasswordAuthSelection is the matrix of mechanisms offered, TLS or not,
// and AllowInsecureAuth, against the mechanism chosen or the error.
func TestPasswordAuthSelection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		offered    string
		tls, allow bool
		want       string // a mechanism, or the error's sentinel name
	}{
		{"PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256", true, false, "SCRAM-SHA-256"},
		{"PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1", true, false, "SCRAM-SHA-1"},
		{"LOGIN PLAIN CRAM-MD5", true, false, "PLAIN"},
		{"LOGIN CRAM-MD5", true, false, "LOGIN"},
		{"CRAM-MD5", true, false, "CRAM-MD5"},
		{"login plain", true, false, "PLAIN"},
		{"PLAIN LOGIN", false, false, "ErrInsecureAuth"},
		{"LOGIN", false, false, "ErrInsecureAuth"},
		{"PLAIN LOGIN", false, true, "PLAIN"},
		{"PLAIN LOGIN CRAM-MD5", false, false, "CRAM-MD5"},
		{"PLAIN SCRAM-SHA-256", false, false, "SCRAM-SHA-256"},
		{"GSSAPI NTLM", true, false, "ErrAuthNotOffered"},
		{"", true, true, "ErrAuthNotOffered"},
	}
	for _, tt := range tests {
		c := &Client{ext: extensions{"AUTH": tt.offered}, opts: Options{AllowInsecureAuth: tt.allow}}
		if tt.offered == "" {
			c.ext = extensions{}
		}
		if tt.tls {
			c.tlsState = &tls.ConnectionState{}
		}
		var got string
		sc, err := PasswordAuth("u", "p").mechanism(c)
		switch {
		case errors.Is(err, ErrInsecureAuth):
			got = "ErrInsecureAuth"
		case errors.Is(err, ErrAuthNotOffered):
			got = "ErrAuthNotOffered"
		case err != nil:
			got = err.Error()
		default:
			got, _, _ = sc.Start()
		}
		if got != tt.want {
			t.Errorf("offered %q, TLS %v, AllowInsecureAuth %v: got %s, want %s", tt.offered, tt.tls, tt.allow, got, tt.want)
		}
	}
}

// secretForms are the password and every base64 form it could take on the
// wire in the tests below.
func secretForms(user, pass string) []string {
	return []string{pass, b64(pass), b64("\x00" + user + "\x00" + pass), b64("user=" + user + "\x01auth=Bearer " + pass + "\x01\x01"),
		b64("n,a=" + user + ",\x01auth=Bearer " + pass + "\x01\x01")}
}

func TestInsecureAuthSendsNoSecret(t *testing.T) {
	t.Parallel()
	const user, pass = "alice", "correct horse battery staple"
	for _, tt := range []struct {
		mechs string
		auth  Auth
	}{
		{"PLAIN LOGIN", PasswordAuth(user, pass)},
		{"LOGIN", PasswordAuth(user, pass)},
		{"OAUTHBEARER XOAUTH2", OAuth2Auth(user, pass)},
		{"XOAUTH2", OAuth2Auth(user, pass)},
		{"PLAIN", SASLAuth(sasl.NewPlainClient("", user, pass))},
	} {
		steps := append(peer.Script(greeting+ehlo("PIPELINING", "AUTH "+tt.mechs)), peer.ExpectClose())
		var lines []string
		opts := plainOpts()
		opts.Auth = tt.auth
		opts.Trace = &Trace{LineSent: func(l string) { lines = append(lines, l) }}
		_, srv, err := dialSteps(t, opts, steps)
		if !errors.Is(err, ErrInsecureAuth) {
			t.Errorf("%s over plaintext: %v, want ErrInsecureAuth", tt.mechs, err)
			continue
		}
		if !strings.Contains(err.Error(), "AllowInsecureAuth") {
			t.Errorf("error %q does not say how to allow it", err)
		}
		res := peerResult(t, srv)
		for _, s := range secretForms(user, pass) {
			if strings.Contains(string(res.Received), s) || strings.Contains(err.Error(), s) || strings.Contains(strings.Join(lines, "\n"), s) {
				t.Errorf("%s: the secret (as %q) leaked", tt.mechs, s)
			}
		}
	}
}

func TestAuthSecretsNeverTraced(t *testing.T) {
	t.Parallel()
	const user, pass = "alice", "s3cret-P4ss"
	for _, tt := range []struct {
		name, mechs, exchange string
		auth                  Auth
		fails                 bool
	}{
		{"PLAIN", "PLAIN", "C: AUTH PLAIN " + b64("\x00alice\x00"+pass) + "\nS: 235 Ok\n", PasswordAuth(user, pass), false},
		{"PLAIN refused", "PLAIN", "C: AUTH PLAIN " + b64("\x00alice\x00"+pass) + "\nS: 535 5.7.8 no\n", PasswordAuth(user, pass), true},
		{"LOGIN", "LOGIN", "C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: YWxpY2U=\nS: 334 UGFzc3dvcmQ6\nC: " + b64(pass) + "\nS: 535 5.7.8 no\n", PasswordAuth(user, pass), true},
		{"XOAUTH2", "XOAUTH2", "C: AUTH XOAUTH2 " + b64("user=alice\x01auth=Bearer "+pass+"\x01\x01") + "\nS: 334 " + b64(`{"status":"401"}`) + "\nC: \nS: 535 5.7.8 no\n", OAuth2Auth(user, pass), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var events []string
			opts := insecureOK()
			opts.Auth = tt.auth
			opts.Trace = &Trace{
				LineSent:     func(l string) { events = append(events, "> "+l) },
				LineReceived: func(l string) { events = append(events, "< "+l) },
			}
			c, srv, err := dialSteps(t, opts, peer.Script(authScript(tt.mechs, tt.exchange)))
			if (err != nil) != tt.fails {
				t.Fatalf("Dial error = %v, want failure %v", err, tt.fails)
			}
			if c != nil {
				c.Close()
			}
			peerResult(t, srv)
			log := strings.Join(events, "\n")
			if !strings.Contains(log, "> AUTH "+tt.mechs) || !strings.Contains(log, "[redacted]") {
				t.Errorf("trace lacks the redacted AUTH lines:\n%s", log)
			}
			for _, s := range secretForms(user, pass) {
				if strings.Contains(log, s) || err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("secret form %q in the trace or error:\n%s\n%v", s, log, err)
				}
			}
		})
	}
}

func TestAuthOnlyAfterStartTLS(t *testing.T) {
	t.Parallel()
	// The pre-TLS list offers only PLAIN; after TLS the server offers
	// SCRAM: only the post-TLS list counts.
	steps := peer.Script(greeting + ehlo("STARTTLS", "AUTH PLAIN") + "C: STARTTLS\nS: 220 Go\n")
	steps = append(steps, peer.StartTLS(serverTLS(goodCert)))
	steps = append(steps, peer.Script(ehlo("AUTH LOGIN")+"C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: dGlt\nS: 334 UGFzc3dvcmQ6\nC: cHc=\nS: 235 Ok\n")...)
	opts := tlsOpts(StartTLS)
	opts.Auth = PasswordAuth("tim", "pw")
	c, srv, err := dialSteps(t, opts, steps)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Close()
	peerResult(t, srv)
}

// A server that answers every response with another challenge is cut off
// after maxAuthChallenges: each CRAM-MD5 answer is an HMAC of the password
// over a challenge the server chose, a sample for an offline attack.
func TestAuthChallengesAreBounded(t *testing.T) {
	t.Parallel()
	var script strings.Builder
	script.WriteString("C: AUTH CRAM-MD5\n")
	for i := range maxAuthChallenges {
		challenge := fmt.Sprintf("<%d.1@peer.test>", i)
		mac := hmac.New(md5.New, []byte("pw"))
		mac.Write([]byte(challenge))
		fmt.Fprintf(&script, "S: 334 %s\nC: %s\n", b64(challenge), b64("tim "+hex.EncodeToString(mac.Sum(nil))))
	}
	fmt.Fprintf(&script, "S: 334 %s\nC: *\nS: 501 5.7.0 Authentication cancelled\n", b64("<again@peer.test>"))
	opts := insecureOK()
	opts.Auth = PasswordAuth("tim", "pw")
	_, srv, err := dialSteps(t, opts, peer.Script(authScript("CRAM-MD5", script.String())))
	if err == nil || !strings.Contains(err.Error(), "more than 8 challenges") {
		t.Fatalf("Dial error = %v, want the exchange cut off", err)
	}
	peerResult(t, srv)
}
