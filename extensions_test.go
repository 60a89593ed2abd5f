package smtp

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// realEHLOReplies are EHLO replies as servers send them: smtptest (go-smtp)
// in its default configuration and with TLS, a Postfix like the golden
// logs', and some odd but legal forms.
var realEHLOReplies = []string{
	"250-smtptest.local Hello localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-SMTPUTF8\r\n250-DSN\r\n250 SIZE 10485760\r\n",
	"250-smtptest.local Hello localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-STARTTLS\r\n250 SIZE 10485760\r\n",
	"250-smtptest.local Hello localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250-REQUIRETLS\r\n250 SIZE 10485760\r\n",
	"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n",
	"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n250-VRFY\r\n250-ETRN\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
	"250-mx.google.com at your service\r\n250-SIZE 157286400\r\n250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n",
	"250-sink\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n",
	"250-peer.test greets localhost\r\n250-size\r\n250-  auth   plain  \r\n250-SIZE -5\r\n250 SIZE 99999999999999999999\r\n",
	"250 only.greeting\r\n",
	"250-x\n250-\tSTARTTLS\n250-LIMITS RCPTMAX=100 MAILMAX=1000\n250 XCLIENT NAME ADDR\n",
}

// FuzzEHLO parses random EHLO replies, as the reply reader delivers them
// and as raw messages: no panic, every keyword non-empty, upper case and
// free of spaces and line feeds, and a SIZE that is never negative and is the announced
// one when that is a number.
func FuzzEHLO(f *testing.F) {
	for _, s := range realEHLOReplies {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(message string) {
			ext := parseEHLO(message)
			for k, v := range ext {
				// A keyword may hold a CR or a tab from a lax server's
				// line (harmless: the table is only looked up), but never
				// the space or LF that delimit it.
				if k == "" || strings.ContainsAny(k, " \n") {
					t.Fatalf("parseEHLO(%q): keyword %q", message, k)
				}
				if k != strings.ToUpper(k) {
					t.Fatalf("parseEHLO(%q): keyword %q is not upper case", message, k)
				}
				if v != strings.TrimSpace(v) {
					t.Fatalf("parseEHLO(%q): parameters %q keep surrounding space", message, v)
				}
				c := &Client{ext: ext}
				if isASCII(k) {
					if ok, params := c.Extension(strings.ToLower(k)); !ok || params != v {
						t.Fatalf("Extension(%q) = %v, %q; want true, %q", strings.ToLower(k), ok, params, v)
					}
				}
			}
			c := &Client{ext: ext}
			max := c.MaxMessageSize()
			if max < 0 {
				t.Fatalf("MaxMessageSize() = %d for %q", max, message)
			}
			if n, err := strconv.ParseInt(ext["SIZE"], 10, 64); err == nil && n >= 0 && max != n {
				t.Fatalf("MaxMessageSize() = %d, want %d for SIZE %q", max, n, ext["SIZE"])
			}
		}
		check(string(data))
		rr := replyReader{r: bufio.NewReaderSize(bytes.NewReader(data), 16)}
		if rep, err := rr.read(true); err == nil {
			check(rep.Message)
		}
	})
}
