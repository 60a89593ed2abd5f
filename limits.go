package smtp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
)

// sendInBatches sends to several recipients in as many transactions as the
// server's limits call for: batches of at most RCPTMAX recipients from at
// most RCPTDOMAINMAX domains, and again for the recipients it deferred with
// 452 4.5.3. Each transaction reads the message from its start.
func (c *Client) sendInBatches(ctx context.Context, env *Envelope, msg io.Reader) (*Receipt, error) {
	limits := c.ext.limits()
	src := newReplay(msg, len(env.To) > batchSize(env.To, limits))
	total := &Receipt{}
	var deferred []*RecipientError // refused for now, to go in the next transaction
	pending, untried := env.To, 0  // untried: how many of pending never had a RCPT
	for len(pending) > 0 {
		batch, rest := nextBatch(pending, limits)
		in, ok := src.next()
		if !ok && untried > 0 {
			return total, &PartialSendError{Undelivered: pending, Err: errNoReplay}
		}
		if !ok {
			break // the deferred stay refused, with their 452
		}
		r, err := c.transact(ctx, batchEnvelope(env, batch), in)
		var refusedAll *RecipientsError
		switch {
		case errors.As(err, &refusedAll):
			r = &Receipt{Rejected: refusedAll.Rejected}
		case err != nil && c.tx.earlier == 0:
			return r, err // nothing delivered yet: as one transaction fails
		case err != nil:
			return total, &PartialSendError{Undelivered: pending, Err: err}
		}
		var later []string
		r.Rejected, deferred, later = splitDeferred(r.Rejected)
		total.add(r)
		if len(r.Accepted) > 0 {
			c.tx.earlier++
		} else if len(later) == len(batch) {
			break // all deferred, none taken: the server makes no progress
		}
		pending, untried = append(later, rest...), len(rest)
	}
	if len(pending) > 0 {
		total.Rejected = append(total.Rejected, deferred...)
	}
	if len(total.Accepted) == 0 {
		return total, &RecipientsError{Rejected: total.Rejected}
	}
	if len(total.Transactions) == 1 {
		total.Transactions = nil
	}
	return total, nil
}

// add files one transaction's outcome in the Send's Receipt.
func (r *Receipt) add(t *Receipt) {
	r.Rejected = append(r.Rejected, t.Rejected...)
	if len(t.Accepted) == 0 {
		return
	}
	r.Accepted = append(r.Accepted, t.Accepted...)
	r.Reply = t.Reply
	r.Transactions = append(r.Transactions, Transaction{Accepted: t.Accepted, Reply: t.Reply})
}

// errNoReplay: the message was not kept and cannot be sought back.
var errNoReplay = errors.New("smtp: the message cannot be read again for the next transaction (pass an io.ReadSeeker, such as *bytes.Reader or *os.File)")

// batchSize is how many recipients the first transaction may carry.
func batchSize(to []string, l Limits) int {
	b, _ := nextBatch(to, l)
	return len(b)
}

// nextBatch takes the recipients of the next transaction from pending: at
// most l.RcptMax, from at most l.RcptDomainMax domains, in order; the
// others are the rest, in order.
func nextBatch(pending []string, l Limits) (batch, rest []string) {
	if l.RcptDomainMax == 0 {
		if l.RcptMax == 0 || len(pending) <= l.RcptMax {
			return pending, nil
		}
		return pending[:l.RcptMax:l.RcptMax], pending[l.RcptMax:]
	}
	domains := map[string]bool{}
	for _, to := range pending {
		d := strings.ToLower(to[strings.LastIndexByte(to, '@')+1:])
		if l.RcptMax > 0 && len(batch) == l.RcptMax || !domains[d] && len(domains) == l.RcptDomainMax {
			rest = append(rest, to)
			continue
		}
		domains[d] = true
		batch = append(batch, to)
	}
	return batch, rest
}

// batchEnvelope is env for the recipients of one batch.
func batchEnvelope(env *Envelope, batch []string) *Envelope {
	e := *env
	e.To = batch
	if env.RcptOptions != nil {
		e.RcptOptions = make(map[string]*RcptOptions, len(batch))
		for _, to := range batch {
			if o, ok := env.RcptOptions[to]; ok {
				e.RcptOptions[to] = o
			}
		}
	}
	return &e
}

// splitDeferred parts a transaction's refusals: the recipients the server
// deferred for this transaction only (452, 4.5.3: too many recipients),
// and their addresses for the next one, from the others.
func splitDeferred(rejected []*RecipientError) (kept, deferred []*RecipientError, later []string) {
	for _, r := range rejected {
		if tooManyRecipients(r.Err) {
			deferred = append(deferred, r)
			later = append(later, r.Addr)
		} else {
			kept = append(kept, r)
		}
	}
	return kept, deferred, later
}

// tooManyRecipients: 452 with 4.5.3, or without an enhanced code, the
// words RFC 5321 gives it.
func tooManyRecipients(e *Error) bool {
	if e == nil || e.Code != 452 {
		return false
	}
	if e.Enhanced != (EnhancedCode{}) {
		return e.Enhanced == EnhancedCode{4, 5, 3}
	}
	return strings.Contains(strings.ToLower(e.Message), "too many recipients")
}

// replay gives each transaction of a Send the message from its start: by
// seeking back when it can, else from a copy kept while the first
// transaction read it, when more than one was planned.
type replay struct {
	msg   io.Reader
	start messageStart
	copy  *bytes.Buffer
	reads int
}

func newReplay(msg io.Reader, split bool) *replay {
	r := &replay{msg: msg, start: startOf(msg)}
	if split && r.start.s == nil {
		r.copy = new(bytes.Buffer)
	}
	return r
}

// next returns the message for the next transaction, or false when it
// cannot be read again.
func (r *replay) next() (io.Reader, bool) {
	r.reads++
	switch {
	case r.reads == 1 && r.copy != nil:
		return io.TeeReader(r.msg, r.copy), true
	case r.reads == 1:
		return r.msg, true
	case r.copy != nil:
		return bytes.NewReader(r.copy.Bytes()), true
	}
	return r.msg, r.start.rewind()
}
