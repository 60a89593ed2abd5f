//go:build cgo

package main

import (
	"regexp"

	smtp "github.com/mailwire/smtp"
)

// receiptOut is the JSON form of smtp.Receipt (see RECEIPT in the header).
type receiptOut struct {
	Accepted []string       `json:"accepted"`
	Rejected []rejectedJSON `json:"rejected"`
	Reply    replyJSON      `json:"reply"`
	QueueID  *string        `json:"queue_id"`
	// Transactions: each transaction's recipients, reply and queue id when
	// the server's recipient limit split the send; [] for one.
	Transactions []transactionJSON `json:"transactions"`
}

type transactionJSON struct {
	Accepted []string  `json:"accepted"`
	Reply    replyJSON `json:"reply"`
	QueueID  *string   `json:"queue_id"`
}

type rejectedJSON struct {
	Address      string `json:"address"`
	Code         int    `json:"code"`
	EnhancedCode string `json:"enhanced_code"`
	Message      string `json:"message"`
}

type replyJSON struct {
	Code         int    `json:"code"`
	EnhancedCode string `json:"enhanced_code"`
	Message      string `json:"message"`
}

func rejected(r *smtp.RecipientError) rejectedJSON {
	return rejectedJSON{Address: r.Addr, Code: r.Err.Code, EnhancedCode: r.Err.Enhanced.String(), Message: r.Err.Message}
}

func receiptJSON(r *smtp.Receipt) string {
	out := receiptOut{
		Accepted: r.Accepted,
		Rejected: []rejectedJSON{},
		Reply:    replyJSON{Code: r.Reply.Code, EnhancedCode: r.Reply.Enhanced.String(), Message: r.Reply.Message},
		QueueID:  queueID(r.Reply.Message),
	}
	if out.Accepted == nil {
		out.Accepted = []string{}
	}
	for _, rej := range r.Rejected {
		out.Rejected = append(out.Rejected, rejected(rej))
	}
	out.Transactions = []transactionJSON{}
	for _, t := range r.Transactions {
		out.Transactions = append(out.Transactions, transactionJSON{Accepted: t.Accepted,
			Reply: replyJSON{Code: t.Reply.Code, EnhancedCode: t.Reply.Enhanced.String(), Message: t.Reply.Message}, QueueID: queueID(t.Reply.Message)})
	}
	b, err := marshalJSON(out)
	if err != nil { // cannot happen: strings and ints only
		panic(err)
	}
	return string(b)
}

// Where servers put the queue id in the reply to the message: Postfix and
// smtptest "queued as 4XyZ", Exim "OK id=1b0PsA-0004Yc-Lm".
var queueIDPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)\bqueued as ([^\s;,]+)`),
	regexp.MustCompile(`(?i)\bid=([^\s;,]+)`),
}

// queueID finds the queue id in a reply's text, or nil.
func queueID(msg string) *string {
	for _, re := range queueIDPatterns {
		if m := re.FindStringSubmatch(msg); m != nil {
			return &m[1]
		}
	}
	return nil
}
