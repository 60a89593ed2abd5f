package smtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/proxy"

	"github.com/mailwire/smtp/internal/termsafe"
)

// proxyDialer reaches the mail server through a proxy: SOCKS5
// (golang.org/x/net/proxy) or an HTTP CONNECT tunnel, over TCP or TLS.
type proxyDialer struct {
	scheme     string // socks5, socks5h, http, https
	addr       string // the proxy's host:port
	user, pass string
	hasAuth    bool
	tlsConfig  *tls.Config // for https: the proxy's own certificate
	forward    Dialer      // how the proxy itself is reached
}

// proxyPorts are the ports a proxy URL without one gets.
var proxyPorts = map[string]string{"socks5": "1080", "socks5h": "1080", "http": "80", "https": "443"}

// newProxyDialer checks Options.Proxy; everything is refused here, before
// a connection is made.
func newProxyDialer(raw string, tlsConfig *tls.Config, forward Dialer) (*proxyDialer, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errInput("Options.Proxy: %v", redactProxyError(err))
	}
	scheme := strings.ToLower(u.Scheme)
	port, ok := proxyPorts[scheme]
	switch {
	case !ok:
		return nil, errInput("Options.Proxy: scheme %q: want socks5://, socks5h://, http:// or https://", u.Scheme)
	case u.Hostname() == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "":
		return nil, errInput("Options.Proxy %q: want SCHEME://[USER:PASSWORD@]HOST[:PORT] and nothing more", u.Redacted())
	}
	if u.Port() != "" {
		port = u.Port()
	}
	host, err := asciiHost(u.Hostname())
	if err != nil {
		return nil, err
	}
	d := &proxyDialer{scheme: scheme, addr: net.JoinHostPort(host, port), forward: forward}
	if u.User != nil {
		d.user, d.hasAuth = u.User.Username(), true
		d.pass, _ = u.User.Password()
		if strings.ContainsAny(d.user+d.pass, "\r\n") {
			return nil, errInput("Options.Proxy: the user name or password holds a line break")
		}
	}
	if scheme == "https" {
		d.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if tlsConfig != nil {
			d.tlsConfig = tlsConfig.Clone()
		}
		if d.tlsConfig.ServerName == "" {
			d.tlsConfig.ServerName = host
		}
	}
	return d, nil
}

// String names the proxy for traces and errors: scheme, host and port,
// never the password.
func (d *proxyDialer) String() string { return d.scheme + "://" + d.addr }

// DialContext opens a connection to addr through the proxy.
func (d *proxyDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	var err error
	if strings.HasPrefix(d.scheme, "socks5") {
		conn, err = d.dialSOCKS(ctx, addr)
	} else {
		conn, err = d.dialCONNECT(ctx, addr)
	}
	if err != nil {
		return nil, &proxyError{proxy: d.String(), target: addr, err: err}
	}
	return conn, nil
}

// dialSOCKS asks a SOCKS5 proxy (RFC 1928) for a connection. With socks5
// the client resolves the name and sends the address; with socks5h the
// proxy resolves it, and the client's DNS never sees the name.
func (d *proxyDialer) dialSOCKS(ctx context.Context, addr string) (net.Conn, error) {
	if d.scheme == "socks5" {
		host, port, _ := net.SplitHostPort(addr)
		if net.ParseIP(host) == nil {
			ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
			if err != nil {
				return nil, err
			}
			addr = net.JoinHostPort(ips[0].IP.String(), port)
		}
	}
	var auth *proxy.Auth
	if d.hasAuth {
		auth = &proxy.Auth{User: d.user, Password: d.pass}
	}
	p, err := proxy.SOCKS5("tcp", d.addr, auth, forwardDialer{d.forward})
	if err != nil {
		return nil, err
	}
	return p.(proxy.ContextDialer).DialContext(ctx, "tcp", addr)
}

// dialCONNECT opens an HTTP CONNECT tunnel (RFC 9110 section 9.3.6).
func (d *proxyDialer) dialCONNECT(ctx context.Context, addr string) (net.Conn, error) {
	conn, err := d.forward.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	if d.tlsConfig != nil {
		tc := tls.Client(conn, d.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS with the proxy: %w", err)
		}
		conn = tc
	}
	if err := d.connect(conn, addr); err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, err
	}
	if !stop() { // the context ended as the tunnel opened
		conn.Close()
		return nil, context.Cause(ctx)
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// maxProxyResponse bounds the proxy's answer to CONNECT.
const maxProxyResponse = 16 << 10

// connect sends CONNECT and reads the proxy's answer up to its blank line,
// a byte at a time: what comes after it is the mail server's, and must be
// left on the connection for the SMTP reader.
func (d *proxyDialer) connect(conn net.Conn, addr string) error {
	var req bytes.Buffer
	fmt.Fprintf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", addr, addr)
	if d.hasAuth {
		req.WriteString("Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(d.user+":"+d.pass)) + "\r\n")
	}
	req.WriteString("\r\n")
	if _, err := conn.Write(req.Bytes()); err != nil {
		return err
	}
	head, err := readProxyAnswer(conn)
	status, _, _ := strings.Cut(string(head), "\n")
	status = strings.TrimSpace(status)
	proto, rest, _ := strings.Cut(status, " ")
	code, _, _ := strings.Cut(rest, " ")
	switch {
	case status != "" && !strings.HasPrefix(proto, "HTTP/1."):
		return fmt.Errorf("not an HTTP proxy: it answered \"%s\"", proxyWords(status))
	case err != nil:
		return fmt.Errorf("reading the answer to CONNECT: %w", err)
	case code == "200":
		return nil
	case (code == "407" || code == "401") && d.hasAuth: // tinyproxy 1.11 answers a wrong password with 401
		return fmt.Errorf("the proxy refused the credentials: \"%s\"", proxyWords(status))
	case code == "407":
		return fmt.Errorf("the proxy wants credentials (http://USER:PASSWORD@HOST:PORT): \"%s\"", proxyWords(status))
	}
	return fmt.Errorf("the proxy refused the tunnel: \"%s\"", proxyWords(status))
}

// readProxyAnswer reads a proxy's answer to CONNECT up to its blank line,
// a byte at a time, so that nothing of what follows is taken; it stops
// early when the first line is not an HTTP status line.
func readProxyAnswer(conn net.Conn) ([]byte, error) {
	var head []byte
	one := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) && !bytes.HasSuffix(head, []byte("\n\n")) {
		if len(head) >= maxProxyResponse {
			return head, errors.New("the answer is longer than 16 KiB")
		}
		if _, err := conn.Read(one); err != nil {
			return head, err
		}
		head = append(head, one[0])
		if one[0] == '\n' && bytes.Count(head, []byte("\n")) == 1 && !bytes.HasPrefix(head, []byte("HTTP/1.")) {
			return head, nil
		}
	}
	return head, nil
}

// proxyWords shortens a proxy's words for an error, escaping what a terminal
// could act on.
func proxyWords(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return termsafe.String(s)
}

// forwardDialer gives a Dialer the Dial method x/net/proxy asks for; it
// dials with DialContext, which x/net/proxy prefers when there is one.
type forwardDialer struct{ Dialer }

func (f forwardDialer) Dial(network, addr string) (net.Conn, error) {
	return f.DialContext(context.Background(), network, addr)
}

// proxyError is a failure to reach the mail server through the proxy.
type proxyError struct {
	proxy, target string
	err           error
}

func (e *proxyError) Error() string {
	return fmt.Sprintf("through proxy %s to %s: %v", e.proxy, e.target, e.err)
}
func (e *proxyError) Unwrap() error { return e.err }

// redactProxyError keeps a password out of url.Parse's error, which quotes
// the URL.
func redactProxyError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
