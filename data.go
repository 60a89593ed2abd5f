package smtp

import (
	"bytes"
	"errors"
)

// dotWriter encodes message content for DATA (RFC 5321 section 4.5.2): it
// turns every line ending (CRLF, a bare LF or a bare CR) into CRLF, doubles a
// '.' at the start of a line, and on close ends the content with a CRLF if
// it lacks one and then ".\r\n". No sequence in the content can therefore
// end the data early: the only CRLF.CRLF on the wire is ours, which closes
// the door on SMTP smuggling (SEC Consult, 2023).
//
// With stuffing off it is the writer of BDAT chunks (RFC 3030): line
// endings still become CRLF (RFC 5321 demands it) but nothing is stuffed
// and no end-of-data line is added.
//
// It holds no buffer of its own and allocates nothing: it writes spans of
// the caller's bytes straight to w.
type dotWriter struct {
	w         byteSink
	stuff     bool  // dot-stuff and end with ".\r\n" (DATA), or not (BDAT)
	midLine   bool  // the last byte written was not a line ending
	pendingCR bool  // the last input byte was a CR whose LF may come next
	n         int64 // content bytes taken from the caller
}

// byteSink is where a dotWriter writes: a *bufio.Writer on the
// connection, or a counter.
type byteSink interface {
	Write(p []byte) (int, error)
	WriteByte(c byte) error
	WriteString(s string) (int, error)
}

var errNotDot = errors.New("smtp: data writer used after close")

// reset prepares the writer for a new DATA message.
func (d *dotWriter) reset(w byteSink) { *d = dotWriter{w: w, stuff: true} }

// resetChunk prepares the writer for BDAT content: no dot-stuffing.
func (d *dotWriter) resetChunk(w byteSink) { *d = dotWriter{w: w} }

// Write encodes p. It never returns a short count without an error.
func (d *dotWriter) Write(p []byte) (int, error) {
	if d.w == nil {
		return 0, errNotDot
	}
	d.n += int64(len(p))
	n := len(p)
	if d.pendingCR && len(p) > 0 {
		d.pendingCR = false
		if p[0] == '\n' {
			p = p[1:]
		}
		d.w.WriteString("\r\n")
		d.midLine = false
	}
	for len(p) > 0 {
		if n := d.cleanSpan(p); n > 0 { // lines that go out as they are, in one write
			d.w.Write(p[:n])
			d.midLine = false
			p = p[n:]
			continue
		}
		if !d.midLine && p[0] == '.' && d.stuff {
			d.w.WriteByte('.')
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.writeLinePart(p)
			break
		}
		line := p[:i]
		if i > 0 && line[i-1] == '\r' {
			line = line[:i-1]
		}
		d.writeLinePart(line)
		if d.pendingCR { // "\r\r\n": a bare CR, then the line ending
			d.pendingCR = false
			d.w.WriteString("\r\n")
		}
		d.w.WriteString("\r\n")
		d.midLine = false
		p = p[i+1:]
	}
	if _, err := d.w.Write(nil); err != nil { // bufio.Writer's sticky error
		return 0, err
	}
	return n, nil
}

// cleanSpan is the length of the longest prefix of p made of whole lines
// that need no change: each ends in CRLF, holds no other CR, and (when
// stuffing) does not start with '.'. Well-formed content, the common case,
// is so written a run of lines at a time instead of a piece per line.
func (d *dotWriter) cleanSpan(p []byte) int {
	span := 0
	for {
		q := p[span:]
		atLineStart := span > 0 || !d.midLine
		if len(q) == 0 || atLineStart && q[0] == '.' && d.stuff {
			return span
		}
		i := bytes.IndexByte(q, '\n')
		if i < 1 || q[i-1] != '\r' || bytes.IndexByte(q[:i-1], '\r') >= 0 {
			return span
		}
		span += i + 1
	}
}

// writeLinePart writes a piece of one line that holds no LF. A CR inside it
// is a bare CR and becomes a line ending; a CR at its very end is held back,
// since its LF may start the next Write.
func (d *dotWriter) writeLinePart(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\r')
		if i < 0 {
			d.w.Write(p)
			d.midLine = true
			return
		}
		if i > 0 {
			d.w.Write(p[:i])
			d.midLine = true
		}
		if i == len(p)-1 {
			d.pendingCR = true
			return
		}
		d.w.WriteString("\r\n")
		d.midLine = false
		p = p[i+1:]
		if p[0] == '.' && d.stuff {
			d.w.WriteByte('.')
		}
	}
}

// close ends the content: a CRLF if the last line lacks one, then ".\r\n"
// when stuffing. It does not flush.
func (d *dotWriter) close() error {
	if d.w == nil {
		return errNotDot
	}
	if d.pendingCR || d.midLine {
		d.w.WriteString("\r\n")
	}
	if d.stuff {
		d.w.WriteString(".\r\n")
	}
	d.w = nil
	return nil
}

// byteCounter is a byteSink that only counts: it sizes BDAT content
// before it is sent, with the very code that will send it.
type byteCounter struct{ n int64 }

func (c *byteCounter) Write(p []byte) (int, error)       { c.n += int64(len(p)); return len(p), nil }
func (c *byteCounter) WriteByte(byte) error              { c.n++; return nil }
func (c *byteCounter) WriteString(s string) (int, error) { c.n += int64(len(s)); return len(s), nil }
