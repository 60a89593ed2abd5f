package smtp

import (
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// Length limits of RFC 5321 section 4.5.3.1.
const (
	maxLocalPart = 64  // octets in a local part
	maxDomain    = 255 // octets in a domain
	maxPath      = 256 // octets in a path, angle brackets included
)

// checkAddress refuses a mailbox that cannot go on the wire as it is: one
// with CR, LF, NUL or another control character (command injection), '<' or
// '>' (it would end the path early), or one over the length limits of RFC
// 5321. An empty address is allowed only where allowEmpty says (the null
// reverse-path "<>" of MAIL FROM).
func checkAddress(role, addr string, allowEmpty bool) error {
	if addr == "" {
		if allowEmpty {
			return nil
		}
		return errInput("%s: empty address", role)
	}
	for i := 0; i < len(addr); i++ {
		switch b := addr[i]; {
		case b < 0x20 || b == 0x7f:
			return errInput("%s %s: control character (CR, LF, NUL…) in address", role, strconv.QuoteToASCII(addr))
		case b == '<' || b == '>':
			return errInput("%s %s: '<' or '>' inside an address", role, strconv.QuoteToASCII(addr))
		}
	}
	if len(addr)+2 > maxPath {
		return errInput("%s %s…: address longer than %d octets (RFC 5321 4.5.3.1.3)", role, strconv.QuoteToASCII(addr[:32]), maxPath-2)
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return nil // a bare local part such as "postmaster"
	}
	if at > maxLocalPart {
		return errInput("%s %s: local part longer than %d octets (RFC 5321 4.5.3.1.1)", role, strconv.QuoteToASCII(addr), maxLocalPart)
	}
	if len(addr)-at-1 > maxDomain {
		return errInput("%s %s: domain longer than %d octets (RFC 5321 4.5.3.1.2)", role, strconv.QuoteToASCII(addr), maxDomain)
	}
	if at == len(addr)-1 {
		return errInput("%s %s: empty domain", role, strconv.QuoteToASCII(addr))
	}
	return nil
}

// checkLocalName refuses an EHLO name that is not one printable token.
func checkLocalName(name string) error {
	if len(name) > maxDomain {
		return errInput("LocalName longer than %d octets", maxDomain)
	}
	for i := 0; i < len(name); i++ {
		if b := name[i]; b <= ' ' || b == 0x7f {
			return errInput("LocalName %s holds a space or control character (CR, LF, NUL…)", strconv.QuoteToASCII(name))
		}
	}
	return nil
}

// isASCII reports whether s has only 7-bit characters.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// wireAddress is addr as it goes on the wire. An address with a non-ASCII
// local part needs SMTPUTF8 (RFC 6531): asked for when the server offers
// it, an error otherwise. When only the domain is non-ASCII and the server
// lacks SMTPUTF8, the domain is converted to A-labels (IDNA2008, lookup
// profile); an invalid domain is an error, never sent as it is.
func (c *Client) wireAddress(addr string, mo *MailOptions) (string, error) {
	if isASCII(addr) {
		return addr, nil
	}
	if c.ext.has("SMTPUTF8") {
		mo.UTF8 = true
		return addr, nil
	}
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr, ""
	if at >= 0 {
		local, domain = addr[:at], addr[at+1:]
	}
	if !isASCII(local) {
		return "", errInput("address %q has a non-ASCII local part, and the server does not offer SMTPUTF8 (RFC 6531)", addr)
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", errInput("address %q: invalid internationalised domain: %v", addr, err)
	}
	return local + "@" + ascii, nil
}

// asciiHostPart returns addr with its domain, after the '@' at index at,
// in A-labels.
func asciiHostPart(addr string, at int) (string, error) {
	ascii, err := idna.Lookup.ToASCII(addr[at+1:])
	if err != nil {
		return "", errInput("address %q: invalid internationalised domain: %v", addr, err)
	}
	return addr[:at+1] + ascii, nil
}

// asciiHost converts a non-ASCII host name to A-labels, for the EHLO name,
// the dialled host and the TLS server name.
func asciiHost(host string) (string, error) {
	if isASCII(host) {
		return host, nil
	}
	ascii, err := idna.Lookup.ToASCII(host)
	if err != nil {
		return "", errInput("invalid internationalised domain %q: %v", host, err)
	}
	return ascii, nil
}
