package smtpotel

import (
	"testing"
)

// The connections remembered stay bounded: the oldest unused goes first,
// never one in a call.
func TestConnsBounded(t *testing.T) {
	t.Parallel()
	var cs conns
	busy := &call{}
	cs.attach(1, busy)
	for id := int64(2); id < maxConns+100; id++ {
		cs.dialled(id, "mail.example.com:587")
	}
	if n := len(cs.m); n != maxConns {
		t.Errorf("%d connections remembered, want %d", n, maxConns)
	}
	if cs.callOf(1) != busy {
		t.Error("the connection in a call was forgotten")
	}
	if _, ok := cs.m[2]; ok {
		t.Error("the oldest connection is still remembered")
	}
	cs.detach(1, &call{}) // another call's detach changes nothing
	if cs.callOf(1) != busy {
		t.Error("another call detached the connection")
	}
	if ci := cs.attach(5000, busy); ci.addr != "" || ci.lmtp {
		t.Errorf("attach of an unknown connection = %+v", ci)
	}
	cs.spokeLMTP(5000)
	if ci := cs.attach(5000, busy); !ci.lmtp {
		t.Errorf("attach again = %+v: LMTP forgotten", ci)
	}
	cs.closed(1)
	if cs.callOf(1) != nil {
		t.Error("a closed connection is still remembered")
	}
}
