package smtp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// plan is what Send works out before it writes a byte: the addresses as
// they go on the wire, the MAIL and RCPT parameters, and how the content
// is sent.
type plan struct {
	from     string
	orig     []string       // the recipients as the caller gave them
	to       []string       // as on the wire; env.To when nothing changed
	rcpt     []*RcptOptions // parallel to to; nil when none asked
	mail     MailOptions
	msg      io.Reader
	deny8bit bool  // refuse 8-bit bytes met while streaming (7-bit server)
	chunked  bool  // send with BDAT (CHUNKING)
	binary   bool  // BODY=BINARYMIME: content as it is
	size     int64 // the exact size on the wire for BDAT; -1 unknown
}

// plan prepares a transaction for env and msg; every refusal happens here,
// before anything is sent.
func (c *Client) plan(env *Envelope, msg io.Reader) (*plan, error) {
	p := &c.tx.plan // reused: a Send allocates no plan
	p.to, p.orig = env.To, env.To
	if env.MailOptions != nil {
		p.mail = *env.MailOptions
	}
	var err error
	if p.from, err = c.wireAddress(env.From, &p.mail); err != nil {
		return nil, err
	}
	for i, to := range env.To {
		w, err := c.wireAddress(to, &p.mail)
		if err != nil {
			return nil, err
		}
		if w != to {
			if &p.to[0] == &env.To[0] {
				p.to = append([]string(nil), env.To...)
			}
			p.to[i] = w
		}
	}
	if err := c.planDSN(env, p); err != nil {
		return nil, err
	}
	if err := c.planContent(p); err != nil {
		return nil, err
	}
	// Every parameter judged here, in one step, before anything is written.
	if err := c.checkMailParams(&p.mail); err != nil {
		return nil, err
	}
	for _, o := range p.rcpt {
		if err := c.checkRcptParams(o); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// planDSN gathers the per-recipient options, and drops every DSN
// parameter when the server lacks DSN and the caller said that is fine.
func (c *Client) planDSN(env *Envelope, p *plan) error {
	if len(env.RcptOptions) > 0 {
		p.rcpt = make([]*RcptOptions, len(env.To))
		for i, to := range env.To {
			p.rcpt[i] = env.RcptOptions[to]
		}
		for addr := range env.RcptOptions {
			if !contains(env.To, addr) {
				return errInput("RcptOptions for %q, which is not in Envelope.To", addr)
			}
		}
	}
	if p.mail.OptionalDSN && !c.ext.has("DSN") {
		p.mail.Return, p.mail.EnvelopeID, p.rcpt = "", "", nil
	}
	return nil
}

// planContent decides how the message goes: DATA or BDAT, its size, its
// body type; it downgrades 8-bit content for a 7-bit server when it can.
func (c *Client) planContent(p *plan) error {
	p.mail.Body = BodyType(strings.ToUpper(string(p.mail.Body)))
	body := p.mail.Body
	p.binary = body == BodyBinaryMIME
	p.chunked = c.ext.has("CHUNKING") && !c.opts.LMTP // LMTP's replies per recipient come after DATA
	if p.binary && !(p.chunked && c.ext.has("BINARYMIME")) {
		return nil // checkMailParams refuses it, once the plan is whole
	}
	info := c.scan(p.msg, !p.binary) // SIZE counts the CRLF line endings the content will have
	if info.eightBit && !p.binary && !c.ext.has("8BITMIME") {
		converted, err := downgrade(&c.tx) // reads the caller's message to its end
		if err != nil {
			return err
		}
		p.msg = converted
		info = c.scan(p.msg, true)
	}
	switch {
	case p.binary:
		p.size = info.raw
	case p.chunked && info.known:
		p.size = info.wire
	}
	if info.sized {
		p.mail.Size = max(info.wire, info.raw)
		if max := c.MaxMessageSize(); max > 0 && p.mail.Size > max {
			return fmt.Errorf("%w: %d bytes, and the server's limit is %d bytes (SIZE)", ErrMessageTooLarge, p.mail.Size, max)
		}
	}
	switch {
	case body != "":
	case info.eightBit || !info.known && c.ext.has("8BITMIME"):
		p.mail.Body = Body8BitMIME
	case !info.known:
		p.deny8bit = true
	}
	return nil
}

// contentInfo is what a look ahead at the message found.
type contentInfo struct {
	known    bool  // the message could be read ahead
	sized    bool  // its size is known, read ahead or told
	eightBit bool  // it holds bytes above 127
	raw      int64 // its size as given
	wire     int64 // its size once line endings are CRLF (BDAT), or raw
}

// scan reads what is left of msg ahead, without consuming it, when msg can
// be read that way (*bytes.Buffer, or a ReaderAt that knows its size, as
// *bytes.Reader and *strings.Reader). withWire also sizes the content as
// BDAT will send it, with the very writer that will send it.
func (c *Client) scan(msg io.Reader, withWire bool) contentInfo {
	var info contentInfo
	c.tx.sizer.counter = byteCounter{}
	c.tx.sizer.dw.resetChunk(&c.tx.sizer.counter)
	switch m := msg.(type) {
	case *bytes.Buffer:
		c.visit(&info, m.Bytes(), withWire)
	case interface {
		io.ReaderAt
		Size() int64
		Len() int
	}:
		if c.copyBuf == nil {
			c.copyBuf = make([]byte, copyBufSize)
		}
		for off := m.Size() - int64(m.Len()); ; {
			n, err := m.ReadAt(c.copyBuf, off)
			c.visit(&info, c.copyBuf[:n], withWire)
			off += int64(n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return contentInfo{}
			}
		}
	case *composedReader:
		if m.exact { // written once already: 7-bit, CRLF, this many bytes
			return contentInfo{known: true, sized: true, raw: m.size, wire: m.size}
		}
		return contentInfo{raw: m.size, wire: m.size, sized: true}
	default:
		if size, ok := messageSize(msg); ok {
			return contentInfo{raw: size, wire: size, sized: true}
		}
		return contentInfo{}
	}
	info.known, info.sized = true, true
	info.wire = info.raw
	if withWire {
		c.tx.sizer.dw.close()
		info.wire = c.tx.sizer.counter.n
	}
	return info
}

// visit looks at a piece of the message read ahead.
func (c *Client) visit(info *contentInfo, p []byte, withWire bool) {
	info.eightBit = info.eightBit || has8bit(p)
	info.raw += int64(len(p))
	if withWire {
		c.tx.sizer.dw.Write(p)
	}
}

// messageSize is msg's size when msg can tell it without being read.
func messageSize(msg io.Reader) (int64, bool) {
	switch m := msg.(type) {
	case interface{ Len() int }:
		return int64(m.Len()), true
	case interface{ Size() int64 }:
		return m.Size(), true
	}
	return 0, false
}

// has8bit reports whether p holds a byte above 127, eight bytes at a time.
func has8bit(p []byte) bool {
	for len(p) >= 8 {
		if binary.LittleEndian.Uint64(p)&0x8080808080808080 != 0 {
			return true
		}
		p = p[8:]
	}
	for _, b := range p {
		if b >= 0x80 {
			return true
		}
	}
	return false
}
