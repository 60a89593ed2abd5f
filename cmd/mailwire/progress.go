package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mailwire/smtp/internal/explain"
)

// progressThreshold is the size past which send shows its progress.
const progressThreshold = 1 << 20

// progressEvery is the shortest time between two updates of the line.
const progressEvery = 200 * time.Millisecond

// progressReader counts the bytes Send reads and, when out is set, shows
// the count on a terminal for a message over progressThreshold, in one
// line that each update rewrites (\r). Over a file it also tells Send the
// size (Size, Len) and lets it look ahead (ReadAt), so that SIZE= is
// declared and checked; over a stream it tells nothing.
type progressReader struct {
	r     io.Reader
	sr    *io.SectionReader // nil for a stream
	size  int64             // -1 when unknown
	n     int64
	out   io.Writer // nil: no display
	now   func() time.Time
	start time.Time // the first read
	last  time.Time // the last update shown
	shown bool      // a line is on screen, not yet ended
}

// newProgressReader wraps r, of size bytes (-1: unknown); out is where the
// progress goes, nil for nowhere.
func newProgressReader(r io.Reader, size int64, out io.Writer) io.Reader {
	p := &progressReader{r: r, size: size, out: out, now: time.Now}
	if sr, ok := r.(*io.SectionReader); ok {
		p.sr = sr
		return &sizedProgressReader{p}
	}
	return p
}

// progressOut is where send's progress goes: stderr when it is a
// terminal, nowhere otherwise (a log file or a pipe wants no \r lines).
func progressOut(stderr io.Writer) io.Writer {
	if _, ok := terminalFd(stderr); ok {
		return stderr
	}
	return nil
}

// Read counts and, now and then, shows the count.
func (p *progressReader) Read(b []byte) (int, error) {
	if p.start.IsZero() {
		p.start = p.now()
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.out != nil {
		p.show(err != nil || p.size > 0 && p.n >= p.size)
	}
	return n, err
}

// show rewrites the progress line, at most every progressEvery but for
// the final one.
func (p *progressReader) show(final bool) {
	if p.n <= progressThreshold && p.size <= progressThreshold {
		return
	}
	now := p.now()
	if !final && now.Sub(p.last) < progressEvery {
		return
	}
	p.last = now
	fmt.Fprintf(p.out, "\r%s\x1b[K", renderProgress(p.n, p.size, now.Sub(p.start)))
	p.shown = true
	if final {
		p.finish()
	}
}

// finish ends the progress line, if one is shown, so that what follows
// starts on a line of its own; send calls it however Send ended.
func (p *progressReader) finish() {
	if p.shown {
		fmt.Fprintln(p.out)
	}
	p.out, p.shown = nil, false
}

// renderProgress is the progress line: bytes sent (of how many), the rate
// and the time left, e.g. "sending the message: 3 MiB of 12 MiB (25%),
// 1.5 MiB/s, 6s left". total is -1 when unknown.
func renderProgress(sent, total int64, elapsed time.Duration) string {
	var b strings.Builder
	b.WriteString("sending the message: " + explain.Bytes(sent))
	if total > 0 {
		fmt.Fprintf(&b, " of %s (%d%%)", explain.Bytes(total), sent*100/total)
	}
	if elapsed <= 0 || sent == 0 {
		return b.String()
	}
	rate := float64(sent) / elapsed.Seconds()
	fmt.Fprintf(&b, ", %s/s", explain.Bytes(int64(rate)))
	switch {
	case total > 0 && sent >= total:
		fmt.Fprintf(&b, ", done in %s", roughly(elapsed))
	case total > 0:
		fmt.Fprintf(&b, ", %s left", roughly(time.Duration(float64(total-sent)/rate*float64(time.Second))))
	}
	return b.String()
}

// roughly is d to the second, "under 1s" below that.
func roughly(d time.Duration) string {
	if d < time.Second {
		return "under 1s"
	}
	return d.Round(time.Second).String()
}

// sizedProgressReader is a progressReader over a file.
type sizedProgressReader struct{ *progressReader }

// Size is the whole message's size.
func (s *sizedProgressReader) Size() int64 { return s.size }

// Len is what is left to read.
func (s *sizedProgressReader) Len() int { return int(s.size - s.n) }

// ReadAt lets Send look ahead without moving the count.
func (s *sizedProgressReader) ReadAt(b []byte, off int64) (int, error) {
	return s.sr.ReadAt(b, off)
}
