package main

// The limit client's content encoder and its streaming path.

import (
	"bytes"
	"io"
	"strconv"
	"strings"
)

// limitEncoder turns message content into its wire form a chunk at a
// time, in one pass over each chunk: every line ending (CRLF, a bare LF, a
// bare CR) becomes CRLF and, for DATA, a '.' that starts a line is
// doubled. Per line it looks for the LF (bytes.IndexByte) and for a CR
// before it (bytes.IndexByte on the line). A chunk that needs no change is
// not copied at all: chunk returns it where it is.
type limitEncoder struct {
	stuff     bool // DATA: double leading dots, and end with ".\r\n"
	lineStart bool // the next byte starts a line
	afterCR   bool // the chunk ended with a CR whose LF may begin the next one

	// The chunk being encoded: src[:done] is in out, unless clean (no
	// change so far, out unused).
	src   []byte
	out   []byte
	done  int
	clean bool
}

// start prepares the encoder for a new message.
func (e *limitEncoder) start(stuff bool) { *e = limitEncoder{stuff: stuff, lineStart: true} }

// chunk encodes src, the next piece of the message. It returns src itself
// when it needs no change (inPlace), else the encoded bytes appended to
// out[:0]. out may share src's array, as long as it starts at least
// len(src)+1 bytes before src: each input byte adds at most one, so the
// encoder never writes over bytes it has still to read.
func (e *limitEncoder) chunk(out, src []byte) (p []byte, inPlace bool) {
	e.src, e.out, e.done, e.clean = src, out[:0], 0, true
	i := 0
	if e.afterCR && len(src) > 0 {
		e.afterCR, e.lineStart = false, true
		if src[0] == '\n' {
			i = 1
		} else {
			e.insert(0, "\n")
		}
	}
	for i < len(src) {
		i = e.line(i)
	}
	if e.clean {
		return src, true
	}
	return append(e.out, src[e.done:]...), false
}

// line encodes the line, or the part of it in this chunk, that begins at
// src[i], and returns where the next one begins.
func (e *limitEncoder) line(i int) int {
	src := e.src
	if e.lineStart {
		e.lineStart = false
		if e.stuff && src[i] == '.' {
			e.insert(i, ".")
		}
	}
	end, lf := len(src), bytes.IndexByte(src[i:], '\n')
	if lf >= 0 {
		end = i + lf
	}
	for j := i; ; {
		cr := bytes.IndexByte(src[j:end], '\r')
		if cr < 0 {
			break
		}
		cr += j
		switch {
		case cr == end-1 && lf >= 0: // CRLF
		case cr == len(src)-1: // its LF, if any, is in the next chunk
			e.afterCR = true
			return len(src)
		default: // a bare CR ends a line
			e.insert(cr+1, "\n")
			if e.stuff && src[cr+1] == '.' {
				e.insert(cr+1, ".")
			}
			j = cr + 1
			continue
		}
		break
	}
	if lf < 0 {
		return len(src)
	}
	if end == 0 || src[end-1] != '\r' { // a bare LF
		e.insert(end, "\r")
	}
	e.lineStart = true
	return end + 1
}

// insert puts s before src[at].
func (e *limitEncoder) insert(at int, s string) {
	e.clean = false
	e.out = append(e.out, e.src[e.done:at]...)
	e.out = append(e.out, s...)
	e.done = at
}

// end appends the end of the message to p, the last chunk: the LF of a
// final CR, a CRLF if the last line lacks one, and ".\r\n" for DATA.
func (e *limitEncoder) end(p []byte) []byte {
	if e.afterCR {
		p = append(p, '\n')
	} else if !e.lineStart {
		p = append(p, "\r\n"...)
	}
	if e.stuff {
		p = append(p, ".\r\n"...)
	}
	return p
}

// ---- streaming a message of unknown size ----

// The streaming buffer, made once per connection:
//
//	[ head | out: limitChunk + limitGap | in: limitChunk | limitTail ]
//
// The content is read into in. A chunk that needs no change is written
// from there, its command line (and, first, the envelope) copied into the
// bytes just before it; otherwise the encoder writes it from the start of
// out, and the command line goes into head.
const (
	limitGap  = 16 // so that out starts more than limitChunk bytes before in
	limitTail = 8  // room for the end of the message after a full chunk
)

// buffers returns where out and in begin in c.buf, with head bytes of
// room before out.
func (c *limitConn) buffers(head int) (outStart, inStart int) {
	size := head + 2*limitChunk + limitGap + limitTail
	if cap(c.buf) < size {
		c.buf = make([]byte, size)
	}
	c.buf = c.buf[:cap(c.buf)]
	inStart = len(c.buf) - limitTail - limitChunk
	return head, inStart
}

// stream sends a message of unknown size, read from r limitChunk bytes at
// a time: with CHUNKING in BDAT chunks, at most limitWindow replies
// behind; otherwise with DATA.
func (c *limitConn) stream(from string, to []string, r io.Reader) error {
	env := envelope(from, to)
	if c.chunking {
		return c.streamBDAT(env, 1+len(to), r)
	}
	return c.streamDATA(env, len(to), r)
}

// streamBDAT sends the envelope with the first chunk, one write a chunk.
func (c *limitConn) streamBDAT(env []byte, replies int, r io.Reader) error {
	outStart, inStart := c.buffers(len(env) + 32)
	var e limitEncoder
	e.start(false)
	pre := make([]byte, 0, len(env)+32) // what goes before a chunk
	for first := true; ; first = false {
		n, last, err := fill(r, c.buf[inStart:inStart+limitChunk])
		if err != nil {
			return err
		}
		p, start := c.encodeChunk(&e, outStart, inStart, n, last)
		pre = pre[:0]
		if first {
			pre = append(pre, env...)
		}
		pre = appendBDAT(pre, len(p), last)
		start -= len(pre)
		copy(c.buf[start:], pre)
		if _, err := c.conn.Write(c.buf[start : start+len(pre)+len(p)]); err != nil {
			return err
		}
		if replies++; last {
			break
		}
		for ; replies > limitWindow; replies-- {
			if err := c.expect("2"); err != nil {
				return err
			}
		}
	}
	for ; replies > 0; replies-- {
		if err := c.expect("2"); err != nil {
			return err
		}
	}
	return nil
}

// appendBDAT appends "BDAT size[ LAST]\r\n" to b.
func appendBDAT(b []byte, size int, last bool) []byte {
	b = append(b, "BDAT "...)
	b = strconv.AppendInt(b, int64(size), 10)
	if last {
		b = append(b, " LAST"...)
	}
	return append(b, "\r\n"...)
}

// streamDATA sends the envelope and DATA, then the content, one write a
// chunk.
func (c *limitConn) streamDATA(env []byte, rcpts int, r io.Reader) error {
	if err := c.command(string(env)+"DATA\r\n", strings.Repeat("2", 1+rcpts)+"3"); err != nil {
		return err
	}
	outStart, inStart := c.buffers(0)
	var e limitEncoder
	e.start(true)
	for {
		n, last, err := fill(r, c.buf[inStart:inStart+limitChunk])
		if err != nil {
			return err
		}
		p, start := c.encodeChunk(&e, outStart, inStart, n, last)
		if _, err := c.conn.Write(c.buf[start : start+len(p)]); err != nil {
			return err
		}
		if last {
			return c.expect("2")
		}
	}
}

// encodeChunk encodes the n bytes read at inStart, and the end of the
// message when last; it returns them and where they begin in c.buf.
func (c *limitConn) encodeChunk(e *limitEncoder, outStart, inStart, n int, last bool) ([]byte, int) {
	p, inPlace := e.chunk(c.buf[outStart:outStart], c.buf[inStart:inStart+n])
	if last {
		p = e.end(p)
	}
	if inPlace {
		return p, inStart
	}
	return p, outStart
}

// fill reads r into p until p is full or r ends; last reports the end.
func fill(r io.Reader, p []byte) (n int, last bool, err error) {
	n, err = io.ReadFull(r, p)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return n, true, nil
	}
	return n, false, err
}
