package smtp

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

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
