package smtp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

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
		want       string   // a mechanism, or the error's sentinel name
		only       []string // PasswordAuth's mechanisms
	}{
		{"PLAIN LOGIN SCRAM-SHA-256", true, false, "LOGIN", []string{"login"}},
		{"PLAIN LOGIN SCRAM-SHA-256", true, false, "PLAIN", []string{"LOGIN", "PLAIN"}}, // the strongest of those
		{"PLAIN SCRAM-SHA-256", true, false, "ErrAuthNotOffered", []string{"CRAM-MD5"}},
		{"PLAIN", true, false, "ErrInvalidArgument", []string{"NTLM"}},
		{"PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256", true, false, "SCRAM-SHA-256", nil},
		{"PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1", true, false, "SCRAM-SHA-1", nil},
		{"LOGIN PLAIN CRAM-MD5", true, false, "PLAIN", nil},
		{"LOGIN CRAM-MD5", true, false, "LOGIN", nil},
		{"CRAM-MD5", true, false, "CRAM-MD5", nil},
		{"login plain", true, false, "PLAIN", nil},
		{"PLAIN LOGIN", false, false, "ErrInsecureAuth", nil},
		{"LOGIN", false, false, "ErrInsecureAuth", nil},
		{"PLAIN LOGIN", false, true, "PLAIN", nil},
		{"PLAIN LOGIN CRAM-MD5", false, false, "CRAM-MD5", nil},
		{"PLAIN SCRAM-SHA-256", false, false, "SCRAM-SHA-256", nil},
		{"GSSAPI NTLM", true, false, "ErrAuthNotOffered", nil},
		{"", true, true, "ErrAuthNotOffered", nil},
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
		sc, err := PasswordAuth("u", "p", tt.only...).mechanism(c)
		switch {
		case errors.Is(err, ErrInvalidArgument):
			got = "ErrInvalidArgument"
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
		opts.Trace = onLines(func(l string) { lines = append(lines, l) }, nil)
		_, srv, err := dialSteps(t, opts, steps)
		if !errors.Is(err, ErrInsecureAuth) {
			t.Errorf("%s over plaintext: %v, want ErrInsecureAuth", tt.mechs, err)
			continue
		}
		if r := RemedyOf(err); r != RemedySecureAuth || !strings.Contains(r.Hint(), "AllowInsecureAuth") {
			t.Errorf("error %q: remedy %v does not say how to allow it", err, r)
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
			opts.Trace = onLines(
				func(l string) { events = append(events, "> "+l) },
				func(l string) { events = append(events, "< "+l) },
			)
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

// TestSASLFieldsRefuseSeparators: the user name, password and token a caller
// passes to PasswordAuth and OAuth2Auth go into the SASL messages without
// a check, and those messages use NUL (PLAIN, RFC 4616), ',' and 0x01
// (OAUTHBEARER, RFC 7628; XOAUTH2) as field separators. A user name such
// as "bob@example.com\x01auth=Bearer OTHER" therefore adds a field of its
// own choosing to the XOAUTH2 or OAUTHBEARER response (the server takes the
// first auth= it parses), and NUL in a PLAIN user name or password shifts
// the fields. The issue asks that CR, LF and NUL in every string a caller
// passes be refused before anything is written; the SASL separators are
// the same hazard one layer down. Each case below must either be refused
// before the AUTH command is written, or reach the server as exactly the
// credentials given (with ',' and '=' escaped as =2C and =3D in
// OAUTHBEARER's authzid, RFC 5801).
//
// Cause, before the fix: auth.go builds PLAIN and OAUTHBEARER with
// go-sasl's clients and XOAUTH2 itself (xoauth2Client.Start), none of which
// validates or escapes.
func TestSASLFieldsRefuseSeparators(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mech         string
		user, secret string
	}{
		{"PLAIN", "bob\x00admin", "password"},
		{"PLAIN", "bob", "pass\x00word"},
		{"XOAUTH2", "bob@example.com\x01auth=Bearer OTHER-TOKEN", "token"},
		{"XOAUTH2", "bob@example.com", "token\x01auth=Bearer OTHER-TOKEN"},
		{"OAUTHBEARER", "bob@example.com,\x01auth=Bearer OTHER-TOKEN\x01", "token"},
		{"OAUTHBEARER", "bob,x=y@example.com", "token"},
		{"OAUTHBEARER", "bob@example.com", "token\x01host=evil.example"},
	}
	for _, tt := range tests {
		t.Run(tt.mech+"/"+strings.ToValidUTF8(strings.NewReplacer("\x00", "NUL", "\x01", "SOH").Replace(tt.user+":"+tt.secret), "?"), func(t *testing.T) {
			t.Parallel()
			conn := newMemConn([]byte("220 bug.test ESMTP\r\n250-bug.test\r\n250 AUTH " + tt.mech + "\r\n235 2.7.0 Authentication successful\r\n"))
			var auth Auth = PasswordAuth(tt.user, tt.secret)
			if tt.mech != "PLAIN" {
				auth = OAuth2Auth(tt.user, tt.secret)
			}
			c, err := NewClient(context.Background(), conn, &Options{Security: Plaintext, AllowInsecureAuth: true, Auth: auth, Timeout: time.Second})
			if err == nil {
				c.Close()
			}
			var authLine string
			for _, l := range strings.Split(string(conn.written()), "\r\n") {
				if strings.HasPrefix(l, "AUTH ") {
					authLine = l
				}
			}
			if authLine == "" {
				if err == nil {
					t.Fatal("no AUTH command and no error")
				}
				return // refused before writing: fine
			}
			ir, derr := base64.StdEncoding.DecodeString(strings.TrimPrefix(authLine, "AUTH "+tt.mech+" "))
			if derr != nil {
				t.Fatalf("AUTH line %q: %v", authLine, derr)
			}
			user, secret, ok := parseSASL(tt.mech, ir)
			if !ok || user != tt.user || secret != tt.secret {
				t.Errorf("the client sent %q: a server reads user %q, secret %q (well-formed: %v); want %q, %q, or a refusal before AUTH",
					ir, user, secret, ok, tt.user, tt.secret)
			}
		})
	}
}

// parseSASL reads an initial response as a server does: the user name
// and secret, and whether the message is well-formed with no field beyond
// its mechanism's.
func parseSASL(mech string, ir []byte) (user, secret string, ok bool) {
	switch mech {
	case "PLAIN": // authzid NUL authcid NUL passwd
		parts := bytes.Split(ir, []byte{0})
		if len(parts) != 3 {
			return "", "", false
		}
		return string(parts[1]), string(parts[2]), true
	case "XOAUTH2": // "user=" user ^A "auth=Bearer " token ^A ^A
		body, found := bytes.CutSuffix(ir, []byte("\x01\x01"))
		fields := bytes.Split(body, []byte{1})
		if !found || len(fields) != 2 || !bytes.HasPrefix(fields[0], []byte("user=")) || !bytes.HasPrefix(fields[1], []byte("auth=Bearer ")) {
			return "", "", false
		}
		return string(fields[0][5:]), string(fields[1][12:]), true
	case "OAUTHBEARER": // "n,a=" saslname "," ^A key=value ... ^A ^A
		body, found := bytes.CutSuffix(ir, []byte("\x01\x01"))
		gs2, kvs, found2 := bytes.Cut(body, []byte(",\x01"))
		if !found || !found2 {
			return "", "", false
		}
		head := strings.SplitN(string(gs2), ",", 3)
		if len(head) != 2 || head[0] != "n" || !strings.HasPrefix(head[1], "a=") {
			return "", "", false
		}
		name := head[1][2:]
		if strings.Contains(strings.NewReplacer("=2C", "", "=3D", "").Replace(name), "=") {
			return "", "", false
		}
		user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(name)
		seen := map[string]bool{}
		for _, kv := range bytes.Split(kvs, []byte{1}) {
			k, v, found := bytes.Cut(kv, []byte("="))
			if !found || seen[string(k)] || !(string(k) == "auth" || string(k) == "host" || string(k) == "port") {
				return "", "", false
			}
			seen[string(k)] = true
			if string(k) == "auth" {
				if !bytes.HasPrefix(v, []byte("Bearer ")) {
					return "", "", false
				}
				secret = string(v[7:])
			}
		}
		return user, secret, seen["auth"]
	}
	return "", "", false
}

// TestSCRAMIterationsHonourTheDeadline: a server offering SCRAM-SHA-256
// names the PBKDF2 iteration count in its first challenge, and the client
// computes it whatever it is, outside any deadline: a server (or anyone
// before STARTTLS, with StartTLSOptional or Plaintext) that asks for
// i=2147483647 holds the caller's goroutine for many minutes (here, a
// count that costs 3s), while Options.Timeout is 250ms and the context's
// deadline 500ms. RFC 7677 sets 4096 as the least
// and no most; a client should refuse an absurd count (servers use 4096 to
// a few hundred thousand), or run the key derivation where the context can
// abandon it.
//
// Cause, before the fix: scramClient.Next (auth.go) hands the challenge to
// github.com/xdg-go/scram, which has a minimum iteration count but no
// maximum, and authenticate checks the deadline only around network I/O.
func TestSCRAMIterationsHonourTheDeadline(t *testing.T) {
	t.Parallel()
	// An iteration count that costs about 3s here (the race detector
	// slows PBKDF2 twentyfold): far less than a hostile server may ask.
	start := time.Now()
	if _, err := pbkdf2.Key(sha256.New, "password", []byte("salt"), 20000, 32); err != nil {
		t.Fatal(err)
	}
	iters := int(3 * time.Second / (time.Since(start) / 20000))
	addr := rawServer(t, func(conn net.Conn) {
		br := bufio.NewReader(conn)
		conn.Write([]byte("220 bug.test ESMTP\r\n"))
		br.ReadString('\n')
		conn.Write([]byte("250-bug.test\r\n250 AUTH SCRAM-SHA-256\r\n"))
		line, _ := br.ReadString('\n') // AUTH SCRAM-SHA-256 base64(n,,n=user,r=NONCE)
		first, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(line, "AUTH SCRAM-SHA-256 ")))
		_, nonce, _ := strings.Cut(string(first), ",r=")
		challenge := "r=" + nonce + "server,s=" + base64.StdEncoding.EncodeToString([]byte("salt")) + ",i=" + strconv.Itoa(iters)
		conn.Write([]byte("334 " + base64.StdEncoding.EncodeToString([]byte(challenge)) + "\r\n"))
		io.Copy(io.Discard, br)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	opts := &Options{Security: Plaintext, Auth: PasswordAuth("user", "password"), Timeout: 250 * time.Millisecond}
	start = time.Now()
	c, err := Dial(ctx, addr, opts)
	elapsed := time.Since(start)
	if err == nil {
		c.Close()
	}
	if elapsed > 1500*time.Millisecond {
		t.Errorf("Dial returned after %v (%v) with i=%d; want an error within the context's 500ms deadline", elapsed.Round(time.Millisecond), err, iters)
	}
}

// The secrets of FuzzSASLChallenge, distinctive enough not to occur by
// chance.
const (
	fuzzUser     = "fuzzuser"
	fuzzPassword = "Pa55-w0rd-SECRET"
	fuzzToken    = "ya29.TOKEN-SECRET"
)

var saslMechs = []string{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "OAUTHBEARER", "XOAUTH2"}

// saslServerStream is what FuzzSASLChallenge's server sends: greeting and
// EHLO offering mech, then after the AUTH command one reply per piece of
// challenges (split at '\n'): a piece starting with a digit 2 to 5 goes
// out as it is (a final reply, or a malformed or multiline challenge),
// any other as "334 " and its base64.
func saslServerStream(mech string, challenges []byte) []byte {
	var b bytes.Buffer
	b.WriteString("220 fuzz.test ESMTP\r\n250-fuzz.test\r\n250-PIPELINING\r\n250 AUTH " + mech + "\r\n")
	for _, piece := range bytes.Split(challenges, []byte("\n")) {
		if len(piece) > 0 && '2' <= piece[0] && piece[0] <= '5' {
			b.Write(piece)
		} else {
			b.WriteString("334 ")
			b.WriteString(base64.StdEncoding.EncodeToString(piece))
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// FuzzSASLChallenge runs the AUTH exchange of every mechanism against
// random challenges and replies: no panic, an error or a success, never a
// secret in the error nor in a traced line (unless the server itself sent
// it), and the client's responses traced only as "[redacted]".
func FuzzSASLChallenge(f *testing.F) {
	seeds := []struct {
		mech       uint8
		challenges string
	}{
		{0, "235 2.7.0 Authentication successful"},
		{0, "535 5.7.8 Authentication credentials invalid"},
		{0, "\n235 2.7.0 ok"},
		{1, "Username:\nPassword:\n235 2.7.0 ok"},
		{1, "VXNlcm5hbWU6\nUGFzc3dvcmQ6\n235 ok"},
		{1, "\n\n\n535 no"},
		{2, "<1896.697170952@postoffice.example.net>\n235 ok"},
		{3, "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096\n235 ok"},
		{4, "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096\nv=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=\n235 ok"},
		{4, "r=x,s=c2FsdA==,i=1\n235 ok"},
		{5, "{\"status\":\"invalid_token\",\"scope\":\"mail\"}\n535 5.7.8 no"},
		{5, "235 ok"},
		{6, "{\"status\":\"401\",\"schemes\":\"Bearer\",\"scope\":\"https://mail.google.com/\"}\n535 5.7.8 Username and Password not accepted"},
		{6, "334-abc\r\n334 def"},
		{0, "334 ====\n501 5.5.2 cannot decode"},
		{2, "334 not base64!\n501 bad"},
		{3, "e=other-error\n535 no"},
		{0, "421 4.7.0 too many errors"},
		{3, "235 ok before the proof"},
	}
	for _, s := range seeds {
		f.Add(s.mech, []byte(s.challenges))
	}
	f.Fuzz(func(t *testing.T, mechIndex uint8, challenges []byte) {
		mech := saslMechs[int(mechIndex)%len(saslMechs)]
		var auth Auth = PasswordAuth(fuzzUser, fuzzPassword)
		if strings.Contains(mech, "OAUTH") {
			auth = OAuth2Auth(fuzzUser, fuzzToken)
		}
		stream := saslServerStream(mech, challenges)
		// What the server sent, decoded where it can be: a secret found
		// there may rightly come back in an error.
		seen := string(stream)
		for _, piece := range bytes.Split(challenges, []byte("\n")) {
			if d, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(string(piece), "334 "))); err == nil {
				seen += string(d)
			}
		}
		var sent []string
		conn := newMemConn(stream)
		opts := &Options{
			Security: Plaintext, AllowInsecureAuth: true, Auth: auth, Timeout: time.Second,
			Trace: onLines(func(line string) { sent = append(sent, line) }, nil),
		}
		c, err := NewClient(context.Background(), conn, opts)
		if err == nil {
			c.Close()
		}
		for _, secret := range []string{fuzzPassword, fuzzToken, base64.StdEncoding.EncodeToString([]byte("\x00" + fuzzUser + "\x00" + fuzzPassword))} {
			if strings.Contains(seen, secret) {
				continue
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Fatalf("%s: error holds the secret: %v", mech, err)
			}
			for _, l := range sent {
				if strings.Contains(l, secret) {
					t.Fatalf("%s: traced line %q holds the secret", mech, l)
				}
			}
		}
		afterAuth := false
		for _, l := range sent {
			switch {
			case strings.HasPrefix(l, "AUTH "):
				if l != "AUTH "+mech && l != "AUTH "+mech+" [redacted]" {
					t.Fatalf("traced AUTH line %q", l)
				}
				afterAuth = true
			case afterAuth && l != "[redacted]" && l != "*":
				t.Fatalf("%s: traced response %q, want [redacted] or *", mech, l)
			}
		}
		if !bytes.Contains(conn.written(), []byte("AUTH "+mech)) {
			t.Fatalf("%s: no AUTH command sent: %q", mech, conn.written())
		}
	})
}
