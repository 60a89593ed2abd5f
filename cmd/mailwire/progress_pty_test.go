//go:build linux

package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailwire/smtp/smtptest"
)

// On a terminal, send shows the progress of a large message on stderr.
func TestSendProgressOnTerminal(t *testing.T) {
	t.Parallel()
	master, slave := openPTY(t)
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			mu.Lock()
			screen.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	srv, ca := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	big := "Subject: big\n\n" + strings.Repeat(strings.Repeat("x", 99)+"\n", 30000)
	args := []string{srv.Addr(), "--cafile", ca, "--from", "a@example.com", "--to", "b@example.com", "--message", writeFile(t, "big.eml", big)}
	var stdout bytes.Buffer
	if code := runSend(context.Background(), args, strings.NewReader(""), &stdout, slave); code != exitOK {
		t.Fatalf("send exited %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		text := screen.String()
		mu.Unlock()
		if strings.Contains(text, "(100%)") {
			if !strings.HasPrefix(text, "\rsending the message: ") || !strings.Contains(text, "of 2.9 MiB (100%), ") {
				t.Errorf("the terminal shows %q", text)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no progress on the terminal: %q", screen.String())
}
