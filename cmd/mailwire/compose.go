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

	"github.com/mailwire/smtp/internal/explain"
)

// composition is a message mailwire writes from the send flags.
type composition struct {
	from           *mail.Address
	to, cc         []*mail.Address // Bcc is never here: it goes in the envelope only
	subject        string
	body, bodyFile string
	attach         []string
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

// progressThreshold is the size from which send shows its progress.
const progressThreshold = 4 << 20

// progressReader counts the bytes Send reads and, when out is set, shows
// the count on a terminal once past progressThreshold. Over a file it also
// tells Send the size (Size, Len) and lets it look ahead (ReadAt), so that
// SIZE= is declared and checked; over a stream it tells nothing.
type progressReader struct {
	r     io.Reader
	sr    *io.SectionReader // nil for a stream
	size  int64             // -1 when unknown
	n     int64
	out   io.Writer // nil: no display
	last  time.Time
	shown bool
}

func newProgressReader(r io.Reader, size int64, out io.Writer) io.Reader {
	p := &progressReader{r: r, size: size, out: out}
	if sr, ok := r.(*io.SectionReader); ok {
		p.sr = sr
		return &sizedProgressReader{p}
	}
	return p
}

// progressOut is where the progress goes: stderr when it is a terminal.
func progressOut(show bool, stderr io.Writer) io.Writer {
	if show {
		return stderr
	}
	return nil
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.out != nil {
		p.show(err != nil)
	}
	return n, err
}

func (p *progressReader) show(final bool) {
	if p.n < progressThreshold && p.size < progressThreshold {
		return
	}
	if !final && time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	if p.size > 0 {
		fmt.Fprintf(p.out, "\rsending the message: %s of %s (%d%%)   ", explain.Bytes(p.n), explain.Bytes(p.size), p.n*100/p.size)
	} else {
		fmt.Fprintf(p.out, "\rsending the message: %s   ", explain.Bytes(p.n))
	}
	p.shown = true
	if final {
		fmt.Fprintln(p.out)
		p.out = nil
	}
}

// sizedProgressReader is a progressReader over a file.
type sizedProgressReader struct{ *progressReader }

// Size is the whole message's size; Len what is left to read.
func (s *sizedProgressReader) Size() int64 { return s.size }
func (s *sizedProgressReader) Len() int    { return int(s.size - s.n) }
func (s *sizedProgressReader) ReadAt(b []byte, off int64) (int, error) {
	return s.sr.ReadAt(b, off)
}
