package smtp

// Tests against real proxies: Debian's dante-server (SOCKS5) and tinyproxy
// (HTTP CONNECT), which scripts/proxies/up.sh starts and the README's test
// command runs before the tests.

import (
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/mailwire/smtp/smtptest"
)

// realProxies returns the addresses of the proxies up.sh started.
func realProxies(t *testing.T) map[string]string {
	t.Helper()
	if os.Getenv("MAILWIRE_PROXIES") != "1" {
		t.Skip("no proxies: run the README's test command (scripts/test.sh) to start them, or scripts/proxies/up.sh and its env")
	}
	p := map[string]string{}
	for _, k := range []string{"SOCKS", "SOCKS_REFUSING", "HTTP_AUTH", "HTTP_USER", "HTTP_PASS", "HTTP_REFUSING"} {
		if p[k] = os.Getenv("MAILWIRE_PROXY_" + k); p[k] == "" {
			t.Fatalf("MAILWIRE_PROXY_%s is not set", k)
		}
	}
	return p
}

func TestRealProxies(t *testing.T) {
	p := realProxies(t)
	srv := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	_, port := splitPort(t, srv.Addr())
	// The proxy resolves "localhost" itself (socks5h): to 127.0.0.1, or to
	// ::1 where /etc/hosts says so; the server answers on both.
	relayFrom(t, "[::1]:"+port, srv.Addr())
	creds := p["HTTP_USER"] + ":" + p["HTTP_PASS"] + "@"
	tests := []struct {
		name, addr, proxy string
		wantErr           string // "" for a message sent
	}{
		{"dante socks5", srv.Addr(), "socks5://" + p["SOCKS"], ""},
		{"dante socks5h, the name resolved by the proxy", "localhost:" + port, "socks5h://" + p["SOCKS"], ""},
		{"dante refusing", srv.Addr(), "socks5://" + p["SOCKS_REFUSING"], "through proxy socks5://" + p["SOCKS_REFUSING"]},
		{"tinyproxy with credentials", srv.Addr(), "http://" + creds + p["HTTP_AUTH"], ""},
		{"tinyproxy without credentials", srv.Addr(), "http://" + p["HTTP_AUTH"], "the proxy wants credentials"},
		{"tinyproxy wrong credentials", srv.Addr(), "http://" + p["HTTP_USER"] + ":wrong-secret@" + p["HTTP_AUTH"], "the proxy refused the credentials"},
		{"tinyproxy refusing the port", srv.Addr(), "http://" + p["HTTP_REFUSING"], "the proxy refused the tunnel: \"HTTP/1.1 403 Access violation\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Messages())
			opts := proxyOpts(srv, tt.proxy)
			opts.TLSConfig.ServerName = "localhost"
			_, err := sendThrough(t, tt.addr, opts)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Send: %v", err)
			case tt.wantErr == "" && (len(srv.Messages()) != before+1 || !srv.Messages()[before].TLS):
				t.Fatal("no message over TLS arrived")
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one with %q", err, tt.wantErr)
			case err != nil && (strings.Contains(err.Error(), p["HTTP_PASS"]) || strings.Contains(err.Error(), "wrong-secret")):
				t.Errorf("the error shows a password: %v", err)
			}
		})
	}
}

func splitPort(t *testing.T, addr string) (host, port string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// relayFrom relays connections on addr to target, when addr can be
// listened on (a machine without IPv6 has no ::1).
func relayFrom(t *testing.T, addr, target string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Logf("no relay on %s: %v", addr, err)
		return
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, conn)
				io.Copy(conn, up)
			}()
		}
	}()
}
