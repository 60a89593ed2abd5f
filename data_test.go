package smtp

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

// encode runs body through a dotWriter in pieces split at the given points
// and returns the bytes it produced, end of data included.
func encode(t testing.TB, body string, splits ...int) string {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	var d dotWriter
	d.reset(bw)
	prev := 0
	for _, s := range append(splits, len(body)) {
		if s < prev || s > len(body) {
			continue
		}
		if _, err := d.Write([]byte(body[prev:s])); err != nil {
			t.Fatal(err)
		}
		prev = s
	}
	if err := d.close(); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	return out.String()
}

var dataCases = []struct {
	name, body, wire string
}{
	{"empty", "", ".\r\n"},
	{"one line", "hello\r\n", "hello\r\n.\r\n"},
	{"no final newline", "hello", "hello\r\n.\r\n"},
	{"bare LF", "a\nb\n", "a\r\nb\r\n.\r\n"},
	{"bare CR", "a\rb\r", "a\r\nb\r\n.\r\n"},
	{"CR CR LF", "a\r\r\nb", "a\r\n\r\nb\r\n.\r\n"},
	{"LF CR", "a\n\rb", "a\r\n\r\nb\r\n.\r\n"},
	{"dot line", ".\r\n", "..\r\n.\r\n"},
	{"leading dot", ".hidden\r\nx\r\n", "..hidden\r\nx\r\n.\r\n"},
	{"dot after LF", "a\n.b\n", "a\r\n..b\r\n.\r\n"},
	{"dot after CR", "a\r.b", "a\r\n..b\r\n.\r\n"},
	{"dot mid line", "a.b\r\n", "a.b\r\n.\r\n"},
	{"two dots", "..\r\n", "...\r\n.\r\n"},
	{"smuggling LF.LF", "x\n.\nMAIL FROM:<evil>\n", "x\r\n..\r\nMAIL FROM:<evil>\r\n.\r\n"},
	{"smuggling LF.CRLF", "x\n.\r\nRCPT TO:<evil>\r\n", "x\r\n..\r\nRCPT TO:<evil>\r\n.\r\n"},
	{"smuggling CRLF.LF", "x\r\n.\nDATA\r\n", "x\r\n..\r\nDATA\r\n.\r\n"},
	{"smuggling CR.CR", "x\r.\rQUIT", "x\r\n..\r\nQUIT\r\n.\r\n"},
	{"blank lines", "\r\n\r\n", "\r\n\r\n.\r\n"},
	{"only LF", "\n", "\r\n.\r\n"},
	{"only CR", "\r", "\r\n.\r\n"},
	{"8-bit passes", "caf\xc3\xa9\n", "caf\xc3\xa9\r\n.\r\n"},
}

func TestDotWriter(t *testing.T) {
	t.Parallel()
	for _, tt := range dataCases {
		t.Run(tt.name, func(t *testing.T) {
			if got := encode(t, tt.body); got != tt.wire {
				t.Errorf("encode(%q) = %q, want %q", tt.body, got, tt.wire)
			}
			// The same bytes, whatever the writes' boundaries.
			for i := 0; i <= len(tt.body); i++ {
				for j := i; j <= len(tt.body); j++ {
					if got := encode(t, tt.body, i, j); got != tt.wire {
						t.Fatalf("encode(%q) split at %d,%d = %q, want %q", tt.body, i, j, got, tt.wire)
					}
				}
			}
		})
	}
}

func TestDotWriterByteAtATime(t *testing.T) {
	t.Parallel()
	body := "a\r\n.b\rc\n\r\n..\r\r\n.\n."
	var splits []int
	for i := range body {
		splits = append(splits, i)
	}
	if got, want := encode(t, body, splits...), encode(t, body); got != want {
		t.Errorf("byte at a time = %q, want %q", got, want)
	}
}

func TestDotWriterAfterClose(t *testing.T) {
	t.Parallel()
	var d dotWriter
	d.reset(bufio.NewWriter(io.Discard))
	d.close()
	if _, err := d.Write([]byte("x")); err == nil {
		t.Error("Write after close succeeded")
	}
	if err := d.close(); err == nil {
		t.Error("second close succeeded")
	}
}

func TestHas8bit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"", false}, {"plain ascii text, long enough for words", false},
		{"\x80", true}, {"0123456789abcdef\xff", true}, {"caf\xc3\xa9", true}, {"\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f", false},
	} {
		if got := has8bit([]byte(tt.in)); got != tt.want {
			t.Errorf("has8bit(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func BenchmarkDataWriter(b *testing.B) {
	// A typical message: 76-character base64 lines, CRLF endings, a few
	// lines starting with '.'.
	var msg bytes.Buffer
	for msg.Len() < 1<<20 {
		msg.WriteString(strings.Repeat("QUJD", 19))
		msg.WriteString("\r\n")
		if msg.Len()%50 == 0 {
			msg.WriteString(".dot\r\n")
		}
	}
	p := msg.Bytes()
	bw := bufio.NewWriterSize(io.Discard, 64<<10)
	var d dotWriter
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d.reset(bw)
		for off := 0; off < len(p); off += copyBufSize {
			d.Write(p[off:min(off+copyBufSize, len(p))])
		}
		d.close()
	}
}

func BenchmarkDataWriterBareLF(b *testing.B) {
	msg := []byte(strings.Repeat(strings.Repeat("x", 76)+"\n", 1<<20/77))
	bw := bufio.NewWriterSize(io.Discard, 64<<10)
	var d dotWriter
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		d.reset(bw)
		for off := 0; off < len(msg); off += copyBufSize {
			d.Write(msg[off:min(off+copyBufSize, len(msg))])
		}
		d.close()
	}
}

// normalize is the reference for what the data writer must send: every
// line ending a CRLF, a final CRLF on a non-empty body.
func normalize(body []byte) []byte {
	s := strings.ReplaceAll(string(body), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// FuzzDataWriter checks the properties that keep SMTP smuggling out: only
// CRLF line endings, every line starting with '.' stuffed, exactly one
// end-of-data sequence, at the end; and the content comes back unchanged
// when the server unstuffs it. Where the writes split the body must not
// matter.
func FuzzDataWriter(f *testing.F) {
	for _, tt := range dataCases {
		f.Add([]byte(tt.body), uint16(len(tt.body)/2))
	}
	f.Add([]byte("a\r\n.\r\nMAIL FROM:<x>\r\n"), uint16(3))
	f.Add([]byte("x\n.\n"), uint16(2))
	f.Fuzz(func(t *testing.T, body []byte, split uint16) {
		cut := int(split)
		if cut > len(body) {
			cut = len(body)
		}
		wire := []byte(encode(t, string(body), cut))
		if whole := encode(t, string(body)); string(wire) != whole {
			t.Fatalf("split at %d changed the output: %q vs %q", cut, wire, whole)
		}
		// Seen from the DATA command's own CRLF on.
		stream := append([]byte("\r\n"), wire...)
		for i, b := range stream {
			if b == '\r' && (i+1 == len(stream) || stream[i+1] != '\n') {
				t.Fatalf("bare CR at %d in %q", i, wire)
			}
			if b == '\n' && (i == 0 || stream[i-1] != '\r') {
				t.Fatalf("bare LF at %d in %q", i, wire)
			}
		}
		if n := bytes.Count(stream, []byte("\r\n.\r\n")); n != 1 || !bytes.HasSuffix(stream, []byte("\r\n.\r\n")) {
			t.Fatalf("%d end-of-data sequences in %q, want exactly one at the end", n, wire)
		}
		// Unstuff as a server does (RFC 5321 4.5.2) and compare.
		content := stream[2 : len(stream)-3]
		var got []byte
		for _, line := range bytes.SplitAfter(content, []byte("\r\n")) {
			got = append(got, bytes.TrimPrefix(line, []byte("."))...)
		}
		if want := normalize(body); !bytes.Equal(got, want) {
			t.Fatalf("unstuffed %q, want %q", got, want)
		}
		// The BDAT writer: the same line endings, no stuffing, and the
		// size announced ahead is the size sent.
		var chunk appendSink
		var counter byteCounter
		var dw, sizer dotWriter
		dw.resetChunk(&chunk)
		sizer.resetChunk(&counter)
		dw.Write(body[:cut])
		dw.Write(body[cut:])
		dw.close()
		sizer.Write(body)
		sizer.close()
		if want := normalize(body); !bytes.Equal(chunk, want) || counter.n != int64(len(chunk)) {
			t.Fatalf("BDAT content %q (sized %d), want %q", chunk, counter.n, want)
		}
	})
}
