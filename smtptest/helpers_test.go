package smtptest

import (
	"crypto/tls"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// rawClient speaks SMTP line by line, so that tests see replies exactly as
// sent and can misbehave (pipeline, send BDAT, skip EHLO).
type rawClient struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

// reply is one SMTP reply: its code and its lines' text joined by "\n".
type reply struct {
	code int
	text string
}

// newServer starts a server that the test closes at its end and that logs
// to the test.
func newServer(t *testing.T, cfg *Config) *Server {
	t.Helper()
	if cfg == nil {
		cfg = &Config{}
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	s := NewServer(cfg)
	t.Cleanup(s.Close)
	return s
}

// dialRaw connects in plain text and reads the greeting.
func dialRaw(t *testing.T, s *Server) (*rawClient, reply) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return newRawClient(t, conn)
}

// dialRawTLS connects with implicit TLS and reads the greeting.
func dialRawTLS(t *testing.T, s *Server) (*rawClient, reply) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", s.Addr(), s.ClientTLSConfig())
	if err != nil {
		t.Fatalf("dial TLS: %v", err)
	}
	return newRawClient(t, conn)
}

func newRawClient(t *testing.T, conn net.Conn) (*rawClient, reply) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := &rawClient{t: t, conn: conn, tp: textproto.NewConn(conn)}
	t.Cleanup(func() { conn.Close() })
	return c, c.read()
}

// read reads one reply; a broken connection gives code 0 and the error's
// text.
func (c *rawClient) read() reply {
	c.t.Helper()
	code, text, err := c.tp.ReadResponse(0)
	if err != nil {
		if _, ok := err.(*textproto.Error); !ok {
			return reply{0, err.Error()}
		}
	}
	return reply{code, text}
}

// send writes raw bytes, CRLFs included by the caller.
func (c *rawClient) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// cmd sends one command line and reads its reply.
func (c *rawClient) cmd(line string) reply {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.read()
}

// expect sends a command and fails the test unless the reply has the code.
func (c *rawClient) expect(line string, code int) reply {
	c.t.Helper()
	r := c.cmd(line)
	if r.code != code {
		c.t.Fatalf("%s: got %d %q, want %d", line, r.code, r.text, code)
	}
	return r
}

// startTLS upgrades the connection after a 220 to STARTTLS.
func (c *rawClient) startTLS(cfg *tls.Config) {
	c.t.Helper()
	c.expect("STARTTLS", 220)
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("handshake: %v", err)
	}
	c.conn = tc
	c.tp = textproto.NewConn(tc)
}

// sendMessage runs one transaction with DATA and returns the final reply.
func (c *rawClient) sendMessage(from string, to []string, content string) reply {
	c.t.Helper()
	c.expect("MAIL FROM:<"+from+">", 250)
	for _, rcpt := range to {
		c.expect("RCPT TO:<"+rcpt+">", 250)
	}
	c.expect("DATA", 354)
	c.send(content + ".\r\n")
	return c.read()
}

// ehloKeywords returns the extension keywords of an EHLO reply.
func ehloKeywords(r reply) map[string]string {
	ext := map[string]string{}
	lines := strings.Split(r.text, "\n")
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, " ")
		ext[strings.ToUpper(k)] = v
	}
	return ext
}

// waitClosed fails the test unless the server closes the connection (a
// read gives EOF or a reset) within a few seconds.
func (c *rawClient) waitClosed() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	for {
		n, err := c.conn.Read(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("connection still open")
			}
			return
		}
		if n > 0 {
			c.t.Fatalf("unexpected bytes %q before close", buf[:n])
		}
	}
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}
