package smtpotel

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/mailwire/smtp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// call follows one instrumented call (a Send or a Dial) through the events
// of its own smtp.Trace, and makes its child spans from them. The events
// come synchronously on the call's goroutine; mu guards what follows it,
// as a Pool may report for a connection from its own goroutines.
type call struct {
	inst   *Instrumentation
	span   trace.Span
	ctx    context.Context // the span's context: the parent of the child spans
	traced context.Context // ctx with the call's trace: what the call is given
	start  time.Time
	send   bool // a Send (not a Dial): its metrics are recorded
	pooled bool // a Send that may wait for a connection: pool.wait and retries are recorded

	mu     sync.Mutex
	done   bool
	conn   int64   // the connection of the last event
	conns  []int64 // every connection of the call, attached in inst.conns
	addr   string  // the server's "host:port", once known
	server []attribute.KeyValue
	waited bool // pool.wait is recorded

	pending  []string // the commands sent whose replies are not read yet, oldest first
	dataOpen bool     // DATA was answered 354: the end of data comes next
	lmtp     bool     // the connection speaks LMTP
	size     int64    // the message's size, from EventDataDone

	connect, tls, auth trace.Span
	tx                 *transaction
	txs                int
	throttled          bool // a throttling reply was heard: the next MAIL FROM is a retry
}

// transaction is the open "smtp.transaction" span, and what it counts.
type transaction struct {
	span               trace.Span
	accepted, rejected int
	idleAt             time.Time // EventIdle: the span ends there
	failed             bool      // a reply refused MAIL, DATA or the message

	// The replies to the message: one, or over LMTP one per recipient
	// RCPT accepted, the message taken when one of them is positive.
	lmtp      bool
	lmtpLeft  int // LMTP replies still to come after the first
	replied   bool
	refusal   *smtp.Error // the first refusal of the message
	delivered bool        // a reply to the message was positive
}

// startSend begins the call of a Send; pooled when the Sender may wait
// for a connection (it is not a Client).
func (i *Instrumentation) startSend(ctx context.Context, pooled bool) *call {
	c := i.start(ctx, "smtp.send")
	c.send, c.pooled = true, pooled
	return c
}

// startDial begins the call of a Dial to addr.
func (i *Instrumentation) startDial(ctx context.Context, addr string) *call {
	c := i.start(ctx, "smtp.dial")
	c.setAddr(addr)
	return c
}

// start begins a call: its span, named name, and its trace.
func (i *Instrumentation) start(ctx context.Context, name string) *call {
	c := &call{inst: i, start: time.Now()}
	c.ctx, c.span = i.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(c.start))
	// The caller's own per-call trace, if any, still hears every event.
	c.traced = smtp.WithTrace(c.ctx, smtp.ComposeTrace(smtp.ContextTrace(ctx), &smtp.Trace{Event: c.event}))
	return c
}

// setAddr notes the server's address, on the call's span too. c.mu is
// held, or the call not yet started.
func (c *call) setAddr(addr string) {
	if c.addr != "" || addr == "" {
		return
	}
	c.addr = addr
	c.server = serverAttrs(addr)
	c.span.SetAttributes(c.server...)
}

// serverAddress is the server.address attribute for metrics, alone (in a
// slice that append copies); none when unknown.
func (c *call) serverAddress() []attribute.KeyValue {
	if len(c.server) == 0 {
		return nil
	}
	return c.server[:1:1]
}

// child starts a child span of the call's span.
func (c *call) child(name string, now time.Time, attrs ...attribute.KeyValue) trace.Span {
	_, s := c.inst.tracer.Start(c.ctx, name, trace.WithTimestamp(now), trace.WithAttributes(attrs...))
	return s
}

// event is the call's Trace.
func (c *call) event(ev smtp.Event) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	if ev.Conn != c.conn {
		c.switchConn(ev.Conn)
	}
	switch ev.Kind {
	case smtp.EventConnectStart:
		if len(c.conns) > 1 { // the call tries again on a new connection
			if c.throttled {
				c.throttled = false
				c.retry("throttled")
			} else {
				c.retry("reconnect")
			}
		}
		c.inst.conns.dialled(ev.Conn, ev.Addr)
		c.setAddr(ev.Addr)
		c.waitedUntil(now)
		c.pending, c.dataOpen = c.pending[:0], false
		attrs := serverAttrs(ev.Addr)
		if ev.Proxy != "" {
			c.span.SetAttributes(proxyKey.String(ev.Proxy))
			attrs = append(attrs, proxyKey.String(ev.Proxy))
		}
		endSpan(c.connect, now, nil)
		c.connect = c.child("smtp.connect", now, attrs...)
	case smtp.EventConnectDone:
		if c.connect != nil {
			c.connect.SetAttributes(peerAttrs(ev.RemoteAddr)...)
			endSpan(c.connect, now, ev.Err)
			c.connect = nil
		}
	case smtp.EventTLSHandshakeStart:
		endSpan(c.tls, now, nil)
		c.tls = c.child("smtp.tls", now, c.server...)
	case smtp.EventTLSHandshakeDone:
		if c.tls != nil {
			c.tls.SetAttributes(tlsAttrs(ev.TLS)...)
			if ev.Err != nil {
				c.tls.SetStatus(codes.Error, ev.Err.Error())
				c.tls.SetAttributes(semconv.ErrorTypeKey.String(handshakeErrorType(ev.Err)))
			}
			endSpan(c.tls, now, nil)
			c.tls = nil
		}
	case smtp.EventLineSent:
		c.waitedUntil(now)
		c.sent(ev.Line, now)
	case smtp.EventLineReceived:
		c.received(ev.Line, now)
	case smtp.EventDataDone:
		c.size = max(c.size, ev.Size)
		c.inst.ins.messageSize.Record(c.ctx, ev.Size, metric.WithAttributes(c.serverAddress()...))
		if c.tx != nil {
			c.tx.span.SetAttributes(messageSizeKey.Int64(ev.Size))
		}
		if c.dataOpen {
			c.dataOpen = false
			c.pending = append(c.pending, "end of data")
		}
	case smtp.EventIdle:
		if c.tx != nil {
			c.tx.idleAt = now
		}
	case smtp.EventReused:
		c.waitedUntil(now)
	case smtp.EventThrottled:
		c.throttle(ev, now)
	case smtp.EventClosing, smtp.EventClosed:
		c.inst.conns.closed(ev.Conn)
	}
}

// switchConn makes id the call's connection: one the Pool took up again,
// or a new one. c.mu is held.
func (c *call) switchConn(id int64) {
	c.conn = id
	c.pending, c.dataOpen = c.pending[:0], false
	for _, known := range c.conns {
		if known == id {
			return
		}
	}
	c.conns = append(c.conns, id)
	known := c.inst.conns.attach(id, c)
	c.setAddr(known.addr)
	c.lmtp = known.lmtp
}

// waitedUntil records smtp.client.pool.wait, once: the call had its
// connection at t. c.mu is held.
func (c *call) waitedUntil(t time.Time) {
	if !c.pooled || c.waited {
		return
	}
	c.waited = true
	c.inst.ins.poolWait.Record(c.ctx, t.Sub(c.start).Seconds(), metric.WithAttributes(c.serverAddress()...))
}

// retry counts a Send tried again. c.mu is held.
func (c *call) retry(reason string) {
	if !c.pooled {
		return
	}
	c.inst.ins.retries.Add(c.ctx, 1, metric.WithAttributes(append(c.serverAddress(), retryReasonKey.String(reason))...))
}

// throttle records a throttling reply as an event of the call's span: the
// Pool's words on how long its senders wait, and the server's reply. The
// next MAIL FROM of the call, if any, is the Pool trying again. c.mu is
// held.
func (c *call) throttle(ev smtp.Event, now time.Time) {
	attrs := []attribute.KeyValue{throttleReasonKey.String(ev.Line)}
	var e *smtp.Error
	if errors.As(ev.Err, &e) {
		attrs = append(attrs, replyAttrs(e.Code, e.Enhanced)...)
	}
	c.span.AddEvent("smtp.throttled", trace.WithTimestamp(now), trace.WithAttributes(attrs...))
	c.throttled = true
}

// sent follows a command line sent. c.mu is held.
func (c *call) sent(line string, now time.Time) {
	if c.auth == nil {
		if mech, ok := authMechanism(line); ok {
			// The span gets the mechanism's name; the rest of the line
			// (redacted by the library anyway) is never looked at.
			c.auth = c.child("smtp.auth", now, authMechanismKey.String(mech))
		}
	}
	v := verb(line, c.auth != nil)
	switch v {
	case "LHLO":
		c.lmtp = true
		c.inst.conns.spokeLMTP(c.conn)
	case "MAIL FROM":
		c.endTransaction(now, nil)
		if c.throttled {
			c.throttled = false
			c.retry("throttled")
		}
		c.txs++
		c.tx = &transaction{span: c.child("smtp.transaction", now, c.server...), lmtp: c.lmtp}
	}
	c.pending = append(c.pending, v)
}

// received follows a reply line: a final line is counted in
// smtp.client.replies and matched with the oldest command waiting for a
// reply (the greeting has none). c.mu is held.
func (c *call) received(line string, now time.Time) {
	code, enhanced, ok := finalReply(line)
	if !ok {
		return
	}
	attrs := replyAttrs(code, enhanced)
	c.inst.ins.replies.Add(c.ctx, 1, metric.WithAttributes(append(attrs, c.serverAddress()...)...))
	v := ""
	switch {
	case c.tx != nil && c.tx.lmtpLeft > 0:
		c.tx.lmtpLeft--
		v = "end of data"
	case len(c.pending) > 0:
		v = c.pending[0]
		c.pending = c.pending[1:]
	}
	switch v {
	case "AUTH":
		if code == 334 || c.auth == nil {
			return // a challenge: the exchange goes on
		}
		c.auth.SetAttributes(attrs...)
		var err error
		if code >= 400 {
			err = replyFailure("AUTH", code, enhanced)
		}
		endSpan(c.auth, now, err)
		c.auth = nil
	case "RCPT TO":
		if c.tx != nil {
			if code < 400 {
				c.tx.accepted++
			} else {
				c.tx.rejected++
			}
		}
	case "DATA":
		if code == 354 {
			c.dataOpen = true
		} else {
			c.refused(v, code, enhanced)
		}
	case "end of data", "BDAT LAST":
		c.messageReply(v, code, enhanced)
	case "MAIL FROM", "BDAT":
		c.refused(v, code, enhanced)
	}
}

// messageReply follows a reply to the message (to the end of data or to
// BDAT LAST): the transaction's reply. Over LMTP one comes for each
// recipient RCPT accepted: a refusal moves that recipient to the refused
// ones, and the transaction fails only when every one refuses. c.mu is
// held.
func (c *call) messageReply(verb string, code int, enhanced smtp.EnhancedCode) {
	tx := c.tx
	if tx == nil || tx.failed {
		return
	}
	if tx.lmtp && !tx.replied && tx.accepted > 1 {
		tx.lmtpLeft = tx.accepted - 1
	}
	tx.replied = true
	if code < 400 {
		if !tx.delivered {
			tx.delivered = true
			tx.span.SetAttributes(replyAttrs(code, enhanced)...)
		}
		return
	}
	if !tx.lmtp {
		c.refused(verb, code, enhanced)
		return
	}
	tx.accepted--
	tx.rejected++
	if tx.refusal == nil {
		tx.refusal = &smtp.Error{Command: verb, Reply: smtp.Reply{Code: code, Enhanced: enhanced}}
	}
	if tx.lmtpLeft == 0 && !tx.delivered {
		c.refused(verb, tx.refusal.Code, tx.refusal.Enhanced)
	}
}

// refused marks the open transaction failed when the reply to one of its
// commands (MAIL FROM, DATA, the message) is of class 4 or 5. c.mu is held.
func (c *call) refused(verb string, code int, enhanced smtp.EnhancedCode) {
	if code < 400 || c.tx == nil || c.tx.failed {
		return
	}
	c.tx.failed = true
	c.tx.span.SetAttributes(replyAttrs(code, enhanced)...)
	failSpan(c.tx.span, replyFailure(verb, code, enhanced))
}

// endTransaction ends the open transaction's span, at its EventIdle when
// there was one: it waits for the next MAIL FROM or the end of the call,
// so that the last one can take the call's error. c.mu is held.
func (c *call) endTransaction(now time.Time, err error) {
	tx := c.tx
	if tx == nil {
		return
	}
	c.tx = nil
	tx.span.SetAttributes(recipientsAcceptedKey.Int(tx.accepted), recipientsRejectedKey.Int(tx.rejected))
	if !tx.idleAt.IsZero() {
		now = tx.idleAt
	}
	endSpan(tx.span, now, err)
}

// finish ends the call: the spans still open (with err, when the call
// failed), the call's span with what the Receipt says, and the metrics of
// a Send.
func (c *call) finish(r *smtp.Receipt, err error) {
	now := time.Now()
	c.mu.Lock()
	c.done = true
	endSpan(c.connect, now, err)
	endSpan(c.tls, now, err)
	endSpan(c.auth, now, err)
	c.connect, c.tls, c.auth = nil, nil, nil
	c.endTransaction(now, err)
	for _, id := range c.conns {
		c.inst.conns.detach(id, c)
	}
	server := c.serverAddress()
	c.mu.Unlock()

	if c.send {
		c.span.SetAttributes(transactionsKey.Int(c.txs))
		if c.size > 0 {
			c.span.SetAttributes(messageSizeKey.Int64(c.size))
		}
	}
	accepted, rejected, counted := recipients(r, err)
	if counted {
		c.span.SetAttributes(recipientsAcceptedKey.Int(accepted), recipientsRejectedKey.Int(rejected))
	}
	var e *smtp.Error
	switch {
	case err == nil && r != nil && r.Reply.Code != 0:
		c.span.SetAttributes(replyAttrs(r.Reply.Code, r.Reply.Enhanced)...)
	case errors.As(err, &e):
		c.span.SetAttributes(replyAttrs(e.Code, e.Enhanced)...)
	}
	endSpan(c.span, now, err)

	if !c.send {
		return
	}
	ins := c.inst.ins
	ins.messages.Add(c.ctx, 1, metric.WithAttributes(append(server, outcomeKey.String(outcome(err)))...))
	if counted {
		if accepted > 0 {
			ins.recipients.Add(c.ctx, int64(accepted), metric.WithAttributes(append(server, outcomeKey.String(outcomeAccepted))...))
		}
		if rejected > 0 {
			ins.recipients.Add(c.ctx, int64(rejected), metric.WithAttributes(append(server, outcomeKey.String(outcomeRejected))...))
		}
	}
	attrs := server
	if err != nil {
		attrs = append(attrs, semconv.ErrorTypeKey.String(errorType(err)))
	}
	ins.sendDuration.Record(c.ctx, now.Sub(c.start).Seconds(), metric.WithAttributes(attrs...))
}

// recipients counts the recipients the server accepted and refused, from
// the Receipt, or the error when it refused them all; counted is false
// when neither tells (the Send failed before).
func recipients(r *smtp.Receipt, err error) (accepted, rejected int, counted bool) {
	if r != nil {
		return len(r.Accepted), len(r.Rejected), true
	}
	var all *smtp.RecipientsError
	if errors.As(err, &all) {
		return 0, len(all.Rejected), true
	}
	return 0, 0, false
}

// replyFailure is the error of a span ended by a refusal: the command, the
// code and the enhanced code (the server's text is left out: the span of
// the call has the whole error).
func replyFailure(verb string, code int, enhanced smtp.EnhancedCode) error {
	return &smtp.Error{Command: verb, Reply: smtp.Reply{Code: code, Enhanced: enhanced}}
}

// endSpan ends s at t (nothing for nil), failed with err when not nil.
func endSpan(s trace.Span, t time.Time, err error) {
	if s == nil {
		return
	}
	if err != nil {
		failSpan(s, err)
	}
	s.End(trace.WithTimestamp(t))
}

// failSpan sets s's status to Error with err's text, and error.type.
func failSpan(s trace.Span, err error) {
	s.SetStatus(codes.Error, err.Error())
	s.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
}
