package main

// Scenarios (f) and (g): mailwire against the limit client (limit.go),
// the cheapest client the bench can write. Their ratio is mailwire ÷ limit.

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

const limitName = "limit"

// ---- (f) the data path: a message of unknown size, streamed ----

// dataPath measures MB per client CPU-second streaming one message of
// unknown size, over BDAT and DATA, in plaintext and under TLS.
func (b *bench) dataPath() []*row {
	size := b.cfg.streamSize
	name := fmt.Sprintf("(f) loopback, one %d MiB message of unknown size, streamed", size>>20)
	var rows []*row
	for _, c := range []struct {
		addr, label string
		secure      bool
	}{
		{b.sink.Chunking, "BDAT, plaintext", false},
		{b.sink.Chunking, "BDAT, TLS", true},
		{b.sink.NoChunking, "DATA, plaintext", false},
		{b.sink.NoChunking, "DATA, TLS", true},
	} {
		r := newRow(name, "MB per client CPU-second, "+c.label, false, 0)
		r.target, r.met, r.vsLimit = "≥ 0.9× limit", func(_, ratio float64) bool { return ratio >= 0.9 }, true
		o := b.opts
		o.addr, o.secure = c.addr, c.secure
		b.streamRounds(r, o, size)
		rows = append(rows, r)
	}
	return rows
}

// streamRounds fills r with both clients' figures, taking turns.
func (b *bench) streamRounds(r *row, o dialOptions, size int64) {
	failed := map[string]bool{}
	for range b.cfg.limitRounds {
		for _, lib := range []string{mailwireName, limitName} {
			if failed[lib] {
				continue
			}
			mb, err := b.measureStream(lib, o, size)
			if err != nil {
				failed[lib] = true
				r.fail(lib, err)
				continue
			}
			r.set(lib, mb)
		}
	}
}

// hiddenSize hides a reader's size (and any other method) from a client.
type hiddenSize struct{ io.Reader }

// measureStream sends one message of size bytes, read from newDotMessage
// through hiddenSize, and returns MB (10⁶ bytes) per client CPU-second,
// counting the send only, as (c) does.
func (b *bench) measureStream(lib string, o dialOptions, size int64) (float64, error) {
	send, quit, err := dialStreamer(lib, o)
	if err != nil {
		return 0, err
	}
	defer quit()
	msg := newDotMessage(size)
	runtime.GC()
	c0 := cpuTime()
	reply, err := send(hiddenSize{msg})
	cpu := cpuTime() - c0
	if err != nil {
		return 0, err
	}
	if !strings.Contains(reply, fmt.Sprintf(" %d bytes", msg.size)) {
		b.note("(f) %s: the sink received a message of the wrong size: %q, want %d bytes.", lib, reply, msg.size)
	}
	return float64(msg.size) / 1e6 / cpu.Seconds(), nil
}

// dialStreamer connects lib and returns how to stream a message with it
// (to one recipient; it returns the sink's reply) and how to quit.
func dialStreamer(lib string, o dialOptions) (send func(io.Reader) (string, error), quit func() error, err error) {
	if lib == limitName {
		c, err := dialLimitOptions(o)
		if err != nil {
			return nil, nil, err
		}
		send = func(r io.Reader) (string, error) {
			err := c.stream(sender1, recipients(1), r)
			return string(c.last), err
		}
		return send, c.quit, nil
	}
	s, err := dialMailwire(context.Background(), o)
	if err != nil {
		return nil, nil, err
	}
	send = func(r io.Reader) (string, error) {
		return s.Send(context.Background(), sender1, recipients(1), r)
	}
	return send, s.Quit, nil
}

// ---- (g) the Pool's CPU per message ----

// poolCPU measures the client CPU per message of mailwire's Pool and of
// four limit connections shared through a channel, at 16 and 64 senders.
func (b *bench) poolCPU() []*row {
	n := b.cfg.poolCPUMsgs
	name := fmt.Sprintf("(g) loopback, 4 conns, %d × 2 KiB", n)
	var rows []*row
	for _, workers := range []int{16, 64} {
		r := newRow(name, fmt.Sprintf("client CPU µs/message, %d senders", workers), true, 1)
		r.target, r.met, r.vsLimit = "≤ 1.25× limit", func(_, ratio float64) bool { return ratio <= 1.25 }, true
		allocs := map[string][]float64{}
		failed := map[string]bool{}
		for range b.cfg.limitRounds {
			for _, lib := range []string{mailwireName, limitName} {
				if lib == mailwireName && newMailwirePool == nil {
					r.missing[lib] = "n/a (Pool not built)"
					continue
				}
				if failed[lib] {
					continue
				}
				m, err := b.measurePoolCPU(lib, workers, n)
				if err != nil {
					failed[lib] = true
					r.fail(lib, err)
					continue
				}
				r.set(lib, m.cpuPerMsg)
				allocs[lib] = append(allocs[lib], m.allocsPerMsg)
			}
		}
		if len(allocs[mailwireName]) > 0 && len(allocs[limitName]) > 0 {
			b.note("(g) %d senders: allocations per message (median): mailwire %.1f, limit %.1f (the bench's loop makes 1 of them for both, a bytes.Reader).",
				workers, median(allocs[mailwireName]), median(allocs[limitName]))
		}
		rows = append(rows, r)
	}
	return rows
}

type poolCPUMeasure struct{ cpuPerMsg, allocsPerMsg float64 }

// measurePoolCPU opens the pool's 4 connections with a warm-up, then sends
// n messages from workers goroutines and returns the client CPU and the
// allocations per message.
func (b *bench) measurePoolCPU(lib string, workers, n int) (poolCPUMeasure, error) {
	o := b.opts
	o.addr = b.sink.Chunking
	pl, err := b.newPool(lib, o)
	if err != nil {
		return poolCPUMeasure{}, err
	}
	defer pl.Close()
	if _, _, err := sendConcurrently(pl, workers, time.Minute, 4*workers); err != nil {
		return poolCPUMeasure{}, err
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	c0 := cpuTime()
	sent, _, err := sendConcurrently(pl, workers, time.Minute, n)
	cpu := cpuTime() - c0
	runtime.ReadMemStats(&m1)
	if err != nil {
		return poolCPUMeasure{}, err
	}
	return poolCPUMeasure{
		cpuPerMsg:    float64(cpu.Microseconds()) / float64(sent),
		allocsPerMsg: float64(m1.Mallocs-m0.Mallocs) / float64(sent),
	}, nil
}

// newPool makes mailwire's Pool or the limit's channel of 4 connections.
func (b *bench) newPool(lib string, o dialOptions) (pool, error) {
	if lib == limitName {
		return newLimitPool(o, 4)
	}
	return newMailwirePool(o, 4), nil
}

// limitPool is how the limit shares connections: size connections, dialled
// at once, in a channel; each takes one for a message and gives it back.
// Every message is message2K from sender1 to one recipient, prepared once:
// Send ignores its arguments. A connection that fails stays broken.
type limitPool struct {
	conns chan *limitConn
	tx    *limitTx
}

func newLimitPool(o dialOptions, size int) (*limitPool, error) {
	p := &limitPool{conns: make(chan *limitConn, size)}
	for range size {
		c, err := dialLimitOptions(o)
		if err != nil {
			p.Close()
			return nil, err
		}
		if p.tx == nil {
			p.tx = c.prepare(sender1, recipients(1), message2K)
		}
		p.conns <- c
	}
	return p, nil
}

func (p *limitPool) Send(context.Context, string, []string, io.Reader) error {
	c := <-p.conns
	err := c.send(p.tx)
	p.conns <- c
	return err
}

func (p *limitPool) Close() error {
	for len(p.conns) > 0 {
		(<-p.conns).quit()
	}
	return nil
}

// limitNote says what the limit is, under the table.
func limitNote() string {
	return "(f) and (g) compare mailwire with \"limit\" (limit.go), a client written for this bench with no library, as cheap as a client can be: one write per transaction prepared once (MAIL, RCPT, BDAT n LAST and the content; with DATA, a second write for the content), replies read by their first digit only, and for streaming, the message read 256 KiB at a time straight into its write buffer, with line endings made CRLF (and leading dots doubled for DATA) in one pass, a chunk that needs no change sent where it was read. It skips what mailwire does besides: EHLO parsing beyond CHUNKING, SIZE, 8-bit checks, reply texts and enhanced codes, timeouts and contexts, error recovery (RSET, retries, delivery-unknown), TLS options, address checks, tracing. Its ratio is mailwire ÷ limit."
}
