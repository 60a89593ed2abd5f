package main

import (
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// TestSinkExtensions checks what each sink offers before and after
// STARTTLS, and that a message goes through both.
func TestSinkExtensions(t *testing.T) {
	info, stop, err := listenSink()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	roots, err := info.roots()
	if err != nil {
		t.Fatal(err)
	}
	o := dialOptions{roots: roots}
	for _, tc := range []struct {
		addr     string
		chunking bool
	}{{info.Chunking, true}, {info.NoChunking, false}} {
		want := map[string]bool{"PIPELINING": true, "8BITMIME": true, "SIZE": true, "STARTTLS": true, "AUTH": false, "CHUNKING": tc.chunking}
		check := func(c *gosmtp.Client, stage string) {
			for ext, offered := range want {
				if got, _ := c.Extension(ext); got != offered {
					t.Errorf("%s, %s: %s offered = %v, want %v", tc.addr, stage, ext, got, offered)
				}
			}
		}
		c, err := gosmtp.Dial(tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		check(c, "before TLS")
		c.Quit()

		c, err = gosmtp.DialStartTLS(tc.addr, o.tlsConfig())
		if err != nil {
			t.Fatal(err)
		}
		want["STARTTLS"], want["AUTH"] = false, true
		check(c, "after TLS")
		if err := c.Auth(sasl.NewPlainClient("", sinkUser, sinkPass)); err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader("Subject: x\r\n\r\n.dot\r\n")); err != nil {
			t.Fatal(err)
		}
		if err := c.Quit(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDotMessage checks the generator's size and lines.
func TestDotMessage(t *testing.T) {
	m := newDotMessage(1e6)
	data, err := io.ReadAll(m)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != m.size || m.size < 1e6 {
		t.Errorf("read %d bytes, size %d", len(data), m.size)
	}
	_, body, _ := strings.Cut(string(data), "\r\n\r\n")
	for _, l := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n") {
		if !strings.HasPrefix(l, ".") && len(l) != 998 {
			t.Fatalf("line %q neither starts with '.' nor has 998 characters", l)
		}
	}
}
