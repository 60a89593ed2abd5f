package smtp

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text from the server (reply lines, EHLO keywords, certificate names) is
// the server's to choose: a hostile one can send escape sequences that
// rewrite what an operator's terminal shows, or a CR that hides what came
// before it. Wherever a person reads such text (errors, LogTrace,
// ExplainTrace) it goes through safeText first.

// maxQuoted is the most of a server's text quoted in one error message.
const maxQuoted = 200

// safeText returns s with every byte a terminal could act on made visible:
// control characters but tab (ESC, BEL, CR, LF, NUL, DEL and the C1 set) as
// Go escapes (\x1b, \u009b), and bytes that are not UTF-8 as \xNN.
// Printable text, non-ASCII letters included, is kept as it is. It does
// not allocate when there is nothing to escape.
func safeText(s string) string {
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

// unsafeIndex is the index of the first byte safeText would change, or -1.
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

// quoteServer quotes a server's text for an error message: escaped as
// safeText does, in double quotes, and cut to maxQuoted bytes so that a
// server cannot flood the caller's logs.
func quoteServer(s string) string {
	cut := ""
	if len(s) > maxQuoted {
		s, cut = s[:maxQuoted], "…"
	}
	return strconv.QuoteToGraphic(s) + cut
}
