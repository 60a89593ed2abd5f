package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/mailwire/smtp"
)

// exitNoInput is EX_NOINPUT: a file named on the command line cannot be
// read (--attach, --body-file, --message, --cafile, --password-file).
const exitNoInput = 66

// help is what -h prints for a subcommand.
type help struct {
	usage    string // the synopsis, after "usage: "
	about    string // what the command does, one paragraph or more
	examples string // example command lines, one per line, with comments
	after    string // more text after the flags: exit codes, JSON fields
}

// newFlagSet makes the flag set of a subcommand. Parse errors are printed
// by parseArgs, not by the flag package.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseArgs parses args with fs, allowing flags after positional arguments
// ("mailwire probe HOST --json"); "--" ends the flags. It prints the help to
// stdout for -h, an error and a hint to stderr for a bad flag; ok is false
// then, and code is the exit code to return.
func parseArgs(fs *flag.FlagSet, h help, args []string, stdout, stderr io.Writer) (pos []string, code int, ok bool) {
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			printHelp(fs, h, stdout)
			return nil, exitOK, false
		}
		if err != nil {
			fmt.Fprintf(stderr, "mailwire %s: %v\nRun 'mailwire %s -h' for help.\n", fs.Name(), err, fs.Name())
			return nil, exitUsage, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, exitOK, true
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), exitOK, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// printHelp writes a command's help: synopsis, description, every flag,
// exit codes and examples.
func printHelp(fs *flag.FlagSet, h help, w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n\nflags:\n", h.usage, strings.TrimSpace(h.about))
	printFlags(fs, w)
	if h.after != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(h.after))
	}
	fmt.Fprintf(w, "\nexamples:\n%s\n", strings.TrimRight(h.examples, "\n"))
}

// printFlags lists the flags as they are best typed, "--name value", with
// their defaults, and -h last.
func printFlags(fs *flag.FlagSet, w io.Writer) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		if arg != "" {
			arg = " " + arg
		}
		usage = strings.ReplaceAll(usage, "\n", "\n    \t")
		fmt.Fprintf(w, "  --%s%s\n    \t%s%s\n", f.Name, arg, usage, defaultNote(f))
	})
	fmt.Fprintln(w, "  -h, --help\n    \tprint this help and exit")
}

// defaultNote is " (default X)" for a flag whose default is not its zero.
func defaultNote(f *flag.Flag) string {
	switch f.DefValue {
	case "", "false", "0", "0s":
		return ""
	}
	return fmt.Sprintf(" (default %s)", f.DefValue)
}

// usageError reports a misuse of a subcommand and returns exitUsage.
func usageError(stderr io.Writer, name, format string, args ...any) int {
	fmt.Fprintf(stderr, "mailwire %s: %s\nRun 'mailwire %s -h' for help.\n", name, fmt.Sprintf(format, args...), name)
	return exitUsage
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ", ") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// withPort adds port 587 (submission) to a HOST without one.
func withPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(strings.Trim(addr, "[]"), "587")
}

// exitCode chooses the exit code for err, after sysexits.h:
//
//   - 2: an argument the library refuses (smtp.ErrInvalidArgument), as
//     for any other misuse of the command line.
//   - 75 (EX_TEMPFAIL): a 4xx reply, a network failure or timeout, and
//     smtp.ErrDeliveryUnknown (see send -h for why).
//   - 65 (EX_DATAERR): a 5xx to MAIL, RCPT, DATA or the end of data: this
//     message, its sender or its recipients are refused for good.
//   - 69 (EX_UNAVAILABLE): the server or the TLS checks refuse this session
//     for good: a 5xx greeting, EHLO or AUTH, no STARTTLS, an untrusted
//     certificate, a pin mismatch, a name that does not resolve, a port
//     that speaks another security mode (smtp.ErrWrongSecurity).
func exitCode(err error) int {
	var (
		rs  *smtp.RecipientsError
		e   *smtp.Error
		dns *net.DNSError
		ne  net.Error
	)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, smtp.ErrDeliveryUnknown):
		return exitTempFail
	case errors.Is(err, smtp.ErrInvalidArgument):
		return exitUsage // the library refused an argument given on the command line
	case errors.Is(err, smtp.ErrMessageTooLarge):
		return exitDataErr
	case errors.As(err, &rs):
		return rejectedCode(rs.Rejected)
	case errors.As(err, &e):
		return replyExit(e)
	case errors.Is(err, smtp.ErrWrongSecurity):
		return exitUnavail // the same mode fails again: --security must change
	case errors.Is(err, smtp.ErrStartTLSNotOffered), errors.Is(err, smtp.ErrStartTLSRefused),
		errors.Is(err, smtp.ErrStartTLSInjection), errors.Is(err, smtp.ErrTLSHandshake),
		errors.Is(err, smtp.ErrPinMismatch), errors.Is(err, smtp.ErrInsecureAuth),
		errors.Is(err, smtp.ErrAuthNotOffered):
		return exitUnavail
	case errors.As(err, &dns) && dns.IsNotFound:
		return exitUnavail
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, smtp.ErrClosed):
		return exitTempFail
	}
	return exitFailure
}

// replyExit is the exit code of a refusal.
func replyExit(e *smtp.Error) int {
	if e.Temporary() {
		return exitTempFail
	}
	switch e.Command {
	case "MAIL FROM", "RCPT TO", "DATA", "end of data":
		if e.Code == 530 { // authentication required: the session, not the message
			return exitUnavail
		}
		return exitDataErr
	}
	return exitUnavail
}

// rejectedCode is 75 when every refusal was temporary (the same message
// may go through later), 65 when one was permanent.
func rejectedCode(rejected []*smtp.RecipientError) int {
	for _, r := range rejected {
		if !r.Err.Temporary() {
			return exitDataErr
		}
	}
	return exitTempFail
}

// terminalFd returns the descriptor of f when it is a terminal.
func terminalFd(f any) (int, bool) {
	file, ok := f.(interface{ Fd() uintptr })
	if !ok {
		return -1, false
	}
	fd := int(file.Fd())
	return fd, term.IsTerminal(fd)
}

// readSecret gets a password: from the environment variable envVar, from
// file (its first line), or else from stdin: without echo after a prompt
// on a terminal, as one line otherwise.
func readSecret(envVar, file string, stdin io.Reader, stderr io.Writer, prompt string) (string, error) {
	switch {
	case envVar != "":
		v, ok := os.LookupEnv(envVar)
		if !ok {
			return "", fmt.Errorf("the environment variable %s (--password-env) is not set", envVar)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimSuffix(line, "\r"), nil
	}
	if fd, ok := terminalFd(stdin); ok {
		fmt.Fprint(stderr, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		return string(b), err
	}
	return readLineRaw(stdin)
}

// readLineRaw reads one line a byte at a time, so that nothing after it is
// taken from r.
func readLineRaw(r io.Reader) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for {
		n, err := r.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			b = append(b, one[0])
		}
		if err == io.EOF && len(b) > 0 {
			break
		}
		if err != nil {
			return "", fmt.Errorf("reading the password from stdin: %w", err)
		}
	}
	return strings.TrimSuffix(string(b), "\r"), nil
}
