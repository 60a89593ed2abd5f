package smtp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fault injection over a whole session: at each step the server either
// closes the connection or stops answering, and the client must fail
// within its deadline, never report success before the reply to the end
// of data, report ErrDeliveryUnknown exactly between the end of data and
// its reply, and leave no goroutine behind.

// faultTimeout is the Options.Timeout (or the context deadline) of a fault
// run; faultBound is how long any run may take.
const (
	faultTimeout = 500 * time.Millisecond
	faultBound   = 3 * time.Second
)

// faultMessage is a message much larger than the socket buffers of a
// fault run (64 KiB each way, see smallBuffers), so that a
// server that stops reading midway stops the client's writes too.
var faultMessage = sync.OnceValue(func() []byte {
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n"
	return []byte("Subject: fault\r\n\r\n" + strings.Repeat(line, 4<<20/len(line)))
})

// faultEnv has five recipients, so that a fault can hit the third RCPT.
var faultEnv = &Envelope{From: "a@example.com", To: []string{"r1@example.com", "r2@example.com", "r3@example.com", "r4@example.com", "r5@example.com"}}

// smallBuffers keeps the kernel from absorbing a whole message: it caps a
// TCP connection's buffers at 64 KiB.
func smallBuffers(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(64 << 10)
		tc.SetWriteBuffer(64 << 10)
	}
}

// faultDialer dials with small socket buffers.
type faultDialer struct{}

func (faultDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err == nil {
		smallBuffers(conn)
	}
	return conn, err
}

// faultConn is the server side of a fault run: a scripted SMTP server
// written in Go, step by step, so that it can stop anywhere, even inside a
// TLS handshake or after n bytes of message content.
type faultConn struct {
	conn net.Conn
	br   *bufio.Reader
}

func (f *faultConn) send(lines ...string) error {
	_, err := io.WriteString(f.conn, strings.Join(lines, "\r\n")+"\r\n")
	return err
}

// expect reads a command line; it must start with prefix.
func (f *faultConn) expect(prefix string) error {
	line, err := f.br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("want %q: %v", prefix, err)
	}
	if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, "\r\n") {
		return fmt.Errorf("got %q, want %q…", line, prefix)
	}
	return nil
}

// discard reads n bytes of message content.
func (f *faultConn) discard(n int64) error {
	_, err := io.CopyN(io.Discard, f.br, n)
	return err
}

// data reads message content through the CRLF.CRLF that ends it.
func (f *faultConn) data() error {
	tail := []byte("\r\n")
	for {
		line, err := f.br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return fmt.Errorf("reading data: %v", err)
		}
		if bytes.Equal(line, []byte(".\r\n")) && bytes.HasSuffix(tail, []byte("\r\n")) {
			return nil
		}
		tail = append(tail[:0], line[max(0, len(line)-2):]...)
	}
}

// startTLS runs the server side of the handshake.
func (f *faultConn) startTLS() error {
	tc := tls.Server(f.conn, serverTLS(goodCert))
	if err := tc.Handshake(); err != nil {
		return err
	}
	f.conn, f.br = tc, bufio.NewReader(tc)
	return nil
}

// clientHello reads the first TLS record the client sends, its ClientHello,
// and nothing more.
func (f *faultConn) clientHello() error {
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(f.br, hdr); err != nil {
		return err
	}
	if hdr[0] != 22 { // handshake
		return fmt.Errorf("first TLS record of type %d, want a handshake", hdr[0])
	}
	return f.discard(int64(hdr[3])<<8 | int64(hdr[4]))
}

// Openings of the scripted sessions. The server never offers CHUNKING, so
// the content goes with DATA and ends with the dot.
func greet(f *faultConn) error { return f.send("220 fault.test ESMTP") }

func ehloWith(exts ...string) func(f *faultConn) error {
	return func(f *faultConn) error {
		if err := f.expect("EHLO localhost"); err != nil {
			return err
		}
		lines := []string{"250-fault.test"}
		for i, e := range exts {
			if i == len(exts)-1 {
				lines = append(lines, "250 "+e)
			} else {
				lines = append(lines, "250-"+e)
			}
		}
		return f.send(lines...)
	}
}

var plainEHLO = ehloWith("8BITMIME", "SIZE 10485760")

func steps(fs ...func(f *faultConn) error) func(f *faultConn) error {
	return func(f *faultConn) error {
		for _, s := range fs {
			if err := s(f); err != nil {
				return err
			}
		}
		return nil
	}
}

func expect(prefix string) func(f *faultConn) error {
	return func(f *faultConn) error { return f.expect(prefix) }
}

func reply(lines ...string) func(f *faultConn) error {
	return func(f *faultConn) error { return f.send(lines...) }
}

// rcpts answers MAIL and the first k RCPTs (without PIPELINING), and reads
// the next RCPT, the one the fault hits.
func rcpts(k int) func(f *faultConn) error {
	fs := []func(*faultConn) error{expect("MAIL FROM:<a@example.com>"), reply("250 2.1.0 Ok")}
	for i := 1; i < k; i++ {
		fs = append(fs, expect(fmt.Sprintf("RCPT TO:<r%d@example.com>", i)), reply("250 2.1.5 Ok"))
	}
	return steps(append(fs, expect(fmt.Sprintf("RCPT TO:<r%d@example.com>", k)))...)
}

// toData is a session up to the 354 that opens the content.
var toData = steps(greet, plainEHLO, rcpts(5), reply("250 2.1.5 Ok"), expect("DATA"), reply("354 End data with <CR><LF>.<CR><LF>"))

// toBDAT is a session with CHUNKING up to the accepted recipients.
var toBDAT = steps(greet, ehloWith("CHUNKING", "8BITMIME", "SIZE 10485760"), rcpts(5), reply("250 2.1.5 Ok"))

// toPipelinedBDAT is a session with CHUNKING and PIPELINING up to the
// envelope, read but not answered.
var toPipelinedBDAT = steps(greet, ehloWith("PIPELINING", "CHUNKING", "8BITMIME"), expect("MAIL FROM:<a@example.com>"),
	expect("RCPT TO:<r1@"), expect("RCPT TO:<r2@"), expect("RCPT TO:<r3@"), expect("RCPT TO:<r4@"), expect("RCPT TO:<r5@"))

// bdatHeader reads a "BDAT n [LAST]" command.
func (f *faultConn) bdatHeader() (n int64, last bool, err error) {
	line, err := f.br.ReadString('\n')
	if err != nil {
		return 0, false, fmt.Errorf("want BDAT: %v", err)
	}
	var tail string
	if k, _ := fmt.Sscanf(line, "BDAT %d %s", &n, &tail); k == 0 || !strings.HasSuffix(line, "\r\n") {
		return 0, false, fmt.Errorf("got %q, want BDAT", line)
	}
	return n, tail == "LAST", nil
}

// bdatChunks reads chunks through BDAT LAST, answering every other one.
func (f *faultConn) bdatChunks() error {
	for {
		n, last, err := f.bdatHeader()
		if err != nil {
			return err
		}
		if err := f.discard(n); err != nil {
			return err
		}
		if last {
			return nil
		}
		if err := f.send("250 2.0.0 chunk ok"); err != nil {
			return err
		}
	}
}

// bdatFirstChunk reads one whole chunk, which must not be the last.
func (f *faultConn) bdatFirstChunk() error {
	n, last, err := f.bdatHeader()
	if err != nil {
		return err
	}
	if last {
		return errors.New("the first chunk is the LAST one, want a message in several chunks")
	}
	return f.discard(n)
}

// bdatPartial reads n bytes of a chunk.
func (f *faultConn) bdatPartial(n int64) error {
	size, _, err := f.bdatHeader()
	if err != nil {
		return err
	}
	if size <= n {
		return fmt.Errorf("a chunk of %d bytes, want more than %d", size, n)
	}
	return f.discard(n)
}

// The phases a fault can hit, and what the client must report.
type faultPhase int

const (
	phaseDial    faultPhase = iota // Dial fails
	phaseSend                      // Dial works, Send fails: nothing delivered
	phaseUnknown                   // Send fails with ErrDeliveryUnknown
	phaseAfter                     // Send works; the next Send fails
)

func (p faultPhase) String() string {
	return [...]string{"Dial fails", "Send fails", "ErrDeliveryUnknown", "Send works, next fails"}[p]
}

type faultStep struct {
	name   string
	phase  faultPhase
	script func(f *faultConn) error // what the server does before the fault
	opts   func(o *Options)         // changes to the client's options
	msg    faultMsg                 // the message Send sends
	manual bool                     // send with Mail, Rcpt and Data rather than Send
}

// faultMsg is the message of a fault run. Its size is hidden from Send
// (io.MultiReader) unless it is a sized one, which CHUNKING sends as one
// BDAT LAST.
type faultMsg int

const (
	msgBig        faultMsg = iota // 4 MiB: more than the socket buffers hold
	msgSmall                      // 16 KiB: the whole Send fits in 500ms, even under the race detector
	msgMedium                     // 600 KiB: three BDAT chunks of 256 KiB
	msgSized                      // 1 MiB, its size known
	msgSizedSmall                 // 16 KiB, its size known
)

func (m faultMsg) reader() io.Reader {
	b := faultMessage()
	switch m {
	case msgSmall, msgSizedSmall:
		b = b[:16<<10]
	case msgMedium:
		b = b[:600<<10]
	case msgSized:
		b = b[:1<<20]
	}
	if m == msgSized || m == msgSizedSmall {
		return bytes.NewReader(b)
	}
	return io.MultiReader(bytes.NewReader(b))
}

var faultSteps = []faultStep{
	{"connect", phaseDial, func(f *faultConn) error { return nil }, nil, msgBig, false},
	{"after greeting", phaseDial, greet, nil, msgBig, false},
	{"inside multiline EHLO reply", phaseDial, steps(greet, expect("EHLO localhost"), reply("250-fault.test", "250-PIPELINING", "250-SIZE 1000")), nil, msgBig, false},
	{"after STARTTLS 220", phaseDial, steps(greet, ehloWith("STARTTLS"), expect("STARTTLS"), reply("220 2.0.0 Ready")), withTLS, msgBig, false},
	{"inside TLS handshake", phaseDial, steps(greet, ehloWith("STARTTLS"), expect("STARTTLS"), reply("220 2.0.0 Ready"), (*faultConn).clientHello), withTLS, msgBig, false},
	{"after TLS handshake", phaseDial, steps(greet, ehloWith("STARTTLS"), expect("STARTTLS"), reply("220 2.0.0 Ready"), (*faultConn).startTLS, expect("EHLO localhost")), withTLS, msgBig, false},
	{"after AUTH line", phaseDial, steps(greet, ehloWith("AUTH LOGIN"), expect("AUTH LOGIN")), withAuth, msgBig, false},
	{"after AUTH 334", phaseDial, steps(greet, ehloWith("AUTH LOGIN"), expect("AUTH LOGIN"), reply("334 VXNlcm5hbWU6")), withAuth, msgBig, false},
	{"after second AUTH 334", phaseDial, steps(greet, ehloWith("AUTH LOGIN"), expect("AUTH LOGIN"), reply("334 VXNlcm5hbWU6"), expect(b64("fault")), reply("334 UGFzc3dvcmQ6")), withAuth, msgBig, false},
	{"after MAIL", phaseSend, steps(greet, plainEHLO, expect("MAIL FROM:<a@example.com>")), nil, msgBig, false},
	{"after RCPT 1 of 5", phaseSend, steps(greet, plainEHLO, rcpts(1)), nil, msgBig, false},
	{"after RCPT 3 of 5", phaseSend, steps(greet, plainEHLO, rcpts(3)), nil, msgBig, false},
	{"after pipelined RCPT 3 of 5 replies", phaseSend, steps(greet, ehloWith("PIPELINING", "8BITMIME"),
		expect("MAIL FROM:"), expect("RCPT TO:<r1@"), expect("RCPT TO:<r2@"), expect("RCPT TO:<r3@"), expect("RCPT TO:<r4@"), expect("RCPT TO:<r5@"), expect("DATA"),
		reply("250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok")), nil, msgBig, false},
	{"after DATA", phaseSend, steps(greet, plainEHLO, rcpts(5), reply("250 2.1.5 Ok"), expect("DATA")), nil, msgBig, false},
	{"after 354, 0 bytes of data", phaseSend, toData, nil, msgBig, false},
	{"after 64 KiB of data", phaseSend, steps(toData, func(f *faultConn) error { return f.discard(64 << 10) }), nil, msgBig, false},
	{"after 1 MiB of data", phaseSend, steps(toData, func(f *faultConn) error { return f.discard(1 << 20) }), nil, msgBig, false},
	// A small message from here on where the whole Send must fit in the
	// context's 500ms.
	{"after the final dot", phaseUnknown, steps(toData, (*faultConn).data), nil, msgSmall, false},
	{"inside a multiline reply to the dot", phaseUnknown, steps(toData, (*faultConn).data, reply("250-2.0.0 Ok: queued as F1")), nil, msgSmall, false},
	{"after the reply to the dot", phaseAfter, steps(toData, (*faultConn).data, reply("250 2.0.0 Ok: queued as F1")), nil, msgSmall, false},
	// The same by Mail, Rcpt and the Data writer.
	{"Data writer: after 1 MiB of data", phaseSend, steps(toData, func(f *faultConn) error { return f.discard(1 << 20) }), nil, msgBig, true},
	{"Data writer: after the final dot", phaseUnknown, steps(toData, (*faultConn).data), nil, msgSmall, true},
	{"Data writer: after the reply to the dot", phaseAfter, steps(toData, (*faultConn).data, reply("250 2.0.0 Ok: queued as F1")), nil, msgSmall, true},

	// With CHUNKING (RFC 3030) the content ends with BDAT LAST: a message of
	// known size goes in one BDAT LAST, one of unknown size in chunks of
	// 256 KiB, each answered before the next (no PIPELINING).
	{"BDAT LAST: after 64 KiB of the chunk", phaseSend, steps(toBDAT, func(f *faultConn) error { return f.bdatPartial(64 << 10) }), nil, msgSized, false},
	{"BDAT LAST: after the whole chunk", phaseUnknown, steps(toBDAT, (*faultConn).bdatChunks), nil, msgSizedSmall, false},
	{"BDAT LAST: after its reply", phaseAfter, steps(toBDAT, (*faultConn).bdatChunks, reply("250 2.0.0 Ok: queued as F2")), nil, msgSizedSmall, false},
	{"pipelined BDAT LAST: after the chunk, before any reply", phaseUnknown, steps(toPipelinedBDAT, (*faultConn).bdatChunks), nil, msgSizedSmall, false},
	{"pipelined BDAT LAST: every RCPT refused, then the fault", phaseSend, steps(toPipelinedBDAT, (*faultConn).bdatChunks,
		reply("250 2.1.0 Ok", "550 5.1.1 no", "550 5.1.1 no", "550 5.1.1 no", "550 5.1.1 no", "550 5.1.1 no")), nil, msgSizedSmall, false},
	{"BDAT chunks: after the first chunk", phaseSend, steps(toBDAT, (*faultConn).bdatFirstChunk), nil, msgBig, false},
	{"BDAT chunks: after the LAST chunk", phaseUnknown, steps(toBDAT, (*faultConn).bdatChunks), nil, msgMedium, false},
	{"BDAT chunks: after the reply to LAST", phaseAfter, steps(toBDAT, (*faultConn).bdatChunks, reply("250 2.0.0 Ok: queued as F3")), nil, msgMedium, false},
}

func withTLS(o *Options) {
	o.Security = StartTLS
	o.TLSConfig = &tls.Config{RootCAs: testCA.Pool()}
}

func withAuth(o *Options) {
	o.Auth = PasswordAuth("fault", "fault-password")
	o.AllowInsecureAuth = true
}

// The faults.
type faultKind int

const (
	faultClose   faultKind = iota // the server closes the connection
	faultHang                     // the server stops answering; Options.Timeout ends the wait
	faultHangCtx                  // the same, with no Timeout and a context deadline
)

func (k faultKind) String() string { return [...]string{"close", "hang/Timeout", "hang/ctx"}[k] }

// faultOutcome is what one run saw.
type faultOutcome struct {
	dialErr, sendErr, nextErr error
	receipt                   *Receipt
	elapsed                   time.Duration // of the call that met the fault
	serverErr                 error         // the client deviated from the script
}

// runFault runs step with fault k: the server plays the script, then
// closes or stops answering; the client dials and sends.
func runFault(step faultStep, k faultKind) (out faultOutcome) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		out.serverErr = err
		return out
	}
	release := make(chan struct{}) // the client is done: a hanging server may go
	served := make(chan struct{})
	var serverErr error
	go func() {
		defer close(served)
		conn, err := ln.Accept()
		ln.Close()
		if err != nil {
			serverErr = err
			return
		}
		smallBuffers(conn)
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		f := &faultConn{conn: conn, br: bufio.NewReader(conn)}
		if err := step.script(f); err != nil {
			serverErr = err
		}
		if k != faultClose {
			<-release // stop answering, and reading, until the client is done
		}
		f.conn.Close()
		conn.Close()
	}()
	defer func() {
		close(release)
		<-served
		out.serverErr = serverErr
	}()

	opts := &Options{Security: Plaintext, Timeout: faultTimeout, Dialer: faultDialer{}}
	if k == faultHangCtx {
		opts.Timeout = 0
	}
	if step.opts != nil {
		step.opts(opts)
	}
	callCtx := func() (context.Context, context.CancelFunc) {
		if k == faultHangCtx {
			return context.WithTimeout(context.Background(), faultTimeout)
		}
		return context.WithCancel(context.Background())
	}
	// The fault's deadline bounds Dial only where the fault hits Dial.
	var ctx context.Context
	var cancel context.CancelFunc
	if step.phase == phaseDial {
		ctx, cancel = callCtx()
	} else {
		ctx, cancel = context.WithCancel(context.Background())
	}
	start := time.Now()
	c, err := Dial(ctx, ln.Addr().String(), opts)
	cancel()
	out.dialErr = err
	if step.phase == phaseDial || err != nil {
		out.elapsed = time.Since(start)
		if c != nil {
			c.Close()
		}
		return out
	}
	defer c.Close()
	ctx, cancel = callCtx()
	defer cancel()
	start = time.Now()
	if step.manual {
		out.sendErr = sendManually(ctx, c, faultEnv, step.msg.reader())
		if out.sendErr == nil {
			out.receipt = &Receipt{Accepted: faultEnv.To, Reply: Reply{Code: 250}}
		}
	} else {
		out.receipt, out.sendErr = c.Send(ctx, faultEnv, step.msg.reader())
	}
	out.elapsed = time.Since(start)
	if step.phase == phaseAfter && out.sendErr == nil {
		ctx, cancel := callCtx()
		defer cancel()
		start = time.Now()
		_, out.nextErr = c.Send(ctx, faultEnv, strings.NewReader("Subject: next\r\n\r\nx\r\n"))
		out.elapsed = time.Since(start)
	}
	return out
}

// sendManually runs a transaction with Mail, Rcpt and the Data writer.
func sendManually(ctx context.Context, c *Client, env *Envelope, msg io.Reader) error {
	if err := c.Mail(ctx, env.From, nil); err != nil {
		return err
	}
	for _, to := range env.To {
		if err := c.Rcpt(ctx, to, nil); err != nil {
			return err
		}
	}
	w, err := c.Data(ctx)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, msg); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// isTimeout reports an error that says the wait ran out, whatever ended
// it: Options.Timeout or the context's deadline. The package promises that
// this one test finds every timeout (a TLS handshake cut by
// Options.Timeout did not pass it before ebd15c1).
func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded)
}

func TestFaultInjection(t *testing.T) {
	// Not parallel: the goroutine count at the end must be this test's.
	// The runs are concurrent among themselves, and checked one by one
	// afterwards, so that the hanging ones cost one timeout in all.
	before := runtime.NumGoroutine()
	kinds := []faultKind{faultClose, faultHang, faultHangCtx}
	outcomes := make([][]faultOutcome, len(faultSteps))
	var wg sync.WaitGroup
	// At most 8 runs at once: enough to overlap the waits, few enough that
	// a run under the race detector on two cores keeps to its deadline.
	sem := make(chan struct{}, 8)
	for i, step := range faultSteps {
		outcomes[i] = make([]faultOutcome, len(kinds))
		for j, k := range kinds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				outcomes[i][j] = runFault(step, k)
			}()
		}
	}
	wg.Wait()

	for i, step := range faultSteps {
		for j, k := range kinds {
			t.Run(step.name+"/"+k.String(), func(t *testing.T) {
				out := outcomes[i][j]
				if out.serverErr != nil {
					t.Fatalf("the client left the script: %v", out.serverErr)
				}
				if out.elapsed > faultBound {
					t.Errorf("the call took %v, want less than %v", out.elapsed, faultBound)
				}
				var err error // the error the fault caused
				switch step.phase {
				case phaseDial:
					err = out.dialErr
					if err == nil {
						t.Fatal("Dial worked, want an error")
					}
				case phaseSend, phaseUnknown:
					if out.dialErr != nil {
						t.Fatalf("Dial: %v", out.dialErr)
					}
					err = out.sendErr
					if err == nil {
						t.Fatalf("Send reported success (%+v) before the reply to the end of data", out.receipt.Reply)
					}
					if out.receipt != nil {
						t.Errorf("Send returned a receipt with its error: %+v", out.receipt)
					}
				case phaseAfter:
					if out.dialErr != nil || out.sendErr != nil {
						t.Fatalf("Dial: %v; Send: %v; want both to work, the reply arrived", out.dialErr, out.sendErr)
					}
					if out.receipt == nil || out.receipt.Reply.Code != 250 || len(out.receipt.Accepted) != 5 {
						t.Errorf("receipt %+v, want the 250 reply and 5 recipients", out.receipt)
					}
					err = out.nextErr
					if err == nil {
						t.Fatal("the Send after the fault worked, want an error")
					}
				}
				if unknown := errors.Is(err, ErrDeliveryUnknown); unknown != (step.phase == phaseUnknown) {
					t.Errorf("errors.Is(%v, ErrDeliveryUnknown) = %v, want %v", err, unknown, step.phase == phaseUnknown)
				}
				if timeout := isTimeout(err); timeout != (k != faultClose) {
					t.Errorf("errors.Is(%v, context.DeadlineExceeded) = %v, want %v", err, timeout, k != faultClose)
				}
				t.Logf("%s: %T: %v (in %v)", step.phase, err, err, out.elapsed.Round(time.Millisecond))
			})
		}
	}
	waitGoroutines(t, before)
}
