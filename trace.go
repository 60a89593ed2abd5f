package smtp

import (
	"context"
	"crypto/tls"
	"sync/atomic"
)

// Trace receives every protocol line and connection event of a Client, in
// the order they happen on the wire, as one stream of Events. A nil *Trace
// costs nothing.
//
// One stream, not a hook per kind (as net/http/httptrace has): every
// consumer here wants most kinds (the logs of package smtplog, the C and
// Python bindings, the command line), an Event can grow a field without
// breaking anyone, and a new kind of event is added in one place: a
// constant below, with the line in its doc saying which fields it sets,
// and its emit call. A program that wants one kind switches on Kind.
//
// Event is called synchronously, on the goroutine doing the I/O: it must
// not block, and must not call the Client. A Trace holds no state: it may
// be copied, and shared by many Clients (a Pool's), whose events then
// arrive concurrently, told apart by Event.Conn.
//
// Secrets never reach it: the client's AUTH responses are replaced by
// "[redacted]" before the line is traced.
type Trace struct {
	// Event receives every event: connection, TLS handshake and its
	// messages, pin checks, lines sent and received, the end of a
	// message's content, reuse and closing.
	Event func(Event)
	// TLSRecords asks for an EventTLSMessage for each TLS handshake
	// message crossing the wire, read from the record headers on the raw
	// connection. It costs a little on every handshake, so it is off
	// unless asked for; smtplog.Log and smtplog.Explain ask.
	TLSRecords bool
}

// connIDs numbers connections, process-wide: an Event's Conn is unique
// whichever Trace reports it.
var connIDs atomic.Int64

// EventKind says what an Event reports.
type EventKind int

// The kinds of Event.
const (
	EventConnectStart      EventKind = iota // Network, Addr, Proxy
	EventConnectDone                        // Network, Addr, Proxy, RemoteAddr, Err
	EventTLSHandshakeStart                  // ServerName
	EventTLSMessage                         // Line: the message's name; Outgoing
	EventTLSHandshakeDone                   // ServerName, TLS, Err
	EventPinCheck                           // Pin
	EventLineSent                           // Line
	EventLineReceived                       // Line
	EventDataDone                           // Size
	EventIdle                               // a transaction is over: the connection is ready for the next
	EventReused                             // a pooled connection taken up again
	EventClosing                            // Line: why a pool retires the connection
	EventClosed                             // Err
	EventThrottled                          // Line: the pool's wait; Err: the server's reply
)

var eventNames = [...]string{"connect-start", "connect-done", "tls-start", "tls-message", "tls-done",
	"pin-check", "sent", "received", "data-done", "idle", "reused", "closing", "closed", "throttled"}

// String names the kind, e.g. "sent".
func (k EventKind) String() string {
	if k >= 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one event of a traced connection. Which fields are set depends
// on Kind.
type Event struct {
	// Conn is the connection's id, unique in the process (from 1): the
	// events of one connection carry the same. smtplog numbers a log's
	// connections #0, #1… as curl does.
	Conn int64
	Kind EventKind
	// Line is the protocol line of EventLineSent and EventLineReceived,
	// without its line ending, the TLS message of EventTLSMessage, or the
	// reason of EventClosing.
	Line string
	// Outgoing tells the direction of an EventTLSMessage.
	Outgoing bool
	// Network and Addr are the dialled address; RemoteAddr is the address
	// actually connected to (the proxy's, through a proxy).
	Network, Addr, RemoteAddr string
	// Proxy is the proxy the connection goes through, as
	// "socks5h://host:port" (never its password); "" for none.
	Proxy string
	// ServerName is the name the TLS certificate is checked against.
	ServerName string
	// TLS is the state after a handshake.
	TLS *tls.ConnectionState
	// Pin is the outcome of a pin check.
	Pin *PinCheck
	// Size is the message size of EventDataDone.
	Size int64
	// Err is the failure, where there was one.
	Err error
}

// emit hands ev to the Trace, numbered with the connection's id.
func (c *Client) emit(ev Event) {
	if c.trace == nil || c.trace.Event == nil {
		return
	}
	ev.Conn = c.id
	c.trace.Event(ev)
}

// lineSent traces a command line (already redacted).
func (c *Client) lineSent(line string) {
	c.emit(Event{Kind: EventLineSent, Line: line})
}

// lineReceived traces a reply line.
func (c *Client) lineReceived(line []byte) {
	c.emit(Event{Kind: EventLineReceived, Line: string(line)})
}

// traceKey is the context key of WithTrace.
type traceKey struct{}

// WithTrace returns a copy of ctx that makes the calls it is given to also
// report their events to t, besides Options.Trace: Dial and NewClient
// (the connection, TLS, AUTH), Send (the transaction), and a Pool's Send
// (with the connection it dials, if any). It traces one call, as
// net/http/httptrace.WithClientTrace does one request: the smtpotel
// package makes a span per Send with it.
func WithTrace(ctx context.Context, t *Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

// ContextTrace returns the Trace WithTrace gave ctx, or nil: for a
// package that adds a trace of its own to a call (ComposeTrace) without
// hiding the caller's.
func ContextTrace(ctx context.Context) *Trace { return traceFrom(ctx) }

func traceFrom(ctx context.Context) *Trace {
	t, _ := ctx.Value(traceKey{}).(*Trace)
	return t
}

// useCallTrace makes c report to t too, until endCallTrace.
func (c *Client) useCallTrace(t *Trace) {
	c.trace = ComposeTrace(c.opts.Trace, t)
	if c.id == 0 {
		c.id = connIDs.Add(1)
	}
}

// endCallTrace goes back to Options.Trace alone.
func (c *Client) endCallTrace() { c.trace = c.opts.Trace }

// emitInCall reports ev of the call whose context is ctx: to the call's
// trace too, when it has one (a Pool's events around a Send).
func (c *Client) emitInCall(ctx context.Context, ev Event) {
	if t := traceFrom(ctx); t != nil {
		c.useCallTrace(t)
		defer c.endCallTrace()
	}
	c.emit(ev)
}

// ComposeTrace returns a new Trace that hands each event to each of
// traces in turn (nil ones are skipped), e.g. an smtplog.Log and a
// program's own counters. The traces given are not modified.
func ComposeTrace(traces ...*Trace) *Trace {
	var events []func(Event)
	all := &Trace{}
	for _, t := range traces {
		if t != nil && t.Event != nil {
			events = append(events, t.Event)
			all.TLSRecords = all.TLSRecords || t.TLSRecords
		}
	}
	all.Event = func(ev Event) {
		for _, e := range events {
			e(ev)
		}
	}
	return all
}
