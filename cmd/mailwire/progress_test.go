package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mailwire/smtp/smtptest"
)

func TestRenderProgress(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, tt := range []struct {
		sent, total int64
		elapsed     time.Duration
		want        string
	}{
		{3 * mib, 12 * mib, 2 * time.Second, "sending the message: 3 MiB of 12 MiB (25%), 1.5 MiB/s, 6s left"},
		{12 * mib, 12 * mib, 8 * time.Second, "sending the message: 12 MiB of 12 MiB (100%), 1.5 MiB/s, done in 8s"},
		{6 * mib, 12 * mib, 100 * time.Second, "sending the message: 6 MiB of 12 MiB (50%), 61.4 KiB/s, 1m40s left"},
		{2 * mib, -1, 4 * time.Second, "sending the message: 2 MiB, 512 KiB/s"}, // standard input: no size
		{0, 12 * mib, 0, "sending the message: 0 bytes of 12 MiB (0%)"},         // no rate yet
		{11 * mib, 12 * mib, time.Second, "sending the message: 11 MiB of 12 MiB (91%), 11 MiB/s, under 1s left"},
	} {
		if got := renderProgress(tt.sent, tt.total, tt.elapsed); got != tt.want {
			t.Errorf("renderProgress(%d, %d, %v) = %q, want %q", tt.sent, tt.total, tt.elapsed, got, tt.want)
		}
	}
}

// The progress reader counts what Send reads, tells Send the size, and
// rewrites one line in place, ended once the message is read.
func TestProgressReader(t *testing.T) {
	t.Parallel()
	var shown bytes.Buffer
	size := int64(3 << 20)
	r := newProgressReader(io.NewSectionReader(bytes.NewReader(make([]byte, size)), 0, size), size, &shown)
	sized := r.(*sizedProgressReader)
	clock := time.Unix(0, 0)
	sized.now = func() time.Time { clock = clock.Add(300 * time.Millisecond); return clock } // more than progressEvery
	if sized.Size() != size || sized.Len() != int(size) {
		t.Errorf("Size %d, Len %d before reading", sized.Size(), sized.Len())
	}
	buf := make([]byte, 512<<10)
	for range 6 {
		if n, err := r.Read(buf); n != len(buf) || err != nil {
			t.Fatalf("read %d, %v", n, err)
		}
	}
	out := shown.String()
	if sized.Len() != 0 || strings.Count(out, "\r") != 6 || strings.Count(out, "\n") != 1 {
		t.Errorf("Len %d after reading; progress shown %q: want 6 updates on one line, ended once", sized.Len(), out)
	}
	if !strings.HasPrefix(out, "\rsending the message: 512 KiB of 3 MiB (16%), 1.7 MiB/s, 2s left\x1b[K\r") ||
		!strings.HasSuffix(out, "\rsending the message: 3 MiB of 3 MiB (100%), 1.7 MiB/s, done in 2s\x1b[K\n") {
		t.Errorf("progress shown %q", out)
	}
	sized.finish() // send calls it again: no second newline
	if shown.String() != out {
		t.Errorf("finish wrote %q more", strings.TrimPrefix(shown.String(), out))
	}

	// A stream of unknown size shows once past 1 MiB, then at most every
	// progressEvery, then at its end.
	shown.Reset()
	stream := newProgressReader(bytes.NewReader(make([]byte, size)), -1, &shown).(*progressReader)
	stream.now = func() time.Time { return time.Unix(1, 0) } // no time passes
	if n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{stream}, buf); n != size || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
	if got := shown.String(); got != "\rsending the message: 1.5 MiB\x1b[K\rsending the message: 3 MiB\x1b[K\n" {
		t.Errorf("progress of a stream: %q", got)
	}

	for _, n := range []int{1000, progressThreshold} { // 1 MiB is not over 1 MiB
		shown.Reset()
		io.Copy(io.Discard, newProgressReader(bytes.NewReader(make([]byte, n)), -1, &shown))
		if shown.Len() != 0 {
			t.Errorf("progress shown for a message of %d bytes: %q", n, shown.String())
		}
	}
}

// Standard error that is no terminal (a file, a pipe, a buffer here) gets
// no progress line, even for a large message.
func TestSendNoProgressWhenNotTerminal(t *testing.T) {
	t.Parallel()
	srv, ca := newServer(t, &smtptest.Config{TLS: smtptest.StartTLS})
	big := "Subject: big\n\n" + strings.Repeat(strings.Repeat("x", 99)+"\n", 30000) // 3 MB
	args := []string{srv.Addr(), "--cafile", ca, "--from", "a@example.com", "--to", "b@example.com", "--message", writeFile(t, "big.eml", big)}
	code, _, stderr := runWith(t, runSend, "", args...)
	if code != exitOK || stderr != "" {
		t.Errorf("send: exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || len(msgs[0].Raw) < len(big) {
		t.Errorf("the message did not arrive whole")
	}
	if progressOut(&bytes.Buffer{}) != nil {
		t.Error("progressOut of a buffer is not nil")
	}
}
