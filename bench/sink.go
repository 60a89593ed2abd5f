package main

// The sink: github.com/emersion/go-smtp's server, accepting everything and
// discarding it. It runs in a child process (this binary with -serve), so
// that the CPU time and the allocations measured in the parent are the
// client's alone.

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

const (
	sinkUser    = "bench"
	sinkPass    = "bench-password"
	sinkMaxSize = 100 << 20 // advertised as SIZE
)

// sinkInfo is what the child tells the parent, as one JSON line on stdout.
type sinkInfo struct {
	Chunking   string `json:"chunking"`    // go-smtp as it comes: offers CHUNKING
	NoChunking string `json:"no_chunking"` // the same, with CHUNKING hidden
	CertPEM    string `json:"cert_pem"`    // the server's self-signed certificate
	Limited    string `json:"limited"`     // scenario (i)'s server with limits (volume.go)
	Stats      string `json:"stats"`       // its counts, as JSON, to each connection
}

// roots is a pool that trusts the sink's certificate.
func (s sinkInfo) roots() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(s.CertPEM)) {
		return nil, errors.New("sink: bad certificate PEM")
	}
	return pool, nil
}

// sinkProcess is the running child.
type sinkProcess struct {
	sinkInfo
	cmd   *exec.Cmd
	stdin io.Closer
}

// startSink runs this binary with -serve and reads the addresses it listens on.
func startSink() (*sinkProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &sinkProcess{cmd: cmd, stdin: stdin}
	if err := json.NewDecoder(stdout).Decode(&p.sinkInfo); err != nil {
		p.stop()
		return nil, fmt.Errorf("sink: reading its addresses: %w", err)
	}
	return p, nil
}

// cpuTime is the CPU time the child has used so far: the sum of its
// threads' run time in /proc/PID/task/*/schedstat (nanoseconds).
func (p *sinkProcess) cpuTime() time.Duration {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", p.cmd.Process.Pid))
	var total time.Duration
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		if ns, err := strconv.ParseInt(strings.Fields(string(data) + " 0")[0], 10, 64); err == nil {
			total += time.Duration(ns)
		}
	}
	return total
}

// stop closes the child's stdin, which ends it, and kills it if it lingers.
func (p *sinkProcess) stop() {
	p.stdin.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// serveSink is the child: it listens, prints its sinkInfo and serves until
// its stdin is closed (the parent stopped or died).
func serveSink() error {
	info, stop, err := listenSink()
	if err != nil {
		return err
	}
	defer stop()
	if err := json.NewEncoder(os.Stdout).Encode(info); err != nil {
		return err
	}
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// listenSink starts the two servers on 127.0.0.1.
func listenSink() (sinkInfo, func(), error) {
	cert, certPEM, err := newCertificate()
	if err != nil {
		return sinkInfo{}, nil, err
	}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}}

	chunking := newSinkServer(tlsConf, false)
	lnChunking, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return sinkInfo{}, nil, err
	}
	go chunking.Serve(lnChunking)

	// go-smtp advertises CHUNKING whatever its configuration says, so the
	// second server hides it with a filter on each connection (ehloFilter).
	noChunking := newSinkServer(tlsConf, true)
	lnNoChunking, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		chunking.Close()
		return sinkInfo{}, nil, err
	}
	go noChunking.Serve(filterListener{Listener: lnNoChunking, tlsConf: tlsConf})

	limited, stats, stopLimited, err := listenVolume()
	if err != nil {
		chunking.Close()
		noChunking.Close()
		return sinkInfo{}, nil, err
	}
	info := sinkInfo{
		Chunking:   lnChunking.Addr().String(),
		NoChunking: lnNoChunking.Addr().String(),
		CertPEM:    string(certPEM),
		Limited:    limited,
		Stats:      stats,
	}
	return info, func() { chunking.Close(); noChunking.Close(); stopLimited() }, nil
}

// newSinkServer configures go-smtp's server: PIPELINING, 8BITMIME and
// CHUNKING (always on in go-smtp), SIZE, STARTTLS, AUTH PLAIN.
func newSinkServer(tlsConf *tls.Config, allowInsecureAuth bool) *gosmtp.Server {
	s := gosmtp.NewServer(sinkBackend{})
	s.Domain = "sink.localhost"
	s.MaxMessageBytes = sinkMaxSize
	s.MaxLineLength = 2000
	s.ReadTimeout = time.Minute
	s.WriteTimeout = time.Minute
	s.TLSConfig = tlsConf
	s.AllowInsecureAuth = allowInsecureAuth
	s.ErrorLog = log.New(os.Stderr, "sink: ", 0)
	return s
}

// newCertificate makes a self-signed ECDSA P-256 certificate for
// "localhost" and 127.0.0.1, valid for a day.
func newCertificate() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// sinkBackend makes sessions that accept every sender and recipient and
// read every message to the end, keeping nothing.
type sinkBackend struct{}

func (sinkBackend) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return sinkSession{}, nil }

type sinkSession struct{}

func (sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != sinkUser || pass != sinkPass {
			return gosmtp.ErrAuthFailed
		}
		return nil
	}), nil
}

func (sinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (sinkSession) Reset()                                 {}
func (sinkSession) Logout() error                          { return nil }

// Data discards the message and says how many bytes it had (after
// dot-unstuffing), so that the bench can check a client sent it whole.
func (sinkSession) Data(r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return err
	}
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0},
		Message: fmt.Sprintf("OK: queued, %d bytes", n)}
}

// filterListener wraps every accepted connection in an ehloFilter.
type filterListener struct {
	net.Listener
	tlsConf *tls.Config
}

func (l filterListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &ehloFilter{Conn: conn, br: bufio.NewReader(conn), tlsConf: l.tlsConf, watch: true}, nil
}

// ehloFilter sits between go-smtp's server and the client and removes
// CHUNKING from the server's EHLO replies.
//
// go-smtp would run STARTTLS on top of this wrapper, which would then see
// only ciphertext; so the filter answers STARTTLS itself, does the TLS
// handshake, and hands go-smtp the decrypted stream. go-smtp then believes
// the connection is in plaintext: it offers STARTTLS again after TLS and
// needs AllowInsecureAuth to offer AUTH, so the filter drops STARTTLS
// after TLS and AUTH before it. On the wire the EHLO replies are what
// go-smtp itself sends, less CHUNKING.
//
// It relies on go-smtp writing one reply line per Write (textproto flushes
// each line) and on CHUNKING, STARTTLS and AUTH never being the last line
// of the EHLO reply (SIZE always is).
type ehloFilter struct {
	net.Conn               // the client's TCP connection
	br       *bufio.Reader // reads Conn, before and under TLS
	tlsConf  *tls.Config
	tls      *tls.Conn // after STARTTLS
	watch    bool      // still looking for STARTTLS among the client's commands
	pending  []byte    // the rest of a command line longer than go-smtp's buffer
}

// Read hands go-smtp the client's bytes. Until TLS or the first MAIL, it
// hands over one command line at a time: go-smtp asks for more only once
// it has answered every line it was given, so when STARTTLS comes, every
// reply before it has been written and the filter can answer it.
func (f *ehloFilter) Read(p []byte) (int, error) {
	if len(f.pending) > 0 {
		n := copy(p, f.pending)
		f.pending = f.pending[n:]
		return n, nil
	}
	if f.tls != nil {
		return f.tls.Read(p)
	}
	if !f.watch {
		return f.br.Read(p)
	}
	line, err := f.br.ReadSlice('\n')
	if len(line) == 0 {
		return 0, err
	}
	switch verb := strings.ToUpper(strings.TrimSpace(string(line))); {
	case verb == "STARTTLS":
		if err := f.startTLS(); err != nil {
			return 0, err
		}
		return f.tls.Read(p)
	case strings.HasPrefix(verb, "MAIL"):
		f.watch = false
	}
	n := copy(p, line)
	f.pending = append(f.pending[:0], line[n:]...)
	return n, nil
}

// startTLS answers STARTTLS and runs the server side of the handshake.
func (f *ehloFilter) startTLS() error {
	if _, err := f.Conn.Write([]byte("220 2.0.0 Ready to start TLS\r\n")); err != nil {
		return err
	}
	f.br.Discard(f.br.Buffered()) // plaintext sent after STARTTLS is not trusted (RFC 3207)
	tc := tls.Server(bufferedConn{Conn: f.Conn, r: f.br}, f.tlsConf)
	f.Conn.SetDeadline(time.Now().Add(10 * time.Second))
	err := tc.Handshake()
	f.Conn.SetDeadline(time.Time{})
	if err != nil {
		return err
	}
	f.tls = tc
	f.watch = false
	return nil
}

// Write passes go-smtp's replies on, less the EHLO lines to hide.
func (f *ehloFilter) Write(p []byte) (int, error) {
	out := p
	if bytes.HasPrefix(p, []byte("250-")) {
		out = f.filterEHLO(p)
	}
	var w io.Writer = f.Conn
	if f.tls != nil {
		w = f.tls
	}
	if len(out) > 0 {
		if _, err := w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// filterEHLO drops the continuation lines that name a hidden extension.
func (f *ehloFilter) filterEHLO(p []byte) []byte {
	var out []byte
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line = p[:i+1]
		}
		p = p[len(line):]
		keyword := ""
		if fields := strings.Fields(string(line[4:])); len(fields) > 0 {
			keyword = strings.ToUpper(fields[0])
		}
		hide := keyword == "CHUNKING" ||
			keyword == "STARTTLS" && f.tls != nil ||
			keyword == "AUTH" && f.tls == nil
		if !hide {
			out = append(out, line...)
		}
	}
	return out
}

func (f *ehloFilter) Close() error {
	if f.tls != nil {
		return f.tls.Close()
	}
	return f.Conn.Close()
}

// bufferedConn reads through r, which buffers Conn.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
