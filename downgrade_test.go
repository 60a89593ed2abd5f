package smtp

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"
	"github.com/mailwire/smtp/smtptest"
)

func TestDowngradeForA7BitServer(t *testing.T) {
	t.Parallel()
	text := "Grüße aus München — 8-bit text.\r\nZweite Zeile.\r\n"
	attachment := []byte{0x00, 0xff, 0x10, 0x80, 'P', 'N', 'G'}
	msg := "From: a@example.com\r\nTo: b@example.com\r\nSubject: downgrade\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=XYZ\r\n\r\n" +
		"--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + text +
		"--XYZ\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(attachment) + "\r\n--XYZ--\r\n"
	srv := newServer(t, &smtptest.Config{Disable8BitMIME: true})
	if _, err := SendMail(bg, srv.Addr(), realOpts(srv, Plaintext), realEnv, strings.NewReader(msg)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	m := srv.Messages()[0]
	if has8bit(m.Raw) {
		t.Fatalf("8-bit bytes reached a 7-bit server:\n%s", m.Raw)
	}
	if m.MailOptions.Body != "" {
		t.Errorf("BODY=%s sent to a server without 8BITMIME", m.MailOptions.Body)
	}
	mr, err := m.MailReader()
	if err != nil {
		t.Fatal(err)
	}
	var gotText string
	var gotAttachment []byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p.Body)
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			gotText = string(body)
			if cte := h.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
				t.Errorf("text part sent as %q, want quoted-printable", cte)
			}
		case *mail.AttachmentHeader:
			gotAttachment = body
		}
	}
	// The CRLF before a boundary belongs to the boundary (RFC 2046 5.1.1).
	if want := strings.TrimSuffix(text, "\r\n"); gotText != want {
		t.Errorf("text decoded at the server = %q, want %q", gotText, want)
	}
	if !bytes.Equal(gotAttachment, attachment) {
		t.Errorf("attachment = %x, want %x", gotAttachment, attachment)
	}
}

func TestDowngradeRefusals(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{Disable8BitMIME: true})
	for name, msg := range map[string]string{
		"8-bit header":      "Subject: Grüße\r\n\r\nbody\r\n",
		"8-bit binary part": "MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xff\xfe\r\n",
	} {
		_, err := SendMail(bg, srv.Addr(), realOpts(srv, Plaintext), realEnv, strings.NewReader(msg))
		if err == nil || !strings.Contains(err.Error(), "8BITMIME") {
			t.Errorf("%s: SendMail = %v, want an error naming 8BITMIME", name, err)
		}
	}
	// A plain 8-bit body without MIME headers becomes UTF-8 quoted-printable.
	if _, err := SendMail(bg, srv.Addr(), realOpts(srv, Plaintext), realEnv, strings.NewReader("Subject: x\r\n\r\ncaf\xc3\xa9\r\n")); err != nil {
		t.Fatalf("plain 8-bit body: %v", err)
	}
	m := srv.Messages()[0]
	if !bytes.Contains(m.Raw, []byte("caf=C3=A9")) || m.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Errorf("converted message:\n%s", m.Raw)
	}
	if len(srv.Messages()) != 1 {
		t.Errorf("%d messages delivered, want only the convertible one", len(srv.Messages()))
	}
}
