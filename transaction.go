package smtp

import (
	"context"
	"errors"
	"io"
)

// transaction is one Send, from its plan to its last reply. It holds what
// Send worked out before writing a byte (the plan), the memory reused to
// size and write the content, and the facts of what happened so far, from
// which every later decision is taken: whether the outcome is unknown,
// whether the message may be sent again on another connection. The Client
// keeps one and resets it at the start of each Send, so a Send allocates
// none; the facts stay readable after Send returns (the Pool reads them).
type transaction struct {
	plan

	// Facts, in the order they happen.
	taken    int64 // bytes read from the caller's reader (all of it, for the 8-bit downgrade)
	written  int64 // bytes of content handed to the connection (buffered or sent)
	endSent  bool  // the end of data (the final dot, or BDAT ... LAST) was handed to the connection
	replied  bool  // the reply to the end of data was read
	accepted bool  // ... and it was a 2xx
	earlier  int   // transactions of the same Send delivered before this one

	// LMTP: the replies after the end of data, one per accepted recipient.
	lmtpWant int
	lmtp     []Reply

	// A pipelined envelope's replies, read a window at a time.
	mailReplied bool
	mailErr     error // MAIL's refusal
	rcptReplied int   // RCPT replies read

	exact exactSink // writes BDAT content of a known size
	sizer struct {
		dw      dotWriter
		counter byteCounter
	} // sizes content ahead, with the writer that will send it
}

// begin resets the transaction for a new Send of msg.
func (t *transaction) begin(msg io.Reader) {
	t.plan = plan{msg: msg, size: -1}
	t.taken, t.written = 0, 0
	t.endSent, t.replied, t.accepted = false, false, false
	t.mailReplied, t.mailErr, t.rcptReplied = false, nil, 0
	t.lmtpWant, t.lmtp = 0, t.lmtp[:0]
}

// end forgets the caller's values once Send returns; the facts stay.
func (t *transaction) end() {
	t.plan = plan{}
	t.exact = exactSink{}
}

// Read reads the caller's message for sending, counting what it takes.
func (t *transaction) Read(p []byte) (int, error) {
	n, err := t.msg.Read(p)
	t.taken += int64(n)
	return n, err
}

// contentOut records n bytes of content handed to the connection.
func (t *transaction) contentOut(n int) { t.written += int64(n) }

// retrySafe reports whether a Send that failed with err may be sent again
// on another connection without any risk of a second delivery, and, when
// the message was read, rewinds it to start.
// The failure must prove that the server cannot have taken the message:
//
//   - a 421 to MAIL: no transaction was ever open, whatever was pipelined
//     after it (the content of a BDAT in the same flight included);
//   - a 421 to RCPT, or a network failure, before any byte of the content
//     went toward the server;
//   - the server having spoken unasked (or closed) while the connection
//     was idle, found before anything was written.
//
// A context's end, a refusal of the message, and a failure once the end of
// data was sent (ErrDeliveryUnknown) never qualify.
func (t *transaction) retrySafe(err error, start messageStart) bool {
	if t.replied || t.earlier > 0 || errors.Is(err, ErrDeliveryUnknown) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	nothingSent := t.written == 0 && !t.endSent
	var e *Error
	var op *opError
	switch {
	case errors.As(err, &e):
		if e.Code != 421 || !(e.Command == "MAIL FROM" || e.Command == "RCPT TO" && nothingSent) {
			return false
		}
	case errors.Is(err, errServerSpokeUnasked):
	case errors.As(err, &op) && nothingSent: // the connection failed: EOF, reset
	default:
		return false
	}
	return t.taken == 0 || start.rewind()
}

// throttleRetrySafe reports whether a Send the server throttled may be
// sent again: as retrySafe, or refused at MAIL (no transaction was
// open, whatever was pipelined after it), or with every recipient refused
// (the content, if it went out pipelined, had nobody to go to).
func (t *transaction) throttleRetrySafe(err error, start messageStart) bool {
	if t.retrySafe(err, start) {
		return true
	}
	if t.accepted || t.earlier > 0 {
		return false
	}
	var all *RecipientsError
	var e *Error
	switch {
	case errors.As(err, &all):
	case errors.As(err, &e) && e.Command == "MAIL FROM":
	default:
		return false
	}
	return t.taken == 0 || start.rewind()
}
