package smtp

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"
)

func TestEnvelopeFromHeader(t *testing.T) {
	t.Parallel()
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{{Name: "Alice", Address: "alice@example.com"}})
	h.SetAddressList("To", []*mail.Address{{Address: "bob@example.com"}, {Address: "carol@example.com"}})
	h.SetAddressList("Cc", []*mail.Address{{Address: "bob@example.com"}, {Address: "dave@example.com"}})
	h.SetAddressList("Bcc", []*mail.Address{{Address: "eve@example.com"}})
	env, err := EnvelopeFromHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	if env.From != "alice@example.com" || strings.Join(env.To, " ") != "bob@example.com carol@example.com dave@example.com eve@example.com" {
		t.Errorf("EnvelopeFromHeader = %+v", env)
	}
	h.SetAddressList("Sender", []*mail.Address{{Address: "list@example.com"}})
	if env, _ := EnvelopeFromHeader(h); env.From != "list@example.com" {
		t.Errorf("with Sender: From = %q, want the Sender", env.From)
	}
	if _, err := EnvelopeFromHeader(mail.Header{}); err == nil {
		t.Error("an empty header gave an envelope")
	}
}

func TestSendMessageRemovesBcc(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c, err := Dial(bg, srv.Addr(), realOpts(srv, Plaintext))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{{Address: "alice@example.com"}})
	h.SetAddressList("To", []*mail.Address{{Address: "bob@example.com"}})
	h.SetAddressList("Bcc", []*mail.Address{{Address: "secret@example.com"}})
	h.SetSubject("hello")
	r, err := c.SendMessage(bg, h, strings.NewReader("Hi Bob.\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Accepted) != 2 {
		t.Errorf("Accepted = %v, want bob and the Bcc recipient", r.Accepted)
	}
	m := srv.Messages()[0]
	if strings.Join(m.To, " ") != "bob@example.com secret@example.com" {
		t.Errorf("envelope recipients = %v", m.To)
	}
	if bytes.Contains(bytes.ToLower(m.Raw), []byte("bcc")) || bytes.Contains(m.Raw, []byte("secret@")) {
		t.Errorf("the Bcc went on the wire:\n%s", m.Raw)
	}
	if m.Header.Get("Subject") != "hello" || !bytes.HasSuffix(m.Raw, []byte("\r\n\r\nHi Bob.\r\n")) {
		t.Errorf("message as received:\n%s", m.Raw)
	}
	if m.MailOptions.Size != int64(len(m.Raw)) {
		t.Errorf("SIZE=%d for a message of %d bytes", m.MailOptions.Size, len(m.Raw))
	}
}
