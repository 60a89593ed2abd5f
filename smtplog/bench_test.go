package smtplog

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/mailwire/smtp"
)

// benchSink is a minimal SMTP server on loopback for the benchmarks: it
// answers every command at once and throws messages away, allocating
// nothing per message, so that what a benchmark counts is the client's.
func benchSink(tb testing.TB) string {
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
			go serveBenchSink(conn)
		}
	}()
	return ln.Addr().String()
}

func serveBenchSink(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	bw := bufio.NewWriter(conn)
	bw.WriteString("220 sink ESMTP\r\n")
	bw.Flush()
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
				bw.WriteString("250 2.0.0 Ok: queued as X\r\n")
			}
		case bytes.HasPrefix(line, []byte("EHLO")):
			bw.WriteString("250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
		case bytes.HasPrefix(line, []byte("DATA")):
			inData = true
			bw.WriteString("354 go\r\n")
		case bytes.HasPrefix(line, []byte("QUIT")):
			bw.WriteString("221 bye\r\n")
			bw.Flush()
			return
		default:
			bw.WriteString("250 2.1.0 Ok\r\n")
		}
		if br.Buffered() == 0 {
			bw.Flush()
		}
	}
}

// BenchmarkSendLogged is a Send with no Trace, and with Log writing to
// io.Discard: what the curl-style log costs a transaction.
func BenchmarkSendLogged(b *testing.B) {
	msg := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 36)
	for _, tt := range []struct {
		name  string
		trace *smtp.Trace
	}{{"none", nil}, {"Log", Log(io.Discard)}} {
		b.Run(tt.name, func(b *testing.B) {
			c, err := smtp.Dial(context.Background(), benchSink(b), &smtp.Options{Security: smtp.Plaintext, Trace: tt.trace})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			env := &smtp.Envelope{From: "alice@example.com", To: []string{"bob@example.com"}}
			var r strings.Reader
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(msg)
				if _, err := c.Send(context.Background(), env, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
