// Package smtplog turns a Client's trace into logs a person reads: the
// curl -v style log (Log), the same with a plain-English note under each
// line (Explain), and structured records for log/slog (Slog). It is apart
// from package smtp, as pgx keeps tracelog apart, so that a program that
// sends mail without such logs does not link their prose.
package smtplog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/internal/certname"
	"github.com/mailwire/smtp/internal/explain"
	"github.com/mailwire/smtp/internal/termsafe"
)

// Log returns a Trace that writes a log in the style of curl -v: "* "
// for events, "> " for lines sent, "< " for lines received, with the TLS
// handshake messages, the negotiated version and cipher suite, the server's
// certificate chain and the pin check. Lines of a connection other than
// the first (#0) start with its number ("#1 "). Secrets are never written.
// Write errors are ignored: logging never fails a send.
func Log(w io.Writer) *smtp.Trace {
	return newLogger(w, false, time.Now).trace()
}

// Explain returns a Trace that writes the Log log with a
// plain-English note under each line ("  # …"): what the line means, the
// figures worth computing (the largest message and attachment from SIZE),
// reply and enhanced status codes in words, and warnings (AUTH offered
// before TLS, a certificate that expires within 30 days, no PIPELINING, a
// pin that matched only through an intermediate).
func Explain(w io.Writer) *smtp.Trace {
	return newLogger(w, true, time.Now).trace()
}

// logger writes Log and Explain logs, for any number of
// connections at once.
type logger struct {
	mu      sync.Mutex
	w       io.Writer
	explain bool
	now     func() time.Time
	conns   map[int64]*connLog // by the log's own number
	buf     []byte             // the lines of the event being written, reused
	prefix  []byte             // "#1 " for a connection but the first
	numbers map[int64]int64    // a connection's id to its number in this log
	next    int64              // the next number: #0, #1…, as curl counts
}

// connLog is what the log remembers of one connection.
type connLog struct {
	host    string
	session explain.Session
	pin     *smtp.PinCheck // held until the certificate is shown
}

func newLogger(w io.Writer, explain bool, now func() time.Time) *logger {
	return &logger{w: w, explain: explain, now: now, conns: map[int64]*connLog{}, numbers: map[int64]int64{}}
}

// line writes one log line made of parts, with what a terminal could act
// on in them (the server's text) escaped, then the notes when explaining,
// in one write and without allocating.
func (l *logger) line(notes []string, parts ...string) {
	l.buf = append(l.buf[:0], l.prefix...)
	for _, p := range parts {
		l.buf = append(l.buf, termsafe.String(p)...)
	}
	l.buf = append(l.buf, '\n')
	if l.explain {
		for _, n := range notes {
			l.buf = append(append(l.buf, l.prefix...), "  # "...)
			l.buf = append(append(l.buf, termsafe.String(n)...), '\n')
		}
	}
	l.w.Write(l.buf)
}

// out writes a line and its notes.
func (l *logger) out(line string, notes ...string) { l.line(notes, line) }

// number is the log's number of the connection id, given in the order the
// connections first appear; a closed one is forgotten.
func (l *logger) number(id int64, closed bool) int64 {
	n, ok := l.numbers[id]
	if !ok {
		n = l.next
		l.next++
		l.numbers[id] = n
	}
	if closed {
		delete(l.numbers, id)
	}
	return n
}

func (l *logger) trace() *smtp.Trace {
	return &smtp.Trace{Event: l.event, TLSRecords: true}
}

// event writes the lines of one event, with their notes.
func (l *logger) event(ev smtp.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev.Conn = l.number(ev.Conn, ev.Kind == smtp.EventClosed)
	cl := l.conns[ev.Conn]
	if cl == nil {
		cl = &connLog{}
		l.conns[ev.Conn] = cl
	}
	l.prefix = l.prefix[:0]
	if ev.Conn > 0 {
		l.prefix = append(strconv.AppendInt(append(l.prefix, '#'), ev.Conn, 10), ' ')
	}
	out := l.out
	switch ev.Kind {
	case smtp.EventConnectStart:
		cl.host, _, _ = net.SplitHostPort(ev.Addr)
		if ev.Proxy != "" {
			out("* Trying " + ev.Addr + " through proxy " + ev.Proxy + "...")
			break
		}
		out("* Trying " + ev.Addr + "...")
	case smtp.EventConnectDone:
		if ev.Err != nil {
			out(fmt.Sprintf("* Failed to connect to %s: %v", ev.Addr, ev.Err))
			break
		}
		host, port, _ := net.SplitHostPort(ev.Addr)
		if ev.Proxy != "" {
			out(fmt.Sprintf("* Connected to %s port %s through proxy %s (#%d)", host, port, ev.Proxy, ev.Conn))
			break
		}
		ip, _, _ := net.SplitHostPort(ev.RemoteAddr)
		out(fmt.Sprintf("* Connected to %s (%s) port %s (#%d)", host, ip, port, ev.Conn))
	case smtp.EventTLSHandshakeStart:
		out("* TLS handshake, server name " + ev.ServerName)
	case smtp.EventTLSMessage:
		dir := "IN"
		if ev.Outgoing {
			dir = "OUT"
		}
		out(fmt.Sprintf("* TLS (%s), %s", dir, ev.Line), explain.TLSMessage(ev.Line, ev.Outgoing)...)
	case smtp.EventPinCheck:
		cl.pin = ev.Pin
	case smtp.EventTLSHandshakeDone:
		l.handshake(cl, ev)
	case smtp.EventLineSent: // the hot path: no allocation but the explanation's
		var notes []string
		if l.explain {
			notes = cl.session.Sent(ev.Line)
		}
		l.line(notes, "> ", ev.Line)
	case smtp.EventLineReceived:
		var notes []string
		if l.explain {
			notes = cl.session.Received(ev.Line)
		}
		l.line(notes, "< ", ev.Line)
	case smtp.EventDataDone:
		l.line([]string{"The message itself, not shown: after DATA's 354 and ended by a line with a single dot, or in BDAT chunks."},
			"* ", strconv.FormatInt(ev.Size, 10), " bytes of message content sent (not shown)")
	case smtp.EventIdle:
		l.line(nil, "* Connection #", strconv.FormatInt(ev.Conn, 10), " to host ", cl.host, " left intact")
	case smtp.EventClosing:
		out(fmt.Sprintf("* Retiring connection #%d: %s", ev.Conn, ev.Line))
	case smtp.EventReused:
		out(fmt.Sprintf("* Re-using existing connection #%d with host %s", ev.Conn, cl.host))
	case smtp.EventClosed:
		if ev.Err != nil {
			var notes []string
			if hint := smtp.RemedyOf(ev.Err).Hint(); hint != "" {
				notes = append(notes, "To fix: "+hint+".")
			}
			out(fmt.Sprintf("* Closing connection #%d: %v", ev.Conn, ev.Err), notes...)
		} else {
			out(fmt.Sprintf("* Closing connection #%d", ev.Conn))
		}
		delete(l.conns, ev.Conn)
	}
}

// handshake writes the outcome of a TLS handshake: version, cipher suite,
// ALPN, the certificate chain, verification and the pin check.
func (l *logger) handshake(cl *connLog, ev smtp.Event) {
	out := l.out
	pin := cl.pin
	cl.pin = nil
	if ev.Err != nil {
		if pin != nil && pin.Err != nil {
			out("* Pin check failed: "+pin.Err.Error(), cl.session.Pin(false, 0, nil)...)
		}
		out("* TLS handshake failed: " + ev.Err.Error())
		return
	}
	st := ev.TLS
	out(fmt.Sprintf("* SSL connection using %s / %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite)),
		cl.session.TLS(*st, l.now())...)
	if st.DidResume {
		out("* SSL session resumed: an earlier connection's session, without a full handshake")
	}
	if st.NegotiatedProtocol == "" {
		out("* ALPN: none negotiated")
	} else {
		out("* ALPN: " + st.NegotiatedProtocol)
	}
	for i, cert := range st.PeerCertificates {
		if i == 0 {
			out("* Server certificate:")
		} else {
			out(fmt.Sprintf("* Chain certificate %d:", i))
		}
		writeCert(cert, func(s string) { out("*  " + s) })
	}
	switch {
	case len(st.VerifiedChains) > 0:
		out("*  SSL certificate verify ok.")
	default:
		out("*  SSL certificate verify skipped (InsecureSkipVerify)")
	}
	if pin != nil && pin.Err == nil {
		where := "the server's certificate"
		if pin.Depth > 0 {
			where = fmt.Sprintf("chain certificate %d (%s)", pin.Depth, pin.Cert.Subject)
		}
		out(fmt.Sprintf("*  public key pin %s matched %s", pin.Matched, where), cl.session.Pin(true, pin.Depth, pin.Cert)...)
	}
}

// writeCert writes the lines curl shows of a certificate.
func writeCert(cert *x509.Certificate, out func(string)) {
	const curlTime = "Jan _2 15:04:05 2006 GMT"
	out("subject: " + cert.Subject.String())
	out("start date: " + cert.NotBefore.UTC().Format(curlTime))
	out("expire date: " + cert.NotAfter.UTC().Format(curlTime))
	if len(cert.DNSNames)+len(cert.IPAddresses) > 0 {
		out("subjectAltName: " + certNames(cert))
	}
	out("issuer: " + cert.Issuer.String())
	out("public key pin: " + smtp.Pin(cert))
}

// Slog returns a Trace that logs one record per event to l, with the
// attributes conn (the connection's number), event, dir ("sent" or
// "received"), line, and code (a reply's code). Failures are logged at
// level Warn, the rest at Debug for lines and Info for other events.
func Slog(l *slog.Logger) *smtp.Trace {
	return &smtp.Trace{Event: func(ev smtp.Event) {
		attrs := []slog.Attr{slog.Int64("conn", ev.Conn), slog.String("event", ev.Kind.String())}
		level := slog.LevelInfo
		switch ev.Kind {
		case smtp.EventLineSent:
			level = slog.LevelDebug
			attrs = append(attrs, slog.String("dir", "sent"), slog.String("line", ev.Line))
		case smtp.EventLineReceived:
			level = slog.LevelDebug
			attrs = append(attrs, slog.String("dir", "received"), slog.String("line", ev.Line))
			if len(ev.Line) >= 3 {
				attrs = append(attrs, slog.String("code", ev.Line[:3]))
			}
		case smtp.EventConnectStart, smtp.EventConnectDone:
			attrs = append(attrs, slog.String("addr", ev.Addr))
			if ev.RemoteAddr != "" {
				attrs = append(attrs, slog.String("remote", ev.RemoteAddr))
			}
		case smtp.EventTLSHandshakeDone:
			if ev.Err == nil {
				attrs = append(attrs, slog.String("version", tls.VersionName(ev.TLS.Version)),
					slog.String("cipher", tls.CipherSuiteName(ev.TLS.CipherSuite)), slog.Bool("resumed", ev.TLS.DidResume))
			}
		case smtp.EventPinCheck:
			attrs = append(attrs, slog.String("pin", ev.Pin.Matched), slog.Int("depth", ev.Pin.Depth))
		case smtp.EventDataDone:
			attrs = append(attrs, slog.Int64("size", ev.Size))
		}
		if ev.Err != nil {
			level = slog.LevelWarn
			attrs = append(attrs, slog.String("err", ev.Err.Error()))
		}
		l.LogAttrs(context.Background(), level, "smtp", attrs...)
	}}
}

// certNames lists the names a certificate is valid for.
func certNames(cert *x509.Certificate) string { return certname.Of(cert) }
