package smtp

import (
	"fmt"
	"net"
	"sync"
)

// recordConn reads the TLS record headers crossing a connection during the
// handshake and reports each handshake message by name (ClientHello,
// ServerHello, Certificate, …), as curl's verbose log does. Once the
// handshake is encrypted (TLS 1.3 after ServerHello, TLS 1.2 after
// ChangeCipherSpec) it can only say "encrypted handshake". It is used only
// when Trace.TLSRecords is set, and stops looking once the handshake is
// over.
type recordConn struct {
	net.Conn
	c       *Client
	mu      sync.Mutex
	done    bool
	in, out recordParser
}

func (r *recordConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.observe(&r.in, p[:n], false)
	return n, err
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.observe(&r.out, p, true)
	return r.Conn.Write(p)
}

func (r *recordConn) observe(rp *recordParser, p []byte, outgoing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	rp.feed(p, func(msg string) {
		r.c.emit(Event{Kind: EventTLSMessage, Line: msg, Outgoing: outgoing})
	})
}

// stop ends the observation: application data is none of its business.
func (r *recordConn) stop() {
	r.mu.Lock()
	r.done = true
	r.mu.Unlock()
}

// recordParser follows one direction of the record layer (RFC 8446 section
// 5.1): a 5-byte header (type, version, length), then the fragment. In a
// plaintext handshake record it reads the 4-byte header of each handshake
// message (type, 3-byte length), which may straddle records.
type recordParser struct {
	hdr       [5]byte
	hdrN      int
	left      int  // fragment bytes left in the current record
	typ       byte // the current record's content type
	msgHdr    [4]byte
	msgHdrN   int
	msgLeft   int  // handshake message bytes left
	encrypted bool // a ChangeCipherSpec went by, or TLS 1.3 application data records
}

func (rp *recordParser) feed(p []byte, report func(string)) {
	for len(p) > 0 {
		if rp.left == 0 {
			n := copy(rp.hdr[rp.hdrN:], p)
			rp.hdrN += n
			p = p[n:]
			if rp.hdrN < 5 {
				return
			}
			rp.hdrN = 0
			rp.typ = rp.hdr[0]
			rp.left = int(rp.hdr[3])<<8 | int(rp.hdr[4])
			rp.onRecord(report)
			continue
		}
		n := min(rp.left, len(p))
		if rp.typ == 22 && !rp.encrypted {
			rp.handshakeBytes(p[:n], report)
		}
		rp.left -= n
		p = p[n:]
	}
}

// onRecord reports what a record header alone tells.
func (rp *recordParser) onRecord(report func(string)) {
	switch rp.typ {
	case 20:
		report("ChangeCipherSpec")
		rp.encrypted = true
	case 21:
		if rp.encrypted {
			report("Alert (encrypted)")
		} else {
			report("Alert")
		}
	case 22:
		if rp.encrypted {
			report("encrypted handshake message")
		}
	case 23:
		report("encrypted handshake record")
	}
}

// handshakeBytes walks plaintext handshake messages.
func (rp *recordParser) handshakeBytes(p []byte, report func(string)) {
	for len(p) > 0 {
		if rp.msgLeft > 0 {
			n := min(rp.msgLeft, len(p))
			rp.msgLeft -= n
			p = p[n:]
			continue
		}
		n := copy(rp.msgHdr[rp.msgHdrN:], p)
		rp.msgHdrN += n
		p = p[n:]
		if rp.msgHdrN < 4 {
			return
		}
		rp.msgHdrN = 0
		rp.msgLeft = int(rp.msgHdr[1])<<16 | int(rp.msgHdr[2])<<8 | int(rp.msgHdr[3])
		report(handshakeName(rp.msgHdr[0]))
	}
}

// handshakeName names a handshake message type (RFC 8446 section 4,
// RFC 5246 section 7.4).
func handshakeName(t byte) string {
	names := map[byte]string{
		0: "HelloRequest", 1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket",
		5: "EndOfEarlyData", 8: "EncryptedExtensions", 11: "Certificate", 12: "ServerKeyExchange",
		13: "CertificateRequest", 14: "ServerHelloDone", 15: "CertificateVerify", 16: "ClientKeyExchange",
		20: "Finished", 22: "CertificateStatus", 24: "KeyUpdate",
	}
	if name, ok := names[t]; ok {
		return fmt.Sprintf("%s (%d)", name, t)
	}
	return fmt.Sprintf("handshake message %d", t)
}
