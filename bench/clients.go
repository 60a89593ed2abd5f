package main

// The three clients behind one small interface. Each adapter does what a
// user of that library would write, and nothing more: the per-message cost
// of the adapters themselves is nil (no allocation of their own).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	netsmtp "net/smtp"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	smtp "github.com/mailwire/smtp"
)

// sender is one connection of one client library, ready for messages.
type sender interface {
	// Send sends msg from from to to, and returns the server's reply to
	// the end of the message when the library tells it ("" otherwise).
	Send(ctx context.Context, from string, to []string, msg io.Reader) (string, error)
	// Quit ends the session and closes the connection.
	Quit() error
}

// dialOptions say where and how to connect.
type dialOptions struct {
	addr   string
	secure bool           // STARTTLS, verifying the sink against roots, then AUTH PLAIN
	roots  *x509.CertPool // trusts the sink's certificate
	trace  *smtp.Trace    // mailwire only: scenario (h)
}

func (o dialOptions) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: o.roots, ServerName: "localhost"}
}

// library is a client under test.
type library struct {
	name string
	dial func(ctx context.Context, o dialOptions) (sender, error)
}

const mailwireName = "mailwire"

var (
	mailwire = library{mailwireName, dialMailwire}
	peers    = []library{{"net/smtp", dialNetSMTP}, {"go-smtp", dialGoSMTP}}
)

// ---- mailwire ----

type mailwireSender struct {
	c   *smtp.Client
	env smtp.Envelope // reused, so that the adapter allocates nothing
}

func mailwireOptions(o dialOptions) *smtp.Options {
	opts := &smtp.Options{Security: smtp.Plaintext, Timeout: time.Minute, Trace: o.trace}
	if o.secure {
		opts.Security = smtp.StartTLS
		opts.TLSConfig = o.tlsConfig()
		opts.Auth = smtp.PasswordAuth(sinkUser, sinkPass)
	}
	return opts
}

func dialMailwire(ctx context.Context, o dialOptions) (sender, error) {
	c, err := smtp.Dial(ctx, o.addr, mailwireOptions(o))
	if err != nil {
		return nil, err
	}
	return &mailwireSender{c: c}, nil
}

func (s *mailwireSender) Send(ctx context.Context, from string, to []string, msg io.Reader) (string, error) {
	s.env.From, s.env.To = from, to
	r, err := s.c.Send(ctx, &s.env, msg)
	if err != nil {
		return "", err
	}
	return r.Reply.Message, nil
}

func (s *mailwireSender) Quit() error { return s.c.Quit(context.Background()) }

// ---- net/smtp ----

type netSMTPSender struct{ c *netsmtp.Client }

func dialNetSMTP(_ context.Context, o dialOptions) (sender, error) {
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil {
		return nil, err
	}
	c, err := netsmtp.Dial(o.addr)
	if err != nil {
		return nil, err
	}
	err = c.Hello("localhost")
	if err == nil && o.secure {
		err = c.StartTLS(o.tlsConfig())
		if err == nil {
			err = c.Auth(netsmtp.PlainAuth("", sinkUser, sinkPass, host))
		}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return &netSMTPSender{c}, nil
}

func (s *netSMTPSender) Send(_ context.Context, from string, to []string, msg io.Reader) (string, error) {
	if err := s.c.Mail(from); err != nil {
		return "", err
	}
	for _, rcpt := range to {
		if err := s.c.Rcpt(rcpt); err != nil {
			return "", err
		}
	}
	w, err := s.c.Data()
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(w, msg); err != nil {
		return "", err
	}
	return "", w.Close()
}

func (s *netSMTPSender) Quit() error { return s.c.Quit() }

// ---- github.com/emersion/go-smtp ----

type goSMTPSender struct{ c *gosmtp.Client }

func dialGoSMTP(_ context.Context, o dialOptions) (sender, error) {
	var c *gosmtp.Client
	var err error
	if o.secure {
		c, err = gosmtp.DialStartTLS(o.addr, o.tlsConfig())
		if err == nil {
			if err = c.Auth(sasl.NewPlainClient("", sinkUser, sinkPass)); err != nil {
				c.Close()
			}
		}
	} else {
		c, err = gosmtp.Dial(o.addr)
		if err == nil {
			if err = c.Hello("localhost"); err != nil {
				c.Close()
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return &goSMTPSender{c}, nil
}

func (s *goSMTPSender) Send(_ context.Context, from string, to []string, msg io.Reader) (string, error) {
	return "", s.c.SendMail(from, to, msg)
}

func (s *goSMTPSender) Quit() error { return s.c.Quit() }

// ---- pools, for scenario (e) ----

// pool sends from many goroutines at once over a few connections.
type pool interface {
	Send(ctx context.Context, from string, to []string, msg io.Reader) error
	Close() error
}

// chanPool is the pool the bench gives net/smtp and go-smtp, which have
// none: a channel of connections, each taken for one message and given
// back, dialled on first use and redialled after a failure.
type chanPool struct {
	lib   library
	o     dialOptions
	conns chan sender // nil: not dialled yet
}

func newChanPool(lib library, o dialOptions, size int) *chanPool {
	p := &chanPool{lib: lib, o: o, conns: make(chan sender, size)}
	for range size {
		p.conns <- nil
	}
	return p
}

func (p *chanPool) Send(ctx context.Context, from string, to []string, msg io.Reader) error {
	s := <-p.conns
	var err error
	if s == nil {
		s, err = p.lib.dial(ctx, p.o)
	}
	if err == nil {
		if _, err = s.Send(ctx, from, to, msg); err != nil {
			s.Quit()
			s = nil
		}
	}
	p.conns <- s
	return err
}

func (p *chanPool) Close() error {
	for range cap(p.conns) {
		if s := <-p.conns; s != nil {
			s.Quit()
		}
	}
	return nil
}
