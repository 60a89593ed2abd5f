//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the test types into master, the shell
// reads and writes slave as its terminal. (What github.com/creack/pty does
// on Linux, in a few lines, to keep go.mod small.)
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlocking the pty: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening the pty's slave: %v", err)
	}
	unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 200})
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// screen gathers what the shell writes to the terminal.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) waitFor(t *testing.T, want string, from int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		text := s.buf.String()
		s.mu.Unlock()
		if i := strings.Index(text[from:], want); i >= 0 {
			return from + i + len(want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Fatalf("the terminal never showed %q; it shows:\n%s", want, s.buf.String()[from:])
	return 0
}

func TestShellPTY(t *testing.T) { // not parallel: Setenv
	srv, args := shellServer(t, nil)
	msgFile := writeFile(t, "typed.eml", "From: alice@example.com\nTo: bob@example.com\nSubject: from the editor\n\nhi\n")
	t.Setenv("VISUAL", "")
	t.Setenv("EDITOR", "cp "+msgFile) // "cp FILE TMP" writes the message into the file to edit
	master, slave := openPTY(t)
	var scr screen
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			scr.mu.Lock()
			scr.buf.Write(b[:n])
			scr.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	done := make(chan int)
	var stderr bytes.Buffer
	go func() { done <- runShell(context.Background(), args, slave, slave, &stderr) }()
	typeLine := func(s string) { master.Write([]byte(s + "\r")) }

	at := scr.waitFor(t, "smtp> ", 0)
	typeLine("NOOP")
	at = scr.waitFor(t, "< 250 2.0.0 I have successfully done nothing", at)
	// History: Up brings NOOP back, Enter sends it again.
	at = scr.waitFor(t, "smtp> ", at)
	typeLine("\x1b[A")
	at = scr.waitFor(t, "< 250 2.0.0 I have successfully done nothing", at)
	// Line editing: type "NOPE", erase two characters, finish as "NOOP".
	typeLine("NOP\x7f\x7fOOP")
	at = scr.waitFor(t, "< 250 2.0.0 I have successfully done nothing", at)

	typeLine("auth plain alice@example.com")
	at = scr.waitFor(t, "Password for alice@example.com: ", at)
	pwAt := at
	typeLine(testPassword)
	at = scr.waitFor(t, "< 235 ", at)

	typeLine("send") // $EDITOR writes the message, then the envelope is asked
	at = scr.waitFor(t, "MAIL FROM [alice@example.com]: ", at)
	typeLine("")
	at = scr.waitFor(t, "RCPT TO (comma-separated) [bob@example.com]: ", at)
	typeLine("")
	at = scr.waitFor(t, "* Sent to bob@example.com: 250 2.0.0 OK: queued as Q0001", at)

	typeLine("quit")
	scr.waitFor(t, "< 221 ", at)
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("shell exited %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the shell did not end after quit")
	}
	scr.mu.Lock()
	text := scr.buf.String()
	scr.mu.Unlock()
	if strings.Contains(text[pwAt:], testPassword) {
		t.Errorf("the password was echoed:\n%s", text[pwAt:])
	}
	noops := 0
	for _, c := range srv.Commands() {
		if c.Verb == "NOOP" {
			noops++
		}
	}
	msgs := srv.Messages()
	if noops != 3 || len(msgs) != 1 || msgs[0].AuthUser != "alice@example.com" || msgs[0].Header.Get("Subject") != "from the editor" {
		t.Errorf("%d NOOPs, %d messages (want 3 and 1 from the editor by alice)", noops, len(msgs))
	}
}
