package smtp

import (
	"crypto/tls"
	"sync/atomic"
)

// Trace receives every protocol line and connection event of a Client, in
// the order they happen on the wire, the way net/http/httptrace reports an
// HTTP request. Any field may be nil, and a nil *Trace costs nothing.
//
// The single-purpose hooks (ConnectStart … Closed) suit a program that
// wants one thing; Event receives everything, numbered by connection, and
// is what the log adapters of package smtplog (Log, Explain, Slog) are built
// on.
//
// Hooks are called synchronously, on the goroutine doing the I/O: they must
// not block, and must not call the Client. A Trace may be shared by many
// Clients (a Pool's): their hooks then run concurrently, and Event.Conn
// tells the connections apart. A Trace must not be copied after first use.
//
// Secrets never reach a hook: the client's AUTH responses are replaced by
// "[redacted]" before any hook sees the line.
type Trace struct {
	// ConnectStart is called before Dial connects.
	ConnectStart func(network, addr string)
	// ConnectDone is called when the connection is made, or failed with err.
	ConnectDone func(network, addr string, err error)
	// TLSHandshakeStart is called before the TLS handshake, with the name
	// the certificate is checked against.
	TLSHandshakeStart func(serverName string)
	// TLSHandshakeDone is called after the handshake with its outcome: the
	// negotiated state, or err when it failed.
	TLSHandshakeDone func(state tls.ConnectionState, err error)
	// LineSent is called with every command line, without its CRLF; the
	// client's AUTH responses are "[redacted]". The message content is not
	// traced line by line: see DataDone.
	LineSent func(line string)
	// LineReceived is called with every reply line, without its line ending.
	LineReceived func(line string)
	// DataDone is called when the message content has been sent, with its
	// size in bytes as the caller gave it (before dot-stuffing).
	DataDone func(n int64)
	// Closed is called when the connection closes: err is nil after Quit
	// or Close, and the cause after a failure.
	Closed func(err error)

	// Event receives every event above and more (the address a name
	// resolved to, pin checks, TLS handshake messages, reused
	// connections), each with the number of its connection.
	Event func(Event)
	// TLSRecords asks for an EventTLSMessage for each TLS handshake
	// message crossing the wire, read from the record headers on the raw
	// connection. It costs a little on every handshake, so it is off
	// unless asked for; smtplog.Log and smtplog.Explain ask.
	TLSRecords bool

	conns atomic.Int64 // connections numbered so far
}

// EventKind says what an Event reports.
type EventKind int

// The kinds of Event.
const (
	EventConnectStart      EventKind = iota // Network, Addr
	EventConnectDone                        // Network, Addr, RemoteAddr, Err
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
)

var eventNames = [...]string{"connect-start", "connect-done", "tls-start", "tls-message", "tls-done",
	"pin-check", "sent", "received", "data-done", "idle", "reused", "closing", "closed"}

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
	// Conn numbers the connection within its Trace: 0, 1, … (curl's #0).
	Conn int64
	Kind EventKind
	// Line is the protocol line of EventLineSent and EventLineReceived,
	// without its line ending, the TLS message of EventTLSMessage, or the
	// reason of EventClosing.
	Line string
	// Outgoing tells the direction of an EventTLSMessage.
	Outgoing bool
	// Network and Addr are the dialled address; RemoteAddr is the address
	// actually connected to.
	Network, Addr, RemoteAddr string
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

// emit hands ev to the hooks that want it.
func (c *Client) emit(ev Event) {
	t := c.trace
	if t == nil {
		return
	}
	switch ev.Kind {
	case EventConnectStart:
		if t.ConnectStart != nil {
			t.ConnectStart(ev.Network, ev.Addr)
		}
	case EventConnectDone:
		if t.ConnectDone != nil {
			t.ConnectDone(ev.Network, ev.Addr, ev.Err)
		}
	case EventTLSHandshakeStart:
		if t.TLSHandshakeStart != nil {
			t.TLSHandshakeStart(ev.ServerName)
		}
	case EventTLSHandshakeDone:
		if t.TLSHandshakeDone != nil {
			t.TLSHandshakeDone(*ev.TLS, ev.Err)
		}
	case EventLineSent:
		if t.LineSent != nil {
			t.LineSent(ev.Line)
		}
	case EventLineReceived:
		if t.LineReceived != nil {
			t.LineReceived(ev.Line)
		}
	case EventDataDone:
		if t.DataDone != nil {
			t.DataDone(ev.Size)
		}
	case EventClosed:
		if t.Closed != nil {
			t.Closed(ev.Err)
		}
	}
	if t.Event != nil {
		ev.Conn = c.id
		t.Event(ev)
	}
}

// lineSent traces a command line (already redacted).
func (c *Client) lineSent(line string) {
	c.emit(Event{Kind: EventLineSent, Line: line})
}

// lineReceived traces a reply line.
func (c *Client) lineReceived(line []byte) {
	c.emit(Event{Kind: EventLineReceived, Line: string(line)})
}

// ComposeTrace returns a new Trace that calls the hooks of each of traces
// in turn (nil ones are skipped), e.g. an smtplog.Log and a program's own
// counters. The traces given are not modified. Event numbers connections
// in the new Trace.
func ComposeTrace(traces ...*Trace) *Trace {
	var ts []*Trace
	for _, t := range traces {
		if t != nil {
			ts = append(ts, t)
		}
	}
	all := &Trace{}
	for _, t := range ts {
		all.TLSRecords = all.TLSRecords || t.TLSRecords
	}
	all.Event = func(ev Event) {
		for _, t := range ts {
			c := Client{trace: t, id: ev.Conn}
			c.emit(ev)
		}
	}
	return all
}
