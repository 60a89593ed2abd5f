package smtp

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// cmdEndOfData names the reply to the end of the message content in errors.
const cmdEndOfData = "end of data"

// copyBufSize is the piece size in which a message is streamed.
const copyBufSize = 32 << 10

// Envelope is the sender and the recipients of one mail transaction
// (RFC 5321 section 2.3.1). It is what the server delivers to, whatever the
// message's headers say.
type Envelope struct {
	// From is the reverse-path: where bounces go. "" sends the null
	// reverse-path "<>", as a bounce itself must.
	From string
	// To are the recipients; at least one.
	To []string
	// MailOptions asks for MAIL FROM parameters: DSN (Return,
	// EnvelopeID), REQUIRETLS, SMTPUTF8, BODY=BINARYMIME. Send works out
	// SIZE and BODY=8BITMIME itself; nil asks for nothing more.
	MailOptions *MailOptions
	// RcptOptions asks for RCPT TO parameters (DSN NOTIFY and ORCPT), by
	// recipient address as it stands in To; nil for none.
	RcptOptions map[string]*RcptOptions
}

// Receipt is the outcome of a Send the server accepted.
type Receipt struct {
	// Accepted are the recipients the server accepted, in envelope order.
	Accepted []string
	// Rejected are the recipients the server refused, with its replies.
	Rejected []*RecipientError
	// Reply is the reply to the end of data, e.g. "250 2.0.0 OK id=1b0PsA";
	// of the last transaction when there were several.
	Reply Reply
	// Transactions lists each transaction's recipients and reply (with its
	// queue id) when the Send took more than one: the server's LIMITS
	// allow fewer recipients per transaction than the envelope has, or it
	// deferred some with 452 4.5.3 "too many recipients". Nil for one.
	Transactions []Transaction

	one [1]string // Accepted's array for the common single recipient: one allocation less
}

// Transaction is one mail transaction of a Send that took several.
type Transaction struct {
	// Accepted are the recipients this transaction delivered to.
	Accepted []string
	// Reply is the server's reply to its end of data.
	Reply Reply
}

// Send runs one mail transaction: MAIL, a RCPT for each recipient, DATA and
// the message, streamed from msg and never held whole in memory. When the
// server offers PIPELINING, MAIL, every RCPT and DATA go out in one write
// (RFC 2920); otherwise one command at a time, with the same results.
//
// The message's line endings are sent as CRLF and its lines starting with
// '.' are dot-stuffed, whatever msg holds. When msg's size is known (it has
// a Len() int or Size() int64 method, as *bytes.Reader, *strings.Reader and
// *bytes.Buffer do) SIZE= is sent, and a message larger than the server's
// MaxMessageSize is refused before anything is sent. A message with 8-bit
// bytes is declared BODY=8BITMIME; when the server does not offer 8BITMIME
// it is refused (before MAIL when its content can be read ahead, otherwise
// at the first 8-bit byte, with the connection closed so that nothing is
// delivered).
//
// A Send to more recipients than the server's LIMITS RCPTMAX (RFC 9422)
// allows becomes several transactions on the connection, and recipients the
// server defers with 452 4.5.3 "too many recipients" (RFC 5321 section
// 4.5.3.1.10) go in the next one; Receipt.Transactions lists them. The
// message is read again for each: sought back to where it started when msg
// is an io.Seeker, else kept in memory while the first transaction reads
// it when the split is known in advance. A deferral that comes as a
// surprise, after the content of a reader that cannot seek went out, stays
// a refusal in Receipt.Rejected (a 452: send again to those).
//
// Recipients the server refuses are listed in Receipt.Rejected and the
// message goes to the others. When it refuses them all, nothing is
// delivered and the error is a *RecipientsError (the content is not sent,
// but with CHUNKING and PIPELINING a small message of known size goes in
// the same flight as the envelope, and the server throws it away). A refused MAIL, DATA or end of data
// is an *Error. ErrDeliveryUnknown reports a connection lost while waiting
// for the reply to the end of data. After a failed transaction the
// connection is reset (RSET) and ready for the next Send.
func (c *Client) Send(ctx context.Context, env *Envelope, msg io.Reader) (*Receipt, error) {
	if err := checkEnvelope(env); err != nil {
		return nil, err
	}
	if t := traceFrom(ctx); t != nil {
		c.useCallTrace(t)
		defer c.endCallTrace()
	}
	if c.opts.DKIM != nil {
		signed, release, err := c.signDKIM(msg)
		defer release()
		if err != nil {
			return nil, err
		}
		msg = signed
	}
	c.tx.earlier = 0
	if len(env.To) == 1 { // the common case: one transaction, nothing to split
		return c.transact(ctx, env, msg)
	}
	return c.sendInBatches(ctx, env, msg)
}

// transact runs one mail transaction of a Send.
func (c *Client) transact(ctx context.Context, env *Envelope, msg io.Reader) (*Receipt, error) {
	c.tx.begin(msg)
	defer c.tx.end() // keep nothing of the caller's
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	c.lastUsed = time.Now()
	p, err := c.plan(env, msg)
	if err != nil {
		return nil, err
	}
	c.line = append(c.line[:0], "MAIL FROM:<"...)
	c.line = append(c.line, p.from...)
	c.line = append(c.line, '>')
	c.line = c.appendMailParams(c.line, &p.mail)
	c.watch(ctx)
	defer c.unwatch()
	if p.mail.Size == 0 || p.mail.Size > commandBufSize {
		c.growWriteBuffer()
	}
	var r *Receipt
	if p.chunked {
		r, err = c.sendChunked(ctx, p)
	} else {
		r, err = c.sendData(ctx, p)
	}
	if c.err == nil {
		c.emit(Event{Kind: EventIdle})
	}
	if err != nil {
		return r, err
	}
	c.sent++
	return r, nil
}

// sendData runs a transaction with DATA.
func (c *Client) sendData(ctx context.Context, p *plan) (*Receipt, error) {
	r, err := c.envelope(ctx, p)
	if err != nil {
		return r, err
	}
	c.tx.lmtpWant = len(r.Accepted)
	if r.Reply, err = c.content(ctx, p.deny8bit); err != nil {
		return nil, err
	}
	if c.opts.LMTP {
		return c.lmtpReceipt(r)
	}
	return r, nil
}

// envelope sends MAIL (already in c.line), the RCPTs and DATA, pipelined
// when the server allows, and reads their replies in order. It returns once
// the server answered DATA with 354, or with the transaction reset.
func (c *Client) envelope(ctx context.Context, p *plan) (*Receipt, error) {
	pipelined := c.ext.has("PIPELINING")
	r, err := c.mailAndRcpts(ctx, p, pipelined)
	if err != nil || r.Accepted == nil {
		return r, err
	}
	c.line = append(c.line[:0], "DATA"...)
	if err := c.queue(c.line); err != nil {
		return nil, err
	}
	if err := c.flush(ctx, "DATA"); err != nil {
		return nil, err
	}
	var mailErr error
	if pipelined {
		if mailErr, err = c.envelopeReplies(ctx, p, r); err != nil {
			return nil, err
		}
	}
	rep, err := c.readReply(ctx, "DATA", false, c.timeout())
	if err != nil {
		return nil, err
	}
	if rep.Code == 354 && (mailErr != nil || len(r.Accepted) == 0) {
		// The server opened DATA with no recipient (RFC 2920 section
		// 3.1): end it with no content.
		c.dw.reset(c.bw)
		if _, err := c.endData(ctx); err != nil && c.err != nil {
			return nil, c.err // nothing could be delivered: not ErrDeliveryUnknown
		}
	}
	switch {
	case mailErr != nil:
		return nil, mailErr
	case len(r.Accepted) == 0:
		return r, c.resetAfter(ctx, &RecipientsError{Rejected: r.Rejected})
	case rep.Code != 354:
		return nil, c.resetAfter(ctx, c.unexpected("DATA", rep, 354))
	}
	return r, nil
}

// queue buffers a command line for a pipelined group. When the line is
// refused, what the group had buffered is dropped: nothing of it is sent.
func (c *Client) queue(line []byte) error {
	if err := c.writeLine(line); err != nil {
		c.bw.Reset(connWriter{c})
		return err
	}
	return nil
}

// mailAndRcpts buffers MAIL (already in c.line) and a RCPT for each
// recipient. Without PIPELINING it sends each and reads its reply; when
// every recipient is refused it resets and returns the Receipt with a nil
// Accepted and the *RecipientsError.
func (c *Client) mailAndRcpts(ctx context.Context, p *plan, pipelined bool) (*Receipt, error) {
	if err := c.queue(c.line); err != nil {
		return nil, err
	}
	if !pipelined {
		if err := c.expectOK(ctx, "MAIL FROM"); err != nil {
			return nil, err
		}
	}
	r := &Receipt{}
	if len(p.to) == 1 {
		r.Accepted = r.one[:0]
	} else {
		r.Accepted = make([]string, 0, len(p.to))
	}
	for i := range p.to {
		if err := c.queueRcpt(p, i); err != nil {
			return nil, err
		}
		if pipelined && (i+1)%pipelineWindow == 0 && i+1 < len(p.to) {
			if err := c.flush(ctx, "RCPT TO"); err != nil {
				return nil, err
			}
			if err := c.repliesUpTo(ctx, p, r, i+1); err != nil {
				return nil, err
			}
		}
		if !pipelined {
			if err := c.flush(ctx, "RCPT TO"); err != nil {
				return nil, err
			}
			if err := c.recipientReply(ctx, r, i, p); err != nil {
				return nil, err
			}
		}
	}
	if !pipelined && len(r.Accepted) == 0 {
		r.Accepted = nil
		return r, c.resetAfter(ctx, &RecipientsError{Rejected: r.Rejected})
	}
	return r, nil
}

// pipelineWindow is the most RCPT commands sent in one flight before
// their replies are read. A server may write each reply before it reads
// the next command; a client that wrote on without reading would wait
// forever once the socket buffers between them filled (RFC 2920 section
// 3.1). A hundred replies, a few KiB, fit in the smallest buffers.
const pipelineWindow = 100

// envelopeReplies reads the replies to a pipelined MAIL and RCPTs not read
// yet. The first result is MAIL's refusal; the second, a failure that
// closed the Client.
func (c *Client) envelopeReplies(ctx context.Context, p *plan, r *Receipt) (mailErr, err error) {
	if err := c.repliesUpTo(ctx, p, r, len(p.to)); err != nil {
		return nil, err
	}
	return c.tx.mailErr, nil
}

// repliesUpTo reads the replies to a pipelined MAIL, if not read yet, and
// to the RCPTs of p up to the n-th.
func (c *Client) repliesUpTo(ctx context.Context, p *plan, r *Receipt, n int) error {
	if !c.tx.mailReplied {
		c.tx.mailReplied = true
		var err error
		if c.tx.mailErr, err = c.replyTo(ctx, "MAIL FROM"); err != nil {
			return err
		}
	}
	for ; c.tx.rcptReplied < n; c.tx.rcptReplied++ {
		if err := c.recipientReply(ctx, r, c.tx.rcptReplied, p); err != nil {
			return err
		}
	}
	return nil
}

// expectOK flushes and reads the reply to verb: nil for class 2 or 3.
func (c *Client) expectOK(ctx context.Context, verb string) error {
	if err := c.flush(ctx, verb); err != nil {
		return err
	}
	refused, err := c.replyTo(ctx, verb)
	if err != nil {
		return err
	}
	return refused
}

// replyTo reads the reply to verb. A refusal is the first result, as an
// *Error; the second is a failure that closed the Client.
func (c *Client) replyTo(ctx context.Context, verb string) (refused, err error) {
	rep, err := c.readReply(ctx, verb, false, c.timeout())
	if err != nil {
		return nil, err
	}
	if rep.Code >= 300 && rep.Code < 400 {
		return nil, c.unexpected(verb, rep, 250)
	}
	refused = c.replyError(verb, rep)
	if c.err != nil { // a 421: the server is gone
		return nil, refused
	}
	return refused, nil
}

// queueRcpt buffers RCPT TO for the i-th recipient of p.
func (c *Client) queueRcpt(p *plan, i int) error {
	c.line = append(c.line[:0], "RCPT TO:<"...)
	c.line = append(c.line, p.to[i]...)
	c.line = append(c.line, '>')
	if p.rcpt != nil {
		c.line = c.appendRcptParams(c.line, p.rcpt[i], p.mail.UTF8)
	}
	return c.queue(c.line)
}

// recipientReply reads the reply to the i-th RCPT TO of p and files it in
// r, under the address as the caller gave it.
func (c *Client) recipientReply(ctx context.Context, r *Receipt, i int, p *plan) error {
	refused, err := c.replyTo(ctx, "RCPT TO")
	if err != nil {
		return err
	}
	if refused != nil {
		r.Rejected = append(r.Rejected, &RecipientError{Addr: p.orig[i], Err: refused.(*Error)})
		return nil
	}
	r.Accepted = append(r.Accepted, p.orig[i])
	return nil
}

// resetAfter sends RSET after a failed transaction and returns cause, or
// the failure of RSET itself when that closed the Client.
func (c *Client) resetAfter(ctx context.Context, cause error) error {
	if _, err := c.roundTrip(ctx, false, "RSET"); err != nil && c.err != nil {
		return err
	}
	return cause
}

// unexpected reports a reply whose code is not the one the protocol calls
// for: an *Error for class 4 and 5. Any other reply that does not fit
// (a 250 to DATA, a 354 to RCPT) means that the client and the server no
// longer agree on where they are: the connection is closed, since every
// later reply could be taken for another command's.
func (c *Client) unexpected(verb string, rep Reply, want int) error {
	if rep.Code >= 400 {
		return c.replyError(verb, rep)
	}
	err := &protocolError{fmt.Sprintf("smtp: %s: unexpected reply %d, want %d (connection closed: the client and the server no longer agree on the state)", verb, rep.Code, want)}
	c.shut(err)
	return err
}

// content streams the transaction's message after a 354 and reads the
// reply to the end of data.
func (c *Client) content(ctx context.Context, deny8bit bool) (Reply, error) {
	c.dw.reset(c.bw)
	if c.copyBuf == nil {
		c.copyBuf = make([]byte, copyBufSize)
	}
	for {
		n, rerr := c.tx.Read(c.copyBuf)
		if n > 0 {
			if err := c.writeContent(ctx, c.copyBuf[:n], deny8bit); err != nil {
				return Reply{}, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return Reply{}, c.readFailed(rerr)
		}
	}
	return c.endData(ctx)
}

// readFailed reports the caller's reader failing mid-content. The content
// cannot be ended without sending a truncated message, so the connection is
// closed and nothing is delivered.
func (c *Client) readFailed(rerr error) error {
	err := fmt.Errorf("smtp: reading the message: %w (connection closed: nothing was delivered)", rerr)
	c.shut(err)
	return err
}

// writeContent encodes one piece of the message. Each write to the
// connection has its own deadline (connWriter); a piece that only fills the
// buffer still stops at the end of the context.
func (c *Client) writeContent(ctx context.Context, p []byte, deny8bit bool) error {
	if deny8bit && has8bit(p) {
		return c.refuse8bit()
	}
	if err := ctx.Err(); err != nil {
		return c.fail(ctx, "DATA", err)
	}
	c.tx.contentOut(len(p))
	if _, err := c.dw.Write(p); err != nil {
		return c.fail(ctx, "DATA", err)
	}
	return nil
}

// refuse8bit stops a message found to hold 8-bit bytes while it streams to
// a server without 8BITMIME. Part of it may be on the wire, so the
// connection is closed before its end is sent: nothing is delivered.
func (c *Client) refuse8bit() error {
	err := errInput("the message has 8-bit bytes and the server does not offer 8BITMIME (RFC 6152): encode it as quoted-printable or base64 (connection closed: nothing was delivered)")
	c.shut(err)
	return err
}

// endData sends the end of data and reads its reply. A connection lost
// once the end was sent and before the reply is ErrDeliveryUnknown.
func (c *Client) endData(ctx context.Context) (Reply, error) {
	n := c.dw.n
	c.dw.close()
	c.tx.endSent = true
	if err := c.flush(ctx, "DATA"); err != nil {
		return Reply{}, err
	}
	if c.trace != nil {
		c.emit(Event{Kind: EventDataDone, Size: n})
	}
	rep, err := c.readReply(ctx, cmdEndOfData, true, c.dataTimeout())
	if err != nil {
		return Reply{}, &unknownDeliveryError{cause: err}
	}
	c.tx.replied = true
	if c.opts.LMTP {
		return c.lmtpReplies(ctx, rep)
	}
	return c.endOfDataReply(rep)
}

// endOfDataReply judges the reply to the end of data: every 2xx is the
// message taken (RFC 5321 section 4.2.1: 251 and the rest are positive
// completions too), a 4xx or 5xx its refusal. Anything else fits no state:
// the connection is closed, and whether the message was taken is unknown.
func (c *Client) endOfDataReply(rep Reply) (Reply, error) {
	switch {
	case rep.Code < 300:
		c.tx.accepted = true
		return rep, nil
	case rep.Code < 400:
		return rep, &unknownDeliveryError{cause: c.unexpected(cmdEndOfData, rep, 250)}
	}
	return rep, c.replyError(cmdEndOfData, rep)
}

// checkEnvelope refuses an envelope that cannot go on the wire.
func checkEnvelope(env *Envelope) error {
	if env == nil {
		return errInput("nil Envelope")
	}
	if err := checkAddress("MAIL FROM", env.From, true); err != nil {
		return err
	}
	if len(env.To) == 0 {
		return errInput("Envelope has no recipient")
	}
	for _, to := range env.To {
		if err := checkAddress("RCPT TO", to, false); err != nil {
			return err
		}
	}
	return nil
}

// Mail sends MAIL FROM:<from> with the parameters of opts (nil: none),
// starting a mail transaction (RFC 5321 section 4.1.1.2). A refusal is an
// *Error. Send does all of a transaction in one call; Mail, Rcpt and Data
// are for callers who need each step.
func (c *Client) Mail(ctx context.Context, from string, opts *MailOptions) error {
	if err := checkAddress("MAIL FROM", from, true); err != nil {
		return err
	}
	if err := c.begin(ctx); err != nil {
		return err
	}
	var mo MailOptions
	if opts != nil {
		mo = *opts
	}
	wire, err := c.wireAddress(from, &mo) // SMTPUTF8 or A-labels, as Send does
	if err != nil {
		return err
	}
	mo.Body = BodyType(strings.ToUpper(string(mo.Body)))
	if err := c.checkMailParams(&mo); err != nil {
		return err
	}
	c.line = append(c.line[:0], "MAIL FROM:<"...)
	c.line = append(c.line, wire...)
	c.line = append(c.line, '>')
	c.line = c.appendMailParams(c.line, &mo)
	c.mailUTF8 = mo.UTF8
	c.watch(ctx)
	defer c.unwatch()
	_, err = c.roundTripOK(ctx, "MAIL FROM", false)
	return err
}

// rcptAddress is a recipient of Rcpt as it goes on the wire: as it is when
// the transaction's MAIL asked for SMTPUTF8; otherwise with its domain in
// A-labels, and refused when its local part is not ASCII.
func (c *Client) rcptAddress(to string) (string, error) {
	if isASCII(to) || c.mailUTF8 {
		return to, nil
	}
	var none MailOptions
	if !c.ext.has("SMTPUTF8") {
		return c.wireAddress(to, &none)
	}
	at := strings.LastIndexByte(to, '@')
	if at < 0 || !isASCII(to[:at]) {
		return "", errInput("RCPT TO %q has a non-ASCII local part, and MAIL FROM was sent without SMTPUTF8 (RFC 6531): pass MailOptions{UTF8: true} to Mail", to)
	}
	return asciiHostPart(to, at)
}

// Rcpt sends RCPT TO:<to> with the parameters of opts (nil: none), adding
// a recipient to the transaction (RFC 5321 section 4.1.1.3). A refusal is an
// *Error.
func (c *Client) Rcpt(ctx context.Context, to string, opts *RcptOptions) error {
	if err := checkAddress("RCPT TO", to, false); err != nil {
		return err
	}
	if err := c.begin(ctx); err != nil {
		return err
	}
	wire, err := c.rcptAddress(to)
	if err != nil {
		return err
	}
	if err := c.checkRcptParams(opts); err != nil {
		return err
	}
	c.line = append(c.line[:0], "RCPT TO:<"...)
	c.line = append(c.line, wire...)
	c.line = append(c.line, '>')
	c.line = c.appendRcptParams(c.line, opts, c.mailUTF8)
	c.watch(ctx)
	defer c.unwatch()
	_, err = c.roundTripOK(ctx, "RCPT TO", false)
	return err
}

// Data sends DATA and returns a writer for the message content (RFC 5321
// section 4.1.1.4). The writer normalises line endings to CRLF and
// dot-stuffs, as Send does; its Close sends the end of data and waits for
// the reply: a refusal is an *Error, a connection lost meanwhile is
// ErrDeliveryUnknown. ctx bounds every write and the wait in Close.
func (c *Client) Data(ctx context.Context) (io.WriteCloser, error) {
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	c.watch(ctx) // until the writer's Close
	rep, err := c.roundTripAs(ctx, "DATA", false, "DATA")
	if err == nil && rep.Code != 354 {
		err = c.unexpected("DATA", rep, 354)
	}
	if err != nil {
		c.unwatch()
		return nil, err
	}
	c.dw.reset(c.bw)
	c.dataOpen = true
	return &dataWriter{c: c, ctx: ctx}, nil
}

// dataWriter is the io.WriteCloser of Data.
type dataWriter struct {
	c      *Client
	ctx    context.Context
	closed bool
}

func (w *dataWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errNotDot
	}
	if err := w.c.usable(w.ctx); err != nil {
		return 0, err
	}
	if err := w.c.writeContent(w.ctx, p, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *dataWriter) Close() error {
	if w.closed {
		return errNotDot
	}
	w.closed = true
	w.c.dataOpen = false
	defer w.c.unwatch()
	if err := w.c.usable(w.ctx); err != nil {
		return err
	}
	_, err := w.c.endData(w.ctx)
	return err
}
