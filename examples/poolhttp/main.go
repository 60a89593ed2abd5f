// Poolhttp is a web service that sends mail through an smtp.Pool: each
// POST /send is one message, sent over one of a few SMTP connections that
// the requests share and reuse (-max-conns of them at most, whatever the
// number of requests at once). On SIGINT or SIGTERM it stops taking
// requests, lets the ones in flight finish, then closes the pool, which
// ends each idle SMTP connection with QUIT.
//
// From the examples directory:
//
//	export SMTP_ADDR=smtp.example.com:587 SMTP_USER=app@example.com
//	read -rs SMTP_PASSWORD && export SMTP_PASSWORD
//	go run ./poolhttp -listen 127.0.0.1:8025 -from app@example.com
//	curl -d to=bob@example.org -d subject=Hi -d text='Hello Bob.' http://127.0.0.1:8025/send
//
// The form fields are to (repeat it for more recipients), subject and text.
// The answer is JSON: {"accepted":[…],"rejected":[…],"reply":"…"} with
// status 200, or {"error":"…"} with 400 for a bad request, 502 when the
// mail server refused the message, 503 while shutting down, 504 after
// -timeout. Every flag but -listen, -max-conns and -timeout has an
// environment variable: -addr SMTP_ADDR, -from SMTP_FROM, -user SMTP_USER
// (optional: no AUTH without it), -cafile SMTP_CAFILE, which trusts a
// private CA (smtptest's Server.CACertPEM, say) instead of the system's.
// TLS is mandatory, as in every example: STARTTLS, or implicit TLS on port
// 465.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mailwire/smtp"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("poolhttp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8025", "HTTP address to serve on (port 0: any free port, printed at start)")
	addr := fs.String("addr", os.Getenv("SMTP_ADDR"), "mail server host:port [$SMTP_ADDR]")
	user := fs.String("user", os.Getenv("SMTP_USER"), "user name for AUTH, the password in $SMTP_PASSWORD; empty: no AUTH [$SMTP_USER]")
	from := fs.String("from", os.Getenv("SMTP_FROM"), "sender address of every message [$SMTP_FROM]")
	caFile := fs.String("cafile", os.Getenv("SMTP_CAFILE"), "PEM file of the CA to trust instead of the system's, for a private server [$SMTP_CAFILE]")
	maxConns := fs.Int("max-conns", 4, "most SMTP connections open at once")
	sendTimeout := fs.Duration("timeout", 30*time.Second, "most time one request may take, waiting for a connection included")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *addr == "" || *from == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "poolhttp: usage: poolhttp -addr host:port -from address [-user name] [-listen host:port] [-cafile ca.pem]")
		return 2
	}
	if p, err := mail.ParseAddress(*from); err != nil || p.Address != *from {
		fmt.Fprintf(stderr, "poolhttp: -from %q is not a bare address like app@example.com\n", *from)
		return 2
	}

	opts := &smtp.Options{Timeout: *sendTimeout}
	if *user != "" {
		opts.Auth = smtp.PasswordAuth(*user, os.Getenv("SMTP_PASSWORD"))
	}
	if *caFile != "" {
		var err error
		if opts.TLSConfig, err = trustCA(*caFile); err != nil {
			fmt.Fprintf(stderr, "poolhttp: %v\n", err)
			return 1
		}
	}
	// No connection is made until the first message; a bad address or
	// option is refused here.
	pool, err := smtp.NewPool(*addr, opts, &smtp.PoolOptions{MaxConns: *maxConns})
	if err != nil {
		fmt.Fprintf(stderr, "poolhttp: %v\n", err)
		return 2
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "poolhttp: %v\n", err)
		return 1
	}
	mux := http.NewServeMux()
	mux.Handle("/send", &sender{pool: pool, from: *from, timeout: *sendTimeout, log: stderr})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "listening on http://%s, sending through %s\n", ln.Addr(), *addr)

	code := 0
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintf(stderr, "poolhttp: %v\n", err)
		code = 1
	}
	stop() // a second signal kills the process at once

	// Graceful shutdown: no new requests, the ones in flight finish (their
	// messages are sent), then the pool closes its connections with QUIT.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), *sendTimeout+5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(stderr, "poolhttp: shutdown: %v\n", err)
		code = 1
	}
	pool.Close()
	fmt.Fprintln(stdout, "stopped: requests finished, SMTP pool closed")
	return code
}

// sender is the handler of POST /send.
type sender struct {
	pool    *smtp.Pool
	from    string
	timeout time.Duration
	log     io.Writer
}

// result is the JSON answer.
type result struct {
	Accepted []string `json:"accepted,omitempty"`
	Rejected []string `json:"rejected,omitempty"`
	Reply    string   `json:"reply,omitempty"`
	Error    string   `json:"error,omitempty"`
}

func (s *sender) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, result{Error: "use POST"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		reply(w, http.StatusBadRequest, result{Error: err.Error()})
		return
	}
	to := r.PostForm["to"]
	msg, err := compose(s.from, to, r.PostForm.Get("subject"), r.PostForm.Get("text"))
	if err != nil {
		reply(w, http.StatusBadRequest, result{Error: err.Error()})
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	receipt, err := s.pool.Send(ctx, &smtp.Envelope{From: s.from, To: to}, strings.NewReader(msg))
	if err != nil {
		fmt.Fprintf(s.log, "poolhttp: send to %v: %v\n", to, err)
		status := http.StatusBadGateway
		switch {
		case errors.Is(err, smtp.ErrPoolClosed):
			status = http.StatusServiceUnavailable
		case errors.Is(err, context.DeadlineExceeded):
			status = http.StatusGatewayTimeout
		}
		reply(w, status, result{Error: err.Error()})
		return
	}
	res := result{Accepted: receipt.Accepted, Reply: fmt.Sprintf("%d %s", receipt.Reply.Code, receipt.Reply.Message)}
	for _, rej := range receipt.Rejected {
		res.Rejected = append(res.Rejected, rej.Error())
	}
	reply(w, http.StatusOK, res)
}

func reply(w http.ResponseWriter, status int, res result) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(res)
}

// trustCA returns a TLS configuration that trusts the CAs in file instead
// of the system's, as curl's --cacert does. Certificates are still
// verified, names included.
func trustCA(file string) (*tls.Config, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", file)
	}
	return &tls.Config{RootCAs: pool}, nil
}

// compose builds a plain-text message from the request's fields. Addresses
// are checked, and a subject with a line break is refused: it would let
// whoever calls the service add header fields.
func compose(from string, to []string, subject, text string) (string, error) {
	if len(to) == 0 {
		return "", errors.New("no recipient: give the form field to")
	}
	for _, a := range to {
		if p, err := mail.ParseAddress(a); err != nil || p.Address != a {
			return "", fmt.Errorf("to: %q is not a bare address like bob@example.org", a)
		}
	}
	if strings.ContainsAny(subject, "\r\n") {
		return "", errors.New("the subject holds a line break")
	}
	var id [12]byte
	rand.Read(id[:])
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(to, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id[:]), from[strings.LastIndexByte(from, '@')+1:])
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(text)
	b.WriteString("\r\n")
	return b.String(), nil
}
