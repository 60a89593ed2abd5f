package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/mailwire/smtp"
)

// connFlags are the connection flags probe, send and shell share: which
// server, how to reach it, and how to secure the connection.
type connFlags struct {
	server          string
	security        string
	cafile          string
	insecure        bool
	pins            stringList
	ehlo            string
	tlsServerName   string
	connectTo       stringList
	cert, key       string
	greetingTimeout time.Duration
	proxy           string
	lmtp            bool
}

// serverUsage is the synopsis of the server, the same for every command.
const serverUsage = "HOST[:PORT]"

func (f *connFlags) register(fs *flag.FlagSet, withPins bool) {
	fs.StringVar(&f.server, "server", "", "the server's `HOST[:PORT]` (port 587 when left out); the same as giving it as the first argument")
	fs.StringVar(&f.security, "security", "auto", "`mode`: auto (implicit TLS on port 465, mandatory STARTTLS elsewhere), starttls, starttls-optional, implicit (or tls) or plain")
	fs.StringVar(&f.cafile, "cafile", "", "trust only the CA certificates in this PEM `file` (as curl --cacert)")
	fs.BoolVar(&f.insecure, "insecure", false, "do not verify the server's certificate (a --pin still applies)")
	fs.StringVar(&f.ehlo, "ehlo", "", "`name` to send with EHLO (default \"localhost\")")
	fs.StringVar(&f.tlsServerName, "tls-server-name", "", "check the certificate against this `name` and send it as SNI, instead of the server's host")
	fs.Var(&f.connectTo, "connect-to", "dial this `ADDR` (HOST:PORT) instead of the server, still checking the certificate against the server's name;\n"+
		"or curl's HOST:PORT:CONNECT_HOST:CONNECT_PORT (an empty part matches any host or port, or keeps the server's)")
	fs.StringVar(&f.cert, "cert", "", "present this client certificate (PEM `file`; it may hold the key too)")
	fs.StringVar(&f.key, "key", "", "the private key of --cert (PEM `file`)")
	fs.BoolVar(&f.lmtp, "lmtp", false, "speak LMTP (RFC 2033), as to Dovecot or Cyrus: LHLO, and a reply for each recipient after the message")
	fs.StringVar(&f.proxy, "proxy", "", "reach the server through this proxy `URL`: socks5://, socks5h:// (the proxy resolves the name), http:// or https://\n"+
		"(CONNECT), as SCHEME://[USER:PASSWORD@]HOST[:PORT]; default $MAILWIRE_PROXY, where a password does not show in ps")
	fs.DurationVar(&f.greetingTimeout, "greeting-timeout", 0, "the longest wait for the server's greeting (0: 20s, or --timeout when shorter; 5s for probe without --security)")
	if withPins {
		fs.Var(&f.pins, "pin", "accept the server only if its key has this `sha256//BASE64` pin (repeatable; see mailwire probe)")
	}
}

// serverAddr takes the server from --server or, failing that, from the
// first positional argument, adds port 587 when it has none, and returns
// the positional arguments left. The server named twice the same way is
// taken once.
func (f *connFlags) serverAddr(pos []string) (addr string, rest []string, err error) {
	switch {
	case f.server != "" && len(pos) > 0 && pos[0] == f.server:
		return withPort(f.server), pos[1:], nil
	case f.server != "":
		return withPort(f.server), pos, nil
	case len(pos) > 0:
		return withPort(pos[0]), pos[1:], nil
	}
	return "", nil, errors.New("no server: give " + serverUsage + " as the first argument, or --server " + serverUsage)
}

// options turns the flags into smtp.Options for a session with the server
// at addr. On failure it reports the error for command name and returns
// the exit code: 2 for a bad flag value, 66 for a file that cannot be read.
func (f *connFlags) options(name, addr string, stderr io.Writer) (*smtp.Options, int) {
	sec, err := parseSecurity(f.security)
	if err != nil {
		return nil, usageError(stderr, name, "%v", err)
	}
	dialer, err := connectToDialer(f.connectTo, addr)
	if err != nil {
		return nil, usageError(stderr, name, "%v", err)
	}
	if f.key != "" && f.cert == "" {
		return nil, usageError(stderr, name, "--key goes with --cert: give the client certificate too")
	}
	cfg, err := f.tlsConfig()
	if err != nil {
		fmt.Fprintf(stderr, "mailwire %s: %v\n", name, err)
		return nil, exitNoInput
	}
	opts := &smtp.Options{Security: sec, TLSConfig: cfg, Pins: f.pins, LocalName: f.ehlo, GreetingTimeout: f.greetingTimeout, Proxy: f.proxy, LMTP: f.lmtp}
	if opts.Proxy == "" {
		opts.Proxy = os.Getenv("MAILWIRE_PROXY")
	}
	if dialer != nil {
		opts.Dialer = dialer
	}
	return opts, exitOK
}

// tlsConfig builds the TLS settings: trust, server name, client
// certificate.
func (f *connFlags) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: f.insecure, ServerName: f.tlsServerName}
	if f.cafile != "" {
		pem, err := os.ReadFile(f.cafile)
		if err == nil && !x509.NewCertPool().AppendCertsFromPEM(pem) {
			err = fmt.Errorf("no PEM certificate in %s", f.cafile)
		}
		if err != nil {
			return nil, fmt.Errorf("--cafile: %v", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		cfg.RootCAs.AppendCertsFromPEM(pem)
	}
	if f.cert != "" {
		cert, err := loadClientCert(f.cert, f.key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// parseSecurity reads a --security value.
func parseSecurity(s string) (smtp.Security, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return smtp.SecurityAuto, nil
	case "starttls":
		return smtp.StartTLS, nil
	case "starttls-optional":
		return smtp.StartTLSOptional, nil
	case "implicit", "tls", "smtps":
		return smtp.ImplicitTLS, nil
	case "plain", "plaintext", "none":
		return smtp.Plaintext, nil
	}
	return 0, fmt.Errorf("unknown --security %q: want auto, starttls, starttls-optional, implicit or plain", s)
}

// securityFlag is the --security value that selects s.
func securityFlag(s smtp.Security) string {
	switch s {
	case smtp.StartTLS:
		return "starttls"
	case smtp.StartTLSOptional:
		return "starttls-optional"
	case smtp.ImplicitTLS:
		return "implicit"
	case smtp.Plaintext:
		return "plain"
	}
	return "auto"
}

// resolvedMode is the mode the library uses for s with the server at
// addr: SecurityAuto is implicit TLS on port 465, StartTLS elsewhere.
func resolvedMode(s smtp.Security, addr string) smtp.Security {
	if s != smtp.SecurityAuto {
		return s
	}
	if _, port, _ := net.SplitHostPort(addr); port == "465" {
		return smtp.ImplicitTLS
	}
	return smtp.StartTLS
}
