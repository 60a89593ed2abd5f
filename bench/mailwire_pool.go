//go:build !nomailwirepool

package main

// mailwire's Pool, for scenarios (e) and (g). Build with -tags
// nomailwirepool to leave it out (its rows then read "n/a (Pool not
// built)"), e.g. while the library's Pool API is being changed.

import (
	"context"
	"io"

	smtp "github.com/mailwire/smtp"
	"golang.org/x/time/rate"
)

func init() {
	newMailwirePool = func(o dialOptions, maxConns int) pool {
		p, err := smtp.NewPool(o.addr, mailwireOptions(o), &smtp.PoolOptions{MaxConns: maxConns})
		if err != nil {
			panic(err) // the bench's own options: a mistake here is the bench's bug
		}
		return &mailwirePool{p}
	}
	newLimitedMailwirePool = func(o dialOptions, maxConns int, l *rate.Limiter) pool {
		p, err := smtp.NewPool(o.addr, mailwireOptions(o), &smtp.PoolOptions{MaxConns: maxConns, MessageRate: l, MaxThrottleRetries: volumeRetries})
		if err != nil {
			panic(err)
		}
		return &mailwirePool{p}
	}
}

type mailwirePool struct{ p *smtp.Pool }

func (m *mailwirePool) Send(ctx context.Context, from string, to []string, msg io.Reader) error {
	_, err := m.p.Send(ctx, &smtp.Envelope{From: from, To: to}, msg)
	return err
}

func (m *mailwirePool) Close() error { return m.p.Close() }
