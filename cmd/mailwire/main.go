// Command mailwire is the command line of the mailwire SMTP library: it
// shows an SMTP session line by line, explained, and replaces hand work
// with openssl s_client, swaks and curl's verbose log.
//
//	mailwire probe HOST[:PORT]                   what a server offers: TLS, certificate, pin, AUTH, SIZE
//	mailwire send HOST[:PORT] --from A --to B    compose and send a message (--quit-after STEP: stop early)
//	mailwire shell HOST[:PORT]                   type SMTP commands, with TLS and AUTH done for you
//	mailwire explain [FILE|-]                    explain a curl -v, openssl s_client or mailwire log
//	mailwire auth-string plain|login|cram-md5 USER   the base64 strings of AUTH PLAIN, LOGIN and CRAM-MD5
//	mailwire dkim keygen|record                  a DKIM key, and the DNS TXT record that publishes it
//	mailwire demo [--explain]                    a whole session against a built-in server
//	mailwire serve [--listen ADDR] [--http ADDR] the test SMTP server as a process, with an HTTP API
//
// probe, send and shell name the server the same way: HOST[:PORT] as the
// first argument (port 587 when left out), or --server HOST[:PORT]. They
// share the connection flags: --security, --cafile, --insecure,
// --tls-server-name, --connect-to, --cert and --key, --ehlo and
// --greeting-timeout (and --pin, for send and shell). Every command prints
// its usage, flags and examples with -h or --help.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "devel"

// Exit codes, after sysexits.h where one fits.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitDataErr = 65 // EX_DATAERR: the server refused the message for good
	// exitCantCreate is EX_CANTCREAT: an output file cannot be made.
	exitCantCreate = 73
	exitUnavail    = 69 // EX_UNAVAILABLE: the server refused for good
	exitTempFail   = 75 // EX_TEMPFAIL: try again later
)

// command is a subcommand: it gets its arguments and where to write.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{
	"probe":       {"show what a server offers: TLS, certificate and pin, AUTH, size limits", runProbe},
	"send":        {"compose a message (text, attachments) or take one, and send it", withStdin(runSend)},
	"shell":       {"type SMTP commands to a server, with TLS and AUTH handled", withStdin(runShell)},
	"explain":     {"explain a curl -v, openssl s_client, gnutls-cli or mailwire log", withStdin(runExplain)},
	"auth-string": {"print the base64 strings of AUTH PLAIN, LOGIN or CRAM-MD5 for a user", withStdin(runAuthString)},
	"dkim":        {"make a DKIM key and print the DNS record that publishes it", runDKIM},
	"demo":        {"run a whole SMTP session against a built-in server, traced", runDemo},
	"serve":       {"run the test SMTP server as a process, with an HTTP API to read the mail", runServe},
	"deliver":     {"deliver a message to the recipients' own MX hosts, with DANE, MTA-STS, REQUIRETLS", withStdin(runDeliver)},
}

// withStdin gives a command that reads its standard input os.Stdin; tests
// call such commands directly with their own.
func withStdin(f func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int) func(context.Context, []string, io.Writer, io.Writer) int {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return f(ctx, args, os.Stdin, stdout, stderr)
	}
}

func main() {
	// Ctrl-C, and SIGTERM (docker stop, kill, a test harness ending
	// mailwire serve), end the command's context: it stops cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return exitOK
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, "mailwire", version)
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "mailwire: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: mailwire <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, name := range []string{"probe", "send", "deliver", "shell", "explain", "auth-string", "dkim", "demo", "serve"} {
		fmt.Fprintf(w, "  %-12s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'mailwire <command> -h' for a command's flags.")
}
