package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/mailwire/smtp/smtptest"
)

func addr(name, a string) *mail.Address { return &mail.Address{Name: name, Address: a} }

// parts reads a message back with go-message: each part's media type,
// file name and decoded content, in order, and the top-level header.
func parts(t *testing.T, raw []byte) (mail.Header, []string) {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the message does not parse: %v\n%s", err, raw)
	}
	var out []string
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NextPart: %v", err)
		}
		raw, _ := io.ReadAll(p.Body)
		body := string(raw)
		var desc string
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			ct, _, _ := h.ContentType()
			desc = "inline " + ct
			if strings.HasPrefix(ct, "text/") { // text parts go as CRLF lines
				body = strings.ReplaceAll(body, "\r\n", "\n")
			}
		case *mail.AttachmentHeader:
			ct, _, _ := h.ContentType()
			name, _ := h.Filename()
			desc = "attachment " + ct + " " + name
		}
		out = append(out, desc+": "+body)
	}
	return r.Header, out
}

func TestComposeStructures(t *testing.T) {
	t.Parallel()
	base := Message{From: addr("Ann Échec", "ann@example.com"), To: []*mail.Address{addr("Bob", "bob@example.com")},
		Bcc: []*mail.Address{addr("", "secret@example.com")}, Subject: "Grüße, 😀", Date: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC), MessageID: "id1@example.com"}
	tests := []struct {
		name string
		edit func(m *Message)
		want []string
	}{
		{"text", func(m *Message) { m.Text = "hello\nline two" }, []string{"inline text/plain: hello\nline two"}},
		{"html only", func(m *Message) { m.HTML = "<p>hi</p>" }, []string{"inline text/html: <p>hi</p>"}},
		{"alternative", func(m *Message) { m.Text, m.HTML = "hi", "<p>hi</p>" }, []string{"inline text/plain: hi", "inline text/html: <p>hi</p>"}},
		{"attachment", func(m *Message) {
			m.Text = "see attached"
			m.Attachments = []Part{{Filename: "r\u00e9sum\u00e9 final.pdf", Body: strings.NewReader("%PDF-1.4 \x00\xff")}}
		}, []string{"inline text/plain: see attached", "attachment application/pdf résumé final.pdf: %PDF-1.4 \x00\xff"}},
		{"related and mixed", func(m *Message) {
			m.Text, m.HTML = "logo below", `<img src="cid:logo@x">`
			m.Inline = []Part{{Filename: "logo.png", ContentID: "logo@x", Body: strings.NewReader("PNG...")}}
			m.Attachments = []Part{{Filename: "a.txt", ContentType: "text/plain", Body: strings.NewReader("attached text")}}
		}, []string{"inline text/plain: logo below", `inline text/html: <img src="cid:logo@x">`, "inline image/png: PNG...", "attachment text/plain a.txt: attached text"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base
			tt.edit(&m)
			var buf bytes.Buffer
			n, err := m.WriteTo(&buf)
			if err != nil || n != int64(buf.Len()) {
				t.Fatalf("WriteTo: %d, %v (wrote %d)", n, err, buf.Len())
			}
			h, got := parts(t, buf.Bytes())
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("parts:\n%q\nwant\n%q", got, tt.want)
			}
			if subj, _ := h.Subject(); subj != base.Subject {
				t.Errorf("Subject %q", subj)
			}
			if from, _ := h.AddressList("From"); len(from) != 1 || from[0].Name != "Ann Échec" {
				t.Errorf("From %v", from)
			}
			if bytes.Contains(buf.Bytes(), []byte("secret@")) || h.Has("Bcc") {
				t.Error("Bcc in the content")
			}
			if id, _ := h.MessageID(); id != "id1@example.com" {
				t.Errorf("Message-ID %q", id)
			}
		})
	}
}

func TestComposeRefusesBadInput(t *testing.T) {
	t.Parallel()
	ok := Message{From: addr("", "a@example.com"), To: []*mail.Address{addr("", "b@example.com")}, Text: "x"}
	for name, edit := range map[string]func(m *Message){
		"no From":           func(m *Message) { m.From = nil },
		"no recipient":      func(m *Message) { m.To = nil },
		"no body":           func(m *Message) { m.Text = "" },
		"inline, no HTML":   func(m *Message) { m.Inline = []Part{{Body: strings.NewReader("x")}} },
		"CRLF in a header":  func(m *Message) { m.Header = map[string]string{"X-A": "1\r\nBcc: evil@x"} },
		"CRLF in Subject":   func(m *Message) { m.Subject = "hi\r\nBcc: evil@x" },
		"CRLF in file name": func(m *Message) { m.Attachments = []Part{{Filename: "a\r\n.txt", Body: strings.NewReader("x")}} },
		"nil Body":          func(m *Message) { m.Attachments = []Part{{Filename: "a.txt"}} },
	} {
		m := ok
		edit(&m)
		_, err := m.WriteTo(io.Discard)
		if _, err2 := m.Envelope(); err == nil && err2 == nil {
			t.Errorf("%s: accepted", name)
		} else if err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
}

// SendComposed: Bcc gets the message and is not in it; with seekable
// parts the size is known (SIZE, one BDAT); with a reader that cannot seek
// it streams without; a part's reader that fails delivers nothing.
func TestSendComposed(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c, err := Dial(context.Background(), srv.Addr(), realOpts(srv, Plaintext))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	for i, body := range []io.Reader{strings.NewReader(big), onlyReader{strings.NewReader(big)}} {
		m := &Message{From: addr("Ann", "ann@example.com"), To: []*mail.Address{addr("Bob", "bob@example.com")},
			Bcc: []*mail.Address{addr("", "hidden@example.com")}, Subject: "report", Text: "attached",
			Attachments: []Part{{Filename: "data.bin", Body: body}}}
		r, err := c.SendComposed(context.Background(), m)
		if err != nil || len(r.Accepted) != 2 {
			t.Fatalf("send %d: %v %+v", i, err, r)
		}
		got := srv.Messages()[i]
		if bytes.Contains(got.Raw, []byte("hidden@")) || strings.Join(got.To, ",") != "bob@example.com,hidden@example.com" {
			t.Errorf("send %d: envelope %v, Bcc in content %v", i, got.To, bytes.Contains(got.Raw, []byte("hidden@")))
		}
		if sized := got.MailOptions.Size > 0; sized != (i == 0) || sized && got.MailOptions.Size != int64(len(got.Raw)) {
			t.Errorf("send %d: SIZE=%d for %d bytes", i, got.MailOptions.Size, len(got.Raw))
		}
		_, ps := parts(t, got.Raw)
		if len(ps) != 2 || ps[1] != "attachment application/octet-stream data.bin: "+big {
			t.Errorf("send %d: the attachment did not arrive whole", i)
		}
		// Its size known, the message goes in one BDAT of exactly that size.
		var bdats []string
		for _, cmd := range srv.Commands() {
			if cmd.Verb == "BDAT" {
				bdats = append(bdats, cmd.Args)
			}
		}
		if want := fmt.Sprintf("%d LAST", len(got.Raw)); i == 0 && (len(bdats) != 1 || bdats[0] != want) {
			t.Errorf("BDAT commands %v, want one %q", bdats, want)
		}
	}
	m := &Message{From: addr("", "ann@example.com"), To: []*mail.Address{addr("", "bob@example.com")}, Text: "x",
		Attachments: []Part{{Filename: "a", Body: iotest.TimeoutReader(onlyReader{strings.NewReader(big)})}}}
	if _, err := c.SendComposed(context.Background(), m); err == nil {
		t.Fatal("a part's reader failed, and SendComposed reported success")
	}
	if n := len(srv.Messages()); n != 2 {
		t.Errorf("%d messages: a failed part was delivered", n)
	}
}

// FuzzComposeRoundTrip: what WriteTo writes parses back with go-message
// into the same subject, names and parts, and never holds Bcc.
func FuzzComposeRoundTrip(f *testing.F) {
	f.Add("Grüße", "Ann Échec", "hello\nworld", "<p>hi</p>", "résumé.pdf", []byte("%PDF\x00\xff"))
	f.Add("", "", "x", "", "", []byte(nil))
	f.Add("=?utf-8?q?trap?=", "\"quoted\"", ".\n..\n.", "<b>", "a b;c\".txt", []byte("\r\n.\r\n"))
	f.Fuzz(func(t *testing.T, subject, name, text, html, filename string, attachment []byte) {
		if strings.ContainsAny(subject+filename, "\r\n\x00") || text == "" && html == "" {
			t.Skip()
		}
		m := &Message{From: addr(name, "ann@example.com"), To: []*mail.Address{addr("", "bob@example.com")},
			Bcc: []*mail.Address{addr("", "hidden@example.com")}, Subject: subject, Text: text, HTML: html}
		if filename != "" {
			m.Attachments = []Part{{Filename: filename, ContentType: "application/octet-stream", Body: bytes.NewReader(attachment)}}
		}
		var buf bytes.Buffer
		if _, err := m.WriteTo(&buf); err != nil {
			if errors.Is(err, ErrInvalidArgument) {
				return
			}
			t.Fatalf("WriteTo: %v", err)
		}
		if bytes.Contains(buf.Bytes(), []byte("hidden@")) {
			t.Fatal("Bcc in the content")
		}
		h, ps := parts(t, buf.Bytes())
		if got, _ := h.Subject(); got != subject {
			t.Errorf("Subject %q, want %q", got, subject)
		}
		norm := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n") }
		want := []string{}
		if text != "" {
			want = append(want, "inline text/plain: "+norm(text))
		}
		if html != "" {
			want = append(want, "inline text/html: "+norm(html))
		}
		if filename != "" {
			want = append(want, "attachment application/octet-stream "+filename+": "+string(attachment))
		}
		for i := range ps {
			if strings.HasPrefix(ps[i], "inline text/") {
				ps[i] = norm(ps[i])
			}
		}
		if strings.Join(ps, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("parts %q, want %q", ps, want)
		}
	})
}

// A send refused before the content (at MAIL) ends the goroutine writing
// the message: SendComposed returns, nothing is left blocked on the pipe.
func TestSendComposedRefusedEarly(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{CommandErrors: map[string]*smtptest.Reply{"MAIL": {Code: 550, EnhancedCode: smtptest.EnhancedCode{5, 7, 1}, Message: "no"}}})
	c, err := Dial(context.Background(), srv.Addr(), realOpts(srv, Plaintext))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := onlyReader{strings.NewReader(strings.Repeat("x", 4<<20))}
	m := &Message{From: addr("", "a@example.com"), To: []*mail.Address{addr("", "b@example.com")}, Text: "x", Attachments: []Part{{Filename: "big", Body: big}}}
	done := make(chan error, 1)
	go func() { _, err := c.SendComposed(context.Background(), m); done <- err }()
	select {
	case err := <-done:
		var e *Error
		if !errors.As(err, &e) || e.Code != 550 {
			t.Errorf("SendComposed: %v, want the 550", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SendComposed still blocked after MAIL was refused")
	}
}
