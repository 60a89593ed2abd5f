package smtptest

import (
	"io"
	"net"
	"time"
)

// vconn is go-smtp's view of a wire, as a net.Conn. A wire has a new vconn
// after STARTTLS; the old one then reads EOF.
type vconn struct {
	w        *wire
	detached bool
}

func (v *vconn) Read(p []byte) (int, error) {
	w := v.w
	if v.detached || w.closed.Load() {
		return 0, io.EOF
	}
	for len(w.pending) == 0 {
		err := w.next()
		if err == errHandedOver {
			v.detached = true
			w.srv.handOver(w)
			return 0, io.EOF
		}
		if err != nil {
			return 0, err
		}
	}
	n := copy(p, w.pending)
	w.pending = w.pending[n:]
	return n, nil
}

func (v *vconn) Write(p []byte) (int, error) {
	if v.detached {
		return len(p), nil
	}
	return v.w.write(p)
}

func (v *vconn) Close() error {
	if !v.detached {
		v.w.closeGracefully()
	}
	return nil
}

func (v *vconn) LocalAddr() net.Addr  { return v.w.raw.LocalAddr() }
func (v *vconn) RemoteAddr() net.Addr { return v.w.raw.RemoteAddr() }

func (v *vconn) SetDeadline(t time.Time) error {
	if v.detached {
		return nil
	}
	return v.w.conn.SetDeadline(t)
}

func (v *vconn) SetReadDeadline(t time.Time) error {
	if v.detached {
		return nil
	}
	return v.w.conn.SetReadDeadline(t)
}

func (v *vconn) SetWriteDeadline(t time.Time) error {
	if v.detached {
		return nil
	}
	return v.w.conn.SetWriteDeadline(t)
}
