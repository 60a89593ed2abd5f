package smtp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fuzz targets for everything a server or a caller hands the client: EHLO
// capabilities, addresses, xtext, SASL challenges, and the explain log's
// lines. FuzzSendSmuggling is in injection_test.go.

// memConn is an in-memory connection for fuzzing: the server's side is a
// fixed byte stream, read as the client asks for it and ending in EOF; what
// the client writes is recorded. It needs no goroutine, so the outcome of
// an input never depends on scheduling, and a client waiting for more than
// the stream holds gets EOF at once rather than a timeout.
type memConn struct {
	mu     sync.Mutex
	r      *bytes.Reader
	wrote  bytes.Buffer
	closed bool
}

func newMemConn(server []byte) *memConn { return &memConn{r: bytes.NewReader(server)} }

func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.r.Read(p)
}

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.wrote.Write(p)
}

func (c *memConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *memConn) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.wrote.Bytes()...)
}

func (c *memConn) LocalAddr() net.Addr                { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr               { return memAddr{} }
func (c *memConn) SetDeadline(t time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }

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

// FuzzCheckAddress checks that an address checkAddress lets through can go
// on the wire as one path: no control character, no angle bracket, within
// the lengths of RFC 5321 section 4.5.3.1; and that the error for one it
// refuses cannot inject lines into a log.
func FuzzCheckAddress(f *testing.F) {
	for _, s := range []string{
		"alice@example.com", "", "postmaster", "a@b", "user@[127.0.0.1]", "\"quoted local\"@example.org",
		"bob@example.com>\r\nRCPT TO:<eve@evil.test", "x\x00y@z", "a@", "@b", "üser@exämple.de",
		strings.Repeat("l", 64) + "@" + strings.Repeat("d", 189), strings.Repeat("l", 65) + "@d",
		"a@" + strings.Repeat("d", 256), strings.Repeat("x", 300), "a\tb@c", "a\x7fb@c", "<a@b>",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, addr string, allowEmpty bool) {
		err := checkAddress("RCPT TO", addr, allowEmpty)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n\x00") {
				t.Fatalf("checkAddress(%q) error %q holds CR, LF or NUL", addr, err)
			}
			return
		}
		if addr == "" {
			if !allowEmpty {
				t.Fatal(`checkAddress("", false) accepted the empty address`)
			}
			return
		}
		for i := 0; i < len(addr); i++ {
			if b := addr[i]; b < 0x20 || b == 0x7f || b == '<' || b == '>' {
				t.Fatalf("checkAddress(%q) accepted byte %#x at %d", addr, b, i)
			}
		}
		if len(addr)+2 > 256 {
			t.Fatalf("checkAddress accepted a path of %d octets", len(addr)+2)
		}
		if at := strings.LastIndexByte(addr, '@'); at >= 0 {
			if at > 64 {
				t.Fatalf("checkAddress(%q) accepted a local part of %d octets", addr, at)
			}
			if d := len(addr) - at - 1; d == 0 || d > 255 {
				t.Fatalf("checkAddress(%q) accepted a domain of %d octets", addr, d)
			}
		}
	})
}

// decodeXtext is RFC 3461's decoding, strict: "+" must be followed by two
// upper-case hex digits.
func decodeXtext(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '+' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) {
			return "", errors.New("bad hexchar at " + strconv.Itoa(i))
		}
		n, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

func isUpperHex(b byte) bool { return '0' <= b && b <= '9' || 'A' <= b && b <= 'F' }

// FuzzXtext checks appendXtext: its output is printable ASCII, '=' never
// appears and '+' only as "+HH", exactly the bytes xtext does not allow
// as they are are encoded, and it decodes back to the input.
func FuzzXtext(f *testing.F) {
	for _, s := range []string{"", "abc", "a+b=c", "id 1", "\x00\r\n\x7f\xff", "ünïcode", "+", "=", "++==", "<QQ314159@host.example>", "rfc822;bob@example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		prefix := []byte("ENVID=")
		out := appendXtext(append([]byte(nil), prefix...), s)
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("appendXtext changed the bytes before it: %q", out)
		}
		x := string(out[len(prefix):])
		for i := 0; i < len(x); i++ {
			c := x[i]
			switch {
			case c <= ' ' || c >= 0x7f:
				t.Fatalf("appendXtext(%q) = %q: byte %#x at %d is not printable ASCII", s, x, c, i)
			case c == '=':
				t.Fatalf("appendXtext(%q) = %q: '=' at %d", s, x, i)
			case c == '+':
				if i+2 >= len(x) || !isUpperHex(x[i+1]) || !isUpperHex(x[i+2]) {
					t.Fatalf("appendXtext(%q) = %q: '+' at %d is not +HH", s, x, i)
				}
				n, _ := strconv.ParseUint(x[i+1:i+3], 16, 8)
				if b := byte(n); b > ' ' && b < 0x7f && b != '+' && b != '=' {
					t.Fatalf("appendXtext(%q) = %q: %q encoded needlessly", s, x, b)
				}
				i += 2
			}
		}
		back, err := decodeXtext(x)
		if err != nil || back != s {
			t.Fatalf("appendXtext(%q) = %q, which decodes to %q, %v", s, x, back, err)
		}
	})
}

// The secrets of FuzzSASLChallenge, distinctive enough not to occur by
// chance.
const (
	fuzzUser     = "fuzzuser"
	fuzzPassword = "Pa55-w0rd-SECRET"
	fuzzToken    = "ya29.TOKEN-SECRET"
)

var saslMechs = []string{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "OAUTHBEARER", "XOAUTH2"}

// saslServerStream is what FuzzSASLChallenge's server sends: greeting and
// EHLO offering mech, then after the AUTH command one reply per piece of
// challenges (split at '\n'): a piece starting with a digit 2 to 5 goes
// out as it is (a final reply, or a malformed or multiline challenge),
// any other as "334 " and its base64.
func saslServerStream(mech string, challenges []byte) []byte {
	var b bytes.Buffer
	b.WriteString("220 fuzz.test ESMTP\r\n250-fuzz.test\r\n250-PIPELINING\r\n250 AUTH " + mech + "\r\n")
	for _, piece := range bytes.Split(challenges, []byte("\n")) {
		if len(piece) > 0 && '2' <= piece[0] && piece[0] <= '5' {
			b.Write(piece)
		} else {
			b.WriteString("334 ")
			b.WriteString(base64.StdEncoding.EncodeToString(piece))
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// FuzzSASLChallenge runs the AUTH exchange of every mechanism against
// random challenges and replies: no panic, an error or a success, never a
// secret in the error nor in a traced line (unless the server itself sent
// it), and the client's responses traced only as "[redacted]".
func FuzzSASLChallenge(f *testing.F) {
	seeds := []struct {
		mech       uint8
		challenges string
	}{
		{0, "235 2.7.0 Authentication successful"},
		{0, "535 5.7.8 Authentication credentials invalid"},
		{0, "\n235 2.7.0 ok"},
		{1, "Username:\nPassword:\n235 2.7.0 ok"},
		{1, "VXNlcm5hbWU6\nUGFzc3dvcmQ6\n235 ok"},
		{1, "\n\n\n535 no"},
		{2, "<1896.697170952@postoffice.example.net>\n235 ok"},
		{3, "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096\n235 ok"},
		{4, "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096\nv=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=\n235 ok"},
		{4, "r=x,s=c2FsdA==,i=1\n235 ok"},
		{5, "{\"status\":\"invalid_token\",\"scope\":\"mail\"}\n535 5.7.8 no"},
		{5, "235 ok"},
		{6, "{\"status\":\"401\",\"schemes\":\"Bearer\",\"scope\":\"https://mail.google.com/\"}\n535 5.7.8 Username and Password not accepted"},
		{6, "334-abc\r\n334 def"},
		{0, "334 ====\n501 5.5.2 cannot decode"},
		{2, "334 not base64!\n501 bad"},
		{3, "e=other-error\n535 no"},
		{0, "421 4.7.0 too many errors"},
		{3, "235 ok before the proof"},
	}
	for _, s := range seeds {
		f.Add(s.mech, []byte(s.challenges))
	}
	f.Fuzz(func(t *testing.T, mechIndex uint8, challenges []byte) {
		mech := saslMechs[int(mechIndex)%len(saslMechs)]
		var auth Auth = PasswordAuth(fuzzUser, fuzzPassword)
		if strings.Contains(mech, "OAUTH") {
			auth = OAuth2Auth(fuzzUser, fuzzToken)
		}
		stream := saslServerStream(mech, challenges)
		// What the server sent, decoded where it can be: a secret found
		// there may rightly come back in an error.
		seen := string(stream)
		for _, piece := range bytes.Split(challenges, []byte("\n")) {
			if d, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(string(piece), "334 "))); err == nil {
				seen += string(d)
			}
		}
		var sent []string
		conn := newMemConn(stream)
		opts := &Options{
			Security: Plaintext, AllowInsecureAuth: true, Auth: auth, Timeout: time.Second,
			Trace: onLines(func(line string) { sent = append(sent, line) }, nil),
		}
		c, err := NewClient(context.Background(), conn, opts)
		if err == nil {
			c.Close()
		}
		for _, secret := range []string{fuzzPassword, fuzzToken, base64.StdEncoding.EncodeToString([]byte("\x00" + fuzzUser + "\x00" + fuzzPassword))} {
			if strings.Contains(seen, secret) {
				continue
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Fatalf("%s: error holds the secret: %v", mech, err)
			}
			for _, l := range sent {
				if strings.Contains(l, secret) {
					t.Fatalf("%s: traced line %q holds the secret", mech, l)
				}
			}
		}
		afterAuth := false
		for _, l := range sent {
			switch {
			case strings.HasPrefix(l, "AUTH "):
				if l != "AUTH "+mech && l != "AUTH "+mech+" [redacted]" {
					t.Fatalf("traced AUTH line %q", l)
				}
				afterAuth = true
			case afterAuth && l != "[redacted]" && l != "*":
				t.Fatalf("%s: traced response %q, want [redacted] or *", mech, l)
			}
		}
		if !bytes.Contains(conn.written(), []byte("AUTH "+mech)) {
			t.Fatalf("%s: no AUTH command sent: %q", mech, conn.written())
		}
	})
}
