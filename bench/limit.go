package main

// The limit: an SMTP client written for this bench only, with no library,
// as cheap as a client can be, to measure mailwire against. What mailwire
// costs above it is the price of its features and its care.
//
// It does what a correct client must do on the happy path, and nothing
// else. Skipped, on purpose:
//
//   - EHLO: the reply is read, and only CHUNKING is looked for; PIPELINING
//     is assumed (the sink offers it), SIZE is neither sent nor checked,
//     8BITMIME, SMTPUTF8 and the rest are ignored.
//   - Replies: only the first digit of each reply is read (its last line is
//     the one whose 4th byte is a space); no text, no enhanced codes, no
//     multiline parsing, no per-recipient verdict.
//   - Errors: any unexpected reply or I/O error is returned as is and the
//     connection is left unusable; no RSET, no retry, no "delivery
//     unknown", no distinction between a refusal and a broken connection.
//   - Time: no timeouts, no deadlines, no context, no cancellation.
//   - TLS: crypto/tls with the caller's *tls.Config as it is; no security
//     modes, no options, no policy (it fails if STARTTLS is refused).
//   - AUTH: PLAIN only, sent whatever the server offers.
//   - Content: line endings become CRLF and, for DATA, leading dots are
//     doubled (see limitEncoder), in one pass; nothing else is looked at:
//     no 8-bit check, no header, no line length.
//   - Addresses go on the wire as given: no validation, no IDNA.
//   - No trace, no events, no statistics, no pool of its own.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

const (
	limitChunk  = 256 << 10 // the content read and written at a time when its size is unknown
	limitWindow = 8         // replies a BDAT stream lets pile up before reading one
)

// limitConn is one SMTP session of the limit client.
type limitConn struct {
	conn     net.Conn
	br       *bufio.Reader
	chunking bool   // the server offered CHUNKING: BDAT instead of DATA
	buf      []byte // the streaming buffer, made on the first stream
	last     []byte // the last reply line read (for tests; valid until the next read)
}

// dialLimit connects to addr and says EHLO. With tlsConf it then runs
// STARTTLS, says EHLO again and authenticates with AUTH PLAIN.
func dialLimit(addr string, tlsConf *tls.Config, user, pass string) (*limitConn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &limitConn{conn: conn, br: bufio.NewReaderSize(conn, 4096)}
	if err := c.open(tlsConf, user, pass); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// dialLimitOptions dials as the bench dials the other clients: in
// plaintext, or with STARTTLS and AUTH PLAIN when o.secure.
func dialLimitOptions(o dialOptions) (*limitConn, error) {
	if o.secure {
		return dialLimit(o.addr, o.tlsConfig(), sinkUser, sinkPass)
	}
	return dialLimit(o.addr, nil, "", "")
}

// open reads the greeting and sets the session up.
func (c *limitConn) open(tlsConf *tls.Config, user, pass string) error {
	if err := c.expect("2"); err != nil {
		return fmt.Errorf("limit: greeting: %w", err)
	}
	if err := c.ehlo(); err != nil {
		return err
	}
	if tlsConf == nil {
		return nil
	}
	if err := c.command("STARTTLS\r\n", "2"); err != nil {
		return err
	}
	tc := tls.Client(c.conn, tlsConf)
	if err := tc.Handshake(); err != nil {
		return err
	}
	c.conn, c.br = tc, bufio.NewReaderSize(tc, 4096)
	if err := c.ehlo(); err != nil {
		return err
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	return c.command("AUTH PLAIN "+plain+"\r\n", "2")
}

// ehlo says EHLO and notes whether the server offers CHUNKING.
func (c *limitConn) ehlo() error {
	if _, err := io.WriteString(c.conn, "EHLO localhost\r\n"); err != nil {
		return err
	}
	c.chunking = false
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) < 4 || line[0] != '2' {
			return fmt.Errorf("limit: EHLO: %q", line)
		}
		if kw := bytes.TrimSpace(line[4:]); strings.EqualFold(string(kw), "CHUNKING") {
			c.chunking = true
		}
		if line[3] == ' ' {
			return nil
		}
	}
}

// command writes one command and checks its reply's first digit.
func (c *limitConn) command(cmd, want string) error {
	if _, err := io.WriteString(c.conn, cmd); err != nil {
		return err
	}
	return c.expect(want)
}

// expect reads one reply per byte of want, each of which must begin with
// that byte ('2', '3').
func (c *limitConn) expect(want string) error {
	for i := 0; i < len(want); i++ {
		if code, err := c.reply(); err != nil {
			return err
		} else if code != want[i] {
			return fmt.Errorf("limit: reply %q, want %cxx", c.last, want[i])
		}
	}
	return nil
}

// reply reads one reply, to the line whose 4th byte is a space, and
// returns its first digit.
func (c *limitConn) reply() (byte, error) {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		c.last = line
		if len(line) >= 4 && line[3] == ' ' {
			return line[0], nil
		}
	}
}

// quit says QUIT and closes the connection.
func (c *limitConn) quit() error {
	err := c.command("QUIT\r\n", "2")
	c.conn.Close()
	return err
}

// ---- one message prepared once ----

// limitTx is a transaction prepared once and sent as many times as
// wanted: the bytes of each write, and the replies each write brings.
type limitTx struct {
	writes  [][]byte
	replies []string // one first digit per reply, for each write
}

// prepare builds the transaction sending msg from from to to: with
// CHUNKING one write (MAIL, RCPTs, "BDAT n LAST", the content), otherwise
// two (MAIL, RCPTs, DATA; then the dot-stuffed content and its end).
func (c *limitConn) prepare(from string, to []string, msg []byte) *limitTx {
	env := envelope(from, to)
	ok := strings.Repeat("2", 1+len(to))
	if c.chunking {
		content := encodeAll(msg, false)
		w := append(env, "BDAT "+strconv.Itoa(len(content))+" LAST\r\n"...)
		return &limitTx{writes: [][]byte{append(w, content...)}, replies: []string{ok + "2"}}
	}
	return &limitTx{
		writes:  [][]byte{append(env, "DATA\r\n"...), encodeAll(msg, true)},
		replies: []string{ok + "3", "2"},
	}
}

// send sends a prepared transaction.
func (c *limitConn) send(tx *limitTx) error {
	for i, w := range tx.writes {
		if _, err := c.conn.Write(w); err != nil {
			return err
		}
		if err := c.expect(tx.replies[i]); err != nil {
			return err
		}
	}
	return nil
}

// envelope is "MAIL FROM:<from>" and a "RCPT TO:<to>" for each recipient.
func envelope(from string, to []string) []byte {
	b := append([]byte("MAIL FROM:<"), from...)
	b = append(b, ">\r\n"...)
	for _, t := range to {
		b = append(b, "RCPT TO:<"...)
		b = append(b, t...)
		b = append(b, ">\r\n"...)
	}
	return b
}

// encodeAll encodes a whole message for DATA (stuff) or BDAT.
func encodeAll(msg []byte, stuff bool) []byte {
	var e limitEncoder
	e.start(stuff)
	out := make([]byte, 0, 2*len(msg)+8)
	p, inPlace := e.chunk(out, msg)
	if inPlace {
		p = append(out, msg...) // a copy: end must not write into msg's array
	}
	return e.end(p)
}
