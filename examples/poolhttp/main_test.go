package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailwire/smtp/examples/internal/progtest"
	"github.com/mailwire/smtp/smtptest"
)

// TestPoolHTTP builds the program, starts it against an smtptest server,
// POSTs to it concurrently, and checks that every message arrived over at
// most -max-conns connections, that bad requests are refused, and that
// SIGINT ends it with every SMTP connection closed by QUIT.
func TestPoolHTTP(t *testing.T) {
	bin := progtest.Build(t, ".")
	srv := smtptest.NewServer(&smtptest.Config{
		TLS:         smtptest.StartTLS,
		Users:       map[string]string{"app@example.com": "app-password"},
		RequireAuth: true,
		ReplyDelay:  10 * time.Millisecond, // so that the requests overlap
		Logf:        t.Logf,
	})
	defer srv.Close()

	const maxConns, requests = 2, 8
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-from", "app@example.com", "-max-conns", fmt.Sprint(maxConns))
	cmd.Env = progtest.Env(
		"SMTP_ADDR="+srv.Addr(),
		"SMTP_USER=app@example.com",
		"SMTP_PASSWORD=app-password",
		"SMTP_CAFILE="+progtest.WriteCA(t, srv),
	)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdoutPipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stdoutPipe)
	}()
	nextLine := func() string {
		t.Helper()
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the program ended its output early; stderr:\n%s", stderr)
			}
			return line
		case <-time.After(time.Minute):
			t.Fatal("no output from the program within a minute")
		}
		return ""
	}

	first := nextLine()
	m := regexp.MustCompile(`^listening on (http://127\.0\.0\.1:\d+), sending through `).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("first line %q, want listening on http://127.0.0.1:port", first)
	}
	sendURL := m[1] + "/send"
	client := &http.Client{Timeout: time.Minute}

	// Concurrent requests, one message each.
	var wg sync.WaitGroup
	for i := 0; i < requests; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			to := fmt.Sprintf("user%d@example.org", i)
			resp, err := client.PostForm(sendURL, url.Values{"to": {to}, "subject": {fmt.Sprintf("message %d", i)}, "text": {"Hello."}})
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var res result
			if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
				t.Errorf("request %d: status %s, JSON: %v", i, resp.Status, err)
				return
			}
			if resp.StatusCode != http.StatusOK || len(res.Accepted) != 1 || res.Accepted[0] != to ||
				!regexp.MustCompile(`^250 OK: queued as Q\d{4}$`).MatchString(res.Reply) {
				t.Errorf("request %d: status %s, %+v; want 200 with %s accepted and the queue id", i, resp.Status, res, to)
			}
		}(i)
	}
	wg.Wait()

	msgs := srv.Messages()
	if len(msgs) != requests {
		t.Fatalf("%d messages arrived, want %d; stderr:\n%s", len(msgs), requests, stderr)
	}
	var got []string
	for _, msg := range msgs {
		if len(msg.To) != 1 {
			t.Errorf("message %s: recipients %q, want one", msg.ID, msg.To)
			continue
		}
		got = append(got, msg.To[0])
		var i int
		fmt.Sscanf(msg.To[0], "user%d@", &i)
		if subject := msg.Header.Get("Subject"); subject != fmt.Sprintf("message %d", i) {
			t.Errorf("message to %s has Subject %q", msg.To[0], subject)
		}
		if msg.From != "app@example.com" || !msg.TLS || msg.AuthUser != "app@example.com" {
			t.Errorf("message %s: from %q, TLS %v, user %q; want app@example.com, over TLS, authenticated", msg.ID, msg.From, msg.TLS, msg.AuthUser)
		}
	}
	sort.Strings(got)
	var want []string
	for i := 0; i < requests; i++ {
		want = append(want, fmt.Sprintf("user%d@example.org", i))
	}
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("recipients %q, want %q", got, want)
	}
	conns := srv.Connections()
	t.Logf("%d messages over %d connections", len(msgs), conns)
	if conns < 1 || conns > maxConns {
		t.Errorf("the server saw %d connections, want 1 to %d (-max-conns)", conns, maxConns)
	}

	// Bad requests are refused, and send nothing.
	for _, c := range []struct {
		name   string
		method string
		form   url.Values
		status int
	}{
		{"GET", http.MethodGet, nil, http.StatusMethodNotAllowed},
		{"no recipient", http.MethodPost, url.Values{"subject": {"hi"}}, http.StatusBadRequest},
		{"display name", http.MethodPost, url.Values{"to": {"Bob <bob@example.org>"}}, http.StatusBadRequest},
		{"header injection", http.MethodPost, url.Values{"to": {"bob@example.org"}, "subject": {"hi\r\nBcc: eve@example.net"}}, http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(c.method, sendURL, strings.NewReader(c.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !bytes.Contains(body, []byte(`"error":`)) {
			t.Errorf("%s: %s %s, want %d and an error", c.name, resp.Status, body, c.status)
		}
	}
	if n := len(srv.Messages()); n != requests {
		t.Errorf("bad requests sent %d messages", n-requests)
	}

	// Graceful shutdown: the pool closes every connection with QUIT.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if last := nextLine(); last != "stopped: requests finished, SMTP pool closed" {
		t.Errorf("last line %q", last)
	}
	waited := make(chan error, 1)
	go func() {
		for range lines {
		}
		waited <- cmd.Wait()
	}()
	select {
	case err := <-waited:
		close(exited)
		if err != nil {
			t.Errorf("the program ended with %v; stderr:\n%s", err, stderr)
		}
	case <-time.After(time.Minute):
		t.Fatal("the program did not end within a minute of SIGINT")
	}
	quits := 0
	for _, c := range srv.Commands() {
		if c.Verb == "QUIT" {
			quits++
		}
	}
	if quits != conns || srv.Connections() != conns {
		t.Errorf("%d QUIT for %d connections (%d now); want every connection closed with QUIT", quits, conns, srv.Connections())
	}
}

// syncBuffer is the program's stderr, read by the test while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
