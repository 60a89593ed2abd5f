package main

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// fixedDialer dials addr whatever address it is asked for: --connect-to.
// The library still takes the server's name for TLS (SNI and the
// certificate check) from the address it was given.
type fixedDialer struct {
	addr string
	d    net.Dialer
}

// DialContext connects to the --connect-to address.
func (d *fixedDialer) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	return d.d.DialContext(ctx, network, d.addr)
}

// connectToDialer is the dialer for the first of rules that applies to the
// server at addr, or nil when none does (the server is dialled itself).
func connectToDialer(rules []string, addr string) (*fixedDialer, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("server %q: %v", addr, err)
	}
	for _, rule := range rules {
		target, ok, err := connectTarget(rule, host, port)
		if err != nil {
			return nil, err
		}
		if ok {
			return &fixedDialer{addr: target}, nil
		}
	}
	return nil, nil
}

// connectTarget reads one --connect-to rule for the server host:port: the
// address to dial, and whether the rule applies. A rule is ADDR (HOST,
// HOST:PORT or [IPv6]:PORT; the server's port when left out), which always
// applies, or curl's HOST:PORT:CONNECT_HOST:CONNECT_PORT, which applies
// when HOST and PORT match the server (empty matches any), an empty
// CONNECT_HOST or CONNECT_PORT keeping the server's.
func connectTarget(rule, host, port string) (string, bool, error) {
	parts := splitBracketed(rule)
	switch len(parts) {
	case 1:
		if parts[0] != "" {
			return net.JoinHostPort(unbracket(parts[0]), port), true, nil
		}
	case 2:
		if parts[0] != "" && parts[1] != "" {
			return net.JoinHostPort(unbracket(parts[0]), parts[1]), true, nil
		}
	case 4:
		if (parts[0] != "" && !strings.EqualFold(unbracket(parts[0]), host)) || (parts[1] != "" && parts[1] != port) {
			return "", false, nil
		}
		toHost, toPort := unbracket(parts[2]), parts[3]
		if toHost == "" {
			toHost = host
		}
		if toPort == "" {
			toPort = port
		}
		return net.JoinHostPort(toHost, toPort), true, nil
	}
	return "", false, fmt.Errorf("--connect-to %q: want HOST:PORT, or HOST:PORT:CONNECT_HOST:CONNECT_PORT as curl takes it", rule)
}

// splitBracketed splits s at the colons that are not inside [brackets].
func splitBracketed(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ':':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

func unbracket(host string) string {
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}
