//go:build cgo

package main

import (
	"crypto/tls"
	"fmt"
	"sync"

	smtp "github.com/mailwire/smtp"
)

// traceBridge passes a handle's trace events to the caller's callback
// until disable is called: after mailwire_close or mailwire_pool_close has
// returned, no event reaches the callback, not even one of a pool's
// reaper that was already running. A nil *traceBridge traces nothing.
type traceBridge struct {
	fn  func(conn int64, kind int, line string)
	mu  sync.RWMutex // held for reading while the callback runs
	off bool
}

// trace returns the smtp.Trace that feeds the bridge, nil for none.
func (b *traceBridge) trace() *smtp.Trace {
	if b == nil {
		return nil
	}
	return &smtp.Trace{Event: b.event}
}

func (b *traceBridge) event(ev smtp.Event) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.off {
		return
	}
	b.fn(ev.Conn, int(ev.Kind), describe(ev))
}

// disable stops the callbacks, waiting for any in progress.
func (b *traceBridge) disable() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.off = true
	b.mu.Unlock()
}

// describe is the line of an event: the protocol line itself for lines sent
// and received, a short text for the other kinds.
func describe(ev smtp.Event) string {
	failed := func(ok string) string {
		if ev.Err != nil {
			return "failed: " + ev.Err.Error()
		}
		return ok
	}
	switch ev.Kind {
	case smtp.EventLineSent, smtp.EventLineReceived, smtp.EventClosing, smtp.EventThrottled:
		return ev.Line
	case smtp.EventConnectStart:
		return ev.Network + " " + ev.Addr
	case smtp.EventConnectDone:
		return failed("connected to " + ev.RemoteAddr)
	case smtp.EventTLSHandshakeStart:
		return "server name " + ev.ServerName
	case smtp.EventTLSMessage:
		if ev.Outgoing {
			return "> " + ev.Line
		}
		return "< " + ev.Line
	case smtp.EventTLSHandshakeDone:
		if ev.Err != nil || ev.TLS == nil {
			return failed("failed")
		}
		return tls.VersionName(ev.TLS.Version) + " " + tls.CipherSuiteName(ev.TLS.CipherSuite)
	case smtp.EventPinCheck:
		if ev.Pin == nil {
			return ""
		}
		if ev.Pin.Err != nil {
			return "mismatch: " + ev.Pin.Err.Error()
		}
		return fmt.Sprintf("matched %s at depth %d", ev.Pin.Matched, ev.Pin.Depth)
	case smtp.EventDataDone:
		return fmt.Sprintf("%d bytes", ev.Size)
	case smtp.EventIdle:
		return "idle"
	case smtp.EventReused:
		return "reused"
	case smtp.EventClosed:
		if ev.Err != nil {
			return "closed: " + ev.Err.Error()
		}
		return "closed"
	}
	return ev.Kind.String()
}

// eventName is smtp.EventKind's name for a kind number.
func eventName(kind int) string {
	return smtp.EventKind(kind).String()
}
