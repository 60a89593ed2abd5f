package main

// Scenario (h): what tracing costs, smtplog.Log writing to io.Discard
// against no Trace at all, on mailwire alone.

import (
	"context"
	"fmt"
	"io"

	"github.com/mailwire/smtp/smtplog"
)

// traceCost measures client CPU and allocations per message with the
// curl-style log on, and without a Trace (shown in the limit column: the
// limit of a traced send is an untraced one).
func (b *bench) traceCost() []*row {
	n := b.cfg.loopbackMsgs
	name := fmt.Sprintf("(h) loopback, %d × 2 KiB, smtplog.Log to io.Discard", n)
	cpu := newRow(name, "client CPU µs/message, logged (limit: no Trace)", true, 1)
	cpu.target, cpu.met, cpu.vsLimit = "≤ 1.05× untraced", func(_, ratio float64) bool { return ratio <= 1.05 }, true
	allocs := newRow(name, "allocations/message, logged (limit: no Trace)", true, 1)
	allocs.target, allocs.met, allocs.vsLimit = "≤ 10 logged", func(v, _ float64) bool { return v <= 10 }, true
	logged := b.opts
	logged.trace = smtplog.Log(io.Discard)
	for range b.cfg.rounds {
		for _, c := range []struct {
			column string
			opts   dialOptions
		}{{mailwireName, logged}, {limitName, b.opts}} {
			m, err := b.measureTraced(c.opts, n)
			if err != nil {
				cpu.fail(c.column, err)
				allocs.fail(c.column, err)
				continue
			}
			cpu.set(c.column, float64(m.cpu.Microseconds())/float64(n))
			allocs.set(c.column, float64(m.mallocs)/float64(n))
		}
	}
	b.note("(h) compares mailwire with smtplog.Log(io.Discard) as its Trace (the mailwire column) and mailwire with no Trace (the limit column), on one connection to the sink with CHUNKING; the median of %d rounds in which the two take turns.", b.cfg.rounds)
	return []*row{cpu, allocs}
}

// measureTraced is measureLoopback for mailwire dialled with o.
func (b *bench) measureTraced(o dialOptions, n int) (loopbackMeasure, error) {
	lib := library{mailwireName, func(ctx context.Context, d dialOptions) (sender, error) {
		d.trace = o.trace
		return dialMailwire(ctx, d)
	}}
	return b.measureLoopback(lib, n)
}
