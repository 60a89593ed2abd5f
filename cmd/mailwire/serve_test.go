package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailwire/smtp"
)

// startServe runs mailwire serve on free ports and returns its SMTP and
// HTTP addresses; the test's end stops it, and checks it exits 0.
func startServe(t *testing.T, args ...string) (smtpAddr, httpBase string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- runServe(ctx, append([]string{"--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"}, args...), pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("serve exited %d", code)
		}
	})
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "smtp":
			smtpAddr, _, _ = strings.Cut(rest, " ")
		case "http":
			httpBase = "http://" + rest
		case "pin":
			go io.Copy(io.Discard, pr)
			return smtpAddr, httpBase
		}
	}
	t.Fatal("serve printed no addresses")
	return
}

func getJSON(t *testing.T, url string, want int, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, body, want)
	}
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
}

// Every endpoint of SERVE_API.md, and a magic recipient, against a
// message sent over STARTTLS with AUTH.
func TestServeAPI(t *testing.T) {
	t.Parallel()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	smtpAddr, base := startServe(t, "--user", "alice:secret", "--ca-out", ca)
	caPEM, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	getJSON(t, base+"/api/server", 200, &info)
	if info["smtp"] != smtpAddr || info["ca_pem"] != string(caPEM) || !strings.HasPrefix(info["pin"].(string), "sha256//") ||
		info["tls"] != "starttls" || info["auth_required"] != true || info["lmtp"] != false {
		t.Errorf("/api/server: %v", info)
	}
	// wait, before the message is sent: it answers once it comes.
	waited := make(chan []messageJSON, 1)
	go func() {
		var msgs []messageJSON
		getJSON(t, base+"/api/wait?count=1&timeout=10s", 200, &msgs)
		waited <- msgs
	}()
	opts := &smtp.Options{TLSConfig: tlsConfigWithCA(t, caPEM), Auth: smtp.PasswordAuth("alice", "secret")}
	r, err := smtp.SendMail(context.Background(), smtpAddr, opts, &smtp.Envelope{From: "a@example.com", To: []string{"bob@example.com", "carol+tempfail@example.com"}},
		strings.NewReader("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nhi\r\n"))
	if err != nil || len(r.Rejected) != 1 || r.Rejected[0].Err.Code != 451 {
		t.Fatalf("send: %v %+v", err, r)
	}
	msgs := <-waited
	if len(msgs) != 1 || msgs[0].Subject != "Grüße" || !msgs[0].TLS || msgs[0].AuthUser != "alice" || strings.Join(msgs[0].To, ",") != "bob@example.com" {
		t.Fatalf("/api/wait: %+v", msgs)
	}
	var one parsedMessageJSON
	getJSON(t, base+"/api/messages/"+msgs[0].ID, 200, &one)
	if one.ID != msgs[0].ID || one.Size == 0 || len(one.Parts) != 1 || one.Parts[0].Text != "hi\r\n" || one.Headers["Subject"][0] != "=?utf-8?q?Gr=C3=BC=C3=9Fe?=" {
		t.Errorf("/api/messages/{id}: %+v", one)
	}
	var tr struct {
		Conn  int      `json:"conn"`
		Lines []string `json:"lines"`
	}
	getJSON(t, base+"/api/messages/"+one.ID+"/transcript", 200, &tr)
	all := strings.Join(tr.Lines, "\n")
	if tr.Conn != one.Conn || !strings.Contains(all, "C: STARTTLS") || !strings.Contains(all, "S: 451 4.3.0") || !strings.Contains(all, "C: AUTH PLAIN ***") || strings.Contains(all, "secret") {
		t.Errorf("transcript of conn %d:\n%s", tr.Conn, all)
	}
	getJSON(t, base+"/api/messages/Q9999/transcript", 404, nil)
	resp, err := http.Get(base + "/api/messages/" + one.ID + "/raw")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "message/rfc822" || !strings.HasSuffix(string(raw), "\r\n\r\nhi\r\n") || len(raw) != one.Size {
		t.Errorf("/raw: %q", raw)
	}
	getJSON(t, base+"/api/messages/Q9999", 404, nil)
	getJSON(t, base+"/api/messages/Q9999/raw", 404, nil)
	getJSON(t, base+"/api/wait?count=x&timeout=1s", 400, nil)
	var timedOut map[string]any
	getJSON(t, base+"/api/wait?count=2&timeout=100ms", 408, &timedOut)
	req, _ := http.NewRequest(http.MethodDelete, base+"/api/messages", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("DELETE: %v %v", err, resp)
	}
	var none []messageJSON
	getJSON(t, base+"/api/messages", 200, &none)
	if len(none) != 0 {
		t.Errorf("after DELETE: %d messages", len(none))
	}
}

func tlsConfigWithCA(t *testing.T, caPEM []byte) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no certificate in the CA file")
	}
	return &tls.Config{RootCAs: pool}
}

// Faults set and cleared through the API change what the server answers.
func TestServeFaults(t *testing.T) {
	t.Parallel()
	smtpAddr, base := startServe(t, "--tls", "none")
	post := func(body string, want int) {
		t.Helper()
		resp, err := http.Post(base+"/api/faults", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s: %d, want %d", body, resp.StatusCode, want)
		}
	}
	send := func(to ...string) (*smtp.Receipt, error) {
		return smtp.SendMail(context.Background(), smtpAddr, &smtp.Options{Security: smtp.Plaintext},
			&smtp.Envelope{From: "a@example.com", To: to}, strings.NewReader("Subject: x\r\n\r\nhi\r\n"))
	}
	post(`{"step":"MAIL","code":451,"enhanced_code":"4.7.1","message":"slow down","times":1}`, 204)
	post(`{"recipient":"full@example.com","code":552,"enhanced_code":"5.2.2","message":"mailbox full"}`, 204)
	if _, err := send("bob@example.com"); err == nil || !strings.Contains(err.Error(), "451 4.7.1 slow down") {
		t.Errorf("first send: %v, want the 451", err)
	}
	r, err := send("bob@example.com", "full@example.com")
	if err != nil || len(r.Rejected) != 1 || r.Rejected[0].Err.Code != 552 {
		t.Errorf("second send: %v %+v, want full@ refused with 552", err, r)
	}
	clear := func() {
		t.Helper()
		req, _ := http.NewRequest(http.MethodDelete, base+"/api/faults", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("DELETE /api/faults: %v", err)
		}
		resp.Body.Close()
	}
	clear()
	if r, err := send("full@example.com"); err != nil || len(r.Accepted) != 1 {
		t.Errorf("after DELETE: %v %+v", err, r)
	}
	// 421 after a rate: two MAILs a minute, the third refused.
	post(`{"step":"MAIL","code":421,"enhanced_code":"4.7.0","message":"rate exceeded","rate":2,"per":"1m"}`, 204)
	for i := range 2 {
		if _, err := send("bob@example.com"); err != nil {
			t.Fatalf("send %d within the rate: %v", i+1, err)
		}
	}
	if _, err := send("bob@example.com"); err == nil || !strings.Contains(err.Error(), "421 4.7.0 rate exceeded") {
		t.Errorf("send beyond the rate: %v, want the 421", err)
	}
	clear()
	// A drop after the content, once the next message is in: delivered,
	// and the client told its outcome is unknown.
	post(`{"step":"AFTERDATA","drop":true,"after":1,"delay":"100ms"}`, 204)
	before := len(srvMessages(t, base))
	if _, err := send("bob@example.com"); err != nil {
		t.Fatalf("send before After: %v", err)
	}
	if _, err := send("carol@example.com"); !errors.Is(err, smtp.ErrDeliveryUnknown) {
		t.Errorf("send at the drop: %v, want ErrDeliveryUnknown", err)
	}
	if got := srvMessages(t, base); len(got) != before+2 || got[len(got)-1].To[0] != "carol@example.com" {
		t.Errorf("messages after the drop: %d, want %d, the last to carol", len(got), before+2)
	}
	post(`{"step":"MAIL","code":250}`, 400)
	post(`{"step":"MAIL","delay":"soon"}`, 400)
	post(`{"step":"MAIL","drop":true,"rate":3}`, 400)
	post(`{"step":"MAIL","delay":"11m"}`, 400)
	post(`{"step":"MAIL","code":451,"enhanced_code":"x"}`, 400)
	post(`{"step":"MAIL","code":451,"message":"a\r\nb"}`, 400)
	post(`{"nonsense":1}`, 400)
}

// srvMessages is GET /api/messages.
func srvMessages(t *testing.T, base string) []struct{ To []string } {
	t.Helper()
	var msgs []struct{ To []string }
	getJSON(t, base+"/api/messages", 200, &msgs)
	return msgs
}

func TestServeUsage(t *testing.T) {
	t.Parallel()
	if code, _, _ := runCLI(t, "serve", "--tls", "ssl3"); code != exitUsage {
		t.Errorf("--tls ssl3: exit %d", code)
	}
	if code, _, _ := runCLI(t, "serve", "--user", "nopass"); code != exitUsage {
		t.Errorf("--user nopass: exit %d", code)
	}
	if code, _, stderr := runCLI(t, "serve", "--disable", "chunking,tls"); code != exitUsage || !strings.Contains(stderr, `"tls"`) {
		t.Errorf("--disable tls: exit %d, %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "serve", "--listen", "256.0.0.1:1"); code != exitUnavail {
		t.Errorf("a bad --listen: exit %d", code)
	}
}

// TestMain runs the command itself when the test binary is started as
// mailwire (MAILWIRE_TEST_AS_MAIN=1): a test can then signal a real process.
func TestMain(m *testing.M) {
	if os.Getenv("MAILWIRE_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// SIGTERM (docker stop, a test harness) stops serve cleanly: exit 0.
func TestServeStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "serve", "--listen", "127.0.0.1:0", "--http", "")
	cmd.Env = append(os.Environ(), "MAILWIRE_TEST_AS_MAIN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "pin ") {
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil || !strings.Contains(stderr.String(), "mailwire serve: stopping") {
		t.Errorf("after SIGTERM: %v, stderr %q", err, stderr.String())
	}
}

// The page and its files: served with a policy that runs only its own
// script, and with no reference to anything elsewhere.
func TestServeWebPage(t *testing.T) {
	t.Parallel()
	_, base := startServe(t, "--tls", "none")
	for path, wantType := range map[string]string{"/": "text/html", "/app.js": "text/javascript", "/app.css": "text/css"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), wantType) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: policy %q", path, csp)
		}
		if strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") || strings.Contains(string(body), "innerHTML") {
			t.Errorf("GET %s: an external reference or innerHTML in the page", path)
		}
	}
	resp, err := http.Get(base + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /nothing: %d, want 404", resp.StatusCode)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// readEvents reads server-sent events from r into a channel.
func readEvents(r io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[len("data: "):]
			}
		}
	}()
	return ch
}

// /api/events: a reset and the list, then each message as it arrives, a
// reset when they are deleted, and the ones after.
func TestServeEvents(t *testing.T) {
	t.Parallel()
	smtpAddr, base := startServe(t, "--tls", "none")
	send := func(subject string) {
		t.Helper()
		_, err := smtp.SendMail(context.Background(), smtpAddr, &smtp.Options{Security: smtp.Plaintext},
			&smtp.Envelope{From: "a@example.com", To: []string{"b@example.com"}}, strings.NewReader("Subject: "+subject+"\r\n\r\nhi\r\n"))
		if err != nil {
			t.Fatal(err)
		}
	}
	send("before")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := readEvents(resp.Body)
	next := func(wantName, wantSubject string) {
		t.Helper()
		ev, ok := <-events
		if !ok {
			t.Fatalf("stream ended, want %s %s", wantName, wantSubject)
		}
		var m struct{ Subject string }
		json.Unmarshal([]byte(ev.data), &m)
		if ev.name != wantName || m.Subject != wantSubject {
			t.Fatalf("event %s %s, want %s %q", ev.name, ev.data, wantName, wantSubject)
		}
	}
	next("reset", "")
	next("message", "before")
	send("live")
	next("message", "live")
	req, _ = http.NewRequest(http.MethodDelete, base+"/api/messages", nil)
	if dr, err := http.DefaultClient.Do(req); err != nil || dr.StatusCode != 204 {
		t.Fatalf("DELETE: %v", err)
	}
	next("reset", "")
	send("after")
	next("message", "after")
}

// The transcript comes explained: each line with explain's notes, and its
// summary.
func TestServeTranscriptExplained(t *testing.T) {
	t.Parallel()
	smtpAddr, base := startServe(t, "--tls", "none")
	if _, err := smtp.SendMail(context.Background(), smtpAddr, &smtp.Options{Security: smtp.Plaintext},
		&smtp.Envelope{From: "a@example.com", To: []string{"b@example.com"}}, strings.NewReader("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	var tr struct {
		Lines     []string
		Explained []struct {
			Line  string
			Notes []string
		}
		Summary string
	}
	getJSON(t, base+"/api/messages/Q0001/transcript", 200, &tr)
	notes := map[string][]string{}
	for _, e := range tr.Explained {
		notes[e.Line] = e.Notes
	}
	if n := notes["C: RCPT TO:<b@example.com>"]; len(n) == 0 || !strings.Contains(n[0], "<b@example.com>") {
		t.Errorf("RCPT's notes %q", n)
	}
	if !strings.Contains(tr.Summary, "End of data:  completed: the message was accepted") || !strings.Contains(tr.Summary, "WARNING: no STARTTLS offered") {
		t.Errorf("summary %q", tr.Summary)
	}
	if len(tr.Explained) != len(tr.Lines) {
		t.Errorf("%d explained lines for %d lines", len(tr.Explained), len(tr.Lines))
	}
}

// --disable leaves extensions out of EHLO; --max-size sets SIZE, and a
// larger message is refused.
func TestServeExtensionsSwitchable(t *testing.T) {
	t.Parallel()
	smtpAddr, _ := startServe(t, "--tls", "none", "--disable", "chunking, PIPELINING,dsn", "--max-size", "1000")
	c, err := smtp.Dial(context.Background(), smtpAddr, &smtp.Options{Security: smtp.Plaintext})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, off := range []string{"CHUNKING", "PIPELINING", "DSN"} {
		if ok, _ := c.Extension(off); ok {
			t.Errorf("EHLO offers %s after --disable", off)
		}
	}
	if ok, _ := c.Extension("8BITMIME"); !ok {
		t.Error("EHLO lacks 8BITMIME, which was not disabled")
	}
	if _, size := c.Extension("SIZE"); size != "1000" {
		t.Errorf("SIZE %q, want 1000", size)
	}
	_, err = c.Send(context.Background(), &smtp.Envelope{From: "a@example.com", To: []string{"b@example.com"}},
		strings.NewReader("Subject: big\r\n\r\n"+strings.Repeat("x", 2000)+"\r\n"))
	if err == nil || !strings.Contains(err.Error(), "1000") {
		t.Errorf("a 2 KB message to SIZE 1000: %v, want it refused", err)
	}
}
