package browsertest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/mailwire/smtp"
)

// chromiumPath finds the browser: $MAILWIRE_CHROMIUM, else chromium (or
// Google's names for it) on PATH. Without one the test skips, saying so,
// unless MAILWIRE_REQUIRE_BROWSER=1 (the test script) makes it fail.
func chromiumPath(t *testing.T) string {
	if p := os.Getenv("MAILWIRE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("MAILWIRE_REQUIRE_BROWSER") == "1" {
		t.Fatal("no chromium on PATH (apt-get install chromium), and MAILWIRE_REQUIRE_BROWSER=1")
	}
	t.Skip("no chromium on PATH: apt-get install chromium (scripts/test.sh does)")
	return ""
}

// startServe builds the mailwire command and runs `mailwire serve` (with
// STARTTLS) on free ports until the test ends; it returns the SMTP
// address, the page's URL and the file of the CA that signed the server's
// certificate.
func startServe(t *testing.T) (smtpAddr, pageURL string, caFile string) {
	t.Helper()
	dir := t.TempDir()
	bin, caFile := filepath.Join(dir, "mailwire"), filepath.Join(dir, "ca.pem")
	build := exec.Command("go", "build", "-o", bin, "./cmd/mailwire")
	build.Dir = ".." // the library's module, with its own go.sum
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build mailwire: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--tls", "starttls", "--ca-out", caFile)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "smtp":
			smtpAddr, _, _ = strings.Cut(rest, " ")
		case "http":
			pageURL = "http://" + rest + "/"
		}
		if smtpAddr != "" && pageURL != "" {
			return smtpAddr, pageURL, caFile
		}
	}
	t.Fatal("mailwire serve printed no addresses")
	return
}

// browser starts headless chromium and gathers what its pages throw or
// log as an error (a script error, a blocked resource, a policy
// violation).
func browser(t *testing.T) (context.Context, func() []string) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // as root in a container, chromium's sandbox cannot start
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			problems = append(problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, d.Text))
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				problems = append(problems, fmt.Sprintf("log: %s: %s", ev.Entry.URL, ev.Entry.Text))
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, fmt.Sprintf("console.%s: %v", ev.Type, ev.Args))
			}
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), problems...)
	}
}

// send sends a message over STARTTLS, trusting the server's CA.
func send(t *testing.T, smtpAddr, caFile, subject string) {
	t.Helper()
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no certificate in %s", caFile)
	}
	_, err = smtp.SendMail(context.Background(), smtpAddr, &smtp.Options{TLSConfig: &tls.Config{RootCAs: roots}},
		&smtp.Envelope{From: "ann@example.com", To: []string{"bob@example.com"}},
		strings.NewReader("From: ann@example.com\r\nTo: bob@example.com\r\nSubject: "+subject+"\r\n\r\nHello Bob.\r\n"))
	if err != nil {
		t.Fatal(err)
	}
}

// page drives one tab: each helper fails the test with what it was doing.
type page struct {
	t   *testing.T
	ctx context.Context
}

func (p page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// text is the text of the first element that matches a CSS selector, once
// it is there.
func (p page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("the text of %s: %v", sel, err)
	}
	return s
}

func (p page) eval(expr string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// The page loads empty, shows a message as it arrives without a reload
// (a value set in the page at load is still there), shows a subject with
// markup in it as text, opens the message and its transcript with
// explain's notes and summary, follows a second arrival, and empties on
// Delete all. No script error or policy violation on the way.
func TestServePageLive(t *testing.T) {
	smtpAddr, pageURL, caFile := startServe(t)
	ctx, problems := browser(t)
	p := page{t, ctx}
	p.do("load the page", chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.CSS("#status.up")))
	p.eval(`window.loadedOnce = "the first load"`)
	if c := p.text("#count"); c != "0 messages" {
		t.Errorf("count %q before any message", c)
	}

	const subject = `Hello <b>Bob</b> & <img src=x onerror=alert(1)>`
	send(t, smtpAddr, caFile, subject)
	row := `#messages tbody tr[data-id="Q0001"]`
	p.do("wait for the message", chromedp.WaitVisible(chromedp.CSS(row)))
	if m := p.eval(`window.loadedOnce`); m != "the first load" {
		t.Errorf("the page was reloaded (marker %q)", m)
	}
	if got := p.text(row + " td:nth-child(4)"); got != subject {
		t.Errorf("subject shown as %q, want the text %q", got, subject)
	}
	if n := p.eval(`String(document.querySelectorAll("#messages b, #messages img").length)`); n != "0" {
		t.Errorf("%s elements made of the subject's markup, want none", n)
	}
	if c := p.text("#count"); c != "1 message" {
		t.Errorf("count %q after one message", c)
	}

	p.do("open the message", chromedp.Click(chromedp.CSS(row)), chromedp.WaitVisible(chromedp.CSS("#pane-message dl")))
	facts := p.text("#pane-message")
	for _, want := range []string{"Hello Bob.", "ann@example.com", "TLS"} {
		if !strings.Contains(facts, want) {
			t.Errorf("the message pane lacks %q:\n%s", want, facts)
		}
	}
	p.do("open its transcript", chromedp.Click(chromedp.CSS("#tab-transcript")), chromedp.WaitVisible(chromedp.CSS("#pane-transcript .note")))
	transcript := p.text("#pane-transcript")
	for _, want := range []string{
		"C: STARTTLS", "C: MAIL FROM:<ann@example.com>",
		"# The server accepts the sender.",                  // explain's note
		"End of data:  completed: the message was accepted", // explain's summary
	} {
		if !strings.Contains(transcript, want) {
			t.Errorf("the transcript pane lacks %q:\n%s", want, transcript)
		}
	}

	send(t, smtpAddr, caFile, "the second")
	p.do("wait for the second message", chromedp.WaitVisible(chromedp.CSS(`#messages tbody tr[data-id="Q0002"]`)))
	if first := p.text("#messages tbody tr:first-child td:nth-child(4)"); first != "the second" {
		t.Errorf("first row %q, want the newest", first)
	}
	p.do("Delete all", chromedp.Click(chromedp.CSS("#delete-all")), chromedp.WaitNotPresent(chromedp.CSS("#messages tbody tr")))
	if c := p.text("#count"); c != "0 messages" {
		t.Errorf("count %q after Delete all", c)
	}
	if p := problems(); len(p) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(p, "\n"))
	}
}
