package smtp

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/mailwire/smtp/smtptest"
)

// A Pool's connections share a TLS session cache: a new connection
// resumes an earlier one's session, the pin is still checked on it, and
// the trace says so.
func TestPoolResumesTLSSessions(t *testing.T) {
	t.Parallel()
	srv := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	opts := realOpts(srv, StartTLS)
	opts.Pins = []string{srv.Pin()}
	var mu sync.Mutex
	var resumed []bool
	pinChecks := 0
	opts.Trace = &Trace{Event: func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ev.Kind == EventTLSHandshakeDone && ev.Err == nil:
			resumed = append(resumed, ev.TLS.DidResume)
		case ev.Kind == EventPinCheck && ev.Pin.Err == nil:
			pinChecks++
		}
	}}
	pool := mustPool(NewPool(srv.Addr(), opts, &PoolOptions{MaxConns: 1, MaxMessagesPerConn: 1}))
	defer pool.Close()
	for i := range 3 {
		if _, err := pool.Send(context.Background(), realEnv, strings.NewReader("x\r\n")); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(resumed) != 3 || resumed[0] || !resumed[1] || !resumed[2] {
		t.Errorf("handshakes resumed: %v, want the first full and the others resumed", resumed)
	}
	if pinChecks != 3 {
		t.Errorf("%d pin checks, want one per connection, resumed ones included", pinChecks)
	}
	// The caller's TLSConfig is left as it was.
	if opts.TLSConfig.ClientSessionCache != nil {
		t.Error("NewPool set a session cache in the caller's TLSConfig")
	}
}

// BenchmarkReconnect measures a new STARTTLS connection to a server
// already met: a full handshake, and one that resumes the session.
func BenchmarkReconnect(b *testing.B) {
	srv := smtptest.NewServer(&smtptest.Config{TLS: smtptest.StartTLS})
	defer srv.Close()
	for _, resume := range []bool{false, true} {
		name := "full"
		if resume {
			name = "resumed"
		}
		b.Run(name, func(b *testing.B) {
			opts := realOpts(srv, StartTLS)
			if resume {
				opts.TLSConfig = withSessionCache(opts.TLSConfig)
			}
			b.ReportAllocs()
			for b.Loop() {
				c, err := Dial(context.Background(), srv.Addr(), opts)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Quit(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
