package main

// The latency proxy: a listener on 127.0.0.1 that forwards each connection
// to the sink and delays every chunk, in each direction, by a one-way delay,
// keeping their order. A round trip through it costs 2×delay.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

type proxy struct {
	ln       net.Listener
	target   string
	delay    time.Duration
	spin     time.Duration // see wait: 1.5 ms for delays of 5 ms and more, else 0
	measured time.Duration // the round trip calibrate found; 0 before
	wg       sync.WaitGroup

	mu    sync.Mutex
	start time.Time   // when recording started
	wire  []wireEvent // recorded deliveries, when recording
	rec   bool
}

// wireEvent is one chunk delivered by the proxy.
type wireEvent struct {
	at       time.Duration // since recording started
	toServer bool
	n        int
	head     string   // its first line, or a description of binary data
	commands []string // the SMTP commands a client chunk starts with
}

// startProxy listens on 127.0.0.1 and forwards to target with the given
// one-way delay.
func startProxy(target string, delay time.Duration) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target, delay: delay}
	if delay >= 5*time.Millisecond {
		p.spin = 1500 * time.Microsecond
	}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

// Nominal is the round trip the proxy stands for: 2×delay.
func (p *proxy) Nominal() time.Duration { return 2 * p.delay }

// RTT is the round trip calibrate measured, or the nominal one before.
func (p *proxy) RTT() time.Duration {
	if p.measured > 0 {
		return p.measured
	}
	return p.Nominal()
}

// calibrate measures the link's actual round trip: the median of n NOOPs
// sent to the target through the proxy. It is a little longer than 2×delay:
// it includes the wake-ups of the proxy and of both ends, as an SMTP
// exchange does.
func (p *proxy) calibrate(n int) (time.Duration, error) {
	conn, err := net.Dial("tcp", p.Addr())
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	if _, err := br.ReadString('\n'); err != nil { // the greeting
		return 0, err
	}
	times := make([]time.Duration, n)
	for i := range times {
		t := time.Now()
		if _, err := conn.Write([]byte("NOOP\r\n")); err != nil {
			return 0, err
		}
		line, err := br.ReadString('\n')
		if err != nil {
			return 0, err
		}
		if !strings.HasPrefix(line, "250") {
			return 0, fmt.Errorf("calibrate: NOOP answered %q", line)
		}
		times[i] = time.Since(t)
	}
	conn.Write([]byte("QUIT\r\n"))
	br.ReadString('\n')
	slices.Sort(times)
	p.measured = times[n/2]
	return p.measured, nil
}

// Close stops listening and waits for the connections to end.
func (p *proxy) Close() {
	p.ln.Close()
	p.wg.Wait()
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.handle(in)
	}
}

// handle connects one client to the target. Loopback makes the TCP
// handshake free, so the proxy holds the connection for half a round trip
// first: the server's greeting then reaches the client one round trip
// after it began to connect. (On a real network it takes two: the server
// accepts only when the client's ACK reaches it, and greets then.)
func (p *proxy) handle(in net.Conn) {
	defer p.wg.Done()
	time.Sleep(p.delay)
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		in.Close()
		return
	}
	p.wg.Add(2)
	go p.pipe(in, out, true)
	go p.pipe(out, in, false)
}

type chunk struct {
	at   time.Time
	data []byte
}

// pipe copies src to dst, each chunk written delay after it was read; a
// goroutine per direction keeps them in order. At the end of src it closes
// dst once the queue has drained.
func (p *proxy) pipe(src, dst net.Conn, toServer bool) {
	defer p.wg.Done()
	queue := make(chan chunk, 4096)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer dst.Close()
		for c := range queue {
			p.wait(c.at)
			if _, err := dst.Write(c.data); err != nil {
				for range queue { // let the reader finish
				}
				return
			}
			p.record(toServer, c.data)
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			queue <- chunk{time.Now().Add(p.delay), append([]byte(nil), buf[:n]...)}
		}
		if err != nil {
			close(queue)
			return
		}
	}
}

// wait sleeps until t. Once a process uses the network, the runtime's
// timers fire up to a millisecond late (its netpoller sleeps in whole
// milliseconds), which would add up to 10% to a 20 ms round trip. So when
// p.spin is set, wait sleeps until p.spin before t and spins, yielding,
// for the rest. (Sleeping in the kernel instead, with nanosleep, holds the
// goroutine's P: two such sleepers stall a 2-core process until sysmon
// steps in, for up to 10 ms.)
func (p *proxy) wait(t time.Time) {
	if d := time.Until(t) - p.spin; d > 0 {
		time.Sleep(d)
	}
	for p.spin > 0 && time.Now().Before(t) {
		runtime.Gosched()
	}
}

// startRecording starts a new record of the chunks delivered.
func (p *proxy) startRecording() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start, p.wire, p.rec = time.Now(), nil, true
}

// stopRecording returns what was recorded since startRecording.
func (p *proxy) stopRecording() []wireEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rec = false
	return p.wire
}

func (p *proxy) record(toServer bool, data []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rec {
		e := wireEvent{at: time.Since(p.start), toServer: toServer, n: len(data), head: describeChunk(data)}
		if toServer {
			e.commands = commands(data)
		}
		p.wire = append(p.wire, e)
	}
}

var smtpVerbs = []string{"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT"}

// commands lists the SMTP commands at the start of a client chunk, up to
// DATA or BDAT, after which comes message content.
func commands(data []byte) []string {
	var verbs []string
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		fields := strings.Fields(string(line))
		if len(fields) == 0 || !slices.Contains(smtpVerbs, strings.ToUpper(fields[0])) {
			break
		}
		verb := strings.ToUpper(fields[0])
		verbs = append(verbs, verb)
		if verb == "DATA" || verb == "BDAT" {
			break
		}
		data = rest
	}
	return verbs
}

// flights groups the client's chunks into flights: a client waits a round
// trip for each reply, so a chunk that follows the previous client chunk
// by more than half a round trip starts a new flight. It returns, for each
// flight, the commands sent in it ("message" for content).
func flights(wire []wireEvent, rtt time.Duration) [][]string {
	var fl [][]string
	var last time.Duration
	for _, e := range wire {
		if !e.toServer {
			continue
		}
		if len(fl) == 0 || e.at-last > rtt/2 {
			fl = append(fl, nil)
		}
		last = e.at
		f := &fl[len(fl)-1]
		if len(e.commands) == 0 {
			*f = append(*f, "message")
		}
		*f = append(*f, e.commands...)
	}
	return fl
}

// describeFlights sums up what the client sent in each flight: "2 client
// flights: MAIL RCPT×10 DATA | message".
func describeFlights(wire []wireEvent, rtt time.Duration) string {
	fl := flights(wire, rtt)
	parts := make([]string, len(fl))
	for i, f := range fl {
		var words []string
		for j := 0; j < len(f); {
			k := j
			for k < len(f) && f[k] == f[j] {
				k++
			}
			if k-j > 1 {
				words = append(words, fmt.Sprintf("%s×%d", f[j], k-j))
			} else {
				words = append(words, f[j])
			}
			j = k
		}
		parts[i] = strings.Join(words, " ")
	}
	return fmt.Sprintf("%d client flight(s): %s", len(fl), strings.Join(parts, " | "))
}

// describeChunk is the first line of a chunk, and how many lines it has;
// a TLS record is shown as such.
func describeChunk(data []byte) string {
	if len(data) > 0 && (data[0] == 0x16 || data[0] == 0x17 || data[0] == 0x14 || data[0] == 0x15) {
		return "[TLS]"
	}
	s := string(data)
	lines := strings.Count(s, "\n")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimRight(s, "\r")
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	if lines > 1 {
		s += fmt.Sprintf("  (+%d more lines)", lines-1)
	}
	return s
}

// printWire writes a timeline of recorded chunks, with the round trips
// elapsed at each.
func printWire(w io.Writer, title string, events []wireEvent, rtt time.Duration) {
	fmt.Fprintf(w, "\n%s (RTT %v):\n", title, rtt)
	for _, e := range events {
		dir := "S→C"
		if e.toServer {
			dir = "C→S"
		}
		fmt.Fprintf(w, "  %7.1f ms  %5.2f RTT  %s %6d B  %s\n",
			float64(e.at)/float64(time.Millisecond), float64(e.at)/float64(rtt), dir, e.n, e.head)
	}
}
