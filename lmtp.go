package smtp

import "context"

// lmtpReplies reads the replies an LMTP server gives after the end of
// data, one for each accepted recipient in RCPT order (RFC 2033 section
// 4.2), first being the one already read. The message is taken when one
// of them is a 2xx. A connection lost before the last is ErrDeliveryUnknown:
// the recipients not yet answered may have the message.
func (c *Client) lmtpReplies(ctx context.Context, first Reply) (Reply, error) {
	c.tx.lmtp = append(c.tx.lmtp[:0], first)
	for len(c.tx.lmtp) < c.tx.lmtpWant {
		rep, err := c.readReply(ctx, cmdEndOfData, true, c.dataTimeout())
		if err != nil {
			return Reply{}, &unknownDeliveryError{cause: err}
		}
		c.tx.lmtp = append(c.tx.lmtp, rep)
	}
	for _, rep := range c.tx.lmtp {
		if rep.Code >= 300 && rep.Code < 400 {
			return rep, &unknownDeliveryError{cause: c.unexpected(cmdEndOfData, rep, 250)}
		}
		if rep.Code < 300 && !c.tx.accepted {
			c.tx.accepted = true
			first = rep
		}
	}
	return first, nil
}

// lmtpReceipt files each accepted recipient by its reply after the
// message: delivered, or refused (Command "end of data"). With none
// delivered, the error is a *RecipientsError.
func (c *Client) lmtpReceipt(r *Receipt) (*Receipt, error) {
	accepted := r.Accepted
	r.Accepted = nil
	for i, rep := range c.tx.lmtp {
		if rep.Code < 300 {
			r.Accepted = append(r.Accepted, accepted[i])
			continue
		}
		r.Rejected = append(r.Rejected, &RecipientError{Addr: accepted[i], Err: c.replyError(cmdEndOfData, rep).(*Error)})
	}
	if len(r.Accepted) == 0 {
		return r, &RecipientsError{Rejected: r.Rejected}
	}
	return r, nil
}
