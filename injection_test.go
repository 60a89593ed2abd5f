package smtp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailwire/smtp/internal/peer"
)

// Command injection: every string a caller passes that ends up in a
// command line must be refused when it holds CR, LF or NUL, before a byte
// of the command is written; and no message content can end the data
// early (SMTP smuggling).

// injections are the bytes that could split a command line or end it early.
var injections = []struct{ name, s string }{
	{"CRLF", "x\r\nRCPT TO:<eve@evil.test>"},
	{"CR", "x\rRSET"},
	{"LF", "x\nRSET"},
	{"NUL", "x\x00y"},
}

// injectionScript opens a session offering every extension whose
// parameters the caller can set, then expects the client to close without
// sending another byte.
const injectionScript = greeting + "C: EHLO localhost\n" +
	"S: 250-peer.test\nS: 250-PIPELINING\nS: 250-DSN\nS: 250-8BITMIME\nS: 250-SMTPUTF8\nS: 250 SIZE 1000000\n"

// checkNothingSent fails unless the peer received only the EHLO line.
func checkNothingSent(t *testing.T, c *Client, srv *peer.Server) {
	t.Helper()
	c.Close()
	res := srv.Wait()
	if len(res) != 1 {
		t.Fatalf("the peer saw %d connections, want 1", len(res))
	}
	if got, want := string(res[0].Received), "EHLO localhost\r\n"; got != want {
		t.Errorf("the peer received %q, want only %q", got, want)
	}
}

func TestInjectionRefusedBeforeWriting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	calls := []struct {
		field string
		call  func(c *Client, bad string) error
	}{
		{"Envelope.From", func(c *Client, bad string) error {
			_, err := c.Send(ctx, &Envelope{From: bad, To: []string{"bob@example.com"}}, strings.NewReader("hi\r\n"))
			return err
		}},
		{"Envelope.To[0]", func(c *Client, bad string) error {
			_, err := c.Send(ctx, &Envelope{From: "a@example.com", To: []string{bad}}, strings.NewReader("hi\r\n"))
			return err
		}},
		{"Envelope.To[2]", func(c *Client, bad string) error {
			_, err := c.Send(ctx, &Envelope{From: "a@example.com", To: []string{"b@example.com", "c@example.com", bad}}, strings.NewReader("hi\r\n"))
			return err
		}},
		{"Envelope.MailOptions.Return", func(c *Client, bad string) error {
			env := &Envelope{From: "a@example.com", To: []string{"b@example.com"}, MailOptions: &MailOptions{Return: DSNReturn("HDRS" + bad)}}
			_, err := c.Send(ctx, env, strings.NewReader("hi\r\n"))
			return err
		}},
		{"Envelope.RcptOptions.Notify", func(c *Client, bad string) error {
			env := &Envelope{From: "a@example.com", To: []string{"b@example.com"},
				RcptOptions: map[string]*RcptOptions{"b@example.com": {Notify: []DSNNotify{DSNNotify("DELAY" + bad)}}}}
			_, err := c.Send(ctx, env, strings.NewReader("hi\r\n"))
			return err
		}},
		{"Envelope.RcptOptions.OriginalRecipient", func(c *Client, bad string) error {
			env := &Envelope{From: "a@example.com", To: []string{"b@example.com"},
				RcptOptions: map[string]*RcptOptions{"b@example.com": {OriginalRecipient: "orig@example.com" + bad}}}
			_, err := c.Send(ctx, env, strings.NewReader("hi\r\n"))
			return err
		}},
		{"Mail from", func(c *Client, bad string) error { return c.Mail(ctx, bad, nil) }},
		{"MailOptions.Return", func(c *Client, bad string) error {
			return c.Mail(ctx, "a@example.com", &MailOptions{Return: DSNReturn("FULL" + bad)})
		}},
		{"MailOptions.Body", func(c *Client, bad string) error {
			return c.Mail(ctx, "a@example.com", &MailOptions{Body: BodyType("8BITMIME" + bad)})
		}},
		{"Rcpt to", func(c *Client, bad string) error { return c.Rcpt(ctx, bad, nil) }},
		{"RcptOptions.Notify", func(c *Client, bad string) error {
			return c.Rcpt(ctx, "b@example.com", &RcptOptions{Notify: []DSNNotify{"SUCCESS", DSNNotify("FAILURE" + bad)}})
		}},
		{"RcptOptions.OriginalRecipient", func(c *Client, bad string) error {
			return c.Rcpt(ctx, "b@example.com", &RcptOptions{OriginalRecipient: "b@example.com" + bad})
		}},
		{"Cmd line", func(c *Client, bad string) error {
			_, err := c.Cmd(ctx, "XCLIENT NAME="+bad)
			return err
		}},
		{"Cmd verb", func(c *Client, bad string) error {
			_, err := c.Cmd(ctx, bad)
			return err
		}},
	}
	for _, call := range calls {
		for _, inj := range injections {
			t.Run(call.field+"/"+inj.name, func(t *testing.T) {
				t.Parallel()
				c, srv := dialScript(t, injectionScript)
				err := call.call(c, inj.s)
				if err == nil {
					t.Fatalf("%s with %q: no error", call.field, inj.s)
				}
				if strings.ContainsAny(err.Error(), "\r\n\x00") {
					t.Errorf("the error %q holds the raw bytes", err)
				}
				// The Client is still usable: nothing was sent.
				if err := c.usable(ctx); err != nil {
					t.Errorf("after the refusal the Client is unusable: %v", err)
				}
				checkNothingSent(t, c, srv)
			})
		}
	}
}

// TestInjectionEnvelopeIDEncoded: ENVID is xtext (RFC 3461 section 4), so
// CR, LF and NUL in MailOptions.EnvelopeID cannot be refused as invalid:
// they must go out encoded as +0D, +0A and +00, the command staying one
// line.
func TestInjectionEnvelopeIDEncoded(t *testing.T) {
	t.Parallel()
	c, srv := dialScript(t, injectionScript+
		"C: MAIL FROM:<a@example.com> ENVID=x+0D+0ARCPT+20TO:<eve@evil.test>+00\nS: 250 2.1.0 Ok\n")
	if err := c.Mail(context.Background(), "a@example.com", &MailOptions{EnvelopeID: "x\r\nRCPT TO:<eve@evil.test>\x00"}); err != nil {
		t.Fatalf("Mail: %v", err)
	}
	res := finish(t, c, srv)
	if n := bytes.Count(res.Received, []byte("\n")); n != 2 {
		t.Errorf("the peer received %d lines, want 2 (EHLO, MAIL): %q", n, res.Received)
	}
}

func TestInjectionLocalNameRefusedBeforeConnecting(t *testing.T) {
	t.Parallel()
	for _, inj := range append(injections, struct{ name, s string }{"space", "a b"}) {
		t.Run(inj.name, func(t *testing.T) {
			t.Parallel()
			d := &countingDialer{}
			opts := plainOpts()
			opts.LocalName = "client.example" + inj.s
			opts.Dialer = d
			c, err := Dial(context.Background(), "127.0.0.1:1", opts)
			if err == nil {
				c.Close()
				t.Fatalf("Dial with LocalName %q: no error", opts.LocalName)
			}
			if n := d.dials.Load(); n != 0 {
				t.Errorf("Dial made %d connections, want none: %v", n, err)
			}
			// NewClient refuses too, and closes the caller's connection.
			client, server := net.Pipe()
			defer server.Close()
			if _, err := NewClient(context.Background(), client, opts); err == nil {
				t.Fatalf("NewClient with LocalName %q: no error", opts.LocalName)
			}
			server.SetReadDeadline(time.Now().Add(time.Second))
			if n, err := server.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
				t.Errorf("NewClient left the connection open or wrote to it: %d bytes, %v", n, err)
			}
		})
	}
}

// badMechClient is a SASL client whose mechanism name is an injection.
type badMechClient struct{ mech string }

func (b badMechClient) Start() (string, []byte, error) { return b.mech, nil, nil }
func (b badMechClient) Next(c []byte) ([]byte, error)  { return nil, errors.New("no") }

func TestInjectionAuthMechanismRefused(t *testing.T) {
	t.Parallel()
	for _, inj := range injections {
		t.Run(inj.name, func(t *testing.T) {
			t.Parallel()
			c, srv := dialScript(t, greeting+"C: EHLO localhost\nS: 250-peer.test\nS: 250 AUTH PLAIN LOGIN\n")
			err := c.Auth(context.Background(), SASLAuth(badMechClient{"PLAIN" + inj.s}))
			if err == nil {
				t.Fatal("Auth with a mechanism name holding an injection: no error")
			}
			checkNothingSent(t, c, srv)
		})
	}
}

// smugglingServer is the in-process server of FuzzSendSmuggling. It reads
// commands as a real server does: the content after DATA up to the first
// CRLF.CRLF; after "BDAT n" or "BDAT n LAST" (RFC 3030, when it offers
// CHUNKING) exactly n bytes, whatever they hold; and every line after that
// as a command. Its replies go out through a queue so that a client still
// writing a smuggled tail cannot deadlock it.
type smugglingServer struct {
	chunking bool        // offer CHUNKING (with PIPELINING and 8BITMIME, as always)
	data     [][]byte    // the content of each DATA, with its final ".\r\n"
	chunks   []bdatChunk // every BDAT the server took, in order
	commands []string    // the commands after the first DATA or BDAT
	afterDot []byte      // every byte received after the first DATA line
	wire     []byte      // every byte received from the first BDAT line on
}

// bdatChunk is one BDAT as the server read it.
type bdatChunk struct {
	line    string // the command line as received, its line ending included
	last    bool   // "BDAT n LAST"
	content []byte // the bytes read after the line: n of them, unless the connection ended first
}

// maxBDATDigits bounds the size a BDAT may announce to the smuggling
// server (under 10 MB, its SIZE), so that a wild size cannot make it
// allocate or wait for more.
const maxBDATDigits = 7

// readBDATLine reads "BDAT n" or "BDAT n LAST" (cmd upper-cased, without its
// line ending).
func readBDATLine(cmd string) (size int, last, ok bool) {
	num, flag, hasFlag := strings.Cut(strings.TrimPrefix(cmd, "BDAT "), " ")
	if hasFlag && flag != "LAST" || num == "" || len(num) > maxBDATDigits || strings.Trim(num, "0123456789") != "" {
		return 0, false, false
	}
	size, err := strconv.Atoi(num)
	return size, hasFlag, err == nil
}

func (s *smugglingServer) serve(conn net.Conn) {
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	replies := make(chan string, 1024)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for r := range replies {
			if _, err := io.WriteString(conn, r); err != nil {
				for range replies {
				}
				return
			}
		}
	}()
	quit := false
	defer func() {
		close(replies)
		if !quit { // the client is gone: unblock the writer
			conn.Close()
		}
		wg.Wait()
		conn.Close()
	}()
	reply := func(r string) {
		select {
		case replies <- r:
		default: // the client is not reading: it has failed anyway
		}
	}
	sawData, sawBDAT := false, false
	br := bufio.NewReader(conn)
	reply("220 fuzz.test ESMTP\r\n")
	for {
		line, err := br.ReadSlice('\n')
		if sawData {
			s.afterDot = append(s.afterDot, line...)
		}
		if sawBDAT {
			s.wire = append(s.wire, line...)
		}
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimRight(string(line), "\r\n"))
		if !sawBDAT && strings.HasPrefix(cmd, "BDAT ") {
			sawBDAT = true
			s.wire = append(s.wire, line...)
		}
		if sawData || sawBDAT {
			s.commands = append(s.commands, cmd)
		}
		switch {
		case strings.HasPrefix(cmd, "EHLO "):
			chunking := ""
			if s.chunking {
				chunking = "250-CHUNKING\r\n"
			}
			reply("250-fuzz.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n" + chunking + "250-SMTPUTF8\r\n250 SIZE 10485760\r\n")
		case strings.HasPrefix(cmd, "MAIL FROM:"), strings.HasPrefix(cmd, "RCPT TO:"):
			reply("250 2.1.0 Ok\r\n")
		case cmd == "DATA":
			if !sawData {
				sawData = true
				s.afterDot = nil
			}
			reply("354 End data with <CR><LF>.<CR><LF>\r\n")
			var data []byte
			for !bytes.HasSuffix(data, []byte("\r\n.\r\n")) && !bytes.Equal(data, []byte(".\r\n")) {
				l, err := br.ReadSlice('\n')
				data = append(data, l...)
				s.afterDot = append(s.afterDot, l...)
				if sawBDAT {
					s.wire = append(s.wire, l...)
				}
				if err != nil && err != bufio.ErrBufferFull {
					return
				}
			}
			s.data = append(s.data, data)
			reply("250 2.0.0 Ok: queued\r\n")
		case strings.HasPrefix(cmd, "BDAT "):
			size, last, ok := readBDATLine(cmd)
			if !s.chunking || !ok {
				reply("501 5.5.4 Syntax: BDAT size [LAST]\r\n")
				break
			}
			ch := bdatChunk{line: string(line), last: last, content: make([]byte, size)}
			n, err := io.ReadFull(br, ch.content) // exactly n bytes, CRLF.CRLF and command lines included
			ch.content = ch.content[:n]
			s.chunks = append(s.chunks, ch)
			s.wire = append(s.wire, ch.content...)
			if sawData {
				s.afterDot = append(s.afterDot, ch.content...)
			}
			if err != nil {
				return
			}
			if last {
				reply("250 2.0.0 Ok: queued\r\n")
			} else {
				reply("250 2.0.0 Ok: " + strconv.Itoa(size) + " octets\r\n")
			}
		case cmd == "QUIT":
			reply("221 2.0.0 Bye\r\n")
			quit = true
			return
		default:
			reply("500 5.5.2 Error: command not recognized\r\n")
		}
	}
}

// chunkReader hands out its bytes n at a time and hides its size, as a
// pipe or a file being generated does.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.n, len(r.b))
	copy(p, r.b[:n])
	r.b = r.b[n:]
	return n, nil
}

// The mode byte of FuzzSendSmuggling. mode%3 picks the way the body goes:
// 0 Send with a sized reader (one "BDAT n LAST" over CHUNKING), 1 Send
// with an opaque reader handing out chunk bytes at a time (BDAT chunks of
// unknown size), 2 Mail, Rcpt and the Data writer in writes of chunk bytes
// (always DATA: Client.Data is DATA by definition). Two bits add to that:
const (
	// modeChunking: the server offers CHUNKING (RFC 3030).
	modeChunking = 0x80
	// modeAstride: with modeChunking and the opaque reader, the body
	// follows padding that puts its byte chunk%(len(body)+1) on the end of
	// the first BDAT chunk, so that the fuzzer's bytes straddle two chunks.
	modeAstride = 0x40
)

// smugglingMode is the mode byte for path (mode%3) with the bits of flags.
func smugglingMode(path, flags uint8) uint8 {
	m := flags
	for m%3 != path%3 {
		m++
	}
	return m
}

// smugglingPad is the padding of modeAstride; never written to.
var smugglingPad = bytes.Repeat([]byte("a"), chunkSize)

// clip quotes b for an error message, its middle cut out when long.
func clip(b []byte) string {
	if len(b) <= 512 {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("%q…(%d bytes)…%q", b[:200], len(b)-400, b[len(b)-200:])
}

// FuzzSendSmuggling sends a random body through a real Client, by Send
// (with a sized reader or an opaque one handing out chunks) or by the Data
// writer (in chunked writes), to an in-process server that offers CHUNKING
// or not, and checks what came after the first DATA or BDAT on the wire.
// Over DATA: no bare CR or LF, exactly one end-of-data sequence, at the end
// of the content, then only QUIT; and the content unstuffed is the body
// with its line endings made CRLF. Over BDAT: every BDAT line well formed
// and followed by exactly as many bytes as it announced, exactly one BDAT
// LAST, the last, then only QUIT; and the chunks put together are the body
// with its line endings made CRLF, unstuffed.
func FuzzSendSmuggling(f *testing.F) {
	for _, tt := range dataCases {
		f.Add([]byte(tt.body), uint8(0), uint16(1))
		f.Add([]byte(tt.body), smugglingMode(0, modeChunking), uint16(1))
		f.Add([]byte(tt.body), smugglingMode(1, modeChunking), uint16(3))
	}
	for _, s := range []string{
		"a\r\n.\r\nMAIL FROM:<x>\r\nRCPT TO:<eve@evil.test>\r\nDATA\r\nsmuggled\r\n.\r\n",
		"a\n.\nMAIL FROM:<x>\n", "a\r\n.\rMAIL FROM:<x>\r\n", "a\n.\r\nRSET\r\n", "a\r.\r\nRSET\r\n",
		"a\r\n.\nRSET\n", "\r\n.\r\n", ".\r\n", ".", "\r", "\n", "..\r\n..\r\n.", "x\r\r\n.\r\r\n",
		"Subject: é\r\n\r\n\xff\xfe\r\n.\r\n", "\x00\r\n.\x00\r\n",
		"a\r\nBDAT 5 LAST\r\nxxxxxQUIT\r\n", "a\r\nQUIT\r\n", "a\rBDAT 0 LAST\r",
	} {
		for path := range uint8(3) {
			for _, flags := range []uint8{0, modeChunking} {
				f.Add([]byte(s), smugglingMode(path, flags), uint16(1))
				f.Add([]byte(s), smugglingMode(path, flags), uint16(2))
			}
		}
		f.Add([]byte(s), smugglingMode(1, modeChunking|modeAstride), uint16(len(s)/2))
		f.Add([]byte(s), smugglingMode(1, modeChunking|modeAstride), uint16(1))
	}
	f.Fuzz(func(t *testing.T, body []byte, mode uint8, chunk uint16) {
		checkSmuggling(t, body, mode, chunk)
	})
}

// TestSmugglingAcrossBuffers puts smuggling sequences astride the
// boundaries of the client's buffers (bufio's 4 KiB, the 32 KiB pieces
// Send reads, the BDAT chunks of a message of unknown size), where a
// random body of a fuzzer's size seldom reaches; over DATA and over BDAT.
func TestSmugglingAcrossBuffers(t *testing.T) {
	t.Parallel()
	payloads := []string{"\r\n.\r\nRSET\r\n", "\n.\nRSET\n", "\r.\rRSET\r", "\n.\r\nRSET\r\n", "\r\n.\nRSET\n", "\r\r\n.\r\r\n",
		"\r\nBDAT 6 LAST\r\nxxxxxx", "\rQUIT\r"}
	for _, boundary := range []int{4096, 32 << 10, 64 << 10, chunkSize} {
		for shift := -6; shift <= 1; shift++ {
			for _, p := range payloads {
				body := append(bytes.Repeat([]byte("a"), boundary+shift), p...)
				body = append(body, "tail\r\n"...)
				for _, flags := range []uint8{0, modeChunking} {
					checkSmuggling(t, body, smugglingMode(0, flags), 0) // a sized reader: no chunks
					for path := uint8(1); path < 3; path++ {
						for _, chunk := range []uint16{4096, 32<<10 - 1} {
							n := checkSmuggling(t, body, smugglingMode(path, flags), chunk)
							if flags == modeChunking && path == 1 && boundary == chunkSize && n < 2 {
								t.Fatalf("%d bytes of unknown size went in %d BDAT chunks, want at least 2", len(body), n)
							}
						}
					}
				}
			}
		}
	}
}

// checkSmuggling is the property of FuzzSendSmuggling for one body. It
// returns the number of BDAT chunks the server read.
func checkSmuggling(t *testing.T, body []byte, mode uint8, chunk uint16) int {
	t.Helper()
	path, chunking := mode%3, mode&modeChunking != 0
	var pad []byte
	if chunking && path == 1 && mode&modeAstride != 0 {
		pad = smugglingPad[:chunkSize-int(chunk)%(len(body)+1)]
	}
	size := int(chunk)
	if size == 0 {
		size = len(body) + 1
	}
	client, server := net.Pipe()
	s := smugglingServer{chunking: chunking}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serve(server)
	}()
	ctx := context.Background()
	c, err := NewClient(ctx, client, &Options{Security: Plaintext, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	env := &Envelope{From: "a@example.com", To: []string{"b@example.com"}}
	switch path {
	case 0:
		_, err = c.Send(ctx, env, bytes.NewReader(body))
	case 1:
		var msg io.Reader = &chunkReader{b: body, n: size}
		if pad != nil {
			msg = io.MultiReader(bytes.NewReader(pad), msg)
		}
		_, err = c.Send(ctx, env, msg)
	case 2:
		err = c.Mail(ctx, env.From, nil)
		if err == nil {
			err = c.Rcpt(ctx, env.To[0], nil)
		}
		var w io.WriteCloser
		if err == nil {
			w, err = c.Data(ctx)
		}
		for rest := body; err == nil && len(rest) > 0; {
			n := min(size, len(rest))
			_, err = w.Write(rest[:n])
			rest = rest[n:]
		}
		if err == nil {
			err = w.Close()
		}
	}
	if pad != nil {
		body = append(pad[:len(pad):len(pad)], body...)
	}
	if err != nil {
		c.Close()
		<-done
		t.Fatalf("sending %s (mode %#x: path %d, CHUNKING %v; chunk %d): %v; the server read %d DATA, the BDAT lines %s, then the commands %q",
			clip(body), mode, path, chunking, size, err, len(s.data), bdatLines(s.chunks), s.commands)
	}
	if err := c.Quit(ctx); err != nil {
		t.Errorf("Quit: %v", err)
	}
	<-done
	if chunking && path != 2 {
		checkChunks(t, &s, body, path == 0)
		return len(s.chunks)
	}
	if len(s.chunks) != 0 {
		t.Fatalf("BDAT over the Data writer or to a server without CHUNKING: %s", bdatLines(s.chunks))
	}
	if len(s.data) != 1 {
		t.Fatalf("the server read %d messages, want 1", len(s.data))
	}
	if len(s.commands) != 1 || s.commands[0] != "QUIT" {
		t.Fatalf("after the content the server read the commands %q, want only QUIT (body %s)", s.commands, clip(body))
	}
	// The wire after the DATA command, from that line's CRLF on.
	stream := append([]byte("\r\n"), s.afterDot...)
	for i, b := range stream {
		if b == '\r' && (i+1 == len(stream) || stream[i+1] != '\n') {
			t.Fatalf("bare CR at %d after DATA: %s", i-2, clip(s.afterDot))
		}
		if b == '\n' && (i == 0 || stream[i-1] != '\r') {
			t.Fatalf("bare LF at %d after DATA: %s", i-2, clip(s.afterDot))
		}
	}
	if n := bytes.Count(stream, []byte("\r\n.\r\n")); n != 1 || !bytes.HasSuffix(stream, []byte("\r\n.\r\nQUIT\r\n")) {
		t.Fatalf("%d end-of-data sequences after DATA, want exactly one, at the end: %s", n, clip(s.afterDot))
	}
	content := append([]byte("\r\n"), s.data[0]...)
	content = content[2 : len(content)-3]
	var got []byte
	for _, line := range bytes.SplitAfter(content, []byte("\r\n")) {
		got = append(got, bytes.TrimPrefix(line, []byte("."))...)
	}
	if want := normalize(body); !bytes.Equal(got, want) {
		t.Fatalf("the server unstuffed %s, want %s", clip(got), clip(want))
	}
	return 0
}

// checkChunks checks a message sent by Send over CHUNKING, as the server
// read it: no DATA; every BDAT line "BDAT n" or "BDAT n LAST" with its
// CRLF, and n the bytes that followed it before the next command line;
// exactly one BDAT LAST, the last BDAT; then only QUIT, nothing else on the
// wire; a sized message in one BDAT; and the chunks put together are the
// body with every line ending made CRLF (a bare CR or LF too, a CRLF added
// at the end when missing) and nothing stuffed.
func checkChunks(t *testing.T, s *smugglingServer, body []byte, sized bool) {
	t.Helper()
	if len(s.data) != 0 {
		t.Fatalf("DATA to a server offering CHUNKING (%d messages), want BDAT", len(s.data))
	}
	if len(s.chunks) == 0 {
		t.Fatalf("no BDAT chunk; the commands from the first BDAT on: %q", s.commands)
	}
	var content, rebuilt []byte
	want := make([]string, 0, len(s.chunks)+1)
	for i, ch := range s.chunks {
		line := "BDAT " + strconv.Itoa(len(ch.content))
		if ch.last {
			line += " LAST"
		}
		if ch.line != line+"\r\n" {
			t.Fatalf("BDAT %d of %d is the line %q and %d bytes followed it before the connection ended, want %q",
				i+1, len(s.chunks), ch.line, len(ch.content), line+"\r\n")
		}
		if ch.last != (i == len(s.chunks)-1) {
			t.Fatalf("BDAT %d of %d is %q: exactly one BDAT LAST, the last, is wanted: %s", i+1, len(s.chunks), ch.line, bdatLines(s.chunks))
		}
		content = append(content, ch.content...)
		rebuilt = append(append(rebuilt, ch.line...), ch.content...)
		want = append(want, line)
	}
	want = append(want, "QUIT")
	if !slices.Equal(s.commands, want) {
		t.Fatalf("from the first BDAT on the server read the commands %q, want %q: a BDAT size is not the count of the bytes sent after it, or something followed BDAT LAST (body %s)",
			s.commands, want, clip(body))
	}
	if rebuilt = append(rebuilt, "QUIT\r\n"...); !bytes.Equal(s.wire, rebuilt) {
		t.Fatalf("the wire from the first BDAT on is %s, want its BDAT lines, their chunks and QUIT: %s", clip(s.wire), clip(rebuilt))
	}
	if sized && len(s.chunks) != 1 {
		t.Fatalf("a message of known size went in %d BDAT chunks, want one BDAT n LAST: %s", len(s.chunks), bdatLines(s.chunks))
	}
	if want := normalize(body); !bytes.Equal(content, want) {
		t.Fatalf("the BDAT chunks hold %s, want %s (the body with CRLF line endings, not dot-stuffed)", clip(content), clip(want))
	}
}

// bdatLines are the command lines of chunks, each with the count of the
// bytes the server read after it, for error messages.
func bdatLines(chunks []bdatChunk) string {
	lines := make([]string, len(chunks))
	for i, ch := range chunks {
		lines[i] = fmt.Sprintf("%q+%d bytes", ch.line, len(ch.content))
	}
	return "[" + strings.Join(lines, " ") + "]"
}

// TestInjectionCredentialsStayInBase64: CR and LF in a user name, password
// or token never reach the wire as line breaks: every line after AUTH is
// base64 (the SASL separators inside it are TestSASLFieldsRefuseSeparators'
// matter).
func TestInjectionCredentialsStayInBase64(t *testing.T) {
	t.Parallel()
	const user, secret = "bob\r\nRSET", "pw\r\nMAIL FROM:<evil@example.net>"
	tests := []struct {
		mech, replies string
		lines         int // lines the client sends from AUTH on
	}{
		{"PLAIN", "235 2.7.0 ok\r\n", 1},
		{"LOGIN", "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 ok\r\n", 3},
		{"CRAM-MD5", "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+\r\n235 2.7.0 ok\r\n", 2},
		{"XOAUTH2", "235 2.7.0 ok\r\n", 1},
		{"OAUTHBEARER", "235 2.7.0 ok\r\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.mech, func(t *testing.T) {
			t.Parallel()
			conn := newMemConn([]byte("220 x ESMTP\r\n250-x\r\n250 AUTH " + tt.mech + "\r\n" + tt.replies))
			var auth Auth = PasswordAuth(user, secret)
			if strings.Contains(tt.mech, "OAUTH") {
				auth = OAuth2Auth(user, secret)
			}
			c, err := NewClient(context.Background(), conn, &Options{Security: Plaintext, AllowInsecureAuth: true, Auth: auth, Timeout: time.Second})
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			c.Close()
			wire := string(conn.written())
			_, after, _ := strings.Cut(wire, "AUTH "+tt.mech)
			lines := strings.Split(strings.TrimSuffix(after, "\r\n"), "\r\n")
			if len(lines) != tt.lines {
				t.Fatalf("%d lines from AUTH on, want %d: %q", len(lines), tt.lines, after)
			}
			for i, l := range lines {
				if i == 0 {
					l = strings.TrimPrefix(l, " ")
				}
				if l == "" && i == 0 {
					continue
				}
				if _, err := base64.StdEncoding.DecodeString(l); err != nil {
					t.Errorf("line %d after AUTH %s is not base64: %q", i, tt.mech, l)
				}
			}
		})
	}
}
