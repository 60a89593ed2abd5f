package main

// The scenarios, each run for mailwire and the peers. A scenario returns
// rows of the table; a client that fails gets "error" in its cell and the
// error on stderr.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	sender1 = "alice@example.com"
	msgSize = 2048
)

// config holds the sizes of a run; -quick shrinks them.
type config struct {
	loopbackMsgs  int           // (a)
	latencyMsgs   int           // (b)
	bigSize       int64         // (c), bytes
	handshakeReps int           // (d), the median is kept
	rounds        int           // (a), (c) and (e): the clients take turns, the median is kept
	poolTime      time.Duration // (e), at most
	poolMsgs      int           // (e), at most
	streamSize    int64         // (f), bytes
	poolCPUMsgs   int           // (g), per measure
	limitRounds   int           // (f) and (g): mailwire and the limit take turns, the median is kept
	volumeMsgs    int           // (i)
}

var (
	fullConfig = config{loopbackMsgs: 1000, latencyMsgs: 50, bigSize: 50e6, handshakeReps: 3, rounds: 3,
		poolTime: 2 * time.Second, poolMsgs: 1000, streamSize: 50 << 20, poolCPUMsgs: 10000, limitRounds: 5, volumeMsgs: 10000}
	quickConfig = config{loopbackMsgs: 200, latencyMsgs: 10, bigSize: 10e6, handshakeReps: 1, rounds: 1,
		poolTime: 500 * time.Millisecond, poolMsgs: 250, streamSize: 10 << 20, poolCPUMsgs: 1000, limitRounds: 1, volumeMsgs: 1000}
)

// bench is one run: the sink, the sizes, and what the run noticed.
type bench struct {
	cfg     config
	sink    sinkInfo
	sinkCPU func() time.Duration // the sink process's CPU time so far
	opts    dialOptions          // roots; addr and secure are set per scenario
	wire    bool                 // print the wire timelines of (b) and (d)
	notes   []string             // observations for the notes under the table
}

func (b *bench) note(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

// row is one line of the table: a metric, and each client's figure.
type row struct {
	scenario, metric string
	lowerBetter      bool
	prec             int                  // decimals shown
	samples          map[string][]float64 // by library name, one a round
	summary          func([]float64) float64
	missing          map[string]string // why a library has no value
	target           string
	met              func(mailwire, ratio float64) bool // nil: no target
	vsLimit          bool                               // met judges mailwire ÷ limit, not ÷ best peer
}

func newRow(scenario, metric string, lowerBetter bool, prec int) *row {
	return &row{scenario: scenario, metric: metric, lowerBetter: lowerBetter, prec: prec,
		samples: map[string][]float64{}, summary: median, missing: map[string]string{}}
}

// set adds a library's figure for one round.
func (r *row) set(lib string, v float64) { r.samples[lib] = append(r.samples[lib], v) }

// value is a library's figure: the median of its rounds, unless the row
// says otherwise.
func (r *row) value(lib string) (float64, bool) {
	if len(r.samples[lib]) == 0 {
		return 0, false
	}
	return r.summary(r.samples[lib]), true
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (r *row) fail(lib string, err error) {
	r.missing[lib] = "error"
	fmt.Fprintf(os.Stderr, "%s, %s: %s: %v\n", r.scenario, r.metric, lib, err)
}

// best is the best peer's figure and name.
func (r *row) best() (float64, string, bool) {
	best, name, found := 0.0, "", false
	for _, p := range peers {
		v, ok := r.value(p.name)
		if !ok {
			continue
		}
		if !found || r.lowerBetter && v < best || !r.lowerBetter && v > best {
			best, name, found = v, p.name, true
		}
	}
	return best, name, found
}

// cpuTime is the CPU time (user + system) of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// message2K is a 2 KiB message of short lines.
var message2K = func() []byte {
	var b bytes.Buffer
	b.WriteString("From: alice@example.com\r\nTo: bob@example.com\r\nSubject: benchmark\r\n\r\n")
	for b.Len() < msgSize-80 {
		b.WriteString(strings.Repeat("lorem ipsum ", 6) + "dolor\r\n")
	}
	b.WriteString(strings.Repeat("x", msgSize-2-b.Len()) + "\r\n")
	return b.Bytes()
}()

func recipients(n int) []string {
	to := make([]string, n)
	for i := range to {
		to[i] = fmt.Sprintf("rcpt%d@example.com", i)
	}
	return to
}

func allLibraries() []library { return append([]library{mailwire}, peers...) }

// ---- (a) loopback throughput ----

func (b *bench) loopback() []*row {
	n := b.cfg.loopbackMsgs
	name := fmt.Sprintf("(a) loopback, %d × 2 KiB, 1 rcpt, 1 conn", n)
	rate := newRow(name, "messages/s", false, 0)
	rate.target, rate.met = "≥ 2× best peer", func(_, r float64) bool { return r >= 2 }
	cpu := newRow(name, "client CPU µs/message", true, 1)
	allocs := newRow(name, "allocations/message", true, 1)
	allocs.target, allocs.met = "≤ ½ best peer", func(_, r float64) bool { return r <= 0.5 }
	bytesRow := newRow(name, "bytes allocated/message", true, 0)
	sinkCPU := newRow(name, "sink CPU µs/message", true, 1) // for the notes

	failed := map[string]bool{}
	for range b.cfg.rounds {
		for _, lib := range allLibraries() {
			if failed[lib.name] {
				continue
			}
			m, err := b.measureLoopback(lib, n)
			if err != nil {
				failed[lib.name] = true
				for _, r := range []*row{rate, cpu, allocs, bytesRow} {
					r.fail(lib.name, err)
				}
				continue
			}
			rate.set(lib.name, float64(n)/m.wall.Seconds())
			cpu.set(lib.name, float64(m.cpu.Microseconds())/float64(n))
			allocs.set(lib.name, float64(m.mallocs)/float64(n))
			bytesRow.set(lib.name, float64(m.bytes)/float64(n))
			sinkCPU.set(lib.name, float64(m.sinkCPU.Microseconds())/float64(n))
		}
	}
	var perLib []string
	for _, lib := range allLibraries() {
		if v, ok := sinkCPU.value(lib.name); ok {
			perLib = append(perLib, fmt.Sprintf("%s %.0f µs", lib.name, v))
		}
	}
	b.note("(a) the sink's own CPU per message (its threads' run time, /proc/PID/task/*/schedstat): %s. Client and server mostly take turns, so a message takes at least the sum of the two CPU times plus the kernel's wake-ups: the server's share bounds how far a faster client can raise messages/s.", strings.Join(perLib, ", "))
	return []*row{rate, cpu, allocs, bytesRow}
}

type loopbackMeasure struct {
	wall, cpu, sinkCPU time.Duration
	mallocs, bytes     uint64
}

func (b *bench) measureLoopback(lib library, n int) (loopbackMeasure, error) {
	ctx := context.Background()
	o := b.opts
	o.addr = b.sink.Chunking
	s, err := lib.dial(ctx, o)
	if err != nil {
		return loopbackMeasure{}, err
	}
	defer s.Quit()
	to := recipients(1)
	var msg bytes.Reader
	send := func() error {
		msg.Reset(message2K)
		_, err := s.Send(ctx, sender1, to, &msg)
		return err
	}
	for range 20 { // warm up: buffers made, code paged in
		if err := send(); err != nil {
			return loopbackMeasure{}, err
		}
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	s0 := b.sinkCPU() // it allocates: outside the client's window
	runtime.ReadMemStats(&m0)
	c0, t0 := cpuTime(), time.Now()
	for range n {
		if err := send(); err != nil {
			return loopbackMeasure{}, err
		}
	}
	wall, cpu := time.Since(t0), cpuTime()-c0
	runtime.ReadMemStats(&m1)
	sinkCPU := b.sinkCPU() - s0
	return loopbackMeasure{wall, cpu, sinkCPU, m1.Mallocs - m0.Mallocs, m1.TotalAlloc - m0.TotalAlloc}, nil
}

// ---- (b) round trips per message, 10 recipients, 20 ms RTT ----

func (b *bench) latency() []*row {
	n := b.cfg.latencyMsgs
	name := fmt.Sprintf("(b) 20 ms RTT, %d msgs × 10 rcpts, 1 conn", n)
	data := newRow(name, "round trips/message, server without CHUNKING", true, 2)
	data.target, data.met = "≤ 2.05", func(mw, _ float64) bool { return mw <= 2.05 }
	chunking := newRow(name, "round trips/message, server with CHUNKING", true, 2)
	chunking.target, chunking.met = "≤ 1.05", func(mw, _ float64) bool { return mw <= 1.05 }

	for _, c := range []struct {
		r     *row
		addr  string
		label string
	}{{data, b.sink.NoChunking, "without CHUNKING"}, {chunking, b.sink.Chunking, "with CHUNKING"}} {
		p, err := b.calibratedProxy(c.addr, 10*time.Millisecond, "(b) server "+c.label)
		if err != nil {
			c.r.fail(mailwireName, err)
			continue
		}
		libs := []library{mailwire}
		if c.r == chunking {
			libs = allLibraries() // the peers use neither extension: run them once
		}
		for _, lib := range libs {
			rts, wire, err := b.measureLatency(lib, p, n)
			if err != nil {
				c.r.fail(lib.name, err)
				continue
			}
			c.r.set(lib.name, rts)
			if lib.name == mailwireName {
				b.note("(b) server %s: mailwire's first message went out in %s.", c.label, describeFlights(wire, p.RTT()))
				if b.wire {
					printWire(os.Stdout, fmt.Sprintf("(b) mailwire, server %s, first message", c.label), wire, p.RTT())
				}
			}
		}
		p.Close()
	}
	for _, p := range peers {
		data.samples[p.name] = chunking.samples[p.name]
	}
	return []*row{data, chunking}
}

// calibratedProxy starts a proxy to addr and measures its round trip,
// which then divides wall times into round trips.
func (b *bench) calibratedProxy(addr string, delay time.Duration, what string) (*proxy, error) {
	p, err := startProxy(addr, delay)
	if err != nil {
		return nil, err
	}
	rtt, err := p.calibrate(21)
	if err != nil {
		p.Close()
		return nil, err
	}
	b.note("%s: the proxy's measured round trip is %.2f ms (nominal %v).",
		what, float64(rtt)/float64(time.Millisecond), p.Nominal())
	return p, nil
}

// measureLatency sends a first message to 10 recipients through the proxy,
// recording its wire, then times n more over the same connection, and
// returns the round trips per timed message and that wire.
func (b *bench) measureLatency(lib library, p *proxy, n int) (float64, []wireEvent, error) {
	ctx := context.Background()
	o := b.opts
	o.addr = p.Addr()
	s, err := lib.dial(ctx, o)
	if err != nil {
		return 0, nil, err
	}
	defer s.Quit()
	to := recipients(10)
	var msg bytes.Reader
	send := func() error {
		msg.Reset(message2K)
		_, err := s.Send(ctx, sender1, to, &msg)
		return err
	}
	// A first message, not timed, to see what goes on the wire.
	time.Sleep(p.delay) // the end of the EHLO reply is recorded just after the client has it
	p.startRecording()
	err = send()
	time.Sleep(p.delay) // the last delivery is recorded just after the client has it
	wire := p.stopRecording()
	if err != nil {
		return 0, nil, err
	}
	t0 := time.Now()
	for range n {
		if err := send(); err != nil {
			return 0, nil, err
		}
	}
	wall := time.Since(t0)
	return wall.Seconds() / (float64(n) * p.RTT().Seconds()), wire, nil
}

// ---- (c) one 50 MB message ----

func (b *bench) bigMessage() []*row {
	size := b.cfg.bigSize
	name := fmt.Sprintf("(c) loopback, one %d MB message of '.' and 998-char lines", size/1e6)
	perCPU := newRow(name, "MB per client CPU-second", false, 0)
	perCPU.target, perCPU.met = "≥ 3× best peer", func(_, r float64) bool { return r >= 3 }
	wall := newRow(name, "MB/s (wall)", false, 0)
	heap := newRow(name, "client peak heap in use, MiB", true, 2)
	heap.target, heap.met = "< 4 MiB", func(mw, _ float64) bool { return mw < 4 }
	heap.summary = slices.Max[[]float64] // the peak of all rounds

	failed := map[string]bool{}
	var base uint64
	var dataCPU, dataWall, dataHeap []float64 // mailwire against the server without CHUNKING
	for range b.cfg.rounds {
		if m, err := b.measureBig(mailwire, b.sink.NoChunking, size); err == nil {
			mb := float64(m.size) / 1e6
			dataCPU, dataWall = append(dataCPU, mb/m.cpu.Seconds()), append(dataWall, mb/m.wall.Seconds())
			dataHeap = append(dataHeap, float64(m.peak)/(1<<20))
		} else {
			fmt.Fprintf(os.Stderr, "%s, server without CHUNKING: mailwire: %v\n", name, err)
		}
		for _, lib := range allLibraries() {
			if failed[lib.name] {
				continue
			}
			m, err := b.measureBig(lib, b.sink.Chunking, size)
			if err != nil {
				failed[lib.name] = true
				for _, r := range []*row{perCPU, wall, heap} {
					r.fail(lib.name, err)
				}
				continue
			}
			mb := float64(m.size) / 1e6
			perCPU.set(lib.name, mb/m.cpu.Seconds())
			wall.set(lib.name, mb/m.wall.Seconds())
			heap.set(lib.name, float64(m.peak)/(1<<20))
			base = max(base, m.base)
			if m.reply != "" && !strings.Contains(m.reply, fmt.Sprintf(" %d bytes", m.size)) {
				b.note("(c) %s: the sink received a message of the wrong size: %q, want %d bytes.", lib.name, m.reply, m.size)
			}
		}
	}
	b.note("(c) the bench's own heap in use when a client starts is up to %.2f MiB (included in the peak).", float64(base)/(1<<20))
	if len(dataCPU) > 0 {
		b.note("(c) mailwire against the server without CHUNKING (DATA, dot-stuffed, as the peers send): %.0f MB per client CPU-second, %.0f MB/s wall, peak heap %.2f MiB.",
			median(dataCPU), median(dataWall), slices.Max(dataHeap))
	}
	return []*row{perCPU, wall, heap}
}

type bigMeasure struct {
	size       int64
	wall, cpu  time.Duration
	base, peak uint64
	reply      string
}

func (b *bench) measureBig(lib library, addr string, size int64) (bigMeasure, error) {
	ctx := context.Background()
	o := b.opts
	o.addr = addr
	s, err := lib.dial(ctx, o)
	if err != nil {
		return bigMeasure{}, err
	}
	defer s.Quit()
	msg := newDotMessage(size)
	runtime.GC()
	debug.FreeOSMemory()
	sampler := startHeapSampler()
	c0, t0 := cpuTime(), time.Now()
	reply, err := s.Send(ctx, sender1, recipients(1), msg)
	wall, cpu := time.Since(t0), cpuTime()-c0
	base, peak := sampler.stop()
	if err != nil {
		return bigMeasure{}, err
	}
	return bigMeasure{msg.size, wall, cpu, base, peak, reply}, nil
}

// dotMessage generates a message, a header and then blocks of lines that
// start with '.' (".", "..", ".text") or are 998 characters long, without
// ever holding more than one 64 KiB block.
type dotMessage struct {
	header []byte
	block  []byte
	blocks int // whole blocks still to send
	off    int // in block
	size   int64
}

func newDotMessage(size int64) *dotMessage {
	header := []byte("From: alice@example.com\r\nTo: bob@example.com\r\nSubject: dots and long lines\r\n\r\n")
	long := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz "), 30)[:998]
	var block bytes.Buffer
	for block.Len() < 64<<10 {
		block.WriteString(".\r\n..\r\n.a line that starts with a dot, so every client must double it\r\n")
		block.Write(long)
		block.WriteString("\r\n")
	}
	blocks := int((size - int64(len(header)) + int64(block.Len()) - 1) / int64(block.Len()))
	return &dotMessage{header: header, block: block.Bytes(), blocks: blocks,
		size: int64(len(header)) + int64(blocks)*int64(block.Len())}
}

func (m *dotMessage) Read(p []byte) (int, error) {
	if len(m.header) > 0 {
		n := copy(p, m.header)
		m.header = m.header[n:]
		return n, nil
	}
	if m.blocks == 0 {
		return 0, io.EOF
	}
	n := copy(p, m.block[m.off:])
	if m.off += n; m.off == len(m.block) {
		m.off = 0
		m.blocks--
	}
	return n, nil
}

// heapSampler reads the heap in use (runtime/metrics' heap objects plus
// unused heap span bytes, which is MemStats.HeapInuse, without stopping the
// world) every millisecond and keeps the largest.
type heapSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	base uint64
	peak atomic.Uint64
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{done: make(chan struct{})}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	read := func() uint64 {
		metrics.Read(samples)
		return samples[0].Value.Uint64() + samples[1].Value.Uint64()
	}
	h.base = read()
	h.peak.Store(h.base)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-t.C:
				if v := read(); v > h.peak.Load() {
					h.peak.Store(v)
				}
			}
		}
	}()
	return h
}

func (h *heapSampler) stop() (base, peak uint64) {
	close(h.done)
	h.wg.Wait()
	return h.base, h.peak.Load()
}

// ---- (d) connect, STARTTLS, AUTH, one message, 20 ms RTT ----

func (b *bench) handshake() []*row {
	name := "(d) 20 ms RTT, connect + STARTTLS + AUTH PLAIN + 1 message"
	data := newRow(name, "round trips until accepted, server without CHUNKING", true, 1)
	data.target, data.met = "8 (peers 10)", func(mw, _ float64) bool { return mw < 8.5 }
	chunking := newRow(name, "round trips until accepted, server with CHUNKING", true, 1)
	chunking.target, chunking.met = "7 (peers 10)", func(mw, _ float64) bool { return mw < 7.5 }

	for _, c := range []struct {
		r     *row
		addr  string
		label string
	}{{data, b.sink.NoChunking, "without CHUNKING"}, {chunking, b.sink.Chunking, "with CHUNKING"}} {
		p, err := b.calibratedProxy(c.addr, 10*time.Millisecond, "(d) server "+c.label)
		if err != nil {
			c.r.fail(mailwireName, err)
			continue
		}
		var counts []string
		for _, lib := range allLibraries() {
			var runs []float64
			for i := range b.cfg.handshakeReps {
				rts, wire, err := b.measureHandshake(lib, p, i == 0)
				if err != nil {
					c.r.fail(lib.name, err)
					runs = nil
					break
				}
				runs = append(runs, rts)
				if i == 0 {
					counts = append(counts, fmt.Sprintf("%s %d", lib.name, len(flights(wire, p.RTT()))))
					if b.wire {
						printWire(os.Stdout, fmt.Sprintf("(d) %s, server %s", lib.name, c.label), wire, p.RTT())
					}
				}
			}
			if len(runs) > 0 {
				slices.Sort(runs)
				c.r.set(lib.name, math.Round(runs[len(runs)/2]*10)/10)
			}
		}
		b.note("(d) server %s: client flights (the client's writes, a round trip apart, seen by the proxy) up to the acceptance: %s.", c.label, strings.Join(counts, ", "))
		p.Close()
	}
	return []*row{data, chunking}
}

// measureHandshake returns the round trips from the start of the connection
// to the server's acceptance of one message, and when record is set, what
// went over the wire until then.
func (b *bench) measureHandshake(lib library, p *proxy, record bool) (float64, []wireEvent, error) {
	ctx := context.Background()
	o := b.opts
	o.addr, o.secure = p.Addr(), true
	if record {
		p.startRecording()
	}
	t0 := time.Now()
	s, err := lib.dial(ctx, o)
	if err != nil {
		return 0, nil, err
	}
	defer s.Quit()
	_, err = s.Send(ctx, sender1, recipients(1), bytes.NewReader(message2K))
	rts := time.Since(t0).Seconds() / p.RTT().Seconds()
	var wire []wireEvent
	if record {
		time.Sleep(time.Millisecond) // the last reply is recorded just after the client has it
		wire = p.stopRecording()
	}
	return rts, wire, err
}

// ---- (e) a pool, 16 senders, 4 connections, 2 ms RTT ----

// newMailwirePool makes mailwire's Pool; it is set by mailwire_pool.go,
// and stays nil when the bench is built with -tags nomailwirepool.
var newMailwirePool func(o dialOptions, maxConns int) pool

func (b *bench) pool() []*row {
	cfg := b.cfg
	name := fmt.Sprintf("(e) 2 ms RTT, 16 senders, 4 conns, %v or %d msgs", cfg.poolTime, cfg.poolMsgs)
	rate := newRow(name, "messages/s", false, 0)
	p, err := b.calibratedProxy(b.sink.Chunking, time.Millisecond, "(e)")
	if err != nil {
		rate.fail(mailwireName, err)
		return []*row{rate}
	}
	defer p.Close()
	o := b.opts
	o.addr = p.Addr()
	failed := map[string]bool{}
	for range cfg.rounds {
		for _, lib := range allLibraries() {
			var pl pool
			switch {
			case failed[lib.name]:
				continue
			case lib.name != mailwireName:
				pl = newChanPool(lib, o, 4)
			case newMailwirePool != nil:
				pl = newMailwirePool(o, 4)
			default:
				rate.missing[lib.name] = "n/a (Pool not built)"
				continue
			}
			v, err := runPool(pl, 16, cfg.poolTime, cfg.poolMsgs)
			pl.Close()
			if err != nil {
				failed[lib.name] = true
				rate.fail(lib.name, err)
				continue
			}
			rate.set(lib.name, v)
		}
	}
	return []*row{rate}
}

// runPool sends from workers goroutines until d has passed or max messages
// were sent, and returns the messages per second.
func runPool(pl pool, workers int, d time.Duration, max int) (float64, error) {
	sent, elapsed, err := sendConcurrently(pl, workers, d, max)
	if err != nil {
		return 0, err
	}
	return float64(sent) / elapsed.Seconds(), nil
}

// sendConcurrently sends message2K to one recipient from workers
// goroutines until d has passed or max messages were sent, and returns how
// many were sent and in how long.
func sendConcurrently(pl pool, workers int, d time.Duration, max int) (int64, time.Duration, error) {
	ctx := context.Background()
	to := recipients(1)
	var (
		claimed, sent atomic.Int64
		wg            sync.WaitGroup
		errMu         sync.Mutex
		firstErr      error
	)
	t0 := time.Now()
	deadline := t0.Add(d)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for claimed.Add(1) <= int64(max) && time.Now().Before(deadline) {
				if err := pl.Send(ctx, sender1, to, bytes.NewReader(message2K)); err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					return
				}
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if firstErr != nil {
		return 0, 0, firstErr
	}
	if sent.Load() == 0 {
		return 0, 0, errors.New("nothing sent")
	}
	return sent.Load(), elapsed, nil
}
