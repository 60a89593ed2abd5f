package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/mailwire/smtp/smtptest"
)

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

// explainedLine is a line of a transcript with the notes mailwire explain
// gives it.
type explainedLine struct {
	Line  string   `json:"line"`
	Notes []string `json:"notes,omitempty"`
}

// explainTranscript runs a session's transcript through mailwire explain:
// each line with its notes, and the summary of the session.
func explainTranscript(lines []string) ([]explainedLine, string) {
	x := newLogExplainer(time.Now())
	for _, l := range lines {
		x.line(l)
	}
	x.finish()
	out := make([]explainedLine, 0, len(x.entries))
	for _, e := range x.entries {
		out = append(out, explainedLine{Line: e.line, Notes: e.notes})
	}
	var sum bytes.Buffer
	x.writeSummary(&sum)
	return out, sum.String()
}

// apiHandler serves the API of SERVE_API.md, and the web page.
func apiHandler(srv *smtptest.Server, settings serverSettings) http.Handler {
	mux := http.NewServeMux()
	addWebPage(mux, srv)
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
		lines := srv.Transcript(m.ConnID)
		explained, summary := explainTranscript(lines)
		writeJSON(w, http.StatusOK, map[string]any{"conn": m.ConnID, "lines": lines, "explained": explained, "summary": summary})
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
		writeJSON(w, http.StatusOK, serverJSON{SMTP: srv.Addr(), Pin: srv.Pin(), CAPEM: string(srv.CACertPEM()), serverSettings: settings})
	})
	return mux
}

// serverSettings are what a client must know to talk to the server.
type serverSettings struct {
	TLS          string `json:"tls"`           // starttls, implicit or none
	AuthRequired bool   `json:"auth_required"` // --user given: AUTH before MAIL
	LMTP         bool   `json:"lmtp"`
}

// serverJSON is GET /api/server.
type serverJSON struct {
	SMTP  string `json:"smtp"`
	Pin   string `json:"pin"`
	CAPEM string `json:"ca_pem"`
	serverSettings
}

// faultJSON is a fault as POST /api/faults takes it.
type faultJSON struct {
	Step         string  `json:"step"`
	Recipient    string  `json:"recipient"`
	Code         int     `json:"code"`
	EnhancedCode string  `json:"enhanced_code"`
	Message      string  `json:"message"`
	Drop         bool    `json:"drop"`
	Delay        string  `json:"delay"`
	Times        int     `json:"times"`
	After        int     `json:"after"`
	Rate         int     `json:"rate"`
	Per          string  `json:"per"`
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
	delay, err := optionalDuration("delay", f.Delay)
	if err != nil {
		return smtptest.Fault{}, err
	}
	per, err := optionalDuration("per", f.Per)
	if err != nil {
		return smtptest.Fault{}, err
	}
	return smtptest.Fault{Step: f.Step, Recipient: f.Recipient, Reply: smtptest.Reply{Code: f.Code, EnhancedCode: ec, Message: f.Message},
		Drop: f.Drop, Delay: delay, Times: f.Times, After: f.After, Rate: f.Rate, Per: per, Probability: f.Probability, Seed: f.Seed}, nil
}

// optionalDuration parses a Go duration ("1m", "250ms"); "" is 0.
func optionalDuration(name, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: want a Go duration such as 250ms or 1m", name, s)
	}
	return d, nil
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
