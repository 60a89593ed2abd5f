package smtp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// Message is a message to compose: the header fields people set, a text
// body, an HTML alternative with its inline images, and attachments.
// WriteTo writes it as MIME (RFC 2045-2049) with
// github.com/emersion/go-message, streaming every part from its reader and
// encoding it as it goes, so that no part is ever held whole in memory.
// SendComposed sends it: the envelope comes from From, To, Cc and Bcc, and
// Bcc is never written in the content.
type Message struct {
	From    *mail.Address
	To, Cc  []*mail.Address
	Bcc     []*mail.Address // the envelope only: never in the content
	ReplyTo []*mail.Address
	// Subject may hold any Unicode; it is encoded as RFC 2047 asks. So
	// are the addresses' names.
	Subject string
	// Date is the Date field; zero: the time of writing.
	Date time.Time
	// MessageID is the Message-ID, without angle brackets; "": a random
	// one at From's domain.
	MessageID string
	// Header holds further fields ("List-Unsubscribe", "X-Campaign"...),
	// written after the ones above; a field of the same name replaces
	// theirs. Bcc in it is ignored. Nil for none.
	Header map[string]string
	// Text is the text body (text/plain, UTF-8); HTML, when set, its
	// alternative (text/html). One of them is required.
	Text, HTML string
	// Inline are the resources the HTML refers to as "cid:ContentID"
	// (multipart/related); they need HTML.
	Inline []Part
	// Attachments are the files attached (multipart/mixed).
	Attachments []Part
}

// Part is an inline resource or an attachment, streamed from Body and
// encoded in base64 as it is read.
type Part struct {
	// Filename is the name the recipient sees (RFC 2231 encoded when it
	// needs to be).
	Filename string
	// ContentType is the media type; "": from Filename's extension, else
	// application/octet-stream.
	ContentType string
	// ContentID names an inline part, for "cid:" in the HTML.
	ContentID string
	// Body is read once by WriteTo; it must also be an io.Seeker for the
	// message's size to be known before sending (see SendComposed).
	Body io.Reader
}

// Envelope is the message's envelope: From's address, and each of To, Cc
// and Bcc once.
func (m *Message) Envelope() (*Envelope, error) {
	if m.From == nil {
		return nil, errInput("Message.From is nil")
	}
	env := &Envelope{From: m.From.Address}
	seen := map[string]bool{}
	for _, list := range [][]*mail.Address{m.To, m.Cc, m.Bcc} {
		for _, a := range list {
			if a == nil {
				return nil, errInput("a nil address in Message.To, Cc or Bcc")
			}
			if !seen[a.Address] {
				seen[a.Address] = true
				env.To = append(env.To, a.Address)
			}
		}
	}
	if len(env.To) == 0 {
		return nil, errInput("Message has no recipient in To, Cc or Bcc")
	}
	return env, checkEnvelope(env)
}

// header is the top-level header, without Content-Type.
func (m *Message) header() (mail.Header, error) {
	if m.Text == "" && m.HTML == "" {
		return mail.Header{}, errInput("Message has neither Text nor HTML")
	}
	if len(m.Inline) > 0 && m.HTML == "" {
		return mail.Header{}, errInput("Message.Inline needs HTML that refers to it")
	}
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{m.From})
	for _, f := range []struct {
		name string
		list []*mail.Address
	}{{"To", m.To}, {"Cc", m.Cc}, {"Reply-To", m.ReplyTo}} {
		if len(f.list) > 0 {
			h.SetAddressList(f.name, f.list)
		}
	}
	if m.Subject != "" {
		h.Set("Subject", encodeText(m.Subject))
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	h.SetDate(date)
	id := m.MessageID
	if id == "" {
		id = newMessageID(m.From.Address)
	}
	h.SetMessageID(id)
	h.Set("MIME-Version", "1.0")
	for name, value := range m.Header {
		if strings.ContainsAny(name+value, "\r\n\x00") || name == "" || strings.ContainsAny(name, ": ") {
			return mail.Header{}, errInput("Message.Header field %q: a name without ':' or space, values without CR, LF or NUL", name)
		}
		if strings.EqualFold(name, "Bcc") {
			continue
		}
		h.Set(name, encodeText(value))
	}
	for _, v := range []string{m.Subject, m.MessageID} {
		if strings.ContainsAny(v, "\r\n\x00") {
			return mail.Header{}, errInput("Message.Subject and MessageID must not hold CR, LF or NUL")
		}
	}
	return h, nil
}

// encodeText encodes an unstructured header value as RFC 2047 asks: as it
// is when it is printable ASCII, else in encoded words. Text that merely
// looks like an encoded word ("=?utf-8?q?...?=") is encoded too, or a
// reader would decode what the sender wrote literally; so is text with
// blanks around it, which a reader would trim.
func encodeText(s string) string {
	if !strings.Contains(s, "=?") && s == strings.TrimSpace(s) {
		return mime.QEncoding.Encode("utf-8", s)
	}
	var words []string
	for len(s) > 0 {
		n := min(len(s), 45) // 60 base64 characters: under 75 with "=?utf-8?b?" and "?="
		for n > 1 && n < len(s) && !utf8.RuneStart(s[n]) {
			n-- // not inside a character, unless the text is not UTF-8 at all
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, " ")
}

// newMessageID is a random id at domain's right-hand side.
func newMessageID(from string) string {
	var b [12]byte
	rand.Read(b[:])
	domain := "mailwire.invalid"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i < len(from)-1 {
		domain = from[i+1:]
	}
	return hex.EncodeToString(b[:]) + "@" + domain
}

// WriteTo writes the message as MIME to w, reading each part's Body once.
// Its structure is the simplest the parts allow: text/plain alone;
// multipart/alternative for text and HTML; multipart/related around the
// HTML and its inline parts; multipart/mixed around the body and the
// attachments.
func (m *Message) WriteTo(w io.Writer) (int64, error) {
	if m.From == nil {
		return 0, errInput("Message.From is nil")
	}
	h, err := m.header()
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{w: w}
	err = m.write(cw, h.Header)
	return cw.n, err
}

// creator makes a MIME entity under a header: the message itself, or a
// part of a multipart.
type creator func(message.Header) (*message.Writer, error)

// write writes the body structure under header h.
func (m *Message) write(w io.Writer, h message.Header) error {
	top := func(h message.Header) (*message.Writer, error) { return message.CreateWriter(w, h) }
	if len(m.Attachments) == 0 {
		return m.writeBody(top, h)
	}
	h.SetContentType("multipart/mixed", nil)
	mw, err := top(h)
	if err != nil {
		return err
	}
	if err := m.writeBody(mw.CreatePart, message.Header{}); err != nil {
		return err
	}
	for _, a := range m.Attachments {
		if err := writeFilePart(mw, a, "attachment"); err != nil {
			return err
		}
	}
	return mw.Close()
}

// writeBody writes the text, or the text and HTML, with the HTML's inline
// parts.
func (m *Message) writeBody(create creator, h message.Header) error {
	switch {
	case m.HTML == "":
		return writeText(create, h, "text/plain", m.Text)
	case m.Text == "":
		return m.writeHTML(create, h)
	}
	h.SetContentType("multipart/alternative", nil)
	aw, err := create(h)
	if err != nil {
		return err
	}
	if err := writeText(aw.CreatePart, message.Header{}, "text/plain", m.Text); err != nil {
		return err
	}
	if err := m.writeHTML(aw.CreatePart, message.Header{}); err != nil {
		return err
	}
	return aw.Close()
}

// writeHTML writes the HTML, inside multipart/related with its inline
// parts when it has some.
func (m *Message) writeHTML(create creator, h message.Header) error {
	if len(m.Inline) == 0 {
		return writeText(create, h, "text/html", m.HTML)
	}
	h.SetContentType("multipart/related", map[string]string{"type": "text/html"})
	rw, err := create(h)
	if err != nil {
		return err
	}
	if err := writeText(rw.CreatePart, message.Header{}, "text/html", m.HTML); err != nil {
		return err
	}
	for _, p := range m.Inline {
		if err := writeFilePart(rw, p, "inline"); err != nil {
			return err
		}
	}
	return rw.Close()
}

// writeText writes a text part, UTF-8 in quoted-printable, its line
// endings made CRLF.
func writeText(create creator, h message.Header, mediaType, text string) error {
	h.SetContentType(mediaType, map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	pw, err := create(h)
	if err != nil {
		return err
	}
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\n", "\r\n")
	if _, err := io.WriteString(pw, text); err != nil {
		return err
	}
	return pw.Close()
}

// writeFilePart writes an attachment or an inline part, in base64,
// streamed from its Body.
func writeFilePart(mw *message.Writer, p Part, disposition string) error {
	if p.Body == nil {
		return errInput("a Part's Body is nil (%q)", p.Filename)
	}
	if strings.ContainsAny(p.Filename+p.ContentType+p.ContentID, "\r\n\x00") {
		return errInput("a Part's Filename, ContentType or ContentID holds CR, LF or NUL")
	}
	var h message.Header
	ct := p.ContentType
	if ct == "" {
		ct = mime.TypeByExtension(filepath.Ext(p.Filename))
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return errInput("a Part's ContentType %q: %v", ct, err)
	}
	h.SetContentType(mediaType, params)
	dispParams := map[string]string{}
	if p.Filename != "" {
		dispParams["filename"] = p.Filename
	}
	h.SetContentDisposition(disposition, dispParams)
	if p.ContentID != "" {
		h.Set("Content-ID", "<"+p.ContentID+">")
	}
	h.Set("Content-Transfer-Encoding", "base64")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(pw, p.Body); err != nil {
		return &partReadError{name: p.Filename, err: err}
	}
	return pw.Close()
}

// partReadError is a Part's Body failing while the message is written.
type partReadError struct {
	name string
	err  error
}

func (e *partReadError) Error() string {
	return "smtp: reading the part " + e.name + ": " + e.err.Error()
}
func (e *partReadError) Unwrap() error { return e.err }

// countingWriter counts what goes through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// SendComposed writes m into Send through a pipe: the message is never
// held whole in memory. When every part's Body is an io.Seeker, m is
// written once to count its size (SIZE, and one BDAT), its bodies sought
// back, and written again as it is sent. A part's reader that fails ends
// the send with nothing delivered.
func (c *Client) SendComposed(ctx context.Context, m *Message) (*Receipt, error) {
	env, err := m.Envelope()
	if err != nil {
		return nil, err
	}
	return sendComposed(m, func(r io.Reader) (*Receipt, error) { return c.Send(ctx, env, r) })
}

// SendComposed is Client.SendComposed over a pooled connection.
func (p *Pool) SendComposed(ctx context.Context, m *Message) (*Receipt, error) {
	env, err := m.Envelope()
	if err != nil {
		return nil, err
	}
	return sendComposed(m, func(r io.Reader) (*Receipt, error) { return p.Send(ctx, env, r) })
}

// sendComposed fixes what must not change between two writings (the date,
// the Message-ID), sizes the message when its bodies can be sought back,
// and hands send a reader fed by a goroutine writing the message.
func sendComposed(m *Message, send func(io.Reader) (*Receipt, error)) (*Receipt, error) {
	fixed := *m
	if fixed.Date.IsZero() {
		fixed.Date = time.Now()
	}
	if fixed.MessageID == "" {
		fixed.MessageID = newMessageID(m.From.Address)
	}
	if _, err := fixed.header(); err != nil { // refuse bad input before a byte is sent
		return nil, err
	}
	size, exact, sized := fixed.size()
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := fixed.WriteTo(pw)
		pw.CloseWithError(err)
	}()
	var r io.Reader = pr
	if sized {
		r = &composedReader{Reader: pr, size: size, exact: exact}
	}
	rec, err := send(r)
	pr.CloseWithError(errors.New("smtp: the send is over")) // ends the writer if the send stopped early
	<-done
	return rec, err
}

// size writes the message to nowhere to count it, when every part's Body
// can be sought back to where it is; sized is false otherwise. exact says
// the writing was 7-bit with CRLF line endings only: the size is then the
// size on the wire, and the message can go in one BDAT of that size (a
// second writing that differed would fail the send, never overrun the
// chunk). The boundaries go-message draws are random but of one length,
// so the second writing has the same size.
func (m *Message) size() (n int64, exact, sized bool) {
	var starts []messageStart
	for _, list := range [][]Part{m.Inline, m.Attachments} {
		for _, p := range list {
			st := startOf(p.Body)
			if st.s == nil {
				return 0, false, false
			}
			starts = append(starts, st)
		}
	}
	var check wireCheck
	n, err := m.WriteTo(&check)
	for _, st := range starts {
		if !st.rewind() {
			return 0, false, false
		}
	}
	return n, check.clean && !check.pendingCR, err == nil
}

// composedReader is a composed message as SendComposed hands it to Send:
// its size, exact on the wire when its first writing said so.
type composedReader struct {
	io.Reader
	size  int64
	exact bool
}

func (r *composedReader) Size() int64 { return r.size }

// wireCheck watches a writing for anything the wire would change: an 8-bit
// byte, a CR or LF that is not part of a CRLF.
type wireCheck struct {
	clean, started, pendingCR bool
}

func (w *wireCheck) Write(p []byte) (int, error) {
	if !w.started {
		w.started, w.clean = true, true
	}
	if !w.clean {
		return len(p), nil
	}
	if has8bit(p) {
		w.clean = false
		return len(p), nil
	}
	for _, b := range p {
		switch {
		case w.pendingCR && b != '\n', !w.pendingCR && b == '\n':
			w.clean = false
			return len(p), nil
		}
		w.pendingCR = b == '\r'
	}
	return len(p), nil
}
