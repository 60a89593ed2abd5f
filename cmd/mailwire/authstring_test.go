package main

import (
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
	for _, args := range [][]string{{"plain"}, {"cram-md5", "u"}, {"plain", "u", "extra"}} {
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
