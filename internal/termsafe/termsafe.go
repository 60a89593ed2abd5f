// Package termsafe makes text a remote peer chose safe to show on a
// terminal, for the library and the command line alike.
package termsafe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text from a server (reply lines, EHLO keywords, certificate names), or
// from a log a user pastes, is not ours: a hostile server can send escape
// sequences that rewrite what an operator's terminal shows, or a CR that
// hides what came before it.

// MaxQuoted is the most of a server's text quoted in one error message.
const MaxQuoted = 200

// String returns s with every byte a terminal could act on made visible:
// control characters but tab (ESC, BEL, CR, LF, NUL, DEL and the C1 set) as
// Go escapes (\x1b, \u009b), and bytes that are not UTF-8 as \xNN.
// Printable text, non-ASCII letters included, is kept as it is. It does
// not allocate when there is nothing to escape.
func String(s string) string {
	i := unsafeIndex(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case r == '\t' || !unicode.IsControl(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRuneToASCII(r) // '\x1b'
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// unsafeIndex is the index of the first byte String would change, or -1.
func unsafeIndex(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || unicode.IsControl(r) {
			return i
		}
		i += size
	}
	return -1
}

// Quote quotes a server's text for an error message: escaped as
// String does, in double quotes, and cut to MaxQuoted bytes so that a
// server cannot flood the caller's logs.
func Quote(s string) string {
	cut := ""
	if len(s) > MaxQuoted {
		s, cut = s[:MaxQuoted], "…"
	}
	return strconv.QuoteToGraphic(s) + cut
}
