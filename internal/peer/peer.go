// Package peer is a scripted SMTP server for byte-level tests of the
// client: it listens on 127.0.0.1, follows a script of expected command
// lines and raw replies, and records every byte and every read the client
// made it do. It checks exact bytes, so a test can assert what went on the
// wire, in which writes, and in what order.
package peer

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// Step is one action of a script.
type Step struct {
	kind  stepKind
	text  string
	delay time.Duration
	tls   *tls.Config
	n     int
}

type stepKind int

const (
	stepSend        stepKind = iota // write text as it is
	stepExpect                      // read one line, it must be text + CRLF
	stepData                        // read message content up to CRLF.CRLF
	stepClose                       // close the connection
	stepHang                        // stop answering until the client goes away
	stepSleep                       // wait a while
	stepStartTLS                    // server side of a TLS handshake
	stepExpectClose                 // the client must close without sending a byte
	stepChunk                       // read exactly n bytes of BDAT content
)

// Send writes lines to the client in one write, each ended with CRLF.
func Send(lines ...string) Step {
	return Step{kind: stepSend, text: strings.Join(lines, "\r\n") + "\r\n"}
}

// Raw writes b exactly as it is, in one write.
func Raw(b string) Step { return Step{kind: stepSend, text: b} }

// Expect reads one line from the client; it must be exactly line + CRLF.
func Expect(line string) Step { return Step{kind: stepExpect, text: line} }

// Data reads message content up to and including the CRLF.CRLF that ends
// it, and records it (with the final ".\r\n") in Result.Data.
func Data() Step { return Step{kind: stepData} }

// Chunk reads exactly n bytes of BDAT content and records them in
// Result.Data.
func Chunk(n int) Step { return Step{kind: stepChunk, n: n} }

// Close closes the connection.
func Close() Step { return Step{kind: stepClose} }

// Hang stops answering and waits until the client closes the connection.
func Hang() Step { return Step{kind: stepHang} }

// StartTLS runs the server side of a TLS handshake with cfg; later steps
// speak over TLS. A failed handshake ends the script, recorded in Result.TLSErr.
func StartTLS(cfg *tls.Config) Step { return Step{kind: stepStartTLS, tls: cfg} }

// ExpectClose requires the client to close the connection without sending
// another byte.
func ExpectClose() Step { return Step{kind: stepExpectClose} }

// Sleep waits d before the next step.
func Sleep(d time.Duration) Step { return Step{kind: stepSleep, delay: d} }

// Script parses a transcript: lines "S: text" are sent (consecutive S: lines
// in one write), "C: text" expected, "C: <data>" reads message content up
// to its end, "C: <chunk N>" reads N bytes of BDAT content, and "close" /
// "hang" close or stop. Blank lines and lines starting with '#' are skipped.
func Script(transcript string) []Step {
	var steps []Step
	var pending []string
	flush := func() {
		if len(pending) > 0 {
			steps = append(steps, Send(pending...))
			pending = nil
		}
	}
	for _, line := range strings.Split(transcript, "\n") {
		line = strings.TrimLeft(line, " \t")
		switch {
		case line == "" || line[0] == '#':
		case strings.HasPrefix(line, "S: "):
			pending = append(pending, line[3:])
		case line == "C: <data>":
			flush()
			steps = append(steps, Data())
		case strings.HasPrefix(line, "C: <chunk "):
			flush()
			var n int
			fmt.Sscanf(line, "C: <chunk %d>", &n)
			steps = append(steps, Chunk(n))
		case strings.HasPrefix(line, "C: "):
			flush()
			steps = append(steps, Expect(line[3:]))
		case line == "close":
			flush()
			steps = append(steps, Close())
		case line == "hang":
			flush()
			steps = append(steps, Hang())
		default:
			panic("peer: bad script line " + line)
		}
	}
	flush()
	return steps
}

// Result is what one scripted connection saw.
type Result struct {
	// Reads are the bytes of each read the client's writes satisfied, in
	// order: a pipelined group arrives in one read.
	Reads [][]byte
	// Received is every byte received, in order.
	Received []byte
	// Data is the content of each Data step, with the final ".\r\n".
	Data [][]byte
	// Err is the first deviation from the script, or nil.
	Err error
	// TLSErr is the error of a failed StartTLS step.
	TLSErr error
}

// Server runs a script on every connection it accepts, one at a time.
type Server struct {
	ln      net.Listener
	scripts [][]Step
	mu      sync.Mutex
	results []*Result
	done    chan struct{}
}

// New listens on 127.0.0.1 and runs scripts[i] on the i-th connection.
func New(scripts ...[]Step) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	return serve(ln, scripts)
}

// NewTLS is New for implicit TLS: each connection starts with a handshake.
func NewTLS(cfg *tls.Config, scripts ...[]Step) *Server {
	for i := range scripts {
		scripts[i] = append([]Step{StartTLS(cfg)}, scripts[i]...)
	}
	return New(scripts...)
}

func serve(ln net.Listener, scripts [][]Step) *Server {
	s := &Server{ln: ln, scripts: scripts, done: make(chan struct{})}
	go s.serve()
	return s
}

// Addr is the "127.0.0.1:port" to dial.
func (s *Server) Addr() string { return s.ln.Addr().String() }

func (s *Server) serve() {
	defer close(s.done)
	for _, script := range s.scripts {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		r := &Result{}
		s.mu.Lock()
		s.results = append(s.results, r)
		s.mu.Unlock()
		run(conn, script, r, &s.mu)
	}
}

// Wait waits until every script ran, at most 10 s, closes the listener and
// returns the results.
func (s *Server) Wait() []*Result {
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.results
}

// Close stops listening.
func (s *Server) Close() { s.ln.Close() }

// recorder records each Read on the connection.
type recorder struct {
	net.Conn
	r  *Result
	mu *sync.Mutex
}

func (c *recorder) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.r.Reads = append(c.r.Reads, append([]byte(nil), p[:n]...))
		c.r.Received = append(c.r.Received, p[:n]...)
		c.mu.Unlock()
	}
	return n, err
}

func run(conn net.Conn, script []Step, r *Result, mu *sync.Mutex) {
	defer func() { conn.Close() }()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(&recorder{Conn: conn, r: r, mu: mu})
	fail := func(format string, args ...any) {
		mu.Lock()
		r.Err = fmt.Errorf(format, args...)
		mu.Unlock()
	}
	for i, st := range script {
		switch st.kind {
		case stepSend:
			if _, err := io.WriteString(conn, st.text); err != nil {
				fail("step %d: write %q: %v", i, st.text, err)
				return
			}
		case stepExpect:
			line, err := br.ReadString('\n')
			if err != nil {
				fail("step %d: want %q, read error %v (got %q)", i, st.text, err, line)
				return
			}
			if line != st.text+"\r\n" {
				fail("step %d: got %q, want %q", i, line, st.text+"\r\n")
				return
			}
		case stepData:
			var data []byte
			for !bytes.HasSuffix(data, []byte("\r\n.\r\n")) && !bytes.Equal(data, []byte(".\r\n")) {
				line, err := br.ReadSlice('\n')
				data = append(data, line...)
				if err != nil && err != bufio.ErrBufferFull {
					fail("step %d: reading data: %v (got %q)", i, err, data)
					return
				}
			}
			mu.Lock()
			r.Data = append(r.Data, data)
			mu.Unlock()
		case stepChunk:
			data := make([]byte, st.n)
			if _, err := io.ReadFull(br, data); err != nil {
				fail("step %d: reading a chunk of %d bytes: %v", i, st.n, err)
				return
			}
			mu.Lock()
			r.Data = append(r.Data, data)
			mu.Unlock()
		case stepStartTLS:
			tc := tls.Server(conn, st.tls)
			if err := tc.Handshake(); err != nil {
				mu.Lock()
				r.TLSErr = err
				mu.Unlock()
				return
			}
			conn = tc
			br = bufio.NewReader(&recorder{Conn: tc, r: r, mu: mu})
		case stepExpectClose:
			if n := br.Buffered(); n > 0 {
				fail("step %d: want the client to close, got %d more bytes", i, n)
				return
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			var one [1]byte
			if n, err := conn.Read(one[:]); n > 0 || err != io.EOF {
				fail("step %d: want the client to close, got %d bytes, %v", i, n, err)
			}
			return
		case stepClose:
			return
		case stepHang:
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, br)
			return
		case stepSleep:
			time.Sleep(st.delay)
		}
	}
	// The script is over: anything more the client sends is a deviation,
	// except QUIT, which is answered.
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := br.ReadString('\n')
	if err == nil && line == "QUIT\r\n" {
		io.WriteString(conn, "221 2.0.0 Bye\r\n")
	} else if err == nil {
		fail("after the script: unexpected %q", line)
	}
}

// Describe renders a step as a transcript line or lines ("S: …", "C: …"),
// for tests that compare a trace with a script.
func Describe(st Step) string {
	switch st.kind {
	case stepSend:
		var b strings.Builder
		for _, l := range strings.Split(strings.TrimSuffix(st.text, "\r\n"), "\r\n") {
			b.WriteString("S: " + l + "\n")
		}
		return b.String()
	case stepExpect:
		return "C: " + st.text + "\n"
	case stepData:
		return "C: <data>\n"
	case stepChunk:
		return fmt.Sprintf("C: <chunk %d>\n", st.n)
	}
	return ""
}

// Greeting is the greeting line of a scripted session, in Script's form.
const Greeting = "S: 220 peer.test ESMTP\n"

// EHLO is the client's "EHLO localhost" and the peer's reply offering
// exts, in Script's form.
func EHLO(exts ...string) string {
	var b strings.Builder
	b.WriteString("C: EHLO localhost\n")
	lines := append([]string{"peer.test greets localhost"}, exts...)
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		b.WriteString("S: 250" + sep + l + "\n")
	}
	return b.String()
}
