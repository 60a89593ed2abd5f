package smtptest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// readBufferSize is the most of one line the wire holds at once; longer
// lines pass through in pieces.
const readBufferSize = 16 << 10

// wire is one client connection, between the socket and go-smtp. go-smtp
// reads through it one unit at a time (a command line, a line of message
// content, a piece of a BDAT chunk, a SASL response) so that the wire knows,
// before each command, what go-smtp has answered so far: whether DATA got
// 354, whether AUTH got 334. That lets it act on commands itself (hooks,
// STARTTLS) and never mistake content for a command. Replies go back
// through it too (reply.go).
type wire struct {
	srv *Server
	id  int
	raw net.Conn // the TCP connection

	// The read side is used by one goroutine at a time: setUp's, then
	// go-smtp's for the connection.
	conn      net.Conn      // raw, or TLS over raw
	r         *bufio.Reader // reads conn
	pending   []byte        // rest of the unit go-smtp is reading
	midLine   bool          // the last piece read ended before its LF
	chunk     int64         // BDAT chunk bytes still to pass
	checkData bool          // DATA was passed on: 354 means content follows
	checkAuth bool          // AUTH was passed on: 334 means a response follows
	inData    bool          // passing message content
	dataState int           // go-smtp's end-of-data state machine, mirrored
	dataBytes int

	// The write side, under wmu (see reply.go).
	wmu              sync.Mutex
	wbuf             []byte
	reply            []string // lines of the reply being gathered
	lastCode         int
	ehlo             bool // the reply being gathered answers EHLO
	enhanced         bool // enhanced status codes were negotiated
	suppressGreeting bool
	closeAfterReply  bool

	closed atomic.Bool

	// What sessions need to know, under mu.
	mu       sync.Mutex
	tls      bool
	authUser string
	messages int
	chunked  bool // the content being received came by BDAT
}

func newWire(s *Server, raw net.Conn, id int) *wire {
	return &wire{
		srv:  s,
		id:   id,
		raw:  raw,
		conn: raw,
		r:    bufio.NewReaderSize(raw, readBufferSize),
	}
}

// wireInfo is a snapshot of what a session needs of its connection.
type wireInfo struct {
	tls      bool
	authUser string
	messages int
	chunked  bool
}

func (w *wire) info() wireInfo {
	w.mu.Lock()
	defer w.mu.Unlock()
	return wireInfo{tls: w.tls, authUser: w.authUser, messages: w.messages, chunked: w.chunked}
}

func (w *wire) setAuthUser(user string) {
	w.mu.Lock()
	w.authUser = user
	w.mu.Unlock()
}

func (w *wire) countMessage() {
	w.mu.Lock()
	w.messages++
	w.mu.Unlock()
}

func (w *wire) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	w.srv.transcribe(w.id, line)
	if w.srv.cfg.Logf != nil {
		w.srv.cfg.Logf("smtptest: conn %d: %s", w.id, line)
	}
}

// drop closes the socket at once, without a reply or a TLS close_notify.
func (w *wire) drop() {
	if w.closed.CompareAndSwap(false, true) {
		w.raw.Close()
		w.srv.forget(w)
		w.logf("closed")
	}
}

// closeGracefully ends the connection after a reply such as 221: with a TLS
// close_notify when under TLS.
func (w *wire) closeGracefully() {
	if w.closed.Load() {
		return
	}
	if w.conn != w.raw {
		w.conn.SetWriteDeadline(time.Now().Add(time.Second))
		w.conn.Close()
	}
	w.drop()
}

// handshake starts TLS as the server, on the raw socket.
func (w *wire) handshake() error {
	tc := tls.Server(w.raw, w.srv.certs.server)
	tc.SetDeadline(time.Now().Add(w.srv.cfg.ReadTimeout))
	if err := tc.Handshake(); err != nil {
		return err
	}
	tc.SetDeadline(time.Time{})
	w.conn = tc
	w.r = bufio.NewReaderSize(tc, readBufferSize)
	w.mu.Lock()
	w.tls = true
	w.authUser = ""
	w.mu.Unlock()
	return nil
}

// readErr turns errors caused by our own closing into io.EOF, which go-smtp
// takes as the end of the connection without complaint.
func (w *wire) readErr(err error) error {
	if w.closed.Load() {
		return io.EOF
	}
	return err
}

// readPiece reads up to and including the next LF, or as much of the line
// as the buffer holds.
func (w *wire) readPiece() ([]byte, error) {
	line, err := w.r.ReadSlice('\n')
	switch {
	case err == nil:
		w.midLine = false
	case err == bufio.ErrBufferFull || len(line) > 0:
		w.midLine = true
	default:
		return nil, w.readErr(err)
	}
	return bytes.Clone(line), nil
}

// discardRest skips what is left of a line whose start was read.
func (w *wire) discardRest() error {
	for w.midLine {
		if _, err := w.readPiece(); err != nil {
			return err
		}
	}
	return nil
}

// next makes the next unit go-smtp is to read, in w.pending.
func (w *wire) next() error {
	if w.chunk > 0 {
		buf := make([]byte, min(w.chunk, readBufferSize))
		n, err := w.r.Read(buf)
		w.chunk -= int64(n)
		if n == 0 {
			return w.readErr(err)
		}
		w.pending = buf[:n]
		return nil
	}
	if w.midLine {
		piece, err := w.readPiece()
		if err != nil {
			return err
		}
		if w.inData {
			w.trackData(piece)
		}
		w.pending = piece
		return nil
	}
	if w.checkAuth {
		if w.code() == 334 {
			piece, err := w.readPiece()
			if err != nil {
				return err
			}
			w.logf("C: (SASL response)")
			w.pending = piece
			return nil
		}
		w.checkAuth = false
	}
	if w.checkData {
		w.checkData = false
		if w.code() == 354 {
			w.inData, w.dataState, w.dataBytes = true, 0, 0
			w.setChunked(false)
		}
	}
	if w.inData {
		piece, err := w.readPiece()
		if err != nil {
			return err
		}
		w.trackData(piece)
		w.pending = piece
		return nil
	}
	return w.command()
}

// The states of go-smtp's dataReader, whose idea of where content ends
// (CRLF "." CRLF, and nothing else) the wire must share exactly.
const (
	dataBeginLine = iota
	dataDot
	dataDotCR
	dataCR
	dataMid
	dataEOF
)

func (w *wire) trackData(piece []byte) {
	for _, c := range piece {
		switch w.dataState {
		case dataBeginLine:
			switch c {
			case '.':
				w.dataState = dataDot
			case '\r':
				w.dataState = dataCR
			default:
				w.dataState = dataMid
			}
		case dataDot:
			if c == '\r' {
				w.dataState = dataDotCR
			} else {
				w.dataState = dataMid
			}
		case dataDotCR:
			if c == '\n' {
				w.dataState = dataEOF
			} else {
				w.dataState = dataMid
			}
		case dataCR:
			if c == '\n' {
				w.dataState = dataBeginLine
			} else {
				w.dataState = dataMid
			}
		case dataMid:
			if c == '\r' {
				w.dataState = dataCR
			}
		}
	}
	w.dataBytes += len(piece)
	if w.dataState == dataEOF {
		w.inData = false
		w.logf("C: (%d bytes of message content, with the final dot)", w.dataBytes)
	}
}

// command reads command lines, carrying out those the wire answers itself,
// until one is for go-smtp.
func (w *wire) command() error {
	for {
		piece, err := w.readPiece()
		if err != nil {
			return err
		}
		verb, args := splitCommand(strings.TrimRight(string(piece), "\r\n"))
		handled, err := w.intercept(verb, args)
		if err != nil {
			return err
		}
		if !handled {
			w.pending = piece
			return nil
		}
		if err := w.discardRest(); err != nil {
			return err
		}
		w.conn.SetReadDeadline(time.Now().Add(w.srv.cfg.ReadTimeout))
	}
}

// splitCommand cuts a line as go-smtp does: a four-letter verb, a space and
// the arguments, STARTTLS being the one longer verb. verb is "" for what
// go-smtp will reject as malformed.
func splitCommand(line string) (verb, args string) {
	switch {
	case len(line) >= 8 && strings.EqualFold(line[:8], "STARTTLS"):
		return "STARTTLS", strings.TrimSpace(line[8:])
	case len(line) == 4:
		return strings.ToUpper(line), ""
	case len(line) > 5 && line[4] == ' ':
		return strings.ToUpper(line[:4]), strings.TrimSpace(line[5:])
	}
	return "", line
}

// bdatSize tells whether go-smtp will read a chunk after this BDAT, and its
// size: it does whenever the arguments parse.
func bdatSize(args string) (int64, bool) {
	f := strings.Fields(args)
	if len(f) == 0 || len(f) > 2 || (len(f) == 2 && !strings.EqualFold(f[1], "LAST")) {
		return 0, false
	}
	n, err := strconv.ParseUint(f[0], 10, 32)
	return int64(n), err == nil
}

// errHandedOver ends go-smtp's view of a connection after STARTTLS, for a
// new view to be handed over.
var errHandedOver = errors.New("smtptest: connection handed over after STARTTLS")

// intercept acts on a command before go-smtp sees it. handled means the
// wire answered it and go-smtp is not to see it; err ends go-smtp's view.
func (w *wire) intercept(verb, args string) (handled bool, err error) {
	cfg := w.srv.cfg
	w.noteCommand(verb, args)

	if cfg.ShutdownAfter > 0 && w.info().messages >= cfg.ShutdownAfter {
		w.sendReply(421, gosmtp.EnhancedCode{4, 7, 0}, cfg.Domain+" Too many messages on this connection, closing connection")
		w.drop()
		return true, io.EOF
	}
	if verb == "" {
		return false, nil
	}
	a := cfg.stepAction(verb)
	w.pause(a.delay)
	if a.drop {
		w.logf("dropping at %s", verb)
		w.drop()
		return true, io.EOF
	}
	size, isChunk := bdatSize(args)
	isChunk = isChunk && verb == "BDAT"
	if e := a.err; e != nil {
		if isChunk {
			if _, err := io.CopyN(io.Discard, w.r, size); err != nil {
				return true, w.readErr(err)
			}
		}
		if w.sendError(e) != nil || e.Code == 421 {
			w.drop()
			return true, io.EOF
		}
		return true, nil
	}

	switch verb {
	case "STARTTLS":
		return true, w.startTLS(args)
	case "BDAT":
		if cfg.DisableChunking {
			if isChunk {
				if _, err := io.CopyN(io.Discard, w.r, size); err != nil {
					return true, w.readErr(err)
				}
			}
			w.sendReply(502, gosmtp.EnhancedCode{5, 5, 1}, "BDAT not supported")
			return true, nil
		}
		if isChunk {
			w.chunk = size
			w.setChunked(true)
		}
	case "DATA":
		w.checkData = true
	case "AUTH":
		w.checkAuth = true
	case "EHLO", "LHLO":
		w.wmu.Lock()
		w.ehlo = true
		w.enhanced = !cfg.DisableEnhancedStatusCodes
		w.wmu.Unlock()
	case "HELO":
		w.wmu.Lock()
		w.enhanced = false
		w.wmu.Unlock()
	}
	return false, nil
}

// noteCommand logs a command and adds it to Server.Commands, hiding an
// AUTH initial response.
func (w *wire) noteCommand(verb, args string) {
	if verb == "AUTH" {
		if mech, _, ok := strings.Cut(args, " "); ok {
			args = mech + " ***"
		}
	}
	cmd := Command{ConnID: w.id, Verb: verb, Args: args, TLS: w.info().tls}
	w.logf("C: %s", cmd)
	w.srv.addCommand(cmd)
}

func (w *wire) setChunked(b bool) {
	w.mu.Lock()
	w.chunked = b
	w.mu.Unlock()
}

// startTLS carries out STARTTLS (RFC 3207). go-smtp has to forget the
// session (RFC 3207 section 4.2), so after the handshake it gets the
// connection as a new one, whose greeting the wire swallows.
func (w *wire) startTLS(args string) error {
	cfg := w.srv.cfg
	switch {
	case w.info().tls:
		w.sendReply(503, gosmtp.EnhancedCode{5, 5, 1}, "Already running TLS")
		return nil
	case cfg.TLS != StartTLS:
		w.sendReply(502, gosmtp.EnhancedCode{5, 5, 1}, "STARTTLS not supported")
		return nil
	case args != "":
		w.sendReply(501, gosmtp.EnhancedCode{5, 5, 4}, "STARTTLS takes no parameters")
		return nil
	}
	if err := w.sendReply(220, gosmtp.EnhancedCode{2, 0, 0}, "Ready to start TLS"); err != nil {
		w.drop()
		return io.EOF
	}
	// Plain text sent after STARTTLS must not count as sent under TLS
	// (CVE-2011-0411 and kin).
	if n := w.r.Buffered(); n > 0 {
		w.logf("discarding %d bytes sent ahead of the TLS handshake", n)
		w.r.Discard(n)
	}
	if err := w.handshake(); err != nil {
		w.logf("TLS handshake: %v", err)
		w.drop()
		return io.EOF
	}
	w.wmu.Lock()
	w.enhanced = false
	w.suppressGreeting = true
	w.wmu.Unlock()
	return errHandedOver
}
