package smtptest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// Server is an SMTP server on a loopback port, for tests: it records the
// messages it accepts and misbehaves on demand as its Config says. go-smtp
// does the protocol; Server sits between it and the socket, which lets it
// own TLS, rewrite the EHLO reply and act on any command before go-smtp
// sees it. All methods are safe for concurrent use.
type Server struct {
	cfg   *settings
	certs *certs
	ln    net.Listener   // the TCP listener clients dial
	gs    *gosmtp.Server // go-smtp, fed through handoff
	hand  *handoffListener

	done      chan struct{} // closed by Close: ends waits and delays
	closeOnce sync.Once
	wg        sync.WaitGroup // the accept loop and connection set-ups
	served    chan struct{}  // closed when go-smtp's Serve returns

	mu          sync.Mutex
	closed      bool
	wires       map[*wire]struct{}
	conns       int
	messages    []*Message
	recorded    int              // messages recorded since the start: the next queue id
	transcripts map[int][]string // by connection id
	commands    []Command
	changed     chan struct{} // closed and replaced when a message is recorded or all deleted
}

// NewServer starts a Server on 127.0.0.1 and a port the system picks, and
// serves it in the background until Close. A nil cfg means the zero Config.
// Like httptest.NewServer, it panics if it cannot listen (or make its
// certificates), since a test can do nothing useful then.
func NewServer(cfg *Config) *Server {
	s, err := Start(cfg, "127.0.0.1:0")
	if err != nil {
		panic("smtptest: " + err.Error())
	}
	return s
}

// Start is NewServer listening on addr ("127.0.0.1:2525"; port 0: any
// free one), with an error instead of a panic: for a server that is a
// process of its own (mailwire serve).
func Start(cfg *Config, addr string) (*Server, error) {
	set := newSettings(cfg)
	crt, err := newCerts()
	if err != nil {
		return nil, fmt.Errorf("making certificates: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening: %w", err)
	}
	s := &Server{
		cfg:     set,
		certs:   crt,
		ln:      ln,
		done:    make(chan struct{}),
		served:  make(chan struct{}),
		wires:   make(map[*wire]struct{}),
		changed: make(chan struct{}),
	}
	s.hand = &handoffListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: ln.Addr()}

	gs := gosmtp.NewServer(backend{s})
	gs.Domain = set.Domain
	gs.MaxMessageBytes = set.MaxMessageBytes
	gs.MaxRecipients = set.MaxRecipients
	gs.LMTP = set.LMTP
	if set.MaxLineLength > 0 {
		gs.MaxLineLength = set.MaxLineLength
	}
	gs.ReadTimeout = set.ReadTimeout
	gs.WriteTimeout = set.WriteTimeout
	// TLS is done below go-smtp, which never sees it: whether AUTH may go
	// without TLS is decided by the session (auth.go), and STARTTLS and
	// REQUIRETLS are advertised by the EHLO rewrite (reply.go).
	gs.AllowInsecureAuth = true
	gs.EnableSMTPUTF8 = !set.DisableSMTPUTF8
	gs.EnableREQUIRETLS = !set.DisableRequireTLS
	gs.EnableBINARYMIME = !set.DisableBinaryMIME && !set.DisableChunking
	gs.EnableDSN = !set.DisableDSN
	gs.ErrorLog = logger{set}
	s.gs = gs

	go func() {
		defer close(s.served)
		_ = gs.Serve(s.hand) // returns when hand is closed
	}()
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr returns the address clients dial, "127.0.0.1:port".
func (s *Server) Addr() string {
	return s.ln.Addr().String()
}

// Close stops the server: it stops listening, closes every connection
// without a reply, and returns when the goroutines serving them have ended.
// Messages stay readable. Close may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.mu.Lock()
		s.closed = true
		wires := make([]*wire, 0, len(s.wires))
		for w := range s.wires {
			wires = append(wires, w)
		}
		s.mu.Unlock()

		s.ln.Close()
		s.hand.Close()
		<-s.served // no more connections reach go-smtp from here on
		for _, w := range wires {
			w.drop()
		}
		s.wg.Wait()
		// Shutdown waits for go-smtp's connection goroutines, which end
		// now that their sockets are closed.
		_ = s.gs.Shutdown(context.Background())
	})
}

// Messages returns the messages accepted so far, oldest first. The slice is
// the caller's; the Messages are shared and must not be changed.
func (s *Server) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.messages...)
}

// WaitMessages waits until at least n messages have been accepted, and
// returns them all (as Messages does). If ctx ends first, it returns the
// messages accepted so far and ctx's error: a test sets its patience with
// context.WithTimeout rather than sleeping.
func (s *Server) WaitMessages(ctx context.Context, n int) ([]*Message, error) {
	for {
		s.mu.Lock()
		msgs := append([]*Message(nil), s.messages...)
		changed := s.changed
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return msgs, ctx.Err()
		}
	}
}

// Transcript bounds: the lines kept per connection, and the connections.
const (
	transcriptLines = 2000
	transcriptConns = 1000
)

// transcribe keeps a line of connection id's transcript.
func (s *Server) transcribe(id int, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.transcripts == nil {
		s.transcripts = map[int][]string{}
	}
	if _, ok := s.transcripts[id]; !ok && len(s.transcripts) >= transcriptConns {
		delete(s.transcripts, id-transcriptConns) // the oldest, give or take
	}
	if t := s.transcripts[id]; len(t) < transcriptLines {
		s.transcripts[id] = append(t, line)
	}
}

// Transcript returns what happened on connection id (Message.ConnID), as
// Config.Logf would say it without its prefix: "C: MAIL FROM:<a@b>",
// "S: 250 2.0.0 Roger...", the connection's start and end, the messages
// recorded, AUTH's secrets replaced by "***". The last 1,000 connections
// are kept, 2,000 lines each.
func (s *Server) Transcript(id int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.transcripts[id]...)
}

// DeleteMessages forgets the messages recorded so far; queue ids go on
// from where they were.
func (s *Server) DeleteMessages() {
	s.mu.Lock()
	s.messages = nil
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// Changed returns a channel closed at the next change to Messages: a
// message recorded, or DeleteMessages. A live view waits on it, then reads
// Messages again (and calls Changed again for the change after).
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Commands returns every command line received so far, on all
// connections, in the order received.
func (s *Server) Commands() []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Command(nil), s.commands...)
}

// Connections returns how many connections the server has accepted so far,
// to check that a client reuses a connection, or opens a new one.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		raw, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			s.cfg.logf("smtptest: accept: %v", err)
			select {
			case <-s.done:
				return
			case <-time.After(10 * time.Millisecond): // EMFILE and the like
			}
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			raw.Close()
			return
		}
		s.conns++
		w := newWire(s, raw, s.conns)
		s.wires[w] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.setUp(w)
	}
}

// setUp does what comes before go-smtp's turn on a new connection: the
// handshake in ImplicitTLS mode and the StepConnect hooks.
func (s *Server) setUp(w *wire) {
	defer s.wg.Done()
	w.logf("connected from %v", w.raw.RemoteAddr())
	if s.cfg.TLS == ImplicitTLS {
		if err := w.handshake(); err != nil {
			w.logf("TLS handshake: %v", err)
			w.drop()
			return
		}
	}
	a := s.cfg.stepAction(StepConnect)
	w.pause(a.delay)
	if a.drop {
		w.logf("dropping at %s", StepConnect)
		w.drop()
		return
	}
	if a.err != nil {
		w.refuse(a.err)
		return
	}
	s.handOver(w)
}

// handOver gives go-smtp a new view of w, as a fresh connection: at the
// start, and after STARTTLS, where go-smtp must forget all it was told.
func (s *Server) handOver(w *wire) {
	select {
	case s.hand.conns <- &vconn{w: w}:
	case <-s.hand.done:
		w.drop()
	}
}

func (s *Server) forget(w *wire) {
	s.mu.Lock()
	delete(s.wires, w)
	s.mu.Unlock()
}

func (s *Server) addCommand(c Command) {
	s.mu.Lock()
	s.commands = append(s.commands, c)
	s.mu.Unlock()
}

// record files a message, giving it its queue id, and wakes WaitMessages.
func (s *Server) record(m *Message) {
	s.mu.Lock()
	s.recorded++
	m.ID = fmt.Sprintf("Q%04d", s.recorded)
	m.Time = time.Now()
	s.messages = append(s.messages, m)
	s.cfg.noteAccepted()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// handoffListener is the net.Listener go-smtp serves: its connections are
// the ones handOver sends.
type handoffListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// logger passes go-smtp's internal error reports to Config.Logf.
type logger struct{ cfg *settings }

func (l logger) Printf(format string, v ...any) { l.cfg.logf("smtptest: go-smtp: "+format, v...) }
func (l logger) Println(v ...any)               { l.cfg.logf("smtptest: go-smtp: %s", fmt.Sprintln(v...)) }
