package smtp

import "crypto/tls"

// Trace receives every protocol line and connection event of a Client, in
// the order they happen on the wire, the way net/http/httptrace reports an
// HTTP request. Any field may be nil, and a nil *Trace costs nothing.
//
// Hooks are called synchronously, on the goroutine doing the I/O: they must
// not block, and must not call the Client. A Trace may be shared by many
// Clients, whose hooks may then run concurrently.
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
	// LineSent is called with every command line, without its CRLF. The
	// message content is not traced line by line: see DataDone.
	LineSent func(line string)
	// LineReceived is called with every reply line, without its line ending.
	LineReceived func(line string)
	// DataDone is called when the message content has been sent, with its
	// size in bytes as given by the caller (before dot-stuffing).
	DataDone func(n int64)
	// Closed is called when the connection closes: err is nil after Quit
	// or Close, and the cause after a failure.
	Closed func(err error)
}

func (t *Trace) connectStart(network, addr string) {
	if t != nil && t.ConnectStart != nil {
		t.ConnectStart(network, addr)
	}
}

func (t *Trace) connectDone(network, addr string, err error) {
	if t != nil && t.ConnectDone != nil {
		t.ConnectDone(network, addr, err)
	}
}

func (t *Trace) tlsHandshakeStart(serverName string) {
	if t != nil && t.TLSHandshakeStart != nil {
		t.TLSHandshakeStart(serverName)
	}
}

func (t *Trace) tlsHandshakeDone(state tls.ConnectionState, err error) {
	if t != nil && t.TLSHandshakeDone != nil {
		t.TLSHandshakeDone(state, err)
	}
}

func (t *Trace) dataDone(n int64) {
	if t != nil && t.DataDone != nil {
		t.DataDone(n)
	}
}

func (t *Trace) closed(err error) {
	if t != nil && t.Closed != nil {
		t.Closed(err)
	}
}
