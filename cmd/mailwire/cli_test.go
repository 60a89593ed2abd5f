package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/mailwire/smtp/smtptest"
)

// Every command in the commands map answers -h and --help on stdout with
// exit status 0: its synopsis, its flags (-h among them), and examples.
func TestHelpEveryCommand(t *testing.T) {
	t.Parallel()
	// A flag of each command that its help must list.
	someFlag := map[string]string{
		"probe": "--json", "send": "--quit-after", "shell": "--allow-insecure-auth",
		"explain": "-h, --help", "auth-string": "--challenge", "demo": "--explain", "dkim": "--selector", "serve": "--ca-out", "deliver": "--require-tls",
	}
	for name := range commands {
		for _, h := range []string{"-h", "--help"} {
			code, out, stderr := runCLI(t, name, h)
			if code != exitOK || stderr != "" {
				t.Errorf("%s %s: exit %d, stderr %q; want 0 and nothing", name, h, code, stderr)
			}
			want, ok := someFlag[name]
			if !ok {
				t.Errorf("command %q has no flag to look for in this test", name)
			}
			wantContains(t, name+" "+h, out, "usage: mailwire "+name, "\nflags:\n", "  -h, --help\n", want, "\nexamples:\n  ")
		}
	}
}

// probe, send and shell name the server the same way: the first argument
// or --server, the old forms still working.
func TestServerArgumentForms(t *testing.T) {
	t.Parallel()
	srv, ca := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	msg := []string{"--cafile", ca, "--from", "a@example.com", "--to", "b@example.com", "--body", "hi"}
	for _, args := range [][]string{
		append([]string{"--server", srv.Addr()}, msg...), // the old form
		append([]string{srv.Addr()}, msg...),
		append(slices.Clone(msg), srv.Addr()), // flags first
		append([]string{srv.Addr(), "--server", srv.Addr()}, msg...),
	} {
		if code, _, stderr := runWith(t, runSend, "", args...); code != exitOK {
			t.Errorf("send %q: exit %d: %s", args, code, stderr)
		}
	}
	if n := len(srv.Messages()); n != 4 {
		t.Errorf("%d messages, want 4", n)
	}
	for _, args := range [][]string{{"--cafile", ca, srv.Addr()}, {"--cafile", ca, "--server", srv.Addr()}} {
		if code, _, stderr := runCLI(t, append([]string{"probe"}, args...)...); code != exitOK {
			t.Errorf("probe %q: exit %d: %s", args, code, stderr)
		}
		code, out, _ := runWith(t, runShell, "NOOP\nquit\n", args...)
		if code != exitOK || !strings.Contains(out, "< 250 2.0.0 I have successfully done nothing") {
			t.Errorf("shell %q: exit %d:\n%s", args, code, out)
		}
	}
	// Two different servers is an error, and so is none, whichever the
	// command.
	for _, name := range []string{"probe", "send", "shell"} {
		code, _, stderr := runCLI(t, name, "--server", srv.Addr(), "other.example:25")
		if code != exitUsage || !strings.Contains(stderr, `"other.example:25"`) {
			t.Errorf("%s with two servers: exit %d, %q", name, code, stderr)
		}
		code, _, stderr = runCLI(t, name, "--cafile", ca)
		if code != exitUsage || !strings.Contains(stderr, "no server: give HOST[:PORT] as the first argument, or --server") {
			t.Errorf("%s without a server: exit %d, %q", name, code, stderr)
		}
	}
}

// The usage texts show the same form for every command.
func TestUsageNamesServerAlike(t *testing.T) {
	t.Parallel()
	for _, h := range []help{probeHelp, sendHelp, shellHelp} {
		if !strings.Contains(h.usage, " HOST[:PORT] ") || !strings.Contains(h.usage, "--server HOST[:PORT]") {
			t.Errorf("usage %q does not name the server as HOST[:PORT] and --server HOST[:PORT]", h.usage)
		}
	}
}
