package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// smtptest offers AUTH PLAIN and LOGIN only, and its Config has no way to
// add a mechanism; bearerServer stands in for Gmail or Microsoft 365: a
// go-smtp server with STARTTLS that takes OAUTHBEARER and/or XOAUTH2 for
// one user and one token, and AUTH only over TLS.
type bearerServer struct {
	addr   string
	caFile string
	user   string
	token  string
	mechs  []string

	mu       sync.Mutex
	authed   []string // the mechanism of each successful AUTH
	messages []bearerMessage
}

// bearerMessage is a message the server accepted.
type bearerMessage struct {
	user, from string
	to         []string
	data       []byte
}

func newBearerServer(t *testing.T, user, token string, mechs ...string) *bearerServer {
	t.Helper()
	cert, caPEM := selfSigned(t)
	bs := &bearerServer{user: user, token: token, mechs: mechs}
	bs.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bs.caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s := gosmtp.NewServer(bs)
	s.Domain = "localhost"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bs.addr = ln.Addr().String()
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return bs
}

func (bs *bearerServer) Messages() []bearerMessage {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return append([]bearerMessage(nil), bs.messages...)
}

func (bs *bearerServer) Authenticated() []string {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return append([]string(nil), bs.authed...)
}

func (bs *bearerServer) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	return &bearerSession{bs: bs}, nil
}

type bearerSession struct {
	bs   *bearerServer
	user string
	from string
	to   []string
}

// AuthMechanisms is advertised after STARTTLS only (go-smtp's
// AllowInsecureAuth is off).
func (s *bearerSession) AuthMechanisms() []string { return s.bs.mechs }

func (s *bearerSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, token string) bool {
		if user != s.bs.user || token != s.bs.token {
			return false
		}
		s.user = user
		s.bs.mu.Lock()
		s.bs.authed = append(s.bs.authed, mech)
		s.bs.mu.Unlock()
		return true
	}
	for _, m := range s.bs.mechs {
		if m != mech {
			continue
		}
		switch mech {
		case sasl.OAuthBearer:
			return &finalReply{sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
				if !check(o.Username, o.Token) {
					return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer", Scope: "https://mail.google.com/"}
				}
				return nil
			})}, nil
		case "XOAUTH2":
			return &finalReply{&xoauth2Server{check: check}}, nil
		}
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

func (s *bearerSession) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.user == "" {
		return &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	s.from = from
	return nil
}

func (s *bearerSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *bearerSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.bs.mu.Lock()
	s.bs.messages = append(s.bs.messages, bearerMessage{user: s.user, from: s.from, to: s.to, data: data})
	s.bs.mu.Unlock()
	return nil
}

func (s *bearerSession) Reset()        { s.from, s.to = "", nil }
func (s *bearerSession) Logout() error { return nil }

// finalReply makes a failed exchange end with 535 5.7.8, as Gmail's does,
// rather than go-smtp's 454.
type finalReply struct{ sasl.Server }

func (f *finalReply) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := f.Server.Next(response)
	if done && err != nil {
		err = &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "Username and Password not accepted"}
	}
	return challenge, done, err
}

// xoauth2Server is the server side of XOAUTH2: "user=U^Aauth=Bearer T^A^A"
// in the initial response; on failure a JSON status as a challenge, then
// the refusal after the client's empty answer.
type xoauth2Server struct {
	check  func(user, token string) bool
	failed bool
}

func (x *xoauth2Server) Next(response []byte) ([]byte, bool, error) {
	if x.failed {
		return nil, true, sasl.ErrUnexpectedClientResponse
	}
	if response == nil {
		return []byte{}, false, nil // ask for the initial response
	}
	var user, token string
	for _, field := range bytes.Split(response, []byte{1}) {
		if v, ok := bytes.CutPrefix(field, []byte("user=")); ok {
			user = string(v)
		} else if v, ok := bytes.CutPrefix(field, []byte("auth=Bearer ")); ok {
			token = string(v)
		}
	}
	if !x.check(user, token) {
		x.failed = true
		return []byte(`{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}`), false, nil
	}
	return nil, true, nil
}

// selfSigned makes a self-signed certificate for 127.0.0.1 and localhost,
// and returns it with its PEM, which a client trusts as its own CA.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bearer test server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
