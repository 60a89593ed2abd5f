package main

import (
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/mailwire/smtp/smtptest"
)

// webFiles is the page of mailwire serve: plain HTML, CSS and JavaScript,
// no build step, nothing fetched from elsewhere.
//
//go:embed web/index.html web/app.js web/app.css
var webFiles embed.FS

// webPolicy lets the page run its own script and talk to its own server,
// and nothing else: a message's text is shown, never run.
const webPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// eventsKeepAlive is how often an idle event stream sends a comment, so
// that proxies and browsers keep it open.
const eventsKeepAlive = 15 * time.Second

// addWebPage serves the page at / and the stream of new messages it
// listens to at /api/events.
func addWebPage(mux *http.ServeMux, srv *smtptest.Server) {
	for path, file := range map[string]string{"GET /{$}": "web/index.html", "GET /app.js": "web/app.js", "GET /app.css": "web/app.css"} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", webPolicy)
			w.Header().Set("X-Content-Type-Options", "nosniff")
			http.ServeFileFS(w, r, webFiles, file)
		})
	}
	mux.HandleFunc("GET /api/events", func(w http.ResponseWriter, r *http.Request) {
		streamMessages(w, r, srv)
	})
}

// streamMessages is GET /api/events: server-sent events, first "reset"
// and every message there is, then each new one as it is recorded
// ("message", its JSON as in /api/messages), and "reset" again when they
// were deleted (the messages that follow are the whole list again).
func streamMessages(w http.ResponseWriter, r *http.Request, srv *smtptest.Server) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n\nevent: reset\ndata: {}\n\n")
	keepAlive := time.NewTicker(eventsKeepAlive)
	defer keepAlive.Stop()
	var last *smtptest.Message // the last message sent
	sent := 0                  // how many of Messages were sent
	for {
		changed := srv.Changed() // before reading, so no change is missed
		msgs := srv.Messages()
		if sent > len(msgs) || (sent > 0 && msgs[sent-1] != last) {
			fmt.Fprint(w, "event: reset\ndata: {}\n\n")
			sent = 0
		}
		for _, m := range msgs[sent:] {
			writeEvent(w, "message", toJSON(m))
		}
		if sent = len(msgs); sent > 0 {
			last = msgs[sent-1]
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-changed:
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-r.Context().Done():
			return
		}
	}
}

func writeEvent(w io.Writer, name string, v any) {
	data, _ := json.Marshal(v) // one line: JSON escapes CR and LF
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
}
