package smtptest

import (
	"fmt"
	"strings"
	"testing"
)

// TestGoSMTPWays pins down the behaviours of go-smtp that the package
// documentation lists, so that an upgrade that changes them is noticed.
func TestGoSMTPWays(t *testing.T) {
	t.Parallel()
	tx := []string{"EHLO me", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA"}
	for _, tc := range []struct {
		name    string
		script  []string // "+..." sends raw bytes and reads one reply
		want    []string // replies to the script's lines, code and text
		closed  bool
		content string // Raw of the one message recorded, if any
	}{
		{
			name:    "bare LF in content",
			script:  append(tx, "+a\n.\nb\r\n.x\n..y\r\nbare\rcr\r\n.\r\n"),
			want:    []string{"250", "250", "250", "354", "250 2.0.0 OK: queued as Q0001"},
			content: "a\n.\nb\r\nx\n..y\r\nbare\rcr\r\n",
		},
		{
			name:   "content line too long",
			script: append(tx, "+"+strings.Repeat("x", 2100)+"\r\n.\r\n", "+"),
			want: []string{"250", "250", "250", "354",
				"554 5.0.0 Error: transaction failed: smtp: too long a line in input stream",
				"500 5.4.0 Too long line, closing connection"},
			closed: true,
		},
		{
			name:   "command line too long",
			script: []string{"EHLO me", "NOOP " + strings.Repeat("x", 2100)},
			want:   []string{"250", "500 5.4.0 Too long line, closing connection"},
			closed: true,
		},
		{
			name:   "bad sequence is 502",
			script: []string{"EHLO me", "RCPT TO:<b@example.com>", "DATA", "MAIL FROM:<a@example.com>", "MAIL FROM:<a@example.com>"},
			want:   []string{"250", "502 5.5.1 Missing MAIL FROM command.", "502 5.5.1 Missing RCPT TO command.", "250", "503 5.5.1 Nested MAIL command"},
		},
		{
			name:   "unknown MAIL parameter is 500",
			script: []string{"EHLO me", "MAIL FROM:<a@example.com> FOO=1", "MAIL FROM: <a@example.com>"},
			want:   []string{"250", "500 5.5.4 Unknown MAIL FROM argument", "250"},
		},
		{
			name:   "fourth syntax error closes",
			script: []string{"EHLO me", "XYZW", "XY", "XYZW", "XYZW", "+"},
			want: []string{"250", "500 5.5.2 Syntax errors, XYZW command unrecognized", "501 5.5.2 Bad command", "500", "500",
				"500 5.5.1 Too many errors. Quiting now"},
			closed: true,
		},
		{
			name:   "AUTH oddities",
			script: []string{"EHLO me", "AUTH", "AUTH PLAIN !!!", "VRFY x"},
			want:   []string{"250", "502 5.5.4 Missing parameter", "454 4.7.0 Invalid base64 data", "252 2.5.0 Cannot VRFY user, but will accept message"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, &Config{Users: users, AllowInsecureAuth: true})
			c, _ := dialRaw(t, s)
			for i, line := range tc.script {
				var r reply
				if raw, ok := strings.CutPrefix(line, "+"); ok {
					c.send(raw)
					r = c.read()
				} else {
					r = c.cmd(line)
				}
				got := fmt.Sprintf("%d %s", r.code, r.text)
				if want := tc.want[i]; got != want && !(len(want) == 3 && strings.HasPrefix(got, want+" ")) {
					t.Errorf("%.40q: got %q, want %q", line, got, want)
				}
			}
			if tc.closed {
				c.waitClosed()
			}
			msgs := s.Messages()
			if tc.content == "" && len(msgs) != 0 {
				t.Errorf("%d messages recorded", len(msgs))
			}
			if tc.content != "" && (len(msgs) != 1 || string(msgs[0].Raw) != tc.content) {
				t.Errorf("messages %+v, want content %q", msgs, tc.content)
			}
		})
	}
}
