package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func readOne(input string) (Reply, error) {
	rr := replyReader{r: bufio.NewReader(strings.NewReader(input))}
	return rr.read(true)
}

func TestReplyReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     Reply
	}{
		{"single", "250 OK\r\n", Reply{Code: 250, Message: "OK"}},
		{"bare code", "250\r\n", Reply{Code: 250}},
		{"bare code with space", "250 \r\n", Reply{Code: 250}},
		{"multiline", "250-mx.example Hello\r\n250-SIZE 1000\r\n250 HELP\r\n",
			Reply{Code: 250, Message: "mx.example Hello\nSIZE 1000\nHELP"}},
		{"enhanced", "550 5.1.1 <bob@example.com>: user unknown\r\n",
			Reply{Code: 550, Enhanced: EnhancedCode{5, 1, 1}, Message: "<bob@example.com>: user unknown"}},
		{"enhanced on every line", "550-5.7.1 first\r\n550 5.7.1 second\r\n",
			Reply{Code: 550, Enhanced: EnhancedCode{5, 7, 1}, Message: "first\nsecond"}},
		{"enhanced alone", "250 2.0.0\r\n", Reply{Code: 250, Enhanced: EnhancedCode{2, 0, 0}}},
		{"enhanced three digits", "452 4.5.3 too many\r\n", Reply{Code: 452, Enhanced: EnhancedCode{4, 5, 3}, Message: "too many"}},
		{"class mismatch is text", "250 5.1.1 odd\r\n", Reply{Code: 250, Message: "5.1.1 odd"}},
		{"version number is text", "220 2.0 ready\r\n", Reply{Code: 220, Message: "2.0 ready"}},
		{"LF only", "250-a\n250 b\n", Reply{Code: 250, Message: "a\nb"}},
		{"text keeps CR inside", "250 a\rb\r\n", Reply{Code: 250, Message: "a\rb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readOne(tt.in)
			if err != nil {
				t.Fatalf("read(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("read(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestReplyReaderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"code changes", "250-a\r\n251 b\r\n", "code changed from 250 to 251"},
		{"letters", "abc\r\n", "malformed reply line"},
		{"short", "25\r\n", "malformed reply line"},
		{"bad separator", "250/x\r\n", "malformed reply line"},
		{"class 6", "600 x\r\n", "malformed reply line"},
		{"class 1", "150 x\r\n", "malformed reply line"},
		{"line over 64 KiB", "250 " + strings.Repeat("a", 64<<10) + "\r\n", "longer than 65536 bytes"},
		{"more than 1000 lines", strings.Repeat("250-x\r\n", 1000) + "250 x\r\n", "more than 1000 lines"},
		{"endless line", "250 " + strings.Repeat("a", 1<<20), "longer than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readOne(tt.in)
			var pe *protocolError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("read(%.40q…) error = %v, want a protocol error with %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestReplyReaderLimitsAreExact(t *testing.T) {
	t.Parallel()
	// The longest allowed line and the most allowed lines still parse.
	line := "250 " + strings.Repeat("a", maxReplyLine-6) + "\r\n"
	if _, err := readOne(line); err != nil {
		t.Errorf("a line of exactly %d bytes: %v", len(line), err)
	}
	many := strings.Repeat("250-x\r\n", maxReplyLines-1) + "250 x\r\n"
	rep, err := readOne(many)
	if err != nil || strings.Count(rep.Message, "\n") != maxReplyLines-1 {
		t.Errorf("%d lines: %d lines, %v", maxReplyLines, strings.Count(rep.Message, "\n")+1, err)
	}
}

func TestReplyReaderTruncated(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "250-a\r\n", "250 no end"} {
		if _, err := readOne(in); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("read(%q) error = %v, want io.ErrUnexpectedEOF", in, err)
		}
	}
}

func TestReplyReaderKeepsTextOnlyWhenNeeded(t *testing.T) {
	t.Parallel()
	rr := replyReader{r: bufio.NewReader(strings.NewReader("250 2.1.0 Ok\r\n550 5.1.1 no\r\n"))}
	ok, _ := rr.read(false)
	if ok.Message != "" || ok.Code != 250 || ok.Enhanced != (EnhancedCode{2, 1, 0}) {
		t.Errorf("success without keepText = %+v, want code and enhanced code only", ok)
	}
	bad, _ := rr.read(false)
	if bad.Message != "no" {
		t.Errorf("a refusal without keepText = %+v, want its text kept", bad)
	}
}

func TestEnhancedCodeString(t *testing.T) {
	t.Parallel()
	if s := (EnhancedCode{5, 1, 1}).String(); s != "5.1.1" {
		t.Errorf("String() = %q, want 5.1.1", s)
	}
	if s := (EnhancedCode{}).String(); s != "" {
		t.Errorf("zero String() = %q, want empty", s)
	}
}

func TestParseEHLO(t *testing.T) {
	t.Parallel()
	ext := parseEHLO("mx.example Hello\nsize 1000\nAUTH PLAIN LOGIN\n8BITMIME\npipelining")
	tests := []struct {
		key, params string
		ok          bool
	}{
		{"SIZE", "1000", true}, {"AUTH", "PLAIN LOGIN", true}, {"8BITMIME", "", true},
		{"PIPELINING", "", true}, {"STARTTLS", "", false}, {"MX.EXAMPLE", "", false},
	}
	for _, tt := range tests {
		params, ok := ext[tt.key]
		if ok != tt.ok || params != tt.params {
			t.Errorf("ext[%q] = %q, %v; want %q, %v", tt.key, params, ok, tt.params, tt.ok)
		}
	}
	if got := ext.maxSize(); got != 1000 {
		t.Errorf("maxSize() = %d, want 1000", got)
	}
}

// FuzzReplyReader feeds arbitrary server bytes to the reply reader: it must
// never panic, and whatever it accepts must be a well-formed reply within
// the bounds.
func FuzzReplyReader(f *testing.F) {
	for _, s := range []string{
		"250 OK\r\n", "250\r\n", "250-a\r\n250 b\r\n", "550 5.1.1 user unknown\r\n",
		"250-a\n250 b\n", "220-x\r\n221 y\r\n", "abc\r\n", "250-5.0.0 x\r\n250 5.0.0 y\r\n",
		"250-mx Hello\r\n250-SIZE 104857600\r\n250-8BITMIME\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250-STARTTLS\r\n250 HELP\r\n",
		"554 5.7.1\r\n", "421 4.4.2 timeout\r\n", "250 2.0.0 Ok: queued as 4Bq2\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rr := replyReader{r: bufio.NewReaderSize(bytes.NewReader(data), 16)}
		for range 10 {
			rep, err := rr.read(true)
			if err != nil {
				return
			}
			if rep.Code < 200 || rep.Code > 599 {
				t.Fatalf("accepted code %d", rep.Code)
			}
			if e := rep.Enhanced; e != (EnhancedCode{}) && e[0] != rep.Code/100 {
				t.Fatalf("enhanced code %v with reply code %d", e, rep.Code)
			}
			if strings.Count(rep.Message, "\n") >= maxReplyLines || len(rep.Message) > maxReplyText {
				t.Fatalf("reply over the bounds: %d lines, %d bytes", strings.Count(rep.Message, "\n")+1, len(rep.Message))
			}
			if cap(rr.buf) > 2*maxReplyLine {
				t.Fatalf("line buffer grew to %d", cap(rr.buf))
			}
		}
	})
}
