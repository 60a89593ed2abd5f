package smtptest

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// write takes what go-smtp writes, gathers it into whole replies, and sends
// each on (see emit). go-smtp writes one line at a time.
func (w *wire) write(p []byte) (int, error) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.wbuf = append(w.wbuf, p...)
	for {
		i := bytes.Index(w.wbuf, []byte("\r\n"))
		if i < 0 {
			break
		}
		line := string(w.wbuf[:i])
		w.wbuf = w.wbuf[i+2:]
		final := isFinal(line)
		if w.suppressGreeting {
			// The greeting of go-smtp's new view after STARTTLS,
			// which RFC 3207 does not have the server send.
			w.suppressGreeting = !final
			continue
		}
		w.reply = append(w.reply, line)
		if !final {
			continue
		}
		lines := w.reply
		w.reply = nil
		if w.ehlo {
			w.ehlo = false
			lines = w.rewriteEHLO(lines)
		}
		if err := w.emit(lines); err != nil {
			return 0, err
		}
	}
	if len(w.wbuf) == 0 {
		w.wbuf = nil
	}
	return len(p), nil
}

// isFinal tells whether a reply line is the last of its reply: "250 ..."
// rather than "250-...".
func isFinal(line string) bool {
	return len(line) < 4 || line[3] != '-'
}

func replyCode(line string) int {
	if len(line) < 3 {
		return 0
	}
	n, _ := strconv.Atoi(line[:3])
	return n
}

// code returns the code of the last reply sent.
func (w *wire) code() int {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.lastCode
}

var enhancedCodeRE = regexp.MustCompile(`^(\d{3}[ -])[245]\.\d{1,3}\.\d{1,3}(?: |$)`)

// emit sends one reply, wmu held: after Config.ReplyDelay, without enhanced
// status codes unless negotiated, and closing the connection after it if a
// hook asked so.
func (w *wire) emit(lines []string) error {
	if d := w.srv.cfg.ReplyDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-w.srv.done:
			t.Stop()
		}
	}
	var buf bytes.Buffer
	for _, l := range lines {
		if !w.enhanced {
			l = enhancedCodeRE.ReplaceAllString(l, "$1")
		}
		w.logf("S: %s", l)
		buf.WriteString(l)
		buf.WriteString("\r\n")
	}
	w.lastCode = replyCode(lines[len(lines)-1])
	w.conn.SetWriteDeadline(time.Now().Add(w.srv.cfg.WriteTimeout))
	_, err := w.conn.Write(buf.Bytes())
	if w.closeAfterReply {
		w.drop()
	}
	return err
}

// sendReply sends a reply of the wire's own, formatted as go-smtp does: the
// enhanced code x.0.0 when not set, none with gosmtp.NoEnhancedCode.
func (w *wire) sendReply(code int, enh gosmtp.EnhancedCode, text string) error {
	if enh == gosmtp.EnhancedCodeNotSet {
		switch code / 100 {
		case 2, 4, 5:
			enh = gosmtp.EnhancedCode{code / 100, 0, 0}
		default:
			enh = gosmtp.NoEnhancedCode
		}
	}
	lines := strings.Split(text, "\n")
	for i := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
			if enh != gosmtp.NoEnhancedCode {
				lines[i] = fmt.Sprintf("%d.%d.%d %s", enh[0], enh[1], enh[2], lines[i])
			}
		}
		lines[i] = fmt.Sprintf("%03d%s%s", code, sep, lines[i])
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.emit(lines)
}

func (w *wire) sendError(e *gosmtp.SMTPError) error {
	return w.sendReply(e.Code, e.EnhancedCode, e.Message)
}

// closeAfterNextReply has the connection closed once the next reply is
// sent: for a 421 given by a session.
func (w *wire) closeAfterNextReply() {
	w.wmu.Lock()
	w.closeAfterReply = true
	w.wmu.Unlock()
}

// rewriteEHLO makes go-smtp's EHLO reply say what the Config says: it
// removes the extensions that go-smtp always advertises and the Config
// disables, and adds STARTTLS and REQUIRETLS, which go-smtp, not seeing
// TLS, cannot advertise rightly.
func (w *wire) rewriteEHLO(lines []string) []string {
	if replyCode(lines[0]) != 250 {
		return lines
	}
	cfg := w.srv.cfg
	isTLS := w.info().tls
	texts := make([]string, 0, len(lines)+2)
	for i, l := range lines {
		text := ""
		if len(l) > 4 {
			text = l[4:]
		}
		if i > 0 {
			keyword, _, _ := strings.Cut(text, " ")
			switch strings.ToUpper(keyword) {
			case "PIPELINING":
				if cfg.DisablePipelining {
					continue
				}
			case "8BITMIME":
				if cfg.Disable8BitMIME {
					continue
				}
			case "ENHANCEDSTATUSCODES":
				if cfg.DisableEnhancedStatusCodes {
					continue
				}
			case "CHUNKING":
				if cfg.DisableChunking {
					continue
				}
			case "LIMITS":
				if cfg.DisableLimits {
					continue
				}
				if cfg.MaxMessagesPerConn > 0 {
					text += fmt.Sprintf(" MAILMAX=%d", cfg.MaxMessagesPerConn)
				}
			case "SIZE":
				if cfg.DisableSize {
					continue
				}
			case "STARTTLS", "REQUIRETLS":
				continue // decided below
			}
		}
		texts = append(texts, text)
	}
	if cfg.MaxMessagesPerConn > 0 && cfg.MaxRecipients == 0 && !cfg.DisableLimits {
		texts = append(texts, fmt.Sprintf("LIMITS MAILMAX=%d", cfg.MaxMessagesPerConn))
	}
	if cfg.TLS == StartTLS && !isTLS {
		texts = append(texts, "STARTTLS")
	}
	if isTLS && !cfg.DisableRequireTLS {
		texts = append(texts, "REQUIRETLS")
	}
	out := make([]string, len(texts))
	for i, t := range texts {
		sep := "-"
		if i == len(texts)-1 {
			sep = " "
		}
		out[i] = "250" + sep + t
	}
	return out
}

// refuse answers a connection with e instead of a greeting (StepConnect).
// After a 421 it closes; otherwise, as RFC 5321 section 3.1 asks after a
// 554 greeting, it answers QUIT with 221 and anything else with 503.
func (w *wire) refuse(e *gosmtp.SMTPError) {
	defer w.drop()
	if w.sendError(e) != nil || e.Code == 421 {
		return
	}
	for {
		w.conn.SetReadDeadline(time.Now().Add(w.srv.cfg.ReadTimeout))
		piece, err := w.readPiece()
		if err != nil {
			return
		}
		if w.discardRest() != nil {
			return
		}
		verb, args := splitCommand(strings.TrimRight(string(piece), "\r\n"))
		w.noteCommand(verb, args)
		if verb == "QUIT" {
			w.sendReply(221, gosmtp.EnhancedCode{2, 0, 0}, "Bye")
			w.closeGracefully()
			return
		}
		if w.sendReply(503, gosmtp.EnhancedCode{5, 5, 1}, "Bad sequence of commands") != nil {
			return
		}
	}
}
