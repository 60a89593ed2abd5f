package smtp

import (
	"bytes"
	"context"
	"io"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// EnvelopeFromHeader builds the envelope of a message from its header
// (github.com/emersion/go-message/mail): the sender from Sender, else the
// first From address; the recipients from To, Cc and Bcc, each once.
func EnvelopeFromHeader(h mail.Header) (*Envelope, error) {
	env := &Envelope{}
	senders, err := h.AddressList("Sender")
	if err != nil {
		return nil, errInput("header Sender: %v", err)
	}
	if len(senders) == 0 {
		if senders, err = h.AddressList("From"); err != nil {
			return nil, errInput("header From: %v", err)
		}
	}
	if len(senders) == 0 {
		return nil, errInput("the header has neither Sender nor From")
	}
	env.From = senders[0].Address
	seen := map[string]bool{}
	for _, field := range []string{"To", "Cc", "Bcc"} {
		list, err := h.AddressList(field)
		if err != nil {
			return nil, errInput("header %s: %v", field, err)
		}
		for _, a := range list {
			if !seen[a.Address] {
				seen[a.Address] = true
				env.To = append(env.To, a.Address)
			}
		}
	}
	if len(env.To) == 0 {
		return nil, errInput("the header has no recipient in To, Cc or Bcc")
	}
	return env, nil
}

// SendMessage sends a message given as a go-message header and the body
// that follows it: the envelope comes from the header (EnvelopeFromHeader),
// and the Bcc field is removed from what goes on the wire, so that its
// recipients get the message without the others learning of them.
func (c *Client) SendMessage(ctx context.Context, h mail.Header, body io.Reader) (*Receipt, error) {
	env, err := EnvelopeFromHeader(h)
	if err != nil {
		return nil, err
	}
	wire := h.Copy()
	wire.Del("Bcc")
	var head bytes.Buffer
	if err := textproto.WriteHeader(&head, wire.Header.Header); err != nil {
		return nil, errInput("writing the header: %v", err)
	}
	msg := io.Reader(io.MultiReader(&head, body))
	if n, ok := messageSize(body); ok {
		msg = &sizedReader{Reader: msg, size: int64(head.Len()) + n}
	}
	return c.Send(ctx, env, msg)
}

// sizedReader is a reader that knows its size, so that Send can announce
// SIZE.
type sizedReader struct {
	io.Reader
	size int64
}

func (r *sizedReader) Size() int64 { return r.size }
