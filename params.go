package smtp

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// The parameters of MAIL FROM and RCPT TO (SIZE, BODY, SMTPUTF8,
// REQUIRETLS, DSN's RET, ENVID, NOTIFY and ORCPT), their typed values, and
// how they are written, each refused unless the server offers it.

// MailOptions are the ESMTP parameters of MAIL FROM. Each is sent only when
// the server offers its extension; asking for one it does not offer is an
// error before anything is sent.
type MailOptions struct {
	// Size is the message size in bytes, sent as SIZE= (RFC 1870) when the
	// server offers SIZE; 0 sends none.
	Size int64
	// Body is the body type (RFC 6152, RFC 3030); the zero value lets Send
	// choose (8BITMIME for 8-bit content).
	Body BodyType
	// UTF8 asks for SMTPUTF8 (RFC 6531): needed when an address is not ASCII.
	UTF8 bool
	// Return is the DSN RET= parameter (RFC 3461): what a bounce returns
	// of the message; the zero value asks for nothing.
	Return DSNReturn
	// EnvelopeID is the DSN ENVID= parameter (RFC 3461), sent as xtext.
	EnvelopeID string
	// RequireTLS asks that every hop use TLS (REQUIRETLS, RFC 8689): only
	// over TLS and when the server offers it; an error before MAIL
	// otherwise.
	RequireTLS bool
	// OptionalDSN sends the DSN parameters (here and in RcptOptions) only
	// when the server offers DSN, instead of failing without it.
	OptionalDSN bool
}

// RcptOptions are the ESMTP parameters of RCPT TO.
type RcptOptions struct {
	// Notify is the DSN NOTIFY= parameter (RFC 3461): any of
	// NotifySuccess, NotifyFailure and NotifyDelay, or NotifyNever alone.
	Notify []DSNNotify
	// OriginalRecipient is the DSN ORCPT= address, sent as "rfc822;" and
	// the address in xtext; an address that is not ASCII goes as "utf-8;"
	// and the address with its characters escaped as RFC 6533 says.
	OriginalRecipient string
}

// BodyType is the BODY= parameter of MAIL FROM (RFC 6152, RFC 3030).
type BodyType string

// The body types.
const (
	BodyDefault    BodyType = ""           // none sent (Send picks 8BITMIME for 8-bit content)
	Body7Bit       BodyType = "7BIT"       // 7-bit content only
	Body8BitMIME   BodyType = "8BITMIME"   // 8-bit text (RFC 6152)
	BodyBinaryMIME BodyType = "BINARYMIME" // binary content, with BDAT only (RFC 3030)
)

// DSNReturn is the DSN RET= parameter (RFC 3461 section 4.3).
type DSNReturn string

// What a delivery status notification returns of the message.
const (
	ReturnFull    DSNReturn = "FULL" // the whole message
	ReturnHeaders DSNReturn = "HDRS" // its header only
)

// DSNNotify is a value of the DSN NOTIFY= parameter (RFC 3461 section
// 4.1).
type DSNNotify string

// When a delivery status notification is asked for.
const (
	NotifySuccess DSNNotify = "SUCCESS"
	NotifyFailure DSNNotify = "FAILURE"
	NotifyDelay   DSNNotify = "DELAY"
	NotifyNever   DSNNotify = "NEVER" // alone: no notification at all
)

// checkMailParams refuses MAIL FROM parameters that are malformed or that
// the server does not offer. With checkRcptParams it is the one step in
// which a transaction's parameters are judged, before anything is written;
// the append functions then only write.
func (c *Client) checkMailParams(o *MailOptions) error {
	if o == nil {
		return nil
	}
	switch o.Body {
	case BodyDefault, Body7Bit:
	case Body8BitMIME:
		if !c.ext.has("8BITMIME") {
			return errInput("BODY=8BITMIME: the server does not offer 8BITMIME (RFC 6152)")
		}
	case BodyBinaryMIME:
		if !c.ext.has("BINARYMIME") || !c.ext.has("CHUNKING") {
			return errInput("BODY=BINARYMIME: the server does not offer BINARYMIME and CHUNKING (RFC 3030)")
		}
	default:
		return errInput("unknown BODY type %q", o.Body)
	}
	if o.UTF8 && !c.ext.has("SMTPUTF8") {
		return errInput("an address is not ASCII and the server does not offer SMTPUTF8 (RFC 6531)")
	}
	if o.RequireTLS && (c.tlsState == nil || !c.ext.has("REQUIRETLS")) {
		return errInput("REQUIRETLS needs a TLS connection to a server that offers REQUIRETLS (RFC 8689)")
	}
	if (o.Return != "" || o.EnvelopeID != "") && !c.ext.has("DSN") {
		return errInput("RET or ENVID: the server does not offer DSN (RFC 3461)")
	}
	switch o.Return {
	case "", ReturnFull, ReturnHeaders:
	default:
		return errInput("DSN RET must be FULL or HDRS, not %q", o.Return)
	}
	return nil
}

// checkRcptParams refuses RCPT TO parameters that are malformed or that the
// server does not offer.
func (c *Client) checkRcptParams(o *RcptOptions) error {
	if o == nil || len(o.Notify) == 0 && o.OriginalRecipient == "" {
		return nil
	}
	if !c.ext.has("DSN") {
		return errInput("NOTIFY or ORCPT: the server does not offer DSN (RFC 3461)")
	}
	for _, n := range o.Notify {
		switch n {
		case NotifySuccess, NotifyFailure, NotifyDelay:
		case NotifyNever:
			if len(o.Notify) > 1 {
				return errInput("DSN NOTIFY=NEVER cannot be combined with other values")
			}
		default:
			return errInput("unknown DSN NOTIFY value %q", n)
		}
	}
	if o.OriginalRecipient != "" {
		return checkAddress("ORCPT", o.OriginalRecipient, false)
	}
	return nil
}

// appendMailParams appends the MAIL FROM parameters of o, checked by
// checkMailParams, to line.
func (c *Client) appendMailParams(line []byte, o *MailOptions) []byte {
	if o == nil {
		return line
	}
	if o.Size > 0 && c.ext.has("SIZE") {
		line = append(line, " SIZE="...)
		line = strconv.AppendInt(line, o.Size, 10)
	}
	if o.Body == BodyBinaryMIME || o.Body != BodyDefault && c.ext.has("8BITMIME") {
		line = append(line, " BODY="...)
		line = append(line, string(o.Body)...) // 7BIT is the default of a server without 8BITMIME
	}
	if o.UTF8 {
		line = append(line, " SMTPUTF8"...)
	}
	if o.RequireTLS {
		line = append(line, " REQUIRETLS"...)
	}
	if o.Return != "" {
		line = append(line, " RET="...)
		line = append(line, string(o.Return)...)
	}
	if o.EnvelopeID != "" {
		line = append(line, " ENVID="...)
		line = appendXtext(line, o.EnvelopeID)
	}
	return line
}

// appendRcptParams appends the RCPT TO parameters of o, checked by
// checkRcptParams, to line; smtputf8 says whether the transaction's MAIL
// asked for SMTPUTF8.
func (c *Client) appendRcptParams(line []byte, o *RcptOptions, smtputf8 bool) []byte {
	if o == nil {
		return line
	}
	for i, n := range o.Notify {
		if i == 0 {
			line = append(line, " NOTIFY="...)
		} else {
			line = append(line, ',')
		}
		line = append(line, string(n)...)
	}
	if o.OriginalRecipient != "" {
		line = appendORCPT(line, o.OriginalRecipient, smtputf8)
	}
	return line
}

// appendORCPT appends the ORCPT parameter for addr: "rfc822;" and xtext for
// an ASCII address; otherwise "utf-8;" and the address as RFC 6533 section
// 3 writes it: each character that is not a QCHAR (controls, space, '+',
// '=', '\') as "\x{HEX}", and each non-ASCII character kept as it is in
// a SMTPUTF8 transaction (utf-8-addr-unitext) or escaped the same way
// otherwise (utf-8-addr-xtext).
func appendORCPT(line []byte, addr string, smtputf8 bool) []byte {
	if isASCII(addr) {
		line = append(line, " ORCPT=rfc822;"...)
		return appendXtext(line, addr)
	}
	line = append(line, " ORCPT=utf-8;"...)
	for _, r := range addr {
		switch {
		case r > ' ' && r < 0x7f && r != '+' && r != '=' && r != '\\', r >= 0x80 && smtputf8:
			line = utf8.AppendRune(line, r)
		default: // HEXPOINT: upper case, two digits at least, no other leading zero
			line = append(line, `\x{`...)
			if r < 0x10 {
				line = append(line, '0')
			}
			line = append(line, strings.ToUpper(strconv.FormatUint(uint64(r), 16))...)
			line = append(line, '}')
		}
	}
	return line
}

// appendXtext encodes s as xtext (RFC 3461 section 4): printable ASCII but
// '+' and '=' as is, every other byte as "+HH".
func appendXtext(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > ' ' && c < 0x7f && c != '+' && c != '=' {
			b = append(b, c)
			continue
		}
		b = append(b, '+', hex[c>>4], hex[c&15])
	}
	return b
}
