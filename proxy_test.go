package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailwire/smtp/internal/testcert"
	"github.com/mailwire/smtp/smtptest"
)

// fakeProxy is a proxy in the test process, for exact byte-level cases:
// an HTTP CONNECT proxy or a SOCKS5 one (RFC 1928, user/password of RFC
// 1929), relaying to the address asked for. answer, when set, replaces an
// HTTP proxy's answer.
type fakeProxy struct {
	ln       net.Listener
	socks    bool
	user     string // credentials wanted; "" for none
	pass     string
	answer   string
	silent   bool // read the request and never answer
	mu       sync.Mutex
	requests []string // what each client asked for: the CONNECT request, or the SOCKS target
}

func startFakeProxy(t *testing.T, p *fakeProxy, tlsCert *tls.Certificate) *fakeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsCert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*tlsCert}})
	}
	p.ln = ln
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(conn)
		}
	}()
	return p
}

func (p *fakeProxy) addr() string { return p.ln.Addr().String() }

func (p *fakeProxy) note(s string) {
	p.mu.Lock()
	p.requests = append(p.requests, s)
	p.mu.Unlock()
}

func (p *fakeProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

func (p *fakeProxy) serve(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	var target string
	var ok bool
	if p.socks {
		target, ok = p.socksHandshake(br, conn)
	} else {
		target, ok = p.httpHandshake(br, conn)
	}
	if !ok {
		return
	}
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { io.Copy(up, br); up.Close() }()
	io.Copy(conn, up)
}

func (p *fakeProxy) httpHandshake(br *bufio.Reader, conn net.Conn) (string, bool) {
	var req strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", false
		}
		req.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	p.note(req.String())
	if p.silent {
		io.Copy(io.Discard, br)
		return "", false
	}
	first, _, _ := strings.Cut(req.String(), "\r\n")
	target := strings.Fields(first)[1]
	switch {
	case p.answer != "":
		io.WriteString(conn, p.answer)
		return "", false
	case p.user != "" && !strings.Contains(req.String(), "Proxy-Authorization: Basic "+basicAuth(p.user, p.pass)+"\r\n"):
		io.WriteString(conn, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
		return "", false
	}
	// The greeting comes in the same read as the end of the answer:
	// the client must keep those bytes, not read past the blank line.
	up, err := net.Dial("tcp", target)
	if err != nil {
		io.WriteString(conn, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return "", false
	}
	greeting := make([]byte, 512)
	up.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := up.Read(greeting)
	up.SetReadDeadline(time.Time{})
	conn.Write(append([]byte("HTTP/1.1 200 Connection established\r\nVia: fake\r\n\r\n"), greeting[:n]...))
	go func() { io.Copy(up, br); up.Close() }()
	io.Copy(conn, up)
	up.Close()
	return "", false
}

func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

func (p *fakeProxy) socksHandshake(br *bufio.Reader, conn net.Conn) (string, bool) {
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(br, hdr); err != nil || hdr[0] != 5 {
		return "", false
	}
	methods := make([]byte, hdr[1])
	io.ReadFull(br, methods)
	want := byte(0)
	if p.user != "" {
		want = 2
	}
	if !strings.ContainsRune(string(methods), rune(want)) {
		conn.Write([]byte{5, 0xff})
		return "", false
	}
	conn.Write([]byte{5, want})
	if want == 2 {
		b := make([]byte, 2)
		io.ReadFull(br, b)
		user := make([]byte, b[1])
		io.ReadFull(br, user)
		n, _ := br.ReadByte()
		pass := make([]byte, n)
		io.ReadFull(br, pass)
		if string(user) != p.user || string(pass) != p.pass {
			conn.Write([]byte{1, 1})
			return "", false
		}
		conn.Write([]byte{1, 0})
	}
	req := make([]byte, 4)
	io.ReadFull(br, req)
	var host string
	switch req[3] {
	case 1:
		ip := make([]byte, 4)
		io.ReadFull(br, ip)
		host = net.IP(ip).String()
	case 3:
		n, _ := br.ReadByte()
		name := make([]byte, n)
		io.ReadFull(br, name)
		host = string(name)
	default:
		return "", false
	}
	port := make([]byte, 2)
	io.ReadFull(br, port)
	target := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port))))
	p.note(target)
	conn.Write([]byte{5, 0, 0, 1, 127, 0, 0, 1, 0, 0})
	if host == "localhost" {
		target = net.JoinHostPort("127.0.0.1", strconv.Itoa(int(binary.BigEndian.Uint16(port))))
	}
	return target, true
}

// proxyOpts are the options to reach srv through proxy.
func proxyOpts(srv *smtptest.Server, proxy string) *Options {
	o := realOpts(srv, StartTLS)
	o.Proxy = proxy
	return o
}

func sendThrough(t *testing.T, addr string, opts *Options) (*Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, opts)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	_, err = c.Send(ctx, realEnv, strings.NewReader("Subject: via proxy\r\n\r\nhi\r\n"))
	return c, err
}

// A Send through an HTTP CONNECT proxy, TLS with the mail server end to
// end: the greeting, which the proxy wrote in the same piece as the end of
// its answer, is not lost; the credentials go as Basic, and the trace
// names the proxy, never its password.
func TestProxyHTTPConnect(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	p := startFakeProxy(t, &fakeProxy{user: "u", pass: "pa:ss wörd"}, nil)
	opts := proxyOpts(srv, "http://u:pa%3Ass%20w%C3%B6rd@"+p.addr())
	var mu sync.Mutex
	var events []Event
	opts.Trace = &Trace{Event: func(ev Event) { mu.Lock(); events = append(events, ev); mu.Unlock() }}
	c, err := sendThrough(t, srv.Addr(), opts)
	if err != nil {
		t.Fatalf("Send through the proxy: %v", err)
	}
	if _, ok := c.TLSConnectionState(); !ok || len(srv.Messages()) != 1 || !srv.Messages()[0].TLS {
		t.Error("the message did not go over TLS with the server")
	}
	req := p.seen()[0]
	want := "CONNECT " + srv.Addr() + " HTTP/1.1\r\nHost: " + srv.Addr() + "\r\nProxy-Authorization: Basic dTpwYTpzcyB3w7ZyZA==\r\n\r\n"
	if req != want {
		t.Errorf("CONNECT request %q, want %q", req, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if ev := events[1]; ev.Kind != EventConnectDone || ev.Addr != srv.Addr() || ev.Proxy != "http://"+p.addr() || ev.RemoteAddr != p.addr() {
		t.Errorf("connect-done event %+v, want the server, through the proxy", ev)
	}
	for _, ev := range events {
		if strings.Contains(ev.Line+ev.Proxy, "pa:ss") || strings.Contains(ev.Line, "dTpwYTpzcyB3w7ZyZA") {
			t.Errorf("the trace shows the proxy's password: %+v", ev)
		}
	}
}

func TestProxyRefusals(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	authed := startFakeProxy(t, &fakeProxy{user: "u", pass: "right"}, nil)
	forbidding := startFakeProxy(t, &fakeProxy{answer: "HTTP/1.1 403 Forbidden\x1b[2J\r\n\r\n"}, nil)
	notHTTP := startFakeProxy(t, &fakeProxy{answer: "220 an SMTP server, not a proxy\r\n"}, nil)
	socks := startFakeProxy(t, &fakeProxy{socks: true, user: "u", pass: "right"}, nil)
	tests := []struct{ name, proxy, want string }{
		{"no credentials", "http://" + authed.addr(), "the proxy wants credentials"},
		{"wrong credentials", "http://u:wrong-secret@" + authed.addr(), "the proxy refused the credentials"},
		{"forbidden", "http://" + forbidding.addr(), `the proxy refused the tunnel: "HTTP/1.1 403 Forbidden\x1b[2J"`},
		{"not a proxy", "http://" + notHTTP.addr(), "not an HTTP proxy"},
		{"socks wrong credentials", "socks5://u:wrong-secret@" + socks.addr(), "username/password authentication failed"},
		{"socks no credentials", "socks5://" + socks.addr(), "no acceptable authentication methods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := sendThrough(t, srv.Addr(), proxyOpts(srv, tt.proxy))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "wrong-secret") || strings.ContainsRune(err.Error(), 0x1b) {
				t.Errorf("the error shows the password or a raw escape: %v", err)
			}
			if !strings.Contains(err.Error(), "through proxy ") || Classify(err) == ClassInvalidArgument {
				t.Errorf("the error does not name the proxy, or is classed a caller's mistake: %v (%v)", err, Classify(err))
			}
		})
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages got through refusing proxies", n)
	}
}

// SOCKS5: with socks5 the client resolves the name and the proxy sees an
// address; with socks5h the proxy sees the name.
func TestProxySOCKS5(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	_, port, _ := net.SplitHostPort(srv.Addr())
	for _, tt := range []struct{ scheme, sees string }{{"socks5", "127.0.0.1:" + port}, {"socks5h", "localhost:" + port}} {
		t.Run(tt.scheme, func(t *testing.T) {
			t.Parallel()
			p := startFakeProxy(t, &fakeProxy{socks: true, user: "u", pass: "p"}, nil)
			opts := proxyOpts(srv, tt.scheme+"://u:p@"+p.addr())
			opts.TLSConfig.ServerName = "localhost"
			if _, err := sendThrough(t, "localhost:"+port, opts); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if got := p.seen(); len(got) != 1 || got[0] != tt.sees {
				t.Errorf("the proxy was asked for %v, want %s", got, tt.sees)
			}
		})
	}
}

// An https:// proxy: TLS with the proxy, and inside it TLS with the mail
// server; the proxy's certificate is checked against ProxyTLSConfig.
func TestProxyHTTPS(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	ca := testcert.NewCA("proxy CA")
	cert := ca.Issue(testcert.Leaf{})
	p := startFakeProxy(t, &fakeProxy{}, &cert)
	opts := proxyOpts(srv, "https://"+p.addr())
	if _, err := sendThrough(t, srv.Addr(), opts); err == nil || !strings.Contains(err.Error(), "TLS with the proxy") {
		t.Fatalf("an https proxy with an unknown CA: %v, want a TLS error", err)
	}
	opts.ProxyTLSConfig = &tls.Config{RootCAs: ca.Pool()}
	if _, err := sendThrough(t, srv.Addr(), opts); err != nil {
		t.Fatalf("Send through the https proxy: %v", err)
	}
}

// A proxy that takes the request and never answers: Dial ends with the
// context, promptly.
func TestProxySilentHonoursContext(t *testing.T) {
	t.Parallel()
	p := startFakeProxy(t, &fakeProxy{silent: true}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Dial(ctx, "127.0.0.1:25", &Options{Security: Plaintext, Proxy: "http://" + p.addr()})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Errorf("Dial: %v after %v, want the context's deadline", err, time.Since(start))
	}
}

func TestProxyURLRefused(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"ftp://h:1", "socks5://", "http://h:1/path", "http://h:1?q", "http://u:p%0d%0aX@h:1", "http://u:top-secret@h:bad"} {
		_, err := Dial(context.Background(), "127.0.0.1:25", &Options{Proxy: bad})
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Proxy %q: %v, want ErrInvalidArgument", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "top-secret") {
			t.Errorf("Proxy %q: the error shows the password: %v", bad, err)
		}
	}
}
