package termsafe

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"250 OK":                 "250 OK",
		"Grüße, 世界\tok":          "Grüße, 世界\tok",
		"\x1b[2J":                `\x1b[2J`,
		"a\rb\nc\x00d\x07e\x7f":  `a\rb\nc\x00d\ae\x7f`,
		"csi \u009b31m":          `csi \u009b31m`,
		"bad \xff\xfe utf-8":     `bad \xff\xfe utf-8`,
		"\x1b]0;title\x07 after": `\x1b]0;title\a after`,
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQuote(t *testing.T) {
	if got := Quote("421 \x1b[2Jbye"); got != `"421 \x1b[2Jbye"` {
		t.Errorf("Quote = %s", got)
	}
	long := Quote(strings.Repeat("x", 1000))
	if !strings.HasSuffix(long, "…") || len(long) > MaxQuoted+8 {
		t.Errorf("Quote of 1000 bytes = %d bytes, want it cut at %d", len(long), MaxQuoted)
	}
}

func TestStringDoesNotAllocateWhenSafe(t *testing.T) {
	s := "250-mx.example.com Hello, pleased to meet you"
	if n := testing.AllocsPerRun(100, func() { String(s) }); n != 0 {
		t.Errorf("%v allocations for safe text, want 0", n)
	}
}

// FuzzString: whatever the input, the output holds no control character
// but tab and is valid UTF-8; input that holds none comes out unchanged.
func FuzzString(f *testing.F) {
	for _, s := range []string{"", "250 OK", "\x1b[2J", "\xff", "\u009b", "a\r\nb", "\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := String(in)
		if !utf8.ValidString(out) {
			t.Fatalf("String(%q) = %q: not UTF-8", in, out)
		}
		for _, r := range out {
			if r != '\t' && unicode.IsControl(r) {
				t.Fatalf("String(%q) = %q holds %U", in, out, r)
			}
		}
		if unsafeIndex(in) < 0 && out != in {
			t.Fatalf("String(%q) = %q changed safe text", in, out)
		}
	})
}
