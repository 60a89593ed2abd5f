package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Default waits of RFC 5321 section 4.5.3.2, used when Options.Timeout is 0.
const (
	defaultTimeout     = 5 * time.Minute  // any reply
	defaultDataTimeout = 10 * time.Minute // the reply to the end of data
)

// DefaultGreetingTimeout is the wait for the greeting when
// Options.GreetingTimeout is 0. RFC 5321 allows 5 minutes, but a server
// that greets at all does so at once, or after a deliberate pause of a few
// seconds (Postfix's postscreen waits 6 s); a silent port is far more often
// one that expects TLS first, and a user should hear so in seconds.
const DefaultGreetingTimeout = 20 * time.Second

// Options configure a Client. A nil *Options is the zero value, and the zero
// value is safe: the connection is encrypted (implicit TLS on port 465,
// mandatory STARTTLS elsewhere). Options are copied when a Client is made;
// changing them later has no effect on it.
type Options struct {
	// Security says how the connection is encrypted; see Security.
	Security Security
	// TLSConfig configures TLS. It is cloned, never modified. Its
	// ServerName defaults to the dialled host; MinVersion to TLS 1.2. A
	// ClientSessionCache in it lets a later connection resume the session
	// of an earlier one; a Pool gives its connections one by itself.
	TLSConfig *tls.Config
	// Pins, when set, accept the server only if the key of a certificate
	// in its verified chain has one of these pins, in curl's
	// --pinnedpubkey form "sha256//BASE64" (see Pin and PinVerifier). A
	// malformed pin is an error at Dial.
	Pins []string
	// Auth, when set, authenticates right after the (post-TLS) EHLO; see
	// PasswordAuth, OAuth2Auth and SASLAuth.
	Auth Auth
	// AllowInsecureAuth allows mechanisms that reveal the secret (PLAIN,
	// LOGIN, bearer tokens) on a connection that is not encrypted. Leave
	// it off unless the network is trusted (a test server on loopback).
	AllowInsecureAuth bool
	// LocalName is the name sent with EHLO or HELO; default "localhost".
	LocalName string
	// Trace receives every protocol line and connection event; nil costs
	// nothing. See Trace.
	Trace *Trace
	// Timeout bounds every wait for the server: each reply, and each write.
	// Zero means 5 minutes, and 10 minutes for the reply to the end of
	// data (RFC 5321 section 4.5.3.2). The context's deadline bounds them
	// too; whichever comes first applies.
	Timeout time.Duration
	// GreetingTimeout bounds the wait for the server's greeting. Zero means
	// DefaultGreetingTimeout, or Timeout when that is shorter. A server
	// that stays silent is most often a port that expects TLS from the
	// first byte, met in plaintext: the error then says so and wraps
	// ErrWrongSecurity. Raise it for a server that delays its greeting on
	// purpose (a tarpit) longer than that.
	GreetingTimeout time.Duration
	// Dialer opens the connection in Dial; nil means a net.Dialer. Use it
	// for a source address or a test listener. With Proxy, it opens the
	// connection to the proxy.
	Dialer Dialer
	// DKIM, when set, signs every message sent (see DKIM).
	DKIM *DKIM
	// LMTP speaks LMTP (RFC 2033), the protocol of local delivery agents
	// (Dovecot, Cyrus), instead of SMTP: LHLO instead of EHLO, and after
	// the message one reply for each accepted recipient, which Send files
	// in the Receipt: delivered ones in Accepted, the others in Rejected
	// (their RecipientError's Command is "end of data"). The message goes
	// with DATA.
	LMTP bool
	// Proxy reaches the server through a proxy, given as a URL:
	// socks5://HOST:PORT (the client resolves the server's name),
	// socks5h://HOST:PORT (the proxy does: the client's DNS never sees it),
	// http://HOST:PORT or https://HOST:PORT (an HTTP CONNECT tunnel), each
	// with USER:PASSWORD@ before the host when the proxy wants them. The
	// trace shows the hop; errors and traces never show the password.
	// TLS with the mail server still runs end to end, through the proxy.
	Proxy string
	// ProxyTLSConfig configures TLS with an https:// proxy itself (nil:
	// the system's roots, checked against the proxy's host name).
	ProxyTLSConfig *tls.Config
}

// Dialer opens connections: *net.Dialer is one, and so are the dialers of
// golang.org/x/net/proxy (SOCKS5) that take a context.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client is a connection to an SMTP server (RFC 5321) that has said hello
// and is ready for mail transactions.
//
// A Client is not safe for concurrent use, except that Close may be called
// from another goroutine to abort a call in progress; use a Pool for
// concurrent senders. A call whose context is cancelled, or whose connection
// fails, in the middle of an exchange leaves the protocol state unknown: the
// Client then closes itself, and every later call returns the error that
// closed it. So does any reply that fits no state (a 250 to DATA), and
// anything the server sends unasked between calls: a stray reply is never
// taken for the answer to the next command. A context that ends after a
// call's last read or write changes nothing for the next call.
//
// Every write is bounded by Options.Timeout from its own start, so a Client
// idle for long, a long envelope or a slow reader of the message never
// meets a deadline left from an earlier reply.
type Client struct {
	conn  net.Conn
	bw    *bufio.Writer
	rr    replyReader
	dw    dotWriter
	opts  Options
	trace *Trace
	ext   extensions

	mode      Security     // resolved: never SecurityAuto
	host      string       // the dialled host; "" in NewClient
	tlsConfig *tls.Config  // nil in Plaintext mode
	proxy     *proxyDialer // nil without Options.Proxy
	tlsState  *tls.ConnectionState
	pins      *pinSet // nil when Options.Pins is empty
	id        int64   // the connection's number within its Trace

	created  time.Time // when the connection was made
	lastUsed time.Time // when the last transaction started
	sent     int       // messages accepted on this connection
	lastIO   time.Time // when the last reply was read
	dataOpen bool      // a Data writer is open: other calls would write into the message
	mailUTF8 bool      // the last MAIL of Mail asked for SMTPUTF8
	// saslPending: Cmd sent AUTH and the server answered with a challenge,
	// so the next line Cmd sends is a secret.
	saslPending bool

	line     []byte      // the command being built, reused
	copyBuf  []byte      // streams a message, made on first use
	chunk    []byte      // a BDAT chunk of a message of unknown size, in chunkBuf
	chunkBuf []byte      // chunk's array, with room for its BDAT line before it; made on first use
	tx       transaction // the current (or last) Send

	err    error       // set once the connection is unusable; owned by the caller's goroutine
	closed atomic.Bool // Close was called

	mu          sync.Mutex      // guards what follows against the context watcher
	watched     context.Context // the context of the call in progress, if it can end
	cancelled   bool            // it ended: the deadline is in the past
	ctxEnd      time.Time       // its deadline; zero when none
	stopWatch   func() bool     // stops the watcher of the call in progress
	interruptFn func()          // c.interrupt, made once
}

// Dial connects to addr ("host:port"), reads the greeting, sends EHLO (HELO
// when EHLO is refused), secures the connection as opts.Security says, and
// sends EHLO again after STARTTLS. A refused greeting or command is an
// *Error; a network failure names the step it happened in.
func Dial(ctx context.Context, addr string, opts *Options) (*Client, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, errInput("dial %q: %v", addr, err)
	}
	if host, err = asciiHost(host); err != nil {
		return nil, err
	}
	addr = net.JoinHostPort(host, port)
	c, err := prepare(opts, host, port)
	if err != nil {
		return nil, err
	}
	if t := traceFrom(ctx); t != nil {
		c.useCallTrace(t)
		defer c.endCallTrace()
	}
	var dialer Dialer = &net.Dialer{}
	if c.opts.Dialer != nil {
		dialer = c.opts.Dialer
	}
	via := ""
	if c.proxy != nil {
		dialer, via = c.proxy, c.proxy.String()
	}
	c.emit(Event{Kind: EventConnectStart, Network: "tcp", Addr: addr, Proxy: via})
	dctx, cancel := context.WithTimeout(ctx, c.timeout()) // Options.Timeout bounds the connect too
	conn, err := dialer.DialContext(dctx, "tcp", addr)
	timedOut := errors.Is(dctx.Err(), context.DeadlineExceeded)
	cancel()
	ev := Event{Kind: EventConnectDone, Network: "tcp", Addr: addr, Proxy: via, Err: err}
	if err == nil {
		ev.RemoteAddr = conn.RemoteAddr().String()
	}
	c.emit(ev)
	if err != nil {
		deadline, hasDeadline := ctx.Deadline()
		switch {
		case ctx.Err() != nil:
			err = context.Cause(ctx)
		case !timedOut && !errors.Is(err, os.ErrDeadlineExceeded):
		case hasDeadline && !time.Now().Before(deadline):
			err = context.DeadlineExceeded // the poller saw it before the context did
		default:
			err = &timeoutError{wait: c.timeout()}
		}
		return nil, &opError{command: "connect", err: err}
	}
	return c.start(ctx, conn)
}

// NewClient does what Dial does over a connection the caller established (a
// proxy, net.Pipe in a test). The TLS server name then comes from
// opts.TLSConfig.ServerName, and SecurityAuto means StartTLS. On failure it
// closes conn.
func NewClient(ctx context.Context, conn net.Conn, opts *Options) (*Client, error) {
	c, err := prepare(opts, "", "")
	if err != nil {
		conn.Close()
		return nil, err
	}
	if t := traceFrom(ctx); t != nil {
		c.useCallTrace(t)
		defer c.endCallTrace()
	}
	return c.start(ctx, conn)
}

// SendMail is Dial, Send and Quit for one message. A failed QUIT after the
// message was accepted is not an error: the message was delivered.
func SendMail(ctx context.Context, addr string, opts *Options, env *Envelope, msg io.Reader) (*Receipt, error) {
	c, err := Dial(ctx, addr, opts)
	if err != nil {
		return nil, err
	}
	r, err := c.Send(ctx, env, msg)
	if err != nil {
		c.Close()
		return r, err
	}
	c.Quit(ctx)
	return r, nil
}

// normalize copies the options, fills in defaults and refuses bad values.
func (opts *Options) normalize() (Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.LocalName == "" {
		o.LocalName = "localhost"
	}
	if err := checkLocalName(o.LocalName); err != nil {
		return o, err
	}
	var err error
	if o.LocalName, err = asciiHost(o.LocalName); err != nil {
		return o, err
	}
	if o.Timeout < 0 {
		return o, errInput("negative Options.Timeout %v", o.Timeout)
	}
	if o.DKIM != nil {
		if err := o.DKIM.check(); err != nil {
			return o, err
		}
	}
	return o, nil
}

// prepare makes a Client, not yet connected, for a server host on port
// ("" when unknown): options checked and copied, security mode resolved,
// TLS configured. Everything that can be refused is refused here, before a
// connection is made.
func prepare(opts *Options, host, port string) (*Client, error) {
	o, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	c := &Client{opts: o, trace: o.Trace, mode: secureMode(o.Security, port), host: host}
	switch c.mode {
	case StartTLS, StartTLSOptional, ImplicitTLS:
		if c.tlsConfig, err = c.newTLSConfig(); err != nil {
			return nil, err
		}
	case Plaintext:
	default:
		return nil, errInput("unknown Options.Security %v", c.mode)
	}
	if o.Proxy != "" {
		var forward Dialer = &net.Dialer{}
		if o.Dialer != nil {
			forward = o.Dialer
		}
		if c.proxy, err = newProxyDialer(o.Proxy, o.ProxyTLSConfig, forward); err != nil {
			return nil, err
		}
	}
	if c.trace != nil {
		c.id = connIDs.Add(1)
	}
	return c, nil
}

// start runs the opening of a session over conn.
func (c *Client) start(ctx context.Context, conn net.Conn) (*Client, error) {
	c.conn = conn
	c.created = time.Now()
	c.lastUsed, c.lastIO = c.created, c.created
	c.bw = bufio.NewWriterSize(connWriter{c}, commandBufSize)
	c.rr.r = bufio.NewReader(conn)
	c.rr.onLine = func(line []byte) { // the trace may come with a call's context
		if c.trace != nil && c.trace.Event != nil {
			c.lineReceived(line)
		}
	}
	if err := c.open(ctx); err != nil {
		c.shut(err)
		return nil, err
	}
	return c, nil
}

// open reads the greeting (after the handshake, in ImplicitTLS mode),
// says hello, and secures the connection as the mode says.
func (c *Client) open(ctx context.Context) error {
	c.watch(ctx)
	defer c.unwatch()
	if c.mode == ImplicitTLS {
		if err := c.handshake(ctx); err != nil {
			return err
		}
	}
	rep, err := c.readGreeting(ctx)
	if err != nil {
		return err
	}
	if rep.Code != 220 {
		return &Error{Command: "greeting", Reply: rep}
	}
	if err := c.hello(ctx); err != nil {
		return err
	}
	if err := c.secure(ctx); err != nil {
		return err
	}
	if c.opts.Auth == nil {
		return nil
	}
	sc, err := c.opts.Auth.mechanism(c)
	if err != nil {
		return err
	}
	return c.authenticate(ctx, sc)
}

// hello sends EHLO, or HELO when the server refuses EHLO with a permanent
// error (RFC 5321 section 3.2), and replaces the extension table.
func (c *Client) hello(ctx context.Context) error {
	c.ext = nil
	if c.opts.LMTP { // no HELO to fall back on (RFC 2033 section 4.1)
		rep, err := c.roundTrip(ctx, true, "LHLO ", c.opts.LocalName)
		if err == nil {
			c.ext = parseEHLO(rep.Message)
		}
		return err
	}
	rep, err := c.roundTrip(ctx, true, "EHLO ", c.opts.LocalName)
	if err == nil {
		c.ext = parseEHLO(rep.Message)
		return nil
	}
	var e *Error
	if !errors.As(err, &e) || e.Temporary() {
		return err
	}
	_, err = c.roundTrip(ctx, false, "HELO ", c.opts.LocalName)
	if err == nil {
		c.ext = extensions{}
	}
	return err
}

// Cmd sends line, a raw command without CRLF, and returns the server's
// reply. It is the door for commands this package does not know; it still
// refuses CR, LF and NUL in line, and the commands that change how the
// connection is framed (DATA, BDAT, STARTTLS: use Data, Send, and
// Options.Security), however they are spaced or cased. An AUTH sent this
// way, and every line that answers its challenges, reaches the Trace as
// "[redacted]" after the mechanism name, as Auth's do. EHLO and HELO
// replace the extension table, as Dial's do. A reply of class 4 or 5 is
// returned with an *Error.
func (c *Client) Cmd(ctx context.Context, line string) (*Reply, error) {
	if err := checkLine(line); err != nil {
		return nil, err
	}
	fields := strings.Fields(line) // what a lenient server takes for the verb
	verb := strings.ToUpper(fields[0])
	switch verb {
	case "DATA", "BDAT", "STARTTLS":
		return nil, errInput("Cmd(%s): %s changes how the connection is framed; use Data, Send or Options.Security", quoteServer(line), verb)
	}
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	c.watch(ctx)
	defer c.unwatch()
	rep, err := c.rawRoundTrip(ctx, verb, fields, line)
	if err != nil && rep.Code == 0 {
		return nil, err
	}
	return &rep, err
}

// rawRoundTrip runs a command of Cmd. Secrets stay out of the Trace: the
// arguments of AUTH, and each line sent while the server's last reply was
// an AUTH challenge (334).
func (c *Client) rawRoundTrip(ctx context.Context, verb string, fields []string, line string) (Reply, error) {
	secret := c.saslPending
	c.saslPending = false
	if err := checkLine(line); err != nil {
		return Reply{}, err
	}
	c.line = append(c.line[:0], line...)
	switch {
	case secret:
		verb = "AUTH"
		if err := c.sendSecret(ctx, "[redacted]"); err != nil {
			return Reply{}, err
		}
	case verb == "AUTH":
		traced := "AUTH"
		if len(fields) > 1 {
			traced += " " + fields[1]
		}
		if len(fields) > 2 {
			traced += " [redacted]"
		}
		if err := c.sendSecret(ctx, traced); err != nil {
			return Reply{}, err
		}
	default:
		if err := c.writeLine(c.line); err != nil {
			return Reply{}, err
		}
		if err := c.flush(ctx, verb); err != nil {
			return Reply{}, err
		}
	}
	rep, err := c.readReply(ctx, verb, true, c.timeout())
	if err != nil {
		return rep, err
	}
	c.saslPending = rep.Code == 334 && (secret || verb == "AUTH")
	if err := c.replyError(verb, rep); err != nil {
		return rep, err
	}
	switch verb {
	case "EHLO":
		c.ext = parseEHLO(rep.Message)
	case "HELO":
		c.ext = extensions{}
	}
	return rep, nil
}

// Reset sends RSET, which aborts the current mail transaction (RFC 5321
// section 4.1.1.5). A refusal is an *Error.
func (c *Client) Reset(ctx context.Context) error {
	return c.simple(ctx, "RSET")
}

// Noop sends NOOP, which checks that the server is still there. A refusal
// is an *Error.
func (c *Client) Noop(ctx context.Context) error {
	return c.simple(ctx, "NOOP")
}

// Quit sends QUIT and closes the connection, whatever the reply. A refusal
// is an *Error.
func (c *Client) Quit(ctx context.Context) error {
	err := c.simple(ctx, "QUIT")
	if cerr := c.Close(); err == nil && cerr != nil && !errors.Is(cerr, ErrClosed) {
		err = cerr
	}
	return err
}

// Err returns the error that ended the connection (a 421, a network
// failure, a timeout...), as the call that met it returned it; nil while
// the connection is usable. A caller that has handled that error can
// check Err to skip a Quit that would only report it again. Like the
// other methods, it is not for use during another call.
func (c *Client) Err() error { return c.err }

// Close closes the connection without QUIT. It is safe to call from another
// goroutine to abort a call in progress; later calls return ErrClosed.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	err := c.conn.Close()
	c.emit(Event{Kind: EventClosed})
	return err
}

// simple runs a command without arguments whose reply text is not needed.
func (c *Client) simple(ctx context.Context, verb string) error {
	if err := c.begin(ctx); err != nil {
		return err
	}
	c.watch(ctx)
	defer c.unwatch()
	_, err := c.roundTrip(ctx, false, verb)
	return err
}

// roundTrip sends the command made of parts and reads its reply; the verb
// for errors is parts[0] without its trailing space or colon argument.
func (c *Client) roundTrip(ctx context.Context, keepText bool, parts ...string) (Reply, error) {
	c.line = c.line[:0]
	for _, p := range parts {
		c.line = append(c.line, p...)
	}
	return c.roundTripOK(ctx, commandName(parts[0]), keepText)
}

// roundTripOK sends c.line and reads the reply of a command that only a
// 2xx completes: a 3xx to it means the client and the server no longer
// agree on the state, and closes the connection.
func (c *Client) roundTripOK(ctx context.Context, verb string, keepText bool) (Reply, error) {
	rep, err := c.roundTripAs(ctx, verb, keepText, "")
	if err == nil && rep.Code >= 300 {
		return rep, c.unexpected(verb, rep, 250)
	}
	return rep, err
}

// roundTripAs sends line (or c.line when line is "") and reads the reply.
// A reply of class 4 or 5 is an *Error naming verb.
func (c *Client) roundTripAs(ctx context.Context, verb string, keepText bool, line string) (Reply, error) {
	if line != "" {
		c.line = append(c.line[:0], line...)
	}
	if err := c.writeLine(c.line); err != nil {
		return Reply{}, err
	}
	if err := c.flush(ctx, verb); err != nil {
		return Reply{}, err
	}
	rep, err := c.readReply(ctx, verb, keepText, c.timeout())
	if err != nil {
		return rep, err
	}
	return rep, c.replyError(verb, rep)
}

// replyError turns a reply of class 4 or 5 into an *Error. A 421 means the
// server is closing the connection (RFC 5321 section 3.8), so the Client
// closes too.
func (c *Client) replyError(verb string, rep Reply) error {
	if rep.Code < 400 {
		return nil
	}
	e := &Error{Command: verb, Reply: rep}
	if rep.Code == 421 {
		c.shut(e)
	}
	return e
}

// writeLine buffers a command line and its CRLF, and traces it. Every caller
// has checked its parts for CR, LF and NUL; the check here is the last
// guard, and nothing is buffered when it fails.
func (c *Client) writeLine(line []byte) error {
	for _, b := range line {
		if b == '\r' || b == '\n' || b == 0 {
			return errInput("command %s holds CR, LF or NUL", strconv.QuoteToASCII(string(line)))
		}
	}
	c.bw.Write(line)
	c.bw.WriteString("\r\n")
	if c.trace != nil {
		c.lineSent(string(line))
	}
	return nil
}

// flush sends what is buffered, within the call's deadlines (connWriter
// sets them for each write).
func (c *Client) flush(ctx context.Context, verb string) error {
	if err := c.bw.Flush(); err != nil {
		return c.fail(ctx, verb, err)
	}
	return nil
}

// readReply reads one reply within wait and the context's deadline. Any
// failure to read or parse it closes the Client.
func (c *Client) readReply(ctx context.Context, verb string, keepText bool, wait time.Duration) (Reply, error) {
	if err := c.setReadDeadline(ctx, wait); err != nil {
		return Reply{}, c.fail(ctx, verb, err)
	}
	rep, err := c.rr.read(keepText)
	if err != nil {
		return rep, c.fail(ctx, verb, err)
	}
	c.lastIO = time.Now()
	return rep, nil
}

// stale reports, without a round trip, whether the server closed the
// connection or spoke unasked while it was idle (the 421 of an idle
// timeout): it looks for bytes already arrived, waiting 100µs at most.
func (c *Client) stale() bool {
	if c.rr.r.Buffered() > 0 {
		return true
	}
	c.conn.SetReadDeadline(time.Now().Add(100 * time.Microsecond))
	_, err := c.rr.r.Peek(1)
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// errServerSpokeUnasked is the cause of the error begin returns when the
// server sent something that no command asked for.
var errServerSpokeUnasked = errors.New("the server spoke unasked")

// begin starts a call: it fails fast, before any byte is written, when the
// Client is closed, the context is done, a Data writer is open, or the
// server sent something that no command asked for while the connection was
// idle: a stray reply would otherwise be taken for the answer to the next
// command and shift every reply after it. Such a connection is closed.
func (c *Client) begin(ctx context.Context) error {
	if err := c.usable(ctx); err != nil {
		return err
	}
	if c.dataOpen {
		return errInput("a Data writer is open: Close it before the next command")
	}
	if c.rr.r.Buffered() == 0 && (time.Since(c.lastIO) <= stalePeekAfter || !c.stale()) {
		return nil
	}
	return c.spokeUnasked()
}

// spokeUnasked closes the connection after the server spoke unasked, with
// an error that says what it sent (its lines reach the Trace too), or that
// it closed the connection.
func (c *Client) spokeUnasked() error {
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	var said []string
	for len(said) < 5 {
		line, err := c.rr.readLine()
		if err != nil {
			if partial := c.rr.partial(); len(partial) > 0 {
				c.lineReceived(partial)
				said = append(said, string(partial))
			}
			break
		}
		c.lineReceived(line)
		said = append(said, string(line))
	}
	msg := "smtp: the server closed the connection while it was idle"
	if len(said) > 0 {
		msg = "smtp: the server sent " + quoteServer(strings.Join(said, "\n")) + " unasked while the connection was idle (connection closed)"
	}
	err := &unaskedError{msg: msg}
	c.shut(err)
	return err
}

// unaskedError is errServerSpokeUnasked with what the server said.
type unaskedError struct{ msg string }

func (e *unaskedError) Error() string { return e.msg }
func (e *unaskedError) Unwrap() error { return errServerSpokeUnasked }

// usable fails fast, before any byte is written, when the Client is closed
// or the context is done.
func (c *Client) usable(ctx context.Context) error {
	if c.err != nil {
		return c.err
	}
	if c.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// timeout is the wait for an ordinary reply.
func (c *Client) timeout() time.Duration {
	if c.opts.Timeout > 0 {
		return c.opts.Timeout
	}
	return defaultTimeout
}

// dataTimeout is the wait for the reply to the end of data.
func (c *Client) dataTimeout() time.Duration {
	if c.opts.Timeout > 0 {
		return c.opts.Timeout
	}
	return defaultDataTimeout
}

// setDeadline bounds the next read and write by wait and the context.
func (c *Client) setDeadline(ctx context.Context, wait time.Duration) error {
	return c.armDeadline(ctx, wait, false)
}

// setReadDeadline bounds the next read by wait and the context. (Writes
// get theirs from connWriter: a reply's deadline never needs a timer of
// the write side, and the other way round.)
func (c *Client) setReadDeadline(ctx context.Context, wait time.Duration) error {
	return c.armDeadline(ctx, wait, true)
}

// armDeadline sets the deadline wait from now, or the context's when
// sooner, on reads only or on both directions; a cancelled call gets the
// context's cause instead.
func (c *Client) armDeadline(ctx context.Context, wait time.Duration, readOnly bool) error {
	t := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(t) {
		t = d
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancelled {
		return context.Cause(ctx)
	}
	if readOnly {
		return c.conn.SetReadDeadline(t)
	}
	return c.conn.SetDeadline(t)
}

// maxWriteChunk is the most written to the connection under one deadline:
// a long write gets a fresh Options.Timeout for each piece of it, so a
// write that makes progress does not time out on a link slower than
// maxWriteChunk per Timeout (256 KiB in 5 minutes by default).
const maxWriteChunk = 256 << 10

// Write buffer sizes: small while a connection only sends commands, large
// once it streams a message that is not small, so that the content goes
// in few system calls (and few TLS records): 4 KiB writes cost a DATA
// stream three times the CPU of 64 KiB ones (bench/, scenario f).
const (
	commandBufSize = 4 << 10
	contentBufSize = 64 << 10
)

// growWriteBuffer gives the connection the large write buffer, once, when
// nothing is buffered.
func (c *Client) growWriteBuffer() {
	if c.bw.Size() < contentBufSize && c.bw.Buffered() == 0 {
		c.bw = bufio.NewWriterSize(connWriter{c}, contentBufSize)
	}
}

// connWriter is what the Client's buffered writer writes to: every write,
// including the ones bufio makes by itself when its buffer fills, is
// bounded by a deadline set just before it (Options.Timeout from now, or
// the call's context deadline when sooner), never by a deadline left over
// from an earlier reply.
type connWriter struct{ c *Client }

func (w connWriter) Write(p []byte) (int, error) {
	var n int
	for len(p) > 0 {
		piece := p[:min(len(p), maxWriteChunk)]
		if err := w.c.setWriteDeadline(); err != nil {
			return n, err
		}
		m, err := w.c.conn.Write(piece)
		n += m
		if err != nil {
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

// setWriteDeadline bounds the next write by Options.Timeout and the call's
// context deadline. A cancelled call gets a deadline error, which fail
// turns into the context's error.
func (c *Client) setWriteDeadline() error {
	t := time.Now().Add(c.timeout())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancelled {
		return os.ErrDeadlineExceeded
	}
	if !c.ctxEnd.IsZero() && c.ctxEnd.Before(t) {
		t = c.ctxEnd
	}
	return c.conn.SetWriteDeadline(t)
}

// watch makes a blocked read or write of the call return as soon as ctx
// is done, by moving the connection's deadline into the past (as pgconn
// does); unwatch ends the call. Every call that does I/O runs between the
// two ("c.watch(ctx); defer c.unwatch()").
//
// The watcher is context.AfterFunc with a function made once per Client,
// so a call costs AfterFunc's two allocations and no goroutine wake-up. A
// watcher can fire late, after its call ended and another began: it acts
// only when the context of the call being watched is done, so a late
// cancel of one call never interrupts the next, and unwatch forgets a
// cancel that came after the call's last read or write.
func (c *Client) watch(ctx context.Context) {
	c.mu.Lock()
	c.cancelled = false
	c.ctxEnd, _ = ctx.Deadline()
	c.watched = nil
	if ctx.Done() != nil {
		c.watched = ctx
	}
	c.mu.Unlock()
	if c.watched == nil {
		return
	}
	if c.interruptFn == nil {
		c.interruptFn = c.interrupt
	}
	c.stopWatch = context.AfterFunc(ctx, c.interruptFn)
}

// interrupt moves the deadline into the past when the watched call's
// context is done.
func (c *Client) interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watched != nil && c.watched.Err() != nil {
		c.cancelled = true
		c.conn.SetDeadline(time.Unix(1, 0))
	}
}

// unwatch ends the call begun by watch.
func (c *Client) unwatch() {
	if c.stopWatch != nil {
		c.stopWatch()
		c.stopWatch = nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watched = nil
	c.cancelled = false
	c.ctxEnd = time.Time{}
}

// fail records a broken connection: it wraps err with the command in
// flight, turning deadline errors into the context's error or a
// timeoutError, closes the Client, and returns the wrapped error.
func (c *Client) fail(ctx context.Context, verb string, err error) error {
	if c.err != nil {
		return c.err
	}
	switch {
	case c.closed.Load():
		err = ErrClosed
	case ctx.Err() != nil && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ctx.Err())):
		err = context.Cause(ctx)
	case errors.Is(err, os.ErrDeadlineExceeded):
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			err = context.DeadlineExceeded
		} else {
			err = &timeoutError{wait: c.waitFor(verb)}
		}
	}
	var pe *protocolError
	if errors.As(err, &pe) || err == ErrClosed {
		c.shut(err)
		return err
	}
	werr := &opError{command: verb, err: err}
	c.shut(werr)
	return werr
}

// greetingTimeout is the wait for the greeting's first byte.
func (c *Client) greetingTimeout() time.Duration {
	wait, _ := c.greetingWait()
	return wait
}

// greetingWait is the wait for the greeting's first byte, and the option
// that set it, for error messages.
func (c *Client) greetingWait() (time.Duration, string) {
	wait := c.opts.GreetingTimeout
	if wait == 0 {
		wait = DefaultGreetingTimeout
	}
	if t := c.timeout(); t < wait {
		return t, "Timeout"
	}
	return wait, "GreetingTimeout"
}

// waitFor is the wait that applied to verb's reply, for error messages.
func (c *Client) waitFor(verb string) time.Duration {
	if verb == cmdEndOfData {
		return c.dataTimeout()
	}
	return c.timeout()
}

// shut closes the connection for good after a failure.
func (c *Client) shut(err error) {
	if c.err == nil {
		c.err = err
	}
	if !c.closed.Swap(true) {
		c.conn.Close()
		c.emit(Event{Kind: EventClosed, Err: err})
	}
}

// commandName is the verb of a command for errors: "MAIL FROM:<" gives
// "MAIL FROM", "EHLO " gives "EHLO".
func commandName(part string) string {
	for i := 0; i < len(part); i++ {
		if part[i] == ':' || part[i] == ' ' && (i+1 == len(part) || part[i+1] == ' ') {
			return part[:i]
		}
	}
	return part
}

// checkLine refuses CR, LF and NUL in a caller's command line.
func checkLine(line string) error {
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\r', '\n', 0:
			return errInput("command %s holds CR, LF or NUL", strconv.QuoteToASCII(line))
		}
	}
	if line == "" {
		return errInput("empty command")
	}
	return nil
}
