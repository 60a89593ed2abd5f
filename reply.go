package smtp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Bounds on what a server may send in one reply. A reply beyond them is a
// protocol error, and memory never grows past them.
const (
	maxReplyLine  = 64 << 10 // bytes in one reply line, CRLF included
	maxReplyLines = 1000     // lines in one reply
	maxReplyText  = 1 << 20  // bytes of text kept from one reply
)

// Reply is a server's reply to a command (RFC 5321 section 4.2).
type Reply struct {
	// Code is the three-digit reply code, e.g. 250.
	Code int
	// Enhanced is the enhanced status code (RFC 3463), e.g. {5, 1, 1};
	// zero when the server sent none.
	Enhanced EnhancedCode
	// Message is the text of every line joined by "\n", with the reply
	// code and the enhanced status code removed.
	Message string
}

// EnhancedCode is an enhanced mail system status code (RFC 3463):
// class, subject and detail, as in 5.1.1.
type EnhancedCode [3]int

// String formats the code as "class.subject.detail", or "" when zero.
func (c EnhancedCode) String() string {
	if c == (EnhancedCode{}) {
		return ""
	}
	return strconv.Itoa(c[0]) + "." + strconv.Itoa(c[1]) + "." + strconv.Itoa(c[2])
}

// replyReader reads replies from a server with bounded memory. Lines that
// fit the bufio.Reader's buffer are parsed in place; longer ones are
// gathered in buf up to maxReplyLine.
type replyReader struct {
	r      *bufio.Reader
	buf    []byte            // a line longer than r's buffer, reused
	text   []byte            // the message of the reply being read, reused
	cut    []byte            // a last line the server sent without its line ending before closing
	onLine func(line []byte) // called with every line, CRLF removed; may be nil
}

// cutLineError is the connection closed by the server in the middle of a
// line: what it sent of the line is kept, for the trace and the error
// (a server going down often says why in a last "421 ..." without CRLF).
type cutLineError struct{ line string }

func (e *cutLineError) Error() string {
	return "the server closed the connection after sending " + quoteServer(e.line) + " without its line ending"
}
func (e *cutLineError) Unwrap() error { return io.ErrUnexpectedEOF }

// partial returns the line cut by the close, if any.
func (rr *replyReader) partial() []byte { return rr.cut }

// read reads one whole reply. The Message is kept when keepText is set or
// the reply is of class 4 or 5; otherwise it is left empty, which saves the
// allocation on the hot path of a transaction. A malformed reply is a
// *protocolError; a failed read is returned as it is.
func (rr *replyReader) read(keepText bool) (Reply, error) {
	var rep Reply
	rr.text = rr.text[:0]
	for n := 0; ; n++ {
		if n == maxReplyLines {
			return rep, &protocolError{fmt.Sprintf("smtp: reply has more than %d lines", maxReplyLines)}
		}
		line, err := rr.readLine()
		if err != nil {
			if len(rr.cut) > 0 && rr.onLine != nil {
				rr.onLine(rr.cut)
			}
			return rep, err
		}
		if rr.onLine != nil {
			rr.onLine(line)
		}
		code, last, text, err := parseReplyLine(line)
		if err != nil {
			return rep, err
		}
		if n == 0 {
			rep.Code = code
			keepText = keepText || code >= 400
		} else if code != rep.Code {
			return rep, &protocolError{fmt.Sprintf("smtp: reply code changed from %d to %d inside a multiline reply", rep.Code, code)}
		}
		if enh, rest, ok := parseEnhanced(text, code); ok {
			if rep.Enhanced == (EnhancedCode{}) {
				rep.Enhanced = enh
			}
			if enh == rep.Enhanced {
				text = rest
			}
		}
		if keepText {
			if n > 0 {
				rr.text = append(rr.text, '\n')
			}
			rr.text = append(rr.text, text...)
			if len(rr.text) > maxReplyText {
				return rep, &protocolError{fmt.Sprintf("smtp: reply longer than %d bytes", maxReplyText)}
			}
		}
		if last {
			if keepText {
				rep.Message = string(rr.text)
			}
			return rep, nil
		}
	}
}

// readLine returns the next line without its line ending (CRLF, or a bare
// LF from a lax server). The slice is valid until the next call.
func (rr *replyReader) readLine() ([]byte, error) {
	line, err := rr.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		rr.buf = append(rr.buf[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = rr.r.ReadSlice('\n')
			if len(rr.buf)+len(line) > maxReplyLine {
				return nil, &protocolError{fmt.Sprintf("smtp: reply line longer than %d bytes", maxReplyLine)}
			}
			rr.buf = append(rr.buf, line...)
		}
		line = rr.buf
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				rr.cut = append(rr.cut[:0], line[:min(len(line), maxReplyLine)]...)
				return nil, &cutLineError{line: string(rr.cut)}
			}
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(line) > maxReplyLine {
		return nil, &protocolError{fmt.Sprintf("smtp: reply line longer than %d bytes", maxReplyLine)}
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseReplyLine splits "250-text", "250 text" or "250" into the code,
// whether it is the last line, and the text.
func parseReplyLine(line []byte) (code int, last bool, text []byte, err error) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return 0, false, nil, &protocolError{"smtp: malformed reply line " + quoteShort(line)}
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, true, nil, nil
	}
	switch line[3] {
	case ' ':
		return code, true, line[4:], nil
	case '-':
		return code, false, line[4:], nil
	}
	return 0, false, nil, &protocolError{"smtp: malformed reply line " + quoteShort(line)}
}

// parseEnhanced reads an enhanced status code "c.s.d" at the start of text
// (RFC 3463 section 2). Its class must match the reply code's.
func parseEnhanced(text []byte, code int) (EnhancedCode, []byte, bool) {
	var enh EnhancedCode
	if len(text) < 5 || int(text[0]-'0') != code/100 || text[1] != '.' {
		return enh, text, false
	}
	enh[0] = code / 100
	i := 2
	for part := 1; part < 3; part++ {
		n, j := 0, i
		for j < len(text) && isDigit(text[j]) && j-i < 3 {
			n = n*10 + int(text[j]-'0')
			j++
		}
		if j == i || (j < len(text) && isDigit(text[j])) {
			return EnhancedCode{}, text, false
		}
		enh[part] = n
		i = j
		if part == 1 {
			if i >= len(text) || text[i] != '.' {
				return EnhancedCode{}, text, false
			}
			i++
		}
	}
	switch {
	case i == len(text):
		return enh, nil, true
	case text[i] == ' ':
		return enh, text[i+1:], true
	}
	return EnhancedCode{}, text, false
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// quoteShort quotes a server line for an error message, escaped and cut
// (see quoteServer).
func quoteShort(b []byte) string { return quoteServer(string(b)) }
