package main

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestAuthString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args  []string
		stdin string
		want  string
	}{
		// gen-auth PLAIN test testpass, and echo -n test | base64 ...
		{[]string{"plain", "test"}, "testpass\n", "AHRlc3QAdGVzdHBhc3M=\n"},
		{[]string{"login", "test"}, "testpass\n", "dGVzdA==\ndGVzdHBhc3M=\n"},
		{[]string{"PLAIN", "test"}, "testpass", "AHRlc3QAdGVzdHBhc3M=\n"}, // no final newline
		{[]string{"--authzid", "admin", "plain", "test"}, "testpass\r\n", "YWRtaW4AdGVzdAB0ZXN0cGFzcw==\n"},
		// The seed's example: user foo.somebody@gmail.com, password secretestring.
		{[]string{"plain", "foo.somebody@gmail.com"}, "secretestring\n", "AGZvby5zb21lYm9keUBnbWFpbC5jb20Ac2VjcmV0ZXN0cmluZw==\n"},
	} {
		code, out, stderr := runWith(t, runAuthString, tt.stdin, tt.args...)
		if code != exitOK || out != tt.want {
			t.Errorf("auth-string %q = %q (exit %d, %s), want %q", tt.args, out, code, stderr, tt.want)
		}
	}
	pw := writeFile(t, "pw", "testpass\nsecond line\n")
	if _, out, _ := runWith(t, runAuthString, "", "--password-file", pw, "plain", "test"); out != "AHRlc3QAdGVzdHBhc3M=\n" {
		t.Errorf("--password-file: %q", out)
	}
}

func TestAuthStringEnv(t *testing.T) { // not parallel: Setenv
	t.Setenv("MAILWIRE_TEST_PASS", "testpass")
	code, out, _ := runWith(t, runAuthString, "", "login", "test", "--password-env", "MAILWIRE_TEST_PASS")
	if code != exitOK || out != "dGVzdA==\ndGVzdHBhc3M=\n" {
		t.Errorf("--password-env: exit %d, %q", code, out)
	}
}

func TestAuthStringUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"plain"}, {"digest-md5", "u"}, {"plain", "u", "extra"}, {"login", "u", "--challenge", "PDE+"}, {"cram-md5", "u", "c", "extra"}} {
		if code, _, _ := runWith(t, runAuthString, "pw\n", args...); code != exitUsage {
			t.Errorf("auth-string %q: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, _, stderr := runWith(t, runAuthString, "", "--password-env", "MAILWIRE_TEST_NOT_SET", "plain", "u"); code != exitNoInput || !strings.Contains(stderr, "MAILWIRE_TEST_NOT_SET") {
		t.Errorf("unset variable: exit %d, %q", code, stderr)
	}
	if code, _, _ := runWith(t, runAuthString, "", "plain", "u"); code != exitNoInput {
		t.Errorf("no password on stdin: exit %d", code)
	}
	code, out, _ := runWith(t, runAuthString, "", "-h")
	if code != exitOK {
		t.Errorf("-h: exit %d", code)
	}
	wantContains(t, "auth-string -h", out, "gen-auth", "not encryption", "examples:\n  mailwire auth-string plain")
}

// RFC 2195's example: user tim, password tanstaaftanstaaf, challenge
// <1896.697170952@postoffice.reston.mci.net>, answer "tim
// b913a602c7eda7a495b4e6e7334d3890" in base64.
func TestAuthStringCRAMMD5(t *testing.T) {
	t.Parallel()
	const (
		challenge = "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+" // base64 of the challenge
		want      = "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\n"
	)
	if b, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(want)); string(b) != "tim b913a602c7eda7a495b4e6e7334d3890" {
		t.Fatalf("the expected answer decodes to %q", b)
	}
	pw := writeFile(t, "pw", "tanstaaftanstaaf\n")
	for _, tt := range []struct {
		args  []string
		stdin string
	}{
		{[]string{"cram-md5", "tim", "--challenge", challenge}, "tanstaaftanstaaf\n"},
		{[]string{"CRAM-MD5", "tim", challenge}, "tanstaaftanstaaf\n"},                                  // the third argument
		{[]string{"cram-md5", "tim", "334 " + challenge}, "tanstaaftanstaaf\n"},                         // pasted with the reply code
		{[]string{"cram-md5", "tim", "<1896.697170952@postoffice.reston.mci.net>"}, "tanstaaftanstaaf"}, // decoded
		{[]string{"cram-md5", "tim"}, challenge + "\ntanstaaftanstaaf\n"},                               // both on stdin
		{[]string{"cram-md5", "tim", "--password-file", pw}, "334 " + challenge + "\r\n"},
	} {
		code, out, stderr := runWith(t, runAuthString, tt.stdin, tt.args...)
		if code != exitOK || out != want {
			t.Errorf("auth-string %q = %q (exit %d, %s), want %q", tt.args, out, code, stderr, want)
		}
	}
	for _, bad := range []string{"not base64!", ""} {
		code, _, stderr := runWith(t, runAuthString, "", "cram-md5", "tim", "--password-file", pw, "--challenge", bad)
		if bad == "" {
			code, _, stderr = runWith(t, runAuthString, "", "cram-md5", "tim", "--password-file", pw) // no challenge at all
		}
		if code != exitUsage || !strings.Contains(stderr, "challenge") {
			t.Errorf("challenge %q: exit %d, %q", bad, code, stderr)
		}
	}
}
