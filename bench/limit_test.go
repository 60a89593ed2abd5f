package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// refEncode is limitEncoder's definition, a byte at a time.
func refEncode(msg []byte, stuff bool) []byte {
	var out []byte
	lineStart := true
	for i := 0; i < len(msg); i++ {
		b := msg[i]
		if lineStart && stuff && b == '.' {
			out = append(out, '.')
		}
		lineStart = false
		switch b {
		case '\r':
			if i+1 < len(msg) && msg[i+1] == '\n' {
				i++
			}
			fallthrough
		case '\n':
			out = append(out, "\r\n"...)
			lineStart = true
		default:
			out = append(out, b)
		}
	}
	if !lineStart {
		out = append(out, "\r\n"...)
	}
	if stuff {
		out = append(out, ".\r\n"...)
	}
	return out
}

// encodeStreamed encodes msg as the stream does, in the streaming
// buffer's layout, cut into pieces of the given sizes.
func encodeStreamed(msg []byte, stuff bool, sizes func() int) []byte {
	var c limitConn
	outStart, inStart := c.buffers(0)
	var e limitEncoder
	e.start(stuff)
	var got []byte
	for {
		n := min(sizes(), len(msg), limitChunk)
		copy(c.buf[inStart:], msg[:n])
		msg = msg[n:]
		p, _ := c.encodeChunk(&e, outStart, inStart, n, len(msg) == 0)
		got = append(got, p...)
		if len(msg) == 0 {
			return got
		}
	}
}

// TestLimitEncoder checks the encoder, chunk by chunk and in place,
// against refEncode.
func TestLimitEncoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab.\r\n")
	for i := range 3000 {
		msg := make([]byte, rng.IntN(60))
		for j := range msg {
			msg[j] = alphabet[rng.IntN(len(alphabet))]
		}
		for _, stuff := range []bool{false, true} {
			want := refEncode(msg, stuff)
			got := encodeStreamed(msg, stuff, func() int { return 1 + rng.IntN(8) })
			if !bytes.Equal(got, want) {
				t.Fatalf("case %d, %q, stuff %v:\n got %q\nwant %q", i, msg, stuff, got, want)
			}
			if all := encodeAll(msg, stuff); !bytes.Equal(all, want) {
				t.Fatalf("case %d, %q, stuff %v: encodeAll %q, want %q", i, msg, stuff, all, want)
			}
		}
	}
	// Full chunks that double in size: the encoder must not overtake
	// what it has still to read.
	for _, unit := range []string{"\n", "\r", ".\n", ".\r", "a\r\n", "."} {
		msg := bytes.Repeat([]byte(unit), 2*limitChunk/len(unit)+3)
		for _, stuff := range []bool{false, true} {
			want := refEncode(msg, stuff)
			if got := encodeStreamed(msg, stuff, func() int { return limitChunk }); !bytes.Equal(got, want) {
				t.Fatalf("%q × %d, stuff %v: wrong encoding (%d bytes, want %d)", unit, len(msg)/len(unit), stuff, len(got), len(want))
			}
		}
	}
}

// hidden hides a reader's size from the client.
type hidden struct{ io.Reader }

// TestLimitSends sends prepared and streamed messages through both sinks,
// with and without TLS, and checks the sizes the sink received.
func TestLimitSends(t *testing.T) {
	info, stop, err := listenSink()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	roots, err := info.roots()
	if err != nil {
		t.Fatal(err)
	}
	o := dialOptions{roots: roots}
	for _, addr := range []string{info.Chunking, info.NoChunking} {
		for _, secure := range []bool{false, true} {
			o.addr, o.secure = addr, secure
			c, err := dialLimitOptions(o)
			if err != nil {
				t.Fatal(err)
			}
			if c.chunking != (addr == info.Chunking) {
				t.Errorf("%s: chunking %v", addr, c.chunking)
			}
			check := func(what string, size int64) {
				t.Helper()
				if want := fmt.Sprintf(" %d bytes", size); !bytes.Contains(c.last, []byte(want)) {
					t.Errorf("%s, TLS %v, chunking %v, %s: last reply %q, want %q", addr, secure, c.chunking, what, c.last, want)
				}
			}
			tx := c.prepare(sender1, recipients(2), message2K)
			for range 3 {
				if err := c.send(tx); err != nil {
					t.Fatal(err)
				}
				check("prepared", int64(len(message2K)))
			}
			m := newDotMessage(3 << 20)
			if err := c.stream(sender1, recipients(1), hidden{m}); err != nil {
				t.Fatal(err)
			}
			check("streamed", m.size)
			if err := c.quit(); err != nil {
				t.Fatal(err)
			}
		}
	}
}
