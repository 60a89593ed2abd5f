package main

import (
	"context"
	"fmt"
	"io"
	"net/mail"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/mailwire/smtp"
)

// messageTemplate is what the editor starts from.
const messageTemplate = "From: \nTo: \nSubject: \n\n"

// editorRunner returns a func that edits a file with $VISUAL or $EDITOR
// (run by sh, as git does, so that "code --wait" works), or nil when
// neither is set.
func editorRunner(ctx context.Context, stdin io.Reader, stdout io.Writer) func(string) error {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		return nil
	}
	return func(path string) error {
		cmd := exec.CommandContext(ctx, "sh", "-c", editor+` "$1"`, "mailwire-editor", path)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stdout
		return cmd.Run()
	}
}

// send composes a message, asks for the envelope and sends it.
func (s *shell) send() {
	msg, err := s.compose()
	if err != nil {
		fmt.Fprintln(s.con, "!", err)
		return
	}
	if strings.TrimSpace(msg) == "" || msg == messageTemplate {
		fmt.Fprintln(s.con, "! empty message: nothing sent")
		return
	}
	var defFrom, defTo string
	if m, err := mail.ReadMessage(strings.NewReader(msg)); err == nil {
		if l, err := m.Header.AddressList("From"); err == nil && len(l) > 0 {
			defFrom = l[0].Address
		}
		var to []string
		for _, field := range []string{"To", "Cc"} {
			l, _ := m.Header.AddressList(field)
			for _, a := range l {
				to = append(to, a.Address)
			}
		}
		defTo = strings.Join(to, ", ")
		msg = addMissingFields(m.Header, msg, defFrom)
	}
	from, err := s.ask("MAIL FROM", defFrom)
	if err != nil {
		return
	}
	toLine, err := s.ask("RCPT TO (comma-separated)", defTo)
	if err != nil {
		return
	}
	var to []string
	for _, a := range strings.Split(toLine, ",") {
		if a = strings.Trim(strings.TrimSpace(a), "<>"); a != "" {
			to = append(to, a)
		}
	}
	r, err := s.c.Send(s.ctx, &smtp.Envelope{From: strings.Trim(from, "<>"), To: to}, strings.NewReader(msg))
	if err != nil {
		fmt.Fprintf(s.con, "! %v\n", err)
		return
	}
	fmt.Fprintf(s.con, "* Sent to %s: %s\n", strings.Join(r.Accepted, ", "), formatReply(r.Reply))
	for _, rej := range r.Rejected {
		fmt.Fprintf(s.con, "* Refused: <%s>: %s\n", rej.Addr, formatReply(rej.Err.Reply))
	}
}

// compose gets the message from the editor, or typed up to a lone dot.
func (s *shell) compose() (string, error) {
	if s.editor != nil {
		f, err := os.CreateTemp("", "mailwire-*.eml")
		if err != nil {
			return "", err
		}
		defer os.Remove(f.Name())
		_, err = f.WriteString(messageTemplate)
		f.Close()
		if err != nil {
			return "", err
		}
		resume := s.con.suspend()
		err = s.editor(f.Name())
		resume()
		if err != nil {
			return "", fmt.Errorf("the editor failed: %v", err)
		}
		b, err := os.ReadFile(f.Name())
		return string(b), err
	}
	fmt.Fprintln(s.con, "* Type the message, headers first (From:, To:, Subject:), then a blank line")
	fmt.Fprintln(s.con, "* and the text; a line with a single dot ends it.")
	var b strings.Builder
	for {
		line, err := s.con.readLine("")
		if err != nil {
			return "", fmt.Errorf("input ended inside the message: nothing sent")
		}
		if line == "." {
			return b.String(), nil
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
}

// ask reads an answer, def when left empty.
func (s *shell) ask(what, def string) (string, error) {
	prompt := what + ": "
	if def != "" {
		prompt = fmt.Sprintf("%s [%s]: ", what, def)
	}
	answer, err := s.con.readLine(prompt)
	if err != nil {
		fmt.Fprintln(s.con, "! input ended: nothing sent")
		return "", err
	}
	if answer = strings.TrimSpace(answer); answer == "" {
		return def, nil
	}
	return answer, nil
}

// addMissingFields puts Date and Message-ID before a header that lacks
// them (RFC 5322 section 3.6 requires Date; spam filters want both).
func addMissingFields(h mail.Header, msg, from string) string {
	var add string
	if h.Get("Date") == "" {
		add += "Date: " + time.Now().Format(time.RFC1123Z) + "\n"
	}
	if h.Get("Message-ID") == "" {
		_, domain, _ := strings.Cut(from, "@")
		if domain == "" {
			domain = "localhost"
		}
		add += fmt.Sprintf("Message-ID: <%d.mailwire@%s>\n", time.Now().UnixNano(), domain)
	}
	return add + msg
}
