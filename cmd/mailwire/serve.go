package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/mailwire/smtp/smtptest"
)

var serveHelp = help{
	usage: "mailwire serve [--listen ADDR] [--http ADDR] [--tls starttls|implicit|none] [--user USER:PASS ...]",
	about: `Runs smtptest, mailwire's test SMTP server, as a process: for the tests of
any language, or to try an application by hand. It keeps every message it
accepts in memory and serves them on an HTTP/JSON API (SERVE_API.md). It
prints where it listens, its CA certificate (--ca-out writes it to a file)
and its key's pin, and stops on Ctrl-C or SIGTERM.

Magic recipients need no setting: a local part "tempfail", "permfail" or
"timeout" (or one ending "+tempfail"...) gets 451 4.3.0, 550 5.1.1, or no
answer until the read timeout.`,
	examples: `  mailwire serve --listen 127.0.0.1:2525 --http 127.0.0.1:8025
  mailwire serve --tls implicit --user alice:secret --ca-out ca.pem
  curl -s http://127.0.0.1:8025/api/messages`,
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve")
	listen := fs.String("listen", "127.0.0.1:2525", "the SMTP `address` to listen on (port 0: any free one)")
	httpAddr := fs.String("http", "127.0.0.1:8025", "the HTTP API's `address` (\"\": none)")
	tlsMode := fs.String("tls", "starttls", "`mode`: starttls (offered), implicit (TLS from the first byte) or none")
	var users stringList
	fs.Var(&users, "user", "accept AUTH for `USER:PASS` (repeatable; AUTH is then required)")
	domain := fs.String("domain", "", "the `name` the server gives itself (default smtptest.local)")
	caOut := fs.String("ca-out", "", "write the CA certificate (PEM) that signed the server's to this `file`")
	maxRcpts := fs.Int("max-recipients", 0, "at most this many recipients per message (LIMITS RCPTMAX); 0: no limit")
	lmtp := fs.Bool("lmtp", false, "speak LMTP (RFC 2033) instead of SMTP")
	pos, code, ok := parseArgs(fs, serveHelp, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(stderr, "serve", "unexpected argument %q", pos[0])
	}
	cfg := &smtptest.Config{Domain: *domain, MaxRecipients: *maxRcpts, LMTP: *lmtp, MagicRecipients: true}
	switch strings.ToLower(*tlsMode) {
	case "starttls":
		cfg.TLS = smtptest.StartTLS
	case "implicit":
		cfg.TLS = smtptest.ImplicitTLS
	case "none":
		cfg.TLS = smtptest.NoTLS
	default:
		return usageError(stderr, "serve", "--tls %q: want starttls, implicit or none", *tlsMode)
	}
	if len(users) > 0 {
		cfg.Users, cfg.RequireAuth = map[string]string{}, true
		for _, u := range users {
			name, pass, ok := strings.Cut(u, ":")
			if !ok || name == "" {
				return usageError(stderr, "serve", "--user %q: want USER:PASS", u)
			}
			cfg.Users[name] = pass
		}
	}
	srv, err := smtptest.Start(cfg, *listen)
	if err != nil {
		fmt.Fprintln(stderr, "mailwire serve:", err)
		return exitUnavail
	}
	defer srv.Close()
	if *caOut != "" {
		if err := os.WriteFile(*caOut, srv.CACertPEM(), 0o644); err != nil {
			fmt.Fprintln(stderr, "mailwire serve:", err)
			return exitCantCreate
		}
	}
	fmt.Fprintf(stdout, "smtp %s (TLS: %s)\n", srv.Addr(), strings.ToLower(*tlsMode))
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			fmt.Fprintln(stderr, "mailwire serve: the HTTP API:", err)
			return exitUnavail
		}
		hs := &http.Server{Handler: apiHandler(srv), ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ln)
		defer hs.Close()
		fmt.Fprintf(stdout, "http %s\n", ln.Addr())
	}
	fmt.Fprintf(stdout, "pin %s\n", srv.Pin())
	if *caOut != "" {
		fmt.Fprintf(stdout, "ca %s\n", *caOut)
	}
	<-ctx.Done()
	fmt.Fprintln(stderr, "mailwire serve: stopping")
	return exitOK
}

// messageJSON is a message as the API lists it.
type messageJSON struct {
	ID       string    `json:"id"`
	Conn     int       `json:"conn"`
	Time     time.Time `json:"time"`
	From     string    `json:"from"`
	To       []string  `json:"to"`
	Subject  string    `json:"subject"`
	Size     int       `json:"size"`
	TLS      bool      `json:"tls"`
	AuthUser string    `json:"auth_user"`
	Chunked  bool      `json:"chunked"`
}

func toJSON(m *smtptest.Message) messageJSON {
	to := m.To
	if to == nil {
		to = []string{}
	}
	subject, err := m.Header.Subject() // decoded (RFC 2047)
	if err != nil {
		subject = m.Header.Get("Subject")
	}
	return messageJSON{ID: m.ID, Conn: m.ConnID, Time: m.Time, From: m.From, To: to, Subject: subject,
		Size: len(m.Raw), TLS: m.TLS, AuthUser: m.AuthUser, Chunked: m.Chunked}
}

// parsedMessageJSON is a message with its header fields and its parts.
type parsedMessageJSON struct {
	messageJSON
	Headers    map[string][]string `json:"headers"`
	Parts      []partJSON          `json:"parts"`
	ParseError string              `json:"parse_error,omitempty"`
}

type partJSON struct {
	ContentType string `json:"content_type"`
	Filename    string `json:"filename,omitempty"`
	Attachment  bool   `json:"attachment"`
	Size        int    `json:"size"`
	Text        string `json:"text,omitempty"` // a text part's decoded text, up to 64 KiB
}

// parsedJSON reads m's MIME structure with go-message: its header fields
// and each part (the leaves of the multipart tree), decoded.
func parsedJSON(m *smtptest.Message) parsedMessageJSON {
	out := parsedMessageJSON{messageJSON: toJSON(m), Headers: map[string][]string{}, Parts: []partJSON{}}
	for f := m.Header.Fields(); f.Next(); {
		out.Headers[f.Key()] = append(out.Headers[f.Key()], f.Value())
	}
	mr, err := mail.CreateReader(bytes.NewReader(m.Raw))
	if err != nil {
		out.ParseError = err.Error()
		return out
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			out.ParseError = err.Error()
			break
		}
		body, _ := io.ReadAll(io.LimitReader(p.Body, 64<<20))
		part := partJSON{Size: len(body)}
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			part.ContentType, _, _ = h.ContentType()
		case *mail.AttachmentHeader:
			part.ContentType, _, _ = h.ContentType()
			part.Filename, _ = h.Filename()
			part.Attachment = true
		}
		if strings.HasPrefix(part.ContentType, "text/") && !part.Attachment {
			part.Text = string(body[:min(len(body), 64<<10)])
		}
		out.Parts = append(out.Parts, part)
	}
	return out
}

// apiHandler serves the API of SERVE_API.md.
func apiHandler(srv *smtptest.Server) http.Handler {
	mux := http.NewServeMux()
	list := func(msgs []*smtptest.Message) []messageJSON {
		out := []messageJSON{}
		for _, m := range msgs {
			out = append(out, toJSON(m))
		}
		return out
	}
	mux.HandleFunc("GET /api/messages", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, list(srv.Messages()))
	})
	mux.HandleFunc("DELETE /api/messages", func(w http.ResponseWriter, r *http.Request) {
		srv.DeleteMessages()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /api/messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		if m := findMessage(srv, r.PathValue("id")); m != nil {
			writeJSON(w, http.StatusOK, parsedJSON(m))
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no message " + r.PathValue("id")})
	})
	mux.HandleFunc("GET /api/messages/{id}/transcript", func(w http.ResponseWriter, r *http.Request) {
		m := findMessage(srv, r.PathValue("id"))
		if m == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no message " + r.PathValue("id")})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"conn": m.ConnID, "lines": srv.Transcript(m.ConnID)})
	})
	mux.HandleFunc("GET /api/messages/{id}/raw", func(w http.ResponseWriter, r *http.Request) {
		m := findMessage(srv, r.PathValue("id"))
		if m == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no message " + r.PathValue("id")})
			return
		}
		w.Header().Set("Content-Type", "message/rfc822")
		w.Write(m.Raw)
	})
	mux.HandleFunc("GET /api/wait", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("count"))
		timeout, err2 := time.ParseDuration(r.URL.Query().Get("timeout"))
		if err != nil || n < 1 || err2 != nil || timeout <= 0 || timeout > 10*time.Minute {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want count=N (1 or more) and timeout=DURATION (\"5s\", at most 10m)"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		msgs, err := srv.WaitMessages(ctx, n)
		if errors.Is(err, context.DeadlineExceeded) {
			writeJSON(w, http.StatusRequestTimeout, map[string]any{"error": fmt.Sprintf("%d of %d messages within %v", len(msgs), n, timeout), "messages": list(msgs)})
			return
		}
		writeJSON(w, http.StatusOK, list(msgs))
	})
	mux.HandleFunc("POST /api/faults", func(w http.ResponseWriter, r *http.Request) {
		var f faultJSON
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "a fault: " + err.Error()})
			return
		}
		fault, err := f.fault()
		if err == nil {
			err = srv.SetFault(fault)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /api/faults", func(w http.ResponseWriter, r *http.Request) {
		srv.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /api/server", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"smtp": srv.Addr(), "pin": srv.Pin(), "ca_pem": string(srv.CACertPEM())})
	})
	return mux
}

// faultJSON is a fault as POST /api/faults takes it.
type faultJSON struct {
	Step         string  `json:"step"`
	Recipient    string  `json:"recipient"`
	Code         int     `json:"code"`
	EnhancedCode string  `json:"enhanced_code"`
	Message      string  `json:"message"`
	Times        int     `json:"times"`
	Probability  float64 `json:"probability"`
	Seed         int64   `json:"seed"`
}

func (f faultJSON) fault() (smtptest.Fault, error) {
	var ec smtptest.EnhancedCode
	if f.EnhancedCode != "" {
		if _, err := fmt.Sscanf(f.EnhancedCode, "%d.%d.%d", &ec[0], &ec[1], &ec[2]); err != nil {
			return smtptest.Fault{}, fmt.Errorf("enhanced_code %q: want d.d.d", f.EnhancedCode)
		}
	}
	if strings.ContainsAny(f.Message, "\r\n") {
		return smtptest.Fault{}, errors.New("message: no CR or LF")
	}
	return smtptest.Fault{Step: f.Step, Recipient: f.Recipient, Reply: smtptest.Reply{Code: f.Code, EnhancedCode: ec, Message: f.Message},
		Times: f.Times, Probability: f.Probability, Seed: f.Seed}, nil
}

func findMessage(srv *smtptest.Server, id string) *smtptest.Message {
	for _, m := range srv.Messages() {
		if m.ID == id {
			return m
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
