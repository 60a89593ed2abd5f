package smtp

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message"
)

// downgrade re-encodes a message with 8-bit content for a server that does
// not offer 8BITMIME, as RFC 6152 section 3 allows: every 8-bit text part
// becomes quoted-printable; everything else is kept. It parses and writes
// MIME with github.com/emersion/go-message. It fails, with an error that
// says why, when the conversion is impossible: 8-bit bytes in a header
// (they would need RFC 2047 encoding, which changes the text), in a part
// that is not text, or MIME it cannot parse. Its result is never 8-bit.
func downgrade(msg io.Reader) (io.Reader, error) {
	data, err := io.ReadAll(msg) // an in-memory message: scan could read it ahead
	if err != nil {
		return nil, err
	}
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		end = bytes.Index(data, []byte("\n\n"))
	}
	if end < 0 || has8bit(data[:end]) {
		return nil, errInput("the message has 8-bit bytes in its header and the server does not offer 8BITMIME (RFC 6152): encode the header with RFC 2047, or send to a server with 8BITMIME")
	}
	e, err := message.Read(bytes.NewReader(data))
	if err != nil {
		return nil, errInput("the message has 8-bit bytes, the server does not offer 8BITMIME, and its MIME structure cannot be parsed to convert it: %v", err)
	}
	if !e.Header.Has("Mime-Version") {
		e.Header.Set("MIME-Version", "1.0")
	}
	var out bytes.Buffer
	err = downgradeEntity(func(h message.Header) (*message.Writer, error) { return message.CreateWriter(&out, h) }, e)
	if err != nil {
		return nil, err
	}
	if has8bit(out.Bytes()) {
		return nil, errInput("the message could not be converted to 7 bits for a server without 8BITMIME")
	}
	return &out, nil
}

// downgradeEntity writes e through create, re-encoding 8-bit text as
// quoted-printable, part by part.
func downgradeEntity(create func(message.Header) (*message.Writer, error), e *message.Entity) error {
	h := e.Header
	if mr := e.MultipartReader(); mr != nil {
		w, err := create(h)
		if err != nil {
			return err
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return errInput("cannot convert the message to 7 bits: malformed MIME part: %v", err)
			}
			if err := downgradeEntity(w.CreatePart, part); err != nil {
				return err
			}
		}
		return w.Close()
	}
	body, err := io.ReadAll(e.Body)
	if err != nil {
		return errInput("cannot convert the message to 7 bits: %v", err)
	}
	// go-message hands the body decoded: base64 and quoted-printable parts
	// are 7-bit on the wire whatever they hold, and are written back so.
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "base64", "quoted-printable":
	default:
		if !has8bit(body) {
			break
		}
		mediaType, _, _ := h.ContentType()
		if mediaType == "" {
			mediaType = "text/plain"
			h.Set("Content-Type", "text/plain; charset=utf-8")
		}
		if !strings.HasPrefix(mediaType, "text/") {
			return errInput("the message has an 8-bit %s part, which cannot be converted for a server without 8BITMIME: encode it as base64", mediaType)
		}
		h.Set("Content-Transfer-Encoding", "quoted-printable")
	}
	w, err := create(h)
	if err != nil {
		return fmt.Errorf("smtp: converting the message to 7 bits: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	return w.Close()
}
