package smtp

// Bugs found by the fault, bounds, injection and fuzz tests (issue "Hold
// under bad peers, bad input and faults"), each with its reproduction.
// Each test failed on the library as it was when written; all pass since
// the fixes (6fdc930: SASL separators and SCRAM's cost; 9ae1cc8: BDAT
// past its announced size, connect and Options.Timeout; e700d74: connect
// and the context's deadline), and stay as regression tests. A TLS
// handshake cut by Options.Timeout that was not a timeout (fixed in
// ebd15c1) is checked by TestFaultInjection. Run them with
//
//	go test -run 'TestBug' -v .

import (
	"bufio"
	"bytes"
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBugSASLFieldInjection: the user name, password and token a caller
// passes to PasswordAuth and OAuth2Auth go into the SASL messages without
// a check, and those messages use NUL (PLAIN, RFC 4616), ',' and 0x01
// (OAUTHBEARER, RFC 7628; XOAUTH2) as field separators. A user name such
// as "bob@example.com\x01auth=Bearer OTHER" therefore adds a field of its
// own choosing to the XOAUTH2 or OAUTHBEARER response (the server takes the
// first auth= it parses), and NUL in a PLAIN user name or password shifts
// the fields. The issue asks that CR, LF and NUL in every string a caller
// passes be refused before anything is written; the SASL separators are
// the same hazard one layer down. Each case below must either be refused
// before the AUTH command is written, or reach the server as exactly the
// credentials given (with ',' and '=' escaped as =2C and =3D in
// OAUTHBEARER's authzid, RFC 5801).
//
// Cause, before the fix: auth.go builds PLAIN and OAUTHBEARER with
// go-sasl's clients and XOAUTH2 itself (xoauth2Client.Start), none of which
// validates or escapes.
func TestBugSASLFieldInjection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mech         string
		user, secret string
	}{
		{"PLAIN", "bob\x00admin", "password"},
		{"PLAIN", "bob", "pass\x00word"},
		{"XOAUTH2", "bob@example.com\x01auth=Bearer OTHER-TOKEN", "token"},
		{"XOAUTH2", "bob@example.com", "token\x01auth=Bearer OTHER-TOKEN"},
		{"OAUTHBEARER", "bob@example.com,\x01auth=Bearer OTHER-TOKEN\x01", "token"},
		{"OAUTHBEARER", "bob,x=y@example.com", "token"},
		{"OAUTHBEARER", "bob@example.com", "token\x01host=evil.example"},
	}
	for _, tt := range tests {
		t.Run(tt.mech+"/"+strings.ToValidUTF8(strings.NewReplacer("\x00", "NUL", "\x01", "SOH").Replace(tt.user+":"+tt.secret), "?"), func(t *testing.T) {
			t.Parallel()
			conn := newMemConn([]byte("220 bug.test ESMTP\r\n250-bug.test\r\n250 AUTH " + tt.mech + "\r\n235 2.7.0 Authentication successful\r\n"))
			var auth Auth = PasswordAuth(tt.user, tt.secret)
			if tt.mech != "PLAIN" {
				auth = OAuth2Auth(tt.user, tt.secret)
			}
			c, err := NewClient(context.Background(), conn, &Options{Security: Plaintext, AllowInsecureAuth: true, Auth: auth, Timeout: time.Second})
			if err == nil {
				c.Close()
			}
			var authLine string
			for _, l := range strings.Split(string(conn.written()), "\r\n") {
				if strings.HasPrefix(l, "AUTH ") {
					authLine = l
				}
			}
			if authLine == "" {
				if err == nil {
					t.Fatal("no AUTH command and no error")
				}
				return // refused before writing: fine
			}
			ir, derr := base64.StdEncoding.DecodeString(strings.TrimPrefix(authLine, "AUTH "+tt.mech+" "))
			if derr != nil {
				t.Fatalf("AUTH line %q: %v", authLine, derr)
			}
			user, secret, ok := parseSASL(tt.mech, ir)
			if !ok || user != tt.user || secret != tt.secret {
				t.Errorf("the client sent %q: a server reads user %q, secret %q (well-formed: %v); want %q, %q, or a refusal before AUTH",
					ir, user, secret, ok, tt.user, tt.secret)
			}
		})
	}
}

// parseSASL reads an initial response as a server does: the user name
// and secret, and whether the message is well-formed with no field beyond
// its mechanism's.
func parseSASL(mech string, ir []byte) (user, secret string, ok bool) {
	switch mech {
	case "PLAIN": // authzid NUL authcid NUL passwd
		parts := bytes.Split(ir, []byte{0})
		if len(parts) != 3 {
			return "", "", false
		}
		return string(parts[1]), string(parts[2]), true
	case "XOAUTH2": // "user=" user ^A "auth=Bearer " token ^A ^A
		body, found := bytes.CutSuffix(ir, []byte("\x01\x01"))
		fields := bytes.Split(body, []byte{1})
		if !found || len(fields) != 2 || !bytes.HasPrefix(fields[0], []byte("user=")) || !bytes.HasPrefix(fields[1], []byte("auth=Bearer ")) {
			return "", "", false
		}
		return string(fields[0][5:]), string(fields[1][12:]), true
	case "OAUTHBEARER": // "n,a=" saslname "," ^A key=value ... ^A ^A
		body, found := bytes.CutSuffix(ir, []byte("\x01\x01"))
		gs2, kvs, found2 := bytes.Cut(body, []byte(",\x01"))
		if !found || !found2 {
			return "", "", false
		}
		head := strings.SplitN(string(gs2), ",", 3)
		if len(head) != 2 || head[0] != "n" || !strings.HasPrefix(head[1], "a=") {
			return "", "", false
		}
		name := head[1][2:]
		if strings.Contains(strings.NewReplacer("=2C", "", "=3D", "").Replace(name), "=") {
			return "", "", false
		}
		user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(name)
		seen := map[string]bool{}
		for _, kv := range bytes.Split(kvs, []byte{1}) {
			k, v, found := bytes.Cut(kv, []byte("="))
			if !found || seen[string(k)] || !(string(k) == "auth" || string(k) == "host" || string(k) == "port") {
				return "", "", false
			}
			seen[string(k)] = true
			if string(k) == "auth" {
				if !bytes.HasPrefix(v, []byte("Bearer ")) {
					return "", "", false
				}
				secret = string(v[7:])
			}
		}
		return user, secret, seen["auth"]
	}
	return "", "", false
}

// TestBugSCRAMIterationsIgnoreDeadline: a server offering SCRAM-SHA-256
// names the PBKDF2 iteration count in its first challenge, and the client
// computes it whatever it is, outside any deadline: a server (or anyone
// before STARTTLS, with StartTLSOptional or Plaintext) that asks for
// i=2147483647 holds the caller's goroutine for many minutes (here, a
// count that costs 3s), while Options.Timeout is 250ms and the context's
// deadline 500ms. RFC 7677 sets 4096 as the least
// and no most; a client should refuse an absurd count (servers use 4096 to
// a few hundred thousand), or run the key derivation where the context can
// abandon it.
//
// Cause, before the fix: scramClient.Next (auth.go) hands the challenge to
// github.com/xdg-go/scram, which has a minimum iteration count but no
// maximum, and authenticate checks the deadline only around network I/O.
func TestBugSCRAMIterationsIgnoreDeadline(t *testing.T) {
	t.Parallel()
	// An iteration count that costs about 3s here (the race detector
	// slows PBKDF2 twentyfold): far less than a hostile server may ask.
	start := time.Now()
	if _, err := pbkdf2.Key(sha256.New, "password", []byte("salt"), 20000, 32); err != nil {
		t.Fatal(err)
	}
	iters := int(3 * time.Second / (time.Since(start) / 20000))
	addr := rawServer(t, func(conn net.Conn) {
		br := bufio.NewReader(conn)
		conn.Write([]byte("220 bug.test ESMTP\r\n"))
		br.ReadString('\n')
		conn.Write([]byte("250-bug.test\r\n250 AUTH SCRAM-SHA-256\r\n"))
		line, _ := br.ReadString('\n') // AUTH SCRAM-SHA-256 base64(n,,n=user,r=NONCE)
		first, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(line, "AUTH SCRAM-SHA-256 ")))
		_, nonce, _ := strings.Cut(string(first), ",r=")
		challenge := "r=" + nonce + "server,s=" + base64.StdEncoding.EncodeToString([]byte("salt")) + ",i=" + strconv.Itoa(iters)
		conn.Write([]byte("334 " + base64.StdEncoding.EncodeToString([]byte(challenge)) + "\r\n"))
		io.Copy(io.Discard, br)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	opts := &Options{Security: Plaintext, Auth: PasswordAuth("user", "password"), Timeout: 250 * time.Millisecond}
	start = time.Now()
	c, err := Dial(ctx, addr, opts)
	elapsed := time.Since(start)
	if err == nil {
		c.Close()
	}
	if elapsed > 1500*time.Millisecond {
		t.Errorf("Dial returned after %v (%v) with i=%d; want an error within the context's 500ms deadline", elapsed.Round(time.Millisecond), err, iters)
	}
}

// slowConnectDialer dials as net.Dialer does when the context's deadline
// passes during connect and the poller's deadline fires before the
// context's own timer: net returns an *net.OpError wrapping
// os.ErrDeadlineExceeded ("dial tcp …: i/o timeout"), not the context's
// error (net/fd_unix.go, connect: the error of WaitWrite is returned as it
// is unless ctx.Done() is already closed).
type slowConnectDialer struct{}

func (slowConnectDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d, ok := ctx.Deadline()
	if !ok {
		return nil, errors.New("no deadline")
	}
	time.Sleep(time.Until(d))
	return nil, &net.OpError{Op: "dial", Net: network, Err: os.ErrDeadlineExceeded}
}

// TestBugConnectTimeoutIsNotDeadlineExceeded: when the context's deadline
// cuts a TCP connect, Dial returns "smtp: connect: dial tcp …: i/o
// timeout", which errors.Is(err, context.DeadlineExceeded) does not
// always match, while every other wait cut by the context's deadline or
// Options.Timeout does (errors.go: one condition for every kind of
// timeout). Seen for real in TestLoadPoolSilentServer, about one run in
// three under -race: 64 goroutines dial a loaded loopback server with a
// 300ms deadline, and one connect gets the poller's error. The dialer
// here gives that error deterministically.
//
// Cause, before the fix: Dial (client.go) wraps the dialer's error in an
// opError as it is; the mapping that fail() applies (os.ErrDeadlineExceeded
// once the context's deadline has passed becomes context.DeadlineExceeded,
// and Options.Timeout a timeoutError) is not applied to the connect step.
func TestBugConnectTimeoutIsNotDeadlineExceeded(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Dial(ctx, "127.0.0.1:25", &Options{Security: Plaintext, Dialer: slowConnectDialer{}})
	if err == nil {
		t.Fatal("Dial: no error")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial: %v; errors.Is(err, context.DeadlineExceeded) = false, want true: the context's deadline ended the connect", err)
	}
}

// TestBugConnectIgnoresOptionsTimeout: Options.Timeout "bounds every wait
// for the server", but Dial connects with a net.Dialer without a timeout,
// so a server whose SYNs are dropped (a firewall, a host down, here a
// listener whose accept queue is full) holds Dial for the kernel's
// connect timeout: about 2 minutes on Linux (6 SYN retries), with
// Options.Timeout 300ms and no deadline on the context. Pools and
// SendMail callers setting only Options.Timeout hang alike.
//
// Cause, before the fix: Dial (client.go) uses &net.Dialer{} and passes the
// caller's context as it is; Options.Timeout is applied only from the
// greeting on.
func TestBugConnectIgnoresOptionsTimeout(t *testing.T) {
	// Not parallel: it holds thousands of descriptors for a moment.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Fill the accept queue: once full, the kernel drops new SYNs.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	full := false
	for range 20000 {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			full = errors.As(err, &ne) && ne.Timeout() // not EMFILE
			break
		}
		conns = append(conns, c)
	}
	if !full {
		t.Skipf("could not fill the accept queue (%d connections made)", len(conns))
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		c, err := Dial(context.Background(), ln.Addr().String(), &Options{Security: Plaintext, Timeout: 300 * time.Millisecond})
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if elapsed := time.Since(start); elapsed > 1500*time.Millisecond {
			t.Errorf("Dial returned after %v (%v), want about 300ms", elapsed, err)
		}
	case <-time.After(3 * time.Second):
		t.Errorf("Dial still connecting after 3s with Options.Timeout 300ms (the queue held %d connections)", len(conns))
		ln.Close() // refuses the pending SYN: Dial returns
		<-done
	}
}

// growingMessage is a message whose look-ahead view (ReadAt, Size, Len)
// is older than what Read returns: a file appended to after its size was
// taken, wrapped in a type that tells its size, or a buffer changed by
// another goroutine.
type growingMessage struct {
	then []byte        // what ReadAt, Size and Len see
	now  *bytes.Reader // what Read returns
}

func (g *growingMessage) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(g.then).ReadAt(p, off)
}
func (g *growingMessage) Size() int64                { return int64(len(g.then)) }
func (g *growingMessage) Len() int                   { return len(g.then) }
func (g *growingMessage) Read(p []byte) (int, error) { return g.now.Read(p) }

// TestBugBDATSizeMismatchSmuggles: with CHUNKING, a message of known size
// goes as "BDAT n LAST" and its content, n measured ahead by reading the
// message through ReadAt. When what Read returns then is longer (the
// message grew), the client writes all of it and only then finds that it
// sent more than n bytes: it closes the connection and says "nothing was
// delivered", but the bytes after the n-th have gone out (all but the last
// bufio buffer), and the server reads them as commands. A message holding
// "\r\nRSET\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.com>\r\nBDAT 5 LAST\r\nowned"
// past the announced size makes the server deliver a second, smuggled
// message, the very thing dot-stuffing prevents for DATA. The client must
// never write more content than it announced: stop at n bytes and fail.
//
// Cause, before the fix: chunkWhole (chunking.go) streams the whole reader
// through writeChunkContent and compares the count with p.size only at the
// end.
func TestBugBDATSizeMismatchSmuggles(t *testing.T) {
	t.Parallel()
	conn := newMemConn([]byte("220 bug.test ESMTP\r\n250-bug.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n"))
	c, err := NewClient(context.Background(), conn, &Options{Security: Plaintext, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	then := "Subject: hello\r\n\r\nhello\r\n"
	now := then + strings.Repeat("x", 8000) + "\r\nRSET\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.com>\r\nBDAT 5 LAST\r\nowned" + strings.Repeat("y", 9000) + "\r\n"
	_, err = c.Send(context.Background(), realEnv, &growingMessage{then: []byte(then), now: bytes.NewReader([]byte(now))})
	if err == nil {
		t.Error("Send: no error for a message that changed while it was sent")
	}
	t.Logf("Send: %v", err)
	wire := conn.written()
	i := bytes.Index(wire, []byte("BDAT "))
	if i < 0 {
		return // refused before BDAT: nothing to smuggle
	}
	line, content, _ := bytes.Cut(wire[i:], []byte("\r\n"))
	var n int
	fmt.Sscanf(string(line), "BDAT %d LAST", &n)
	if len(content) > n {
		t.Errorf("%q announced %d bytes, and %d followed it (%v); the server reads the rest as commands: %q…",
			line, n, len(content), err, content[n:min(len(content), n+40)])
	}
	if bytes.Contains(wire, []byte("MAIL FROM:<evil@example.net>")) {
		t.Error("the smuggled MAIL FROM:<evil@example.net> went on the wire")
	}
}

// TestBugBDATSizeMismatchSmugglesToRealServer is TestBugBDATSizeMismatchSmuggles
// end to end against smtptest (go-smtp): Send fails with "the message
// changed while it was sent … (connection closed: nothing was delivered)",
// yet the server delivered the announced bytes as a (truncated) message,
// and a second message, from evil@example.net, made of bytes past them.
func TestBugBDATSizeMismatchSmugglesToRealServer(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil) // PIPELINING and CHUNKING
	c, err := Dial(context.Background(), srv.Addr(), &Options{Security: Plaintext, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	then := "Subject: hi\r\n\r\nhi\r\n"
	// Three lines of garbage (go-smtp closes at the fourth bad command),
	// the smuggled transaction, and enough after it that the bytes before
	// go out of the client's 4 KiB buffer.
	garbage := strings.Repeat("x", 1900) + "\r\n"
	now := then + garbage + garbage + garbage +
		"RSET\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.com>\r\nBDAT 7 LAST\r\nowned\r\n" +
		strings.Repeat(strings.Repeat("y", 70)+"\r\n", 80)
	_, err = c.Send(context.Background(), realEnv, &growingMessage{then: []byte(then), now: bytes.NewReader([]byte(now))})
	if err == nil {
		t.Error("Send: no error for a message that changed while it was sent")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	msgs, _ := srv.WaitMessages(ctx, 2)
	for _, m := range msgs {
		if m.From == "evil@example.net" {
			t.Errorf("the server delivered a smuggled message from %s to %v: %q", m.From, m.To, m.Raw)
		} else if err != nil && strings.Contains(err.Error(), "nothing was delivered") {
			t.Errorf("Send said %q, and the server delivered %q", err, m.Raw)
		}
	}
}
