package smtp

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// decodeXtext is RFC 3461's decoding, strict: "+" must be followed by two
// upper-case hex digits.
func decodeXtext(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '+' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) {
			return "", errors.New("bad hexchar at " + strconv.Itoa(i))
		}
		n, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

func isUpperHex(b byte) bool { return '0' <= b && b <= '9' || 'A' <= b && b <= 'F' }

// FuzzXtext checks appendXtext: its output is printable ASCII, '=' never
// appears and '+' only as "+HH", exactly the bytes xtext does not allow
// as they are are encoded, and it decodes back to the input.
func FuzzXtext(f *testing.F) {
	for _, s := range []string{"", "abc", "a+b=c", "id 1", "\x00\r\n\x7f\xff", "ünïcode", "+", "=", "++==", "<QQ314159@host.example>", "rfc822;bob@example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		prefix := []byte("ENVID=")
		out := appendXtext(append([]byte(nil), prefix...), s)
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("appendXtext changed the bytes before it: %q", out)
		}
		x := string(out[len(prefix):])
		for i := 0; i < len(x); i++ {
			c := x[i]
			switch {
			case c <= ' ' || c >= 0x7f:
				t.Fatalf("appendXtext(%q) = %q: byte %#x at %d is not printable ASCII", s, x, c, i)
			case c == '=':
				t.Fatalf("appendXtext(%q) = %q: '=' at %d", s, x, i)
			case c == '+':
				if i+2 >= len(x) || !isUpperHex(x[i+1]) || !isUpperHex(x[i+2]) {
					t.Fatalf("appendXtext(%q) = %q: '+' at %d is not +HH", s, x, i)
				}
				n, _ := strconv.ParseUint(x[i+1:i+3], 16, 8)
				if b := byte(n); b > ' ' && b < 0x7f && b != '+' && b != '=' {
					t.Fatalf("appendXtext(%q) = %q: %q encoded needlessly", s, x, b)
				}
				i += 2
			}
		}
		back, err := decodeXtext(x)
		if err != nil || back != s {
			t.Fatalf("appendXtext(%q) = %q, which decodes to %q, %v", s, x, back, err)
		}
	})
}
