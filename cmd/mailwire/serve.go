package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mailwire/smtp/smtptest"
)

var serveHelp = help{
	usage: "mailwire serve [--listen ADDR] [--http ADDR] [--tls starttls|implicit|none] [--user USER:PASS ...]",
	about: `Runs smtptest, mailwire's test SMTP server, as a process: for the tests of
any language, or to try an application by hand. It keeps every message it
accepts in memory and serves them on an HTTP/JSON API (SERVE_API.md). It
prints where it listens, its CA certificate (--ca-out writes it to a file)
and its key's pin, and stops on Ctrl-C or SIGTERM.

Magic recipients need no setting: a local part "tempfail", "permfail" or
"timeout" (or one ending "+tempfail"...) gets 451 4.3.0, 550 5.1.1, or no
answer until the read timeout.`,
	examples: `  mailwire serve --listen 127.0.0.1:2525 --http 127.0.0.1:8025
  mailwire serve --tls implicit --user alice:secret --ca-out ca.pem
  curl -s http://127.0.0.1:8025/api/messages`,
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve")
	listen := fs.String("listen", "127.0.0.1:2525", "the SMTP `address` to listen on (port 0: any free one)")
	httpAddr := fs.String("http", "127.0.0.1:8025", "the HTTP API's `address` (\"\": none)")
	tlsMode := fs.String("tls", "starttls", "`mode`: starttls (offered), implicit (TLS from the first byte) or none")
	var users stringList
	fs.Var(&users, "user", "accept AUTH for `USER:PASS` (repeatable; AUTH is then required)")
	domain := fs.String("domain", "", "the `name` the server gives itself (default smtptest.local)")
	caOut := fs.String("ca-out", "", "write the CA certificate (PEM) that signed the server's to this `file`")
	maxRcpts := fs.Int("max-recipients", 0, "at most this many recipients per message (LIMITS RCPTMAX); 0: no limit")
	lmtp := fs.Bool("lmtp", false, "speak LMTP (RFC 2033) instead of SMTP")
	disable := fs.String("disable", "", "leave these extensions out of EHLO, comma-separated: "+strings.Join(serveExtensionNames(), ","))
	maxSize := fs.Int64("max-size", 0, "the largest message in `bytes` (SIZE); 0: smtptest's 10 MiB")
	replyDelay := fs.Duration("reply-delay", 0, "hold back every reply this `long` (a slow server)")
	pos, code, ok := parseArgs(fs, serveHelp, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(stderr, "serve", "unexpected argument %q", pos[0])
	}
	cfg := &smtptest.Config{Domain: *domain, MaxRecipients: *maxRcpts, LMTP: *lmtp, MagicRecipients: true,
		MaxMessageBytes: *maxSize, ReplyDelay: *replyDelay}
	if *maxSize < 0 || *replyDelay < 0 {
		return usageError(stderr, "serve", "--max-size and --reply-delay cannot be negative")
	}
	if err := disableExtensions(cfg, *disable); err != nil {
		return usageError(stderr, "serve", "--disable: %v", err)
	}
	switch strings.ToLower(*tlsMode) {
	case "starttls":
		cfg.TLS = smtptest.StartTLS
	case "implicit":
		cfg.TLS = smtptest.ImplicitTLS
	case "none":
		cfg.TLS = smtptest.NoTLS
	default:
		return usageError(stderr, "serve", "--tls %q: want starttls, implicit or none", *tlsMode)
	}
	if len(users) > 0 {
		cfg.Users, cfg.RequireAuth = map[string]string{}, true
		for _, u := range users {
			name, pass, ok := strings.Cut(u, ":")
			if !ok || name == "" {
				return usageError(stderr, "serve", "--user %q: want USER:PASS", u)
			}
			cfg.Users[name] = pass
		}
	}
	srv, err := smtptest.Start(cfg, *listen)
	if err != nil {
		fmt.Fprintln(stderr, "mailwire serve:", err)
		return exitUnavail
	}
	defer srv.Close()
	if *caOut != "" {
		if err := os.WriteFile(*caOut, srv.CACertPEM(), 0o644); err != nil {
			fmt.Fprintln(stderr, "mailwire serve:", err)
			return exitCantCreate
		}
	}
	fmt.Fprintf(stdout, "smtp %s (TLS: %s)\n", srv.Addr(), strings.ToLower(*tlsMode))
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			fmt.Fprintln(stderr, "mailwire serve: the HTTP API:", err)
			return exitUnavail
		}
		hs := &http.Server{Handler: apiHandler(srv, serverSettings{TLS: strings.ToLower(*tlsMode), AuthRequired: len(users) > 0, LMTP: *lmtp}), ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ln)
		defer hs.Close()
		fmt.Fprintf(stdout, "http %s\n", ln.Addr())
	}
	fmt.Fprintf(stdout, "pin %s\n", srv.Pin())
	if *caOut != "" {
		fmt.Fprintf(stdout, "ca %s\n", *caOut)
	}
	<-ctx.Done()
	fmt.Fprintln(stderr, "mailwire serve: stopping")
	return exitOK
}

// serveExtensions are the extensions --disable can leave out, and the
// Config field that does it.
var serveExtensions = map[string]func(*smtptest.Config){
	"pipelining":          func(c *smtptest.Config) { c.DisablePipelining = true },
	"8bitmime":            func(c *smtptest.Config) { c.Disable8BitMIME = true },
	"enhancedstatuscodes": func(c *smtptest.Config) { c.DisableEnhancedStatusCodes = true },
	"chunking":            func(c *smtptest.Config) { c.DisableChunking = true },
	"binarymime":          func(c *smtptest.Config) { c.DisableBinaryMIME = true },
	"size":                func(c *smtptest.Config) { c.DisableSize = true },
	"smtputf8":            func(c *smtptest.Config) { c.DisableSMTPUTF8 = true },
	"dsn":                 func(c *smtptest.Config) { c.DisableDSN = true },
	"requiretls":          func(c *smtptest.Config) { c.DisableRequireTLS = true },
	"limits":              func(c *smtptest.Config) { c.DisableLimits = true },
}

func serveExtensionNames() []string {
	names := make([]string, 0, len(serveExtensions))
	for n := range serveExtensions {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// disableExtensions applies --disable's list to cfg.
func disableExtensions(cfg *smtptest.Config, list string) error {
	for _, name := range strings.Split(list, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		off, ok := serveExtensions[name]
		if !ok {
			return fmt.Errorf("%q: want some of %s", name, strings.Join(serveExtensionNames(), ", "))
		}
		off(cfg)
	}
	return nil
}
