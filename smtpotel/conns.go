package smtpotel

import (
	"sync"
	"time"
)

// maxConns bounds what an Instrumentation remembers of connections. It
// hears that a connection closed only when a call watched it close, so it
// forgets the one unused for longest when full; a connection forgotten
// while still pooled only loses its server.address on later Sends.
const maxConns = 1024

// conns is what an Instrumentation knows of the connections it has seen,
// by smtp.Event.Conn: the server each was dialled to (a Send that reuses a
// Pool's connection learns server.address from it), the call using it now
// (for the events a Pool reports outside a call's trace). Calls run
// concurrently, hence the mutex.
type conns struct {
	mu sync.Mutex
	m  map[int64]*connInfo
}

type connInfo struct {
	addr string    // the dialled "host:port"; "" when unknown
	lmtp bool      // it speaks LMTP: a reply per recipient after the message
	call *call     // the instrumented call using the connection now
	seen time.Time // last looked up, for forgetting the oldest
}

// get returns the connection's entry, made when missing. c.mu is held.
func (c *conns) get(id int64, now time.Time) *connInfo {
	if c.m == nil {
		c.m = make(map[int64]*connInfo)
	}
	ci := c.m[id]
	if ci == nil {
		if len(c.m) >= maxConns {
			c.evict()
		}
		ci = &connInfo{}
		c.m[id] = ci
	}
	ci.seen = now
	return ci
}

// evict forgets the connection unused for longest, not one in a call.
// c.mu is held.
func (c *conns) evict() {
	var oldest int64
	var at time.Time
	for id, ci := range c.m {
		if ci.call == nil && (at.IsZero() || ci.seen.Before(at)) {
			oldest, at = id, ci.seen
		}
	}
	if !at.IsZero() {
		delete(c.m, oldest)
	}
}

// dialled notes the address a connection was dialled to.
func (c *conns) dialled(id int64, addr string) {
	c.mu.Lock()
	c.get(id, time.Now()).addr = addr
	c.mu.Unlock()
}

// spokeLMTP notes that a connection speaks LMTP (it sent LHLO).
func (c *conns) spokeLMTP(id int64) {
	c.mu.Lock()
	c.get(id, time.Now()).lmtp = true
	c.mu.Unlock()
}

// attach makes cl the call using the connection, and returns what is
// known of it: the address it was dialled to, whether it speaks LMTP
// (each zero when unknown).
func (c *conns) attach(id int64, cl *call) connInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci := c.get(id, time.Now())
	ci.call = cl
	return *ci
}

// detach ends cl's use of the connection, unless another call took it
// meanwhile (a Pool gives a connection back before its Send returns).
func (c *conns) detach(id int64, cl *call) {
	c.mu.Lock()
	if ci := c.m[id]; ci != nil && ci.call == cl {
		ci.call = nil
	}
	c.mu.Unlock()
}

// callOf returns the call using the connection, or nil.
func (c *conns) callOf(id int64) *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ci := c.m[id]; ci != nil {
		return ci.call
	}
	return nil
}

// closed forgets a connection that is closing.
func (c *conns) closed(id int64) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}
