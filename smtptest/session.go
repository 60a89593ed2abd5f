package smtptest

import (
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// backend makes go-smtp sessions for a Server.
type backend struct{ srv *Server }

func (b backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	v, ok := c.Conn().(*vconn)
	if !ok {
		return nil, errors.New("smtptest: connection not from the server")
	}
	return &session{srv: b.srv, w: v.w, conn: c}, nil
}

// session is go-smtp's session of one view of a connection: the envelope
// of the message under way, checks of MAIL and RCPT, recording at the end
// of the content. It also does AUTH (auth.go).
type session struct {
	srv  *Server
	w    *wire
	conn *gosmtp.Conn

	// mu guards the envelope: with BDAT, go-smtp calls Data on a goroutine
	// of its own while RSET may call Reset.
	mu       sync.Mutex
	helo     string
	from     string
	mailOpts *gosmtp.MailOptions
	to       []string
	rcptOpts []*gosmtp.RcptOptions
}

func (s *session) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.from, s.mailOpts, s.to, s.rcptOpts = "", nil, nil, nil
}

func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	cfg := s.srv.cfg
	info := s.w.info()
	s.mu.Lock()
	open := s.mailOpts != nil
	s.mu.Unlock()
	if opts == nil {
		opts = &gosmtp.MailOptions{}
	}
	switch {
	case open: // go-smtp would start over, keeping the recipients
		return &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "Nested MAIL command"}
	case cfg.RequireAuth && info.authUser == "":
		return &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	case cfg.MaxMessagesPerConn > 0 && info.messages >= cfg.MaxMessagesPerConn:
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Too many messages on this connection, use another"}
	case cfg.Disable8BitMIME && opts.Body == gosmtp.Body8BitMIME:
		return &gosmtp.SMTPError{Code: 504, EnhancedCode: gosmtp.EnhancedCode{5, 5, 4}, Message: "BODY=8BITMIME is not implemented"}
	case cfg.DisableSize && opts.Size > 0:
		return &gosmtp.SMTPError{Code: 504, EnhancedCode: gosmtp.EnhancedCode{5, 5, 4}, Message: "SIZE is not implemented"}
	case opts.RequireTLS && !info.tls:
		return &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 10}, Message: "REQUIRETLS needs a TLS connection"}
	}
	o := *opts
	if o.Auth != nil {
		a := *o.Auth
		o.Auth = &a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.helo = s.conn.Hostname()
	s.from, s.mailOpts, s.to, s.rcptOpts = from, &o, nil, nil
	return nil
}

func (s *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if e := s.srv.cfg.rejectRcpt[strings.ToLower(to)]; e != nil {
		return e
	}
	if a, ok := s.srv.cfg.runtimeFault("RCPT " + strings.ToLower(to)); ok {
		s.w.pause(a.delay)
		if a.drop {
			s.w.logf("dropping at RCPT TO:<%s>", to)
			s.w.drop()
			return errDropped
		}
		if a.err != nil {
			if a.err.Code == 421 {
				s.w.closeAfterNextReply()
			}
			return a.err
		}
	}
	if s.srv.cfg.MagicRecipients {
		if e := s.magic(to); e != nil {
			return e
		}
	}
	o := gosmtp.RcptOptions{}
	if opts != nil {
		o = *opts
		o.Notify = append([]gosmtp.DSNNotify(nil), opts.Notify...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.to = append(s.to, to)
	s.rcptOpts = append(s.rcptOpts, &o)
	return nil
}

// errDropped is Data's result when the connection was dropped at
// StepAfterData; it is never sent.
var errDropped = errors.New("smtptest: connection dropped (DropAt or a Fault)")

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		// Too large, a too long line, a broken connection, BDAT
		// aborted: go-smtp answers (552, 554...) or nobody hears.
		return err
	}
	cfg := s.srv.cfg
	a := cfg.stepAction(StepAfterData)
	s.w.pause(a.delay)
	drop := a.drop || cfg.dropAt == StepAfterData
	if e := a.err; e != nil && !drop {
		if e.Code == 421 {
			s.w.closeAfterNextReply()
		}
		return e
	}
	info := s.w.info()
	s.mu.Lock()
	m := &Message{
		ConnID:      s.w.id,
		Helo:        s.helo,
		TLS:         info.tls,
		AuthUser:    info.authUser,
		From:        s.from,
		MailOptions: s.mailOpts,
		To:          append([]string(nil), s.to...),
		RcptOptions: append([]*gosmtp.RcptOptions(nil), s.rcptOpts...),
		Chunked:     info.chunked,
		Raw:         raw,
	}
	s.mu.Unlock()
	if m.MailOptions == nil {
		m.MailOptions = &gosmtp.MailOptions{}
	}
	m.Header, m.HeaderErr = parseHeader(raw)
	s.srv.record(m)
	s.w.countMessage()
	s.w.logf("recorded message %s (%d bytes)", m.ID, len(raw))
	if drop {
		s.w.logf("dropping at %s", StepAfterData)
		s.w.drop()
		return errDropped
	}
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "OK: queued as " + m.ID}
}

// LMTPData takes a message in LMTP mode (Config.LMTP): recorded as Data
// records it, then a reply for each recipient, RejectAfterData's where it
// names one.
func (s *session) LMTPData(r io.Reader, status gosmtp.StatusCollector) error {
	result := s.Data(r)
	s.mu.Lock()
	to := append([]string(nil), s.to...)
	s.mu.Unlock()
	for _, rcpt := range to {
		if e := s.srv.cfg.rejectData[strings.ToLower(rcpt)]; e != nil && isQueued(result) {
			status.SetStatus(rcpt, e)
			continue
		}
		status.SetStatus(rcpt, result)
	}
	return nil
}

// isQueued tells Data's answer for a message recorded.
func isQueued(err error) bool {
	var e *gosmtp.SMTPError
	return errors.As(err, &e) && e.Code == 250
}

// magic answers a magic recipient (Config.MagicRecipients): its local part,
// or the part after its last '+', names the outcome.
func (s *session) magic(to string) error {
	local, _, _ := strings.Cut(strings.ToLower(to), "@")
	if i := strings.LastIndexByte(local, '+'); i >= 0 {
		local = local[i+1:]
	}
	switch local {
	case "tempfail":
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, as asked (magic recipient)"}
	case "permfail":
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "Mailbox unavailable, as asked (magic recipient)"}
	case "timeout":
		select { // no answer until the client gives up, or the server closes
		case <-s.srv.done:
		case <-time.After(s.srv.cfg.ReadTimeout):
		}
		return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 4, 2}, Message: "Timed out, as asked (magic recipient)"}
	}
	return nil
}
