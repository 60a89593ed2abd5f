package main

import (
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"
)

// composition is a message mailwire writes from the send flags.
type composition struct {
	from           *mail.Address
	to, cc         []*mail.Address // Bcc is never here: it goes in the envelope only
	subject        string
	body, bodyFile string
	attach         []string
	headers        []headerField    // --header: added last, replacing fields of the same name
	now            func() time.Time // nil: time.Now
}

// writeTemp writes the message to a temporary file, so that its size is
// known before it is sent (SIZE, the progress) and attachments are read
// once. The caller removes the file.
func (c *composition) writeTemp() (*os.File, error) {
	f, err := os.CreateTemp("", "mailwire-*.eml")
	if err != nil {
		return nil, err
	}
	if err := c.write(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// write writes the message: a single text part, or multipart/mixed with
// the text first and each attachment in base64.
func (c *composition) write(w io.Writer) error {
	body := c.body
	if c.bodyFile != "" {
		b, err := os.ReadFile(c.bodyFile)
		if err != nil {
			return err
		}
		body = string(b)
	}
	if !utf8.ValidString(body) {
		return fmt.Errorf("the message text is not UTF-8")
	}
	if body != "" && !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	var h mail.Header
	h.SetDate(now())
	h.SetAddressList("From", []*mail.Address{c.from})
	if len(c.to) > 0 {
		h.SetAddressList("To", c.to)
	} else if len(c.cc) == 0 {
		h.Set("To", "undisclosed-recipients:;") // Bcc only: RFC 5322 section 3.6.3
	}
	if len(c.cc) > 0 {
		h.SetAddressList("Cc", c.cc)
	}
	h.SetSubject(c.subject)
	_, domain, _ := strings.Cut(c.from.Address, "@")
	if err := h.GenerateMessageIDWithHostname(domain); err != nil {
		return err
	}
	applyHeaders(&h, c.headers)
	if len(c.attach) == 0 {
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		h.Set("Content-Transfer-Encoding", transferEncoding(body))
		tw, err := mail.CreateSingleInlineWriter(w, h)
		if err != nil {
			return err
		}
		return writeText(tw, body)
	}
	mw, err := mail.CreateWriter(w, h)
	if err != nil {
		return err
	}
	var th mail.InlineHeader
	th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	th.Set("Content-Transfer-Encoding", transferEncoding(body))
	tw, err := mw.CreateSingleInline(th)
	if err != nil {
		return err
	}
	if err := writeText(tw, body); err != nil {
		return err
	}
	for _, name := range c.attach {
		if err := attach(mw, name); err != nil {
			return err
		}
	}
	return mw.Close()
}

func writeText(w io.WriteCloser, text string) error {
	if _, err := io.WriteString(w, text); err != nil {
		return err
	}
	return w.Close()
}

func attach(mw *mail.Writer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var ah mail.AttachmentHeader
	ctype := mime.TypeByExtension(filepath.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	ah.Set("Content-Type", ctype)
	ah.SetFilename(filepath.Base(name))
	ah.Set("Content-Transfer-Encoding", "base64")
	aw, err := mw.CreateAttachment(ah)
	if err != nil {
		return err
	}
	if _, err := io.Copy(aw, f); err != nil {
		return fmt.Errorf("attaching %s: %w", name, err)
	}
	return aw.Close()
}

// transferEncoding is 7bit for short ASCII lines, quoted-printable else, so
// the message goes to any server, with 8BITMIME or without.
func transferEncoding(body string) string {
	for _, line := range strings.Split(body, "\n") {
		if len(line) > 998 {
			return "quoted-printable"
		}
		for i := 0; i < len(line); i++ {
			if line[i] >= 0x80 || line[i] == 0 {
				return "quoted-printable"
			}
		}
	}
	return "7bit"
}
