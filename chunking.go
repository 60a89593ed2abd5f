package smtp

import (
	"context"
	"errors"
	"io"
	"strconv"
)

// BDAT (RFC 3030) chunking.
const (
	chunkSize   = 256 << 10 // a chunk of a message whose size is not known ahead
	chunkWindow = 8         // chunks sent ahead of their replies, at most
)

// sendChunked runs a transaction with BDAT. When the size is known, MAIL,
// every RCPT, "BDAT n LAST" and the content go out together: one round
// trip per message. Otherwise the content goes in chunks of chunkSize,
// at most chunkWindow of them ahead of their replies. Without PIPELINING
// each command waits for its reply.
//
// Unlike DATA, the content may be on the wire before the server has
// answered the recipients; the server discards it when it refused them all.
func (c *Client) sendChunked(ctx context.Context, p *plan) (*Receipt, error) {
	pipelined := c.ext.has("PIPELINING")
	r, err := c.mailAndRcpts(ctx, p, pipelined)
	if err != nil || r.Accepted == nil {
		return r, err
	}
	if p.size >= 0 {
		return c.chunkWhole(ctx, p, r, pipelined)
	}
	return c.chunkStream(ctx, p, r, pipelined)
}

// chunkWhole sends the content of known size as one BDAT LAST and reads
// every reply. The transaction is complete on the wire once flushed, so a
// connection lost before the last reply leaves the outcome unknown.
func (c *Client) chunkWhole(ctx context.Context, p *plan, r *Receipt, pipelined bool) (*Receipt, error) {
	c.bdatLine(p.size, true)
	if err := c.queue(c.line); err != nil {
		return nil, err
	}
	if err := c.writeChunkContent(ctx, p); err != nil {
		return nil, err
	}
	c.tx.endSent = true
	if err := c.flush(ctx, "BDAT"); err != nil {
		return nil, err
	}
	c.emit(Event{Kind: EventDataDone, Size: p.size})
	var mailErr error
	if pipelined {
		var err error
		if mailErr, err = c.envelopeReplies(ctx, p, r); err != nil {
			return nil, unknownUnlessRefused(err)
		}
	}
	return c.lastChunkReply(ctx, r, mailErr)
}

// chunkStream sends content of unknown size in chunks.
func (c *Client) chunkStream(ctx context.Context, p *plan, r *Receipt, pipelined bool) (*Receipt, error) {
	if c.chunkBuf == nil {
		// Room for the BDAT line before the content, and for what the
		// line-ending fix adds to the last read (at most twice its size).
		c.chunkBuf = make([]byte, chunkHeadroom, chunkHeadroom+chunkSize+2*copyBufSize)
	}
	c.chunk = c.chunkBuf[chunkHeadroom:chunkHeadroom]
	var dw dotWriter
	sink := (*appendSink)(&c.chunk)
	dw.resetChunk(sink)
	var total int64
	outstanding, envelopeRead := 0, !pipelined
	var mailErr error
	for {
		c.chunk = c.chunk[:0]
		last, err := c.fillChunk(&dw, p)
		if err != nil {
			return nil, err
		}
		total += int64(len(c.chunk))
		c.tx.contentOut(len(c.chunk))
		c.tx.endSent = last
		c.writeChunk(last)
		if last {
			if err := c.flush(ctx, "BDAT"); err != nil {
				return nil, err
			}
			c.emit(Event{Kind: EventDataDone, Size: total})
			break
		}
		outstanding++
		if !envelopeRead || outstanding >= chunkWindow || !pipelined {
			if err := c.flush(ctx, "BDAT"); err != nil {
				return nil, err
			}
		}
		if !envelopeRead {
			envelopeRead = true
			if mailErr, err = c.envelopeReplies(ctx, p, r); err != nil {
				return nil, err
			}
			if mailErr != nil || len(r.Accepted) == 0 {
				return c.abandonChunks(ctx, r, mailErr, outstanding)
			}
		}
		for outstanding >= chunkWindow || (!pipelined && outstanding > 0) {
			outstanding--
			if refused, err := c.replyTo(ctx, "BDAT"); err != nil || refused != nil {
				if err != nil {
					return nil, err
				}
				return c.abandonChunks(ctx, r, refused, outstanding)
			}
		}
	}
	if !envelopeRead {
		var err error
		if mailErr, err = c.envelopeReplies(ctx, p, r); err != nil {
			return nil, unknownUnlessRefused(err)
		}
	}
	for ; outstanding > 0; outstanding-- {
		if refused, err := c.replyTo(ctx, "BDAT"); err != nil {
			return nil, unknownUnlessRefused(err)
		} else if refused != nil && mailErr == nil {
			mailErr = refused
		}
	}
	return c.lastChunkReply(ctx, r, mailErr)
}

// chunkHeadroom is the room kept before a chunk for its BDAT line.
const chunkHeadroom = 32

// writeChunk writes "BDAT n [LAST]" and the chunk in c.chunk. The line is
// put in the room before the chunk, so that line and chunk go to the
// connection in one write, with no copy when nothing else is buffered.
func (c *Client) writeChunk(last bool) {
	c.bdatLine(int64(len(c.chunk)), last)
	start := chunkHeadroom - len(c.line) - 2
	if len(c.chunk) == 0 || &c.chunk[0] != &c.chunkBuf[:chunkHeadroom+1][chunkHeadroom] || start < 0 {
		c.queue(c.line) // the chunk outgrew its array (not expected): two writes
		c.bw.Write(c.chunk)
		return
	}
	copy(c.chunkBuf[start:], c.line)
	copy(c.chunkBuf[chunkHeadroom-2:], "\r\n")
	if c.trace != nil {
		c.lineSent(string(c.line))
	}
	c.bw.Write(c.chunkBuf[start : chunkHeadroom+len(c.chunk)])
}

// fillChunk reads the message into c.chunk, normalised (or as it is for
// BINARYMIME), until the chunk is full or the message ends.
func (c *Client) fillChunk(dw *dotWriter, p *plan) (last bool, err error) {
	if c.copyBuf == nil {
		c.copyBuf = make([]byte, copyBufSize)
	}
	for len(c.chunk) < chunkSize {
		n, rerr := c.tx.Read(c.copyBuf[:min(copyBufSize, chunkSize-len(c.chunk))])
		if n > 0 {
			if p.deny8bit && has8bit(c.copyBuf[:n]) {
				return false, c.refuse8bit()
			}
			if p.binary {
				c.chunk = append(c.chunk, c.copyBuf[:n]...)
			} else {
				dw.Write(c.copyBuf[:n])
			}
		}
		if rerr == io.EOF {
			if !p.binary {
				dw.close()
			}
			return true, nil
		}
		if rerr != nil {
			return false, c.readFailed(rerr)
		}
	}
	return false, nil
}

// abandonChunks ends a chunked transaction the server refused midway: it
// reads the replies still due, resets, and reports the refusal.
func (c *Client) abandonChunks(ctx context.Context, r *Receipt, cause error, outstanding int) (*Receipt, error) {
	for ; outstanding > 0; outstanding-- {
		if _, err := c.replyTo(ctx, "BDAT"); err != nil {
			return nil, err
		}
	}
	if cause == nil {
		return r, c.resetAfter(ctx, &RecipientsError{Rejected: r.Rejected})
	}
	return nil, c.resetAfter(ctx, cause)
}

// lastChunkReply reads the reply to BDAT LAST, which ends the transaction.
func (c *Client) lastChunkReply(ctx context.Context, r *Receipt, mailErr error) (*Receipt, error) {
	rep, err := c.readReply(ctx, cmdEndOfData, true, c.dataTimeout())
	if err != nil {
		if mailErr != nil || len(r.Accepted) == 0 {
			return nil, err // nothing could be delivered
		}
		return nil, &unknownDeliveryError{cause: err}
	}
	c.tx.replied = true
	// A refused BDAT may leave the transaction open (go-smtp keeps the
	// sender when every recipient was refused): reset, or the next MAIL
	// would be "nested" and its recipients join this transaction.
	switch {
	case mailErr != nil:
		return nil, c.resetAfter(ctx, mailErr)
	case len(r.Accepted) == 0:
		return r, c.resetAfter(ctx, &RecipientsError{Rejected: r.Rejected})
	}
	rep, err = c.endOfDataReply(rep)
	if err != nil {
		if c.err != nil {
			return nil, err
		}
		return nil, c.resetAfter(ctx, err)
	}
	r.Reply = rep
	return r, nil
}

// writeChunkContent writes the message of p.size bytes through the BDAT
// writer (or as it is for BINARYMIME). The content must come out exactly
// as long as announced: see exactSink.
func (c *Client) writeChunkContent(ctx context.Context, p *plan) error {
	c.tx.exact = exactSink{w: c.bw, limit: p.size}
	sink := &c.tx.exact // the Client's own: nothing allocated per message
	dw := &c.tx.sizer.dw
	dw.resetChunk(sink)
	if c.copyBuf == nil {
		c.copyBuf = make([]byte, copyBufSize)
	}
	for {
		n, rerr := c.tx.Read(c.copyBuf)
		if n > 0 {
			if p.deny8bit && has8bit(c.copyBuf[:n]) {
				return c.refuse8bit()
			}
			if err := ctx.Err(); err != nil { // writes may only fill the buffer: look
				return c.fail(ctx, "BDAT", err)
			}
			c.tx.contentOut(n)
			var err error
			if p.binary {
				_, err = sink.Write(c.copyBuf[:n])
			} else {
				_, err = dw.Write(c.copyBuf[:n])
			}
			if err != nil {
				return c.chunkFailed(ctx, sink, err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return c.readFailed(rerr)
		}
	}
	if !p.binary {
		if err := dw.close(); err != nil {
			return c.chunkFailed(ctx, sink, err)
		}
	}
	if err := sink.finish(); err != nil {
		return c.chunkFailed(ctx, sink, err)
	}
	return nil
}

// chunkFailed closes the connection after a BDAT chunk could not be
// written as announced.
func (c *Client) chunkFailed(ctx context.Context, sink *exactSink, err error) error {
	if err != errSizeChanged {
		return c.fail(ctx, "BDAT", err)
	}
	err = errInput("the message changed after it was sized: BDAT announced %d bytes, and it held %s (connection closed: nothing was delivered)", sink.limit, sink.held())
	c.shut(err)
	return err
}

// bdatLine puts "BDAT size [LAST]" in c.line.
func (c *Client) bdatLine(size int64, last bool) {
	c.line = append(c.line[:0], "BDAT "...)
	c.line = strconv.AppendInt(c.line, size, 10)
	if last {
		c.line = append(c.line, " LAST"...)
	}
}

// unknownUnlessRefused turns a lost connection, once the whole transaction
// is on the wire, into ErrDeliveryUnknown; a refusal stays what it is.
func unknownUnlessRefused(err error) error {
	if _, ok := err.(*Error); ok {
		return err
	}
	return &unknownDeliveryError{cause: err}
}

// appendSink is a byteSink that appends to a slice.
type appendSink []byte

func (s *appendSink) Write(p []byte) (int, error)       { *s = append(*s, p...); return len(p), nil }
func (s *appendSink) WriteByte(b byte) error            { *s = append(*s, b); return nil }
func (s *appendSink) WriteString(v string) (int, error) { *s = append(*s, v...); return len(v), nil }

var errSizeChanged = errors.New("smtp: BDAT content longer or shorter than announced")

// exactSink passes exactly limit bytes to w. It refuses a byte beyond
// limit, and holds the last one back until finish confirms the content
// ended where announced: so content that changed after it was sized can
// neither run past its BDAT chunk (the server would read the excess as
// commands: smuggling) nor complete the chunk with other bytes than meant.
type exactSink struct {
	w     byteSink
	limit int64
	n     int64 // bytes taken, the held one included
	last  [1]byte
	small [4]byte // WriteByte's and WriteString's bytes, without allocating
	over  bool
}

func (s *exactSink) Write(p []byte) (int, error) {
	if s.over || s.n+int64(len(p)) > s.limit { // sticky: dotWriter checks with Write(nil)
		s.over = true
		return 0, errSizeChanged
	}
	take := p
	if len(p) > 0 && s.n+int64(len(p)) == s.limit {
		s.last[0] = p[len(p)-1]
		take = p[:len(p)-1]
	}
	if _, err := s.w.Write(take); err != nil {
		return 0, err
	}
	s.n += int64(len(p))
	return len(p), nil
}

func (s *exactSink) WriteByte(b byte) error {
	s.small[0] = b
	_, err := s.Write(s.small[:1])
	return err
}

// WriteString takes the short strings dotWriter writes ("\r\n", ".\r\n").
func (s *exactSink) WriteString(v string) (int, error) {
	if len(v) > len(s.small) {
		return s.Write([]byte(v))
	}
	return s.Write(s.small[:copy(s.small[:], v)])
}

// finish writes the held byte once the content is known to be complete.
func (s *exactSink) finish() error {
	if s.n != s.limit {
		return errSizeChanged
	}
	if s.limit == 0 {
		return nil
	}
	return s.w.WriteByte(s.last[0])
}

// held describes how much content there was, for the error.
func (s *exactSink) held() string {
	if s.over {
		return "more"
	}
	return strconv.FormatInt(s.n, 10) + " bytes"
}
