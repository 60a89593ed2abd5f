package smtp

import (
	"strings"
	"testing"
)

// FuzzCheckAddress checks that an address checkAddress lets through can go
// on the wire as one path: no control character, no angle bracket, within
// the lengths of RFC 5321 section 4.5.3.1; and that the error for one it
// refuses cannot inject lines into a log.
func FuzzCheckAddress(f *testing.F) {
	for _, s := range []string{
		"alice@example.com", "", "postmaster", "a@b", "user@[127.0.0.1]", "\"quoted local\"@example.org",
		"bob@example.com>\r\nRCPT TO:<eve@evil.test", "x\x00y@z", "a@", "@b", "üser@exämple.de",
		strings.Repeat("l", 64) + "@" + strings.Repeat("d", 189), strings.Repeat("l", 65) + "@d",
		"a@" + strings.Repeat("d", 256), strings.Repeat("x", 300), "a\tb@c", "a\x7fb@c", "<a@b>",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, addr string, allowEmpty bool) {
		err := checkAddress("RCPT TO", addr, allowEmpty)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n\x00") {
				t.Fatalf("checkAddress(%q) error %q holds CR, LF or NUL", addr, err)
			}
			return
		}
		if addr == "" {
			if !allowEmpty {
				t.Fatal(`checkAddress("", false) accepted the empty address`)
			}
			return
		}
		for i := 0; i < len(addr); i++ {
			if b := addr[i]; b < 0x20 || b == 0x7f || b == '<' || b == '>' {
				t.Fatalf("checkAddress(%q) accepted byte %#x at %d", addr, b, i)
			}
		}
		if len(addr)+2 > 256 {
			t.Fatalf("checkAddress accepted a path of %d octets", len(addr)+2)
		}
		if at := strings.LastIndexByte(addr, '@'); at >= 0 {
			if at > 64 {
				t.Fatalf("checkAddress(%q) accepted a local part of %d octets", addr, at)
			}
			if d := len(addr) - at - 1; d == 0 || d > 255 {
				t.Fatalf("checkAddress(%q) accepted a domain of %d octets", addr, d)
			}
		}
	})
}
