package main

// probe and send against the real Postfix that the README's test command
// starts (scripts/postfix/up.sh); skipped, saying so, without it.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func postfixOrSkip(t *testing.T) {
	t.Helper()
	if os.Getenv("MAILWIRE_POSTFIX") != "1" {
		t.Skip("no Postfix: run the README's test command (scripts/test.sh) to start one")
	}
}

func TestProbePostfix(t *testing.T) {
	postfixOrSkip(t)
	var out, errOut bytes.Buffer
	code := runProbe(context.Background(), []string{"--cafile", os.Getenv("MAILWIRE_POSTFIX_CA"), "--json", "localhost:" + portOf(os.Getenv("MAILWIRE_POSTFIX_SUBMISSION"))}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("probe exited %d: %s", code, errOut.String())
	}
	var report map[string]any
	if err := json.Unmarshal(out.Bytes(), &report); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{"SCRAM-SHA-256", "CRAM-MD5", "10485760", "sha256//", "TLS 1.3", "CHUNKING"} {
		if !strings.Contains(text, want) {
			t.Errorf("probe of Postfix lacks %q:\n%s", want, text)
		}
	}
}

func TestSendPostfix(t *testing.T) {
	postfixOrSkip(t)
	subject := "mailwire send to Postfix " + time.Now().Format(time.RFC3339Nano)
	t.Setenv("MAILWIRE_TEST_POSTFIX_PW", os.Getenv("MAILWIRE_POSTFIX_PASS"))
	var out, errOut bytes.Buffer
	code := runSend(context.Background(), []string{
		"--server", "localhost:" + portOf(os.Getenv("MAILWIRE_POSTFIX_SUBMISSION")), "--cafile", os.Getenv("MAILWIRE_POSTFIX_CA"),
		"--user", os.Getenv("MAILWIRE_POSTFIX_USER"), "--password-env", "MAILWIRE_TEST_POSTFIX_PW",
		"--from", "alice@mailwire.test", "--to", "bob@mailwire.test", "--to", "reject@mailwire.test",
		"--subject", subject, "--body", "Hello from the command line.\n.dot line\n", "--trace",
	}, strings.NewReader(""), &out, &errOut)
	if code != exitDataErr {
		t.Errorf("send with one refused recipient exited %d, want %d: %s", code, exitDataErr, errOut.String())
	}
	if !strings.Contains(out.String(), "queued as") || !strings.Contains(errOut.String(), "550 5.1.1") {
		t.Errorf("stdout %q, stderr:\n%s", out.String(), errOut.String())
	}
	if strings.Contains(errOut.String(), os.Getenv("MAILWIRE_POSTFIX_PASS")) {
		t.Error("the password is in the trace")
	}
	// The message reached bob's maildir.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(os.Getenv("MAILWIRE_POSTFIX_MAILDIR"), "new", "*"))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			if bytes.Contains(data, []byte("Subject: "+subject)) && bytes.Contains(data, []byte("Delivered-To: bob@mailwire.test")) {
				if !bytes.Contains(data, []byte("\n.dot line\n")) {
					t.Errorf("the body arrived changed:\n%s", data)
				}
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Error("the message did not reach the maildir within 20 s")
}

func portOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	return addr[i+1:]
}
