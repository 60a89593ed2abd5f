package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestExplainCurlLogs(t *testing.T) {
	t.Parallel()
	common := []string{
		"< 220 postfix.example.test ESMTP Postfix (mailwire lab)\n  # The server greets the client and is ready.",
		"* SSL connection using TLSv1.3 / TLS_AES_256_GCM_SHA384\n  # The connection is encrypted with TLS 1.3, cipher suite TLS_AES_256_GCM_SHA384",
		"  # SIZE (RFC 1870): the largest message is 10 MiB (10485760 bytes).",
		"*  expire date: Nov 21 02:42:06 2036 GMT\n  # The certificate is valid until 2036-11-21",
		"> AUTH PLAIN\n  # Authenticates with PLAIN",
		"> [redacted: 28 characters of base64]\n  # WARNING: the user name and password in base64, as PLAIN sends them: user \"alice\"",
		"  TLS:          completed: TLS 1.3, TLS_AES_256_GCM_SHA384; the server answered over TLS [line ",
		"  Certificate:  completed: verified: the chain leads to a trusted CA, and the certificate names the host [line ",
	}
	tests := map[string]struct {
		want, absent []string
	}{
		"postfix-587-starttls-auth-plain.log": {
			want: []string{
				"< 220 2.0.0 Ready to start TLS\n  # The server agrees: the TLS handshake starts now",
				"< 250 2.0.0 Ok: queued as 24835984162\n  # The server accepted the message",
				"  Login:        completed: PLAIN as \"alice\" [line 69: < 235 2.7.0 Authentication successful]\n",
				"  Envelope:     completed: the server took the sender and a recipient; 1 recipient(s) accepted, 0 refused [line 77: < 250 2.1.5 Ok]\n",
				"  End of data:  completed: the message was accepted: 250 2.0.0 Ok: queued as 24835984162 [line 83: < 250 2.0.0 Ok: queued as 24835984162]\n",
			},
			absent: []string{"AGFsaWNlAGFsaWNlLXNlY3JldA==", "Failed:", "Cut short:", "FAILED"},
		},
		"postfix-465-implicit-tls-pinned.log": {
			want: []string{
				"*  public key hash: sha256//xdWAkDHErJa+7zx5QSCGe9Vv2iaibA7jePI7E+EE+Zs=\n  # The server's own key has the pinned hash",
				"< 550 5.1.1 <reject@example.test>: Recipient address rejected: no such user (lab)\n  # The server refuses this recipient: 550",
				"  # 5.1.1: Bad destination mailbox address.\n",
				"  Key pin:      completed: matched: the client checks the pin in the handshake, and the session went on [line 35: < 220 ",
				"1 recipient(s) accepted, 1 refused [line 65: < 250 2.1.5 Ok]\n                refused <reject@example.test>: 550 5.1.1",
				"  End of data:  completed: the message was accepted: 250 2.0.0 Ok: queued as 33800984162 [line 75: ",
			},
			absent: []string{"AGFsaWNlAGFsaWNlLXNlY3JldA==", "STARTTLS"},
		},
		"postfix-587-rejected-recipient.log": {
			want: []string{
				"< 550 5.1.1 <reject@example.test>: Recipient address rejected: no such user (lab)\n  # The server refuses this recipient",
				"  # 5.1.1: Bad destination mailbox address.\n  # Permanent failure: do not retry as is.\n",
				"* RCPT failed: 550\n  # curl gives up on the message",
				"curl: (55) RCPT failed: 550\n  # curl gave up with error 55",
				"  Envelope:     FAILED: the client gave up: RCPT failed: 550 [line 78: * RCPT failed: 550]\n                refused <reject@example.test>: 550 5.1.1",
				"  Content:      not in the log\n  End of data:  not in the log\n",
				"  Cut short:    in Envelope: the client gave up: RCPT failed: 550 [line 78: ",
				"  Last word:    the client's: [line 89: curl: (55) RCPT failed: 550]\n",
			},
			absent: []string{"AGFsaWNlAGFsaWNlLXNlY3JldA=="},
		},
		"postfix-587-bad-password.log": {
			want: []string{
				"< 535 5.7.8 Error: authentication failed: authentication failure\n  # 535: Authentication credentials invalid.\n  # 5.7.8: Authentication credentials invalid.\n  # Permanent failure",
				"curl: (67) Login denied\n  # curl gave up with error 67: the server refused the user name or password.",
				"  Login:        FAILED: refused: 535 5.7.8 Error: authentication failed: authentication failure [line 69: ",
				"  Failed:       AUTH PLAIN as \"alice\": 535 5.7.8",
				"  Envelope:     not in the log\n",
				"  Cut short:    in Login: refused: 535 5.7.8",
				"a password of 14 characters",
			},
			absent: []string{"AGFsaWNlAHdyb25nLXBhc3N3b3Jk", "wrong-password", "recipient(s)"},
		},
	}
	files, _ := filepath.Glob("testdata/curl-logs/*.log")
	if len(files) != len(tests) {
		t.Errorf("%d logs in testdata/curl-logs, %d tested", len(files), len(tests))
	}
	for _, file := range files {
		name := filepath.Base(file)
		tt, ok := tests[name]
		if !ok {
			t.Errorf("no test for %s", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runCLI(t, "explain", file)
			if code != exitOK {
				t.Fatalf("explain exited %d: %s", code, stderr)
			}
			wantContains(t, "explanation", out, append(slices.Clone(common), tt.want...)...)
			// Ports 2587 and 2465 are not the standard ones: no note on them.
			wantAbsent(t, "explanation", out, append(tt.absent, "Not a valid reply line", "explainer does not know", "before TLS", "  # Port")...)
			// Every line of the log is in the output, but curl's byte
			// counts and the password.
			log, _ := os.ReadFile(file)
			for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
				line = strings.TrimSuffix(line, "\r") // the logs have CRLF endings
				if strings.HasPrefix(line, "{ [") || strings.HasPrefix(line, "} [") || strings.HasPrefix(line, "> AGFsaWNl") {
					continue
				}
				if !strings.Contains(out, line+"\n") {
					t.Errorf("the log's line %q is not in the output", line)
				}
			}
		})
	}
}

func TestExplainTranscripts(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		"openssl-s_client-465.txt": {
			"-----BEGIN CERTIFICATE----- [3 lines left out] -----END CERTIFICATE-----\n",
			"New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384\n  # The connection is encrypted with TLS 1.3",
			"  # The certificate chain was verified", // from "Verify return code: 0 (ok)", three lines later
			"EHLO client.example\n  # The client greets the server as \"client.example\"",
			"250-SIZE 35882577\n  # SIZE (RFC 1870): the largest message is 34.2 MiB",
			"AUTH PLAIN [redacted: 20 characters of base64]\n",
			"user \"test\" and a password of 8 characters",
			"mail from:<test@example.test>\n  # Starts a message from <test@example.test>.",
			"RENEGOTIATING\n  # openssl s_client renegotiates TLS when a typed line starts with R",
			"  TLS:          completed: TLS 1.3, TLS_AES_256_GCM_SHA384; the server answered over TLS [line 43: 220 mail.example.test ESMTP Postfix]\n",
			"  Certificate:  completed: verified: openssl's verify return code is 0 (ok) [line 41: Verify return code: 0 (ok)]\n",
			// The transcript stops after MAIL FROM (s_client renegotiated).
			"  Envelope:     attempted: MAIL FROM; 0 recipient(s) accepted, 0 refused [line 53: mail from:<test@example.test>]\n",
			"  Cut short:    in Envelope: begun, and the log shows no more [line 53: ",
		},
		"openssl-starttls.txt": {
			"EHLO client.example\n  # The log starts without the server's greeting",
			"250-mail.example.test\n  # The server names itself", // the EHLO's reply, not a greeting
			"dGVzdA==\n  # The user name in base64: \"test\".",
			"[redacted: 12 characters of base64]\n  # WARNING: the password in base64 (8 characters)",
			"  Login:        completed: LOGIN as \"test\" [line 13: 235 2.7.0 Authentication successful]\n",
			"  Cut short:    after Login: the log goes no further\n",
		},
		"rfc-c-s.txt": {
			"S: 354 Start mail input; end with <CRLF>.<CRLF>\n  # The server waits for the message content, shown below",
			"C: Subject: meeting\n  # The message content starts",
			"C: .\n  # A line with a single dot ends the message (4 lines of content above)",
			"S: 250 OK\n  # The server accepted the message",
			"1 recipient(s) accepted, 1 refused [line 10: S: 250 OK]\n                refused <Green@foo.com>: 550 No such user here",
			"  End of data:  completed: the message was accepted: 250 OK [line 20: S: 250 OK]\n",
			"  # Note: no PIPELINING",
		},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(filepath.Join("testdata/transcripts", name))
			if err != nil {
				t.Fatal(err)
			}
			code, out, _ := runWith(t, runExplain, string(in), "-")
			if code != exitOK {
				t.Fatalf("exit %d", code)
			}
			wantContains(t, "explanation", out, want...)
			wantAbsent(t, "explanation", out, "AHRlc3QAdGVzdHBhc3M=", "dGVzdHBhc3M=", "Not a valid reply line")
		})
	}
}

// TestExplainOwnLogs feeds mailwire's --trace and --explain logs back in.
func TestExplainOwnLogs(t *testing.T) {
	t.Parallel()
	_, base := sendServer(t, nil)
	for _, flag := range []string{"--trace", "--explain"} {
		code, _, log := runWith(t, runSend, "", append(slices.Clone(base), flag, "--to", "bob@example.com", "--to", "nobody@example.com", "--body", "hi")...)
		if code != exitDataErr {
			t.Fatalf("send %s: exit %d:\n%s", flag, code, log)
		}
		code, out, _ := runWith(t, runExplain, log)
		if code != exitOK {
			t.Fatalf("explain: exit %d", code)
		}
		wantContains(t, "explanation of "+flag, out,
			"* SSL connection using TLS 1.3 / ",
			"*  public key pin: sha256//",
			"> AUTH PLAIN [redacted]\n  # Authenticates with PLAIN",
			"  # The server refuses this recipient: 550",
			"  TLS:          completed: TLS 1.3, ",
			"  Certificate:  completed: verified: ",
			"  Login:        completed: PLAIN [line ",
			"1 recipient(s) accepted, 1 refused [line ",
			"  End of data:  completed: the message was accepted: 250 2.0.0 OK: queued as Q",
		)
		// The notes of --explain are redone, not doubled.
		if n, sizes := strings.Count(out, "  # SIZE (RFC 1870)"), strings.Count(out, "-SIZE 10485760\n"); n != sizes || n != 2 {
			t.Errorf("%d SIZE notes for %d SIZE lines, want 2 and 2", n, sizes)
		}
	}
}

func TestExplainUsage(t *testing.T) {
	t.Parallel()
	if code, _, _ := runCLI(t, "explain", "/nonexistent/log"); code != exitNoInput {
		t.Errorf("missing file: exit %d, want %d", code, exitNoInput)
	}
	if code, _, _ := runCLI(t, "explain", "a", "b"); code != exitUsage {
		t.Errorf("two files: exit %d", code)
	}
	code, out, _ := runCLI(t, "explain", "-h")
	if code != exitOK {
		t.Errorf("-h: exit %d", code)
	}
	wantContains(t, "explain -h", out, "usage: mailwire explain", "openssl s_client", "examples:\n")
}

// A log's server text is shown escaped: an escape sequence in a pasted log
// must not rewrite the terminal that shows the explanation.
func TestExplainEscapesServerText(t *testing.T) {
	t.Parallel()
	log := "< 220 mx \x1b[2Jhello\r\n> EHLO x\r\n< 250-mx\r\n< 250 SIZE 100\x1b]0;owned\x07\r\n"
	code, out, _ := runWith(t, runExplain, log, "-")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("raw control characters in the explanation: %q", out)
	}
	for _, want := range []string{`< 220 mx \x1b[2Jhello`, `< 250 SIZE 100\x1b]0;owned\a`} {
		if !strings.Contains(out, want) {
			t.Errorf("explanation lacks %q:\n%s", want, out)
		}
	}
}

// The README shows the summary of a real log: it must be the explainer's.
func TestReadmeExplainSummary(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "<!-- tested: explain summary -->\n```\n")
	block, _, ok2 := strings.Cut(block, "```\n")
	if !ok || !ok2 {
		t.Fatal("no tested explain summary in the README")
	}
	code, out, _ := runCLI(t, "explain", "testdata/curl-logs/postfix-587-rejected-recipient.log")
	if code != exitOK || !strings.HasSuffix(out, "\n"+block) {
		t.Errorf("the README's summary is not the explainer's (exit %d):\n%s\n--- the explainer's output ends:\n%s", code, block, out[max(0, len(out)-len(block)):])
	}
}

// A pin that matches only the CA's key, in mailwire's own log: the key
// pin is done, and the summary warns that any certificate of that CA
// passes.
func TestExplainOwnLogPinnedThroughCA(t *testing.T) {
	t.Parallel()
	_, base := sendServer(t, nil)
	send := func(extra ...string) string {
		code, _, log := runWith(t, runSend, "", append(append(slices.Clone(base), "--to", "bob@example.com", "--body", "hi", "--trace"), extra...)...)
		if code != exitOK {
			t.Fatalf("send %v: exit %d:\n%s", extra, code, log)
		}
		return log
	}
	// The chain's second certificate is the CA's; its pin is on the line
	// after its subject.
	_, chain, _ := strings.Cut(send(), "* Chain certificate 1:")
	m := regexp.MustCompile(`public key pin: (sha256//\S+)`).FindStringSubmatch(chain)
	if m == nil {
		t.Fatalf("no pin for the chain's CA in:\n%s", chain)
	}
	code, out, _ := runWith(t, runExplain, send("--pin", m[1]), "-")
	if code != exitOK {
		t.Fatalf("explain: exit %d", code)
	}
	wantContains(t, "explanation", out,
		"  Key pin:      completed: matched [line ",
		"  WARNING: the pin matched only through a CA certificate (1 up the chain): any certificate that CA issues passes.",
		"  End of data:  completed: the message was accepted: 250 2.0.0 OK: queued as Q",
	)
}
