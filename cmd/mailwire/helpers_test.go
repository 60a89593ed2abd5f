package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailwire/smtp/smtptest"
)

// runWith runs a command that reads standard input with stdin.
func runWith(t *testing.T, f func(context.Context, []string, io.Reader, io.Writer, io.Writer) int, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = f(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// newServer starts an smtptest server and writes its CA to a file.
func newServer(t *testing.T, cfg *smtptest.Config) (srv *smtptest.Server, cafile string) {
	t.Helper()
	srv = smtptest.NewServer(cfg)
	t.Cleanup(srv.Close)
	cafile = writeFile(t, "ca.pem", string(srv.CACertPEM()))
	return srv, cafile
}

// writeFile writes a file in the test's temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func wantContains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
	if t.Failed() {
		t.Logf("%s:\n%s", what, got)
	}
}

func wantAbsent(t *testing.T, what, got string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(got, u) {
			t.Errorf("%s holds %q", what, u)
		}
	}
}
