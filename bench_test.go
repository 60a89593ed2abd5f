package smtp

import (
	"bufio"
	"bytes"
	"context"
	"net"
	netsmtp "net/smtp"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// sink is a minimal, allocation-free SMTP server for benchmarks: it accepts
// every command, and answers a pipelined group in one write, as Postfix
// does. Its own allocations would count against the client's, so it makes
// none in steady state.
func sink(tb testing.TB) string { return startSink(tb, false) }

// chunkingSink is sink offering CHUNKING too (RFC 3030): it reads each
// BDAT chunk and discards it.
func chunkingSink(tb testing.TB) string { return startSink(tb, true) }

func startSink(tb testing.TB, chunking bool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveSink(conn, chunking)
		}
	}()
	return ln.Addr().String()
}

func serveSink(conn net.Conn, chunking bool) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	bw := bufio.NewWriter(conn)
	bw.WriteString("220 sink ESMTP\r\n")
	bw.Flush()
	ehlo := "250-sink\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n"
	if chunking {
		ehlo = "250-sink\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n250-8BITMIME\r\n250-CHUNKING\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n"
	}
	inData := false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		switch {
		case inData:
			if bytes.Equal(line, []byte(".\r\n")) {
				inData = false
				bw.WriteString("250 2.0.0 Ok: queued as 4Bq2ZP1xYz\r\n")
			}
		case hasPrefixFold(line, "EHLO"):
			bw.WriteString(ehlo)
		case hasPrefixFold(line, "HELO"):
			bw.WriteString("250 sink\r\n")
		case hasPrefixFold(line, "DATA"):
			inData = true
			bw.WriteString("354 End data with <CR><LF>.<CR><LF>\r\n")
		case chunking && hasPrefixFold(line, "BDAT "):
			n, last := parseBDAT(line)
			if _, err := br.Discard(n); err != nil {
				return
			}
			if last {
				bw.WriteString("250 2.0.0 Ok: queued as 4Bq2ZP1xYz\r\n")
			} else {
				bw.WriteString("250 2.0.0 Ok\r\n")
			}
		case hasPrefixFold(line, "QUIT"):
			bw.WriteString("221 2.0.0 Bye\r\n")
			bw.Flush()
			return
		default:
			bw.WriteString("250 2.0.0 Ok\r\n")
		}
		if br.Buffered() == 0 {
			bw.Flush()
		}
	}
}

// parseBDAT reads "BDAT size [LAST]" without allocating.
func parseBDAT(line []byte) (size int, last bool) {
	i := len("BDAT ")
	for ; i < len(line) && line[i] >= '0' && line[i] <= '9'; i++ {
		size = size*10 + int(line[i]-'0')
	}
	rest := bytes.TrimLeft(line[i:], " ")
	return size, hasPrefixFold(rest, "LAST")
}

func hasPrefixFold(line []byte, prefix string) bool {
	return len(line) >= len(prefix) && strings.EqualFold(string(line[:len(prefix)]), prefix)
}

// benchMessage is a 2 KiB message.
var benchMessage = func() []byte {
	var b bytes.Buffer
	b.WriteString("From: alice@example.com\r\nTo: bob@example.com\r\nSubject: benchmark\r\n\r\n")
	for b.Len() < 2048-78 {
		b.WriteString(strings.Repeat("lorem ipsum ", 6) + "dolor\r\n")
	}
	b.WriteString(strings.Repeat("x", 2048-2-b.Len()) + "\r\n")
	return b.Bytes()
}()

// BenchmarkSend sends a 2 KiB message to one recipient over one reused
// connection, to a server without CHUNKING (MAIL, RCPT and DATA pipelined,
// then the content), with a context that never ends ("background") and
// with a cancellable one made once ("cancellable"), which the Client
// watches during each call.
func BenchmarkSend(b *testing.B) {
	benchmarkContexts(b, sink)
}

// benchmarkContexts runs benchmarkSend against the server serve starts,
// once per kind of context.
func benchmarkContexts(b *testing.B, serve func(testing.TB) string) {
	b.Run("background", func(b *testing.B) {
		benchmarkSend(b, serve(b), context.Background())
	})
	b.Run("cancellable", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		benchmarkSend(b, serve(b), ctx)
	})
}

// benchmarkSend sends benchMessage to addr over one connection, with ctx.
func benchmarkSend(b *testing.B, addr string, ctx context.Context) {
	c, err := Dial(context.Background(), addr, &Options{Security: Plaintext})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	env := &Envelope{From: "alice@example.com", To: []string{"bob@example.com"}}
	var msg bytes.Reader
	b.SetBytes(int64(len(benchMessage)))
	b.ReportAllocs()
	for b.Loop() {
		msg.Reset(benchMessage)
		if _, err := c.Send(ctx, env, &msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendNetSMTP is the same with Go's net/smtp, for comparison.
func BenchmarkSendNetSMTP(b *testing.B) {
	c, err := netsmtp.Dial(sink(b))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetBytes(int64(len(benchMessage)))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Mail("alice@example.com"); err != nil {
			b.Fatal(err)
		}
		if err := c.Rcpt("bob@example.com"); err != nil {
			b.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			b.Fatal(err)
		}
		w.Write(benchMessage)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendGoSMTP is the same with github.com/emersion/go-smtp's
// client, for comparison.
func BenchmarkSendGoSMTP(b *testing.B) {
	c, err := gosmtp.Dial(sink(b))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		b.Fatal(err)
	}
	var msg bytes.Reader
	to := []string{"bob@example.com"}
	b.SetBytes(int64(len(benchMessage)))
	b.ReportAllocs()
	for b.Loop() {
		msg.Reset(benchMessage)
		if err := c.SendMail("alice@example.com", to, &msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendChunked is BenchmarkSend against a server that offers
// CHUNKING: the whole transaction in one write. The server is the
// allocation-free sink (smtptest's server runs in this process and its
// own allocations, about 110 a message, would count against the client).
func BenchmarkSendChunked(b *testing.B) {
	benchmarkContexts(b, chunkingSink)
}
