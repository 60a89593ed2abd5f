package smtp

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/xdg-go/scram"
)

// Auth is a way to authenticate (RFC 4954). Make one with PasswordAuth,
// OAuth2Auth or SASLAuth, and pass it in Options.Auth or to Client.Auth.
type Auth interface {
	// mechanism picks the SASL client for the server's offer on c.
	mechanism(c *Client) (sasl.Client, error)
}

// ErrInsecureAuth: the only mechanisms left would reveal the secret on a
// connection that is not encrypted. Secure the connection, or set
// Options.AllowInsecureAuth.
var ErrInsecureAuth = errors.New("smtp: AUTH would reveal the secret over an unencrypted connection")

// ErrAuthNotOffered: the server does not offer AUTH, or none of the
// mechanisms this Auth can use.
var ErrAuthNotOffered = errors.New("smtp: the server offers no usable AUTH mechanism")

// passwordMechanism is a mechanism PasswordAuth may use.
type passwordMechanism struct {
	name      string
	revealing bool // it sends the password itself
}

// The mechanisms PasswordAuth may use, strongest first. The ones that send
// the password itself need TLS (or AllowInsecureAuth).
var passwordMechanisms = []passwordMechanism{
	{"SCRAM-SHA-256", false},
	{"SCRAM-SHA-1", false},
	{"PLAIN", true},
	{"LOGIN", true},
	{"CRAM-MD5", false},
}

// PasswordAuth authenticates with a user name and password, with the
// strongest mechanism the server offers after TLS: SCRAM-SHA-256,
// SCRAM-SHA-1, PLAIN, LOGIN, then CRAM-MD5; mechanisms, when given, keeps
// to those (a server whose SCRAM is broken, a test of LOGIN). Over an
// unencrypted connection only SCRAM and CRAM-MD5 are used, unless
// Options.AllowInsecureAuth is set; otherwise it fails with ErrInsecureAuth
// before any secret is sent. A mechanism it does not know is an
// ErrInvalidArgument error when it is used.
func PasswordAuth(username, password string, mechanisms ...string) Auth {
	return &passwordAuth{username: username, password: password, only: mechanisms}
}

type passwordAuth struct {
	username, password string
	only               []string // the mechanisms allowed; nil: all
}

// allowed reports whether mech may be used.
func (a *passwordAuth) allowed(mech string) bool {
	if a.only == nil {
		return true
	}
	for _, m := range a.only {
		if strings.EqualFold(m, mech) {
			return true
		}
	}
	return false
}

func (a *passwordAuth) mechanism(c *Client) (sasl.Client, error) {
	for _, m := range a.only {
		if !slices.ContainsFunc(passwordMechanisms, func(p passwordMechanism) bool { return strings.EqualFold(p.name, m) }) {
			return nil, errInput("PasswordAuth: unknown mechanism %q (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, LOGIN or CRAM-MD5)", m)
		}
	}
	offered := c.authMechanisms()
	var refused []string
	for _, m := range passwordMechanisms {
		if !offered[m.name] || !a.allowed(m.name) {
			continue
		}
		if m.revealing && !c.secretsAllowed() {
			refused = append(refused, m.name)
			continue
		}
		return a.client(m.name)
	}
	return nil, c.noMechanism(refused)
}

func (a *passwordAuth) client(mech string) (sasl.Client, error) {
	if mech == "PLAIN" && (strings.ContainsRune(a.username, 0) || strings.ContainsRune(a.password, 0)) {
		return nil, errInput("AUTH PLAIN: the user name or password holds a NUL byte, which PLAIN uses to separate them (RFC 4616)")
	}
	switch mech {
	case "SCRAM-SHA-256":
		return newSCRAM(scram.SHA256, mech, a.username, a.password, nil)
	case "SCRAM-SHA-1":
		return newSCRAM(scram.SHA1, mech, a.username, a.password, nil)
	case "PLAIN":
		return sasl.NewPlainClient("", a.username, a.password), nil
	case "LOGIN":
		return newLoginClient(a.username, a.password), nil
	}
	return &cramMD5Client{username: a.username, password: a.password}, nil
}

// OAuth2Auth authenticates with an OAuth 2.0 bearer token: OAUTHBEARER
// (RFC 7628) when the server offers it, else XOAUTH2 (the form of Gmail and
// Microsoft 365). A token is a secret: it is sent only over TLS, unless
// Options.AllowInsecureAuth is set. A refusal is an error holding the
// server's *Error and the JSON status it sent.
func OAuth2Auth(username, token string) Auth {
	return &oauth2Auth{username: username, token: token}
}

type oauth2Auth struct{ username, token string }

func (a *oauth2Auth) mechanism(c *Client) (sasl.Client, error) {
	offered := c.authMechanisms()
	for _, mech := range []string{"OAUTHBEARER", "XOAUTH2"} {
		if !offered[mech] {
			continue
		}
		if !c.secretsAllowed() {
			return nil, c.noMechanism([]string{mech})
		}
		if strings.ContainsRune(a.username, 1) || strings.ContainsRune(a.token, 1) {
			return nil, errInput("AUTH %s: the user name or token holds a 0x01 byte, which %s uses to separate fields", mech, mech)
		}
		if mech == "OAUTHBEARER" {
			// The user name is the GS2 authzid: ',' and '=' escaped (RFC 5801).
			user := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(a.username)
			return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: a.token}), nil
		}
		return &xoauth2Client{username: a.username, token: a.token}, nil
	}
	return nil, c.noMechanism(nil)
}

// SASLAuth authenticates with any github.com/emersion/go-sasl client, as
// it is. Its mechanism must be offered by the server; PLAIN and LOGIN are
// refused over an unencrypted connection unless Options.AllowInsecureAuth
// is set.
func SASLAuth(c sasl.Client) Auth { return &saslAuth{c: c} }

type saslAuth struct{ c sasl.Client }

func (a *saslAuth) mechanism(c *Client) (sasl.Client, error) {
	mech, ir, err := a.c.Start()
	if err != nil {
		return nil, fmt.Errorf("smtp: AUTH: %w", err)
	}
	if !c.authMechanisms()[strings.ToUpper(mech)] {
		return nil, c.noMechanism(nil)
	}
	if (mech == sasl.Plain || mech == sasl.Login) && !c.secretsAllowed() {
		return nil, c.noMechanism([]string{mech})
	}
	return &startedClient{Client: a.c, mech: mech, ir: ir}, nil
}

// startedClient replays a Start that already ran.
type startedClient struct {
	sasl.Client
	mech string
	ir   []byte
}

func (s *startedClient) Start() (string, []byte, error) { return s.mech, s.ir, nil }

func (s *startedClient) expensive() {}

func (s *startedClient) verify() error {
	if v, ok := s.Client.(interface{ verify() error }); ok {
		return v.verify()
	}
	return nil
}

// authMechanisms is the set of mechanisms of the last EHLO's AUTH line.
func (c *Client) authMechanisms() map[string]bool {
	set := map[string]bool{}
	for _, m := range strings.Fields(c.ext["AUTH"]) {
		set[strings.ToUpper(m)] = true
	}
	return set
}

// secretsAllowed reports whether a mechanism that reveals the secret may
// run: over TLS, or when the caller allowed it.
func (c *Client) secretsAllowed() bool {
	return c.tlsState != nil || c.opts.AllowInsecureAuth
}

// noMechanism explains why no mechanism could be used; refused are the
// ones offered but left out because the connection is not encrypted.
func (c *Client) noMechanism(refused []string) error {
	offered := c.ext["AUTH"]
	if len(refused) > 0 {
		return withRemedy(fmt.Errorf("%w: the server offers %s, and %s would be sent readable by anyone on the path",
			ErrInsecureAuth, offered, strings.Join(refused, " and ")), RemedySecureAuth)
	}
	if _, ok := c.ext["AUTH"]; !ok {
		if c.tlsState == nil && c.ext.has("STARTTLS") {
			return withRemedy(fmt.Errorf("%w: the server offers AUTH only after STARTTLS", ErrAuthNotOffered), RemedySecureAuth)
		}
		return fmt.Errorf("%w: the server does not offer AUTH", ErrAuthNotOffered)
	}
	return fmt.Errorf("%w: the server offers %s", ErrAuthNotOffered, offered)
}

// Auth authenticates with a (RFC 4954). Dial does it when Options.Auth is
// set; call Auth to do it later. A refusal (432, 454, 534, 535, 538…) is an
// *Error whose Command is "AUTH"; a second AUTH gets the server's own 503.
// The client's responses are never traced nor put in an error: the Trace
// sees "[redacted]".
func (c *Client) Auth(ctx context.Context, a Auth) error {
	if a == nil {
		return errInput("nil Auth")
	}
	if err := c.begin(ctx); err != nil {
		return err
	}
	sc, err := a.mechanism(c)
	if err != nil {
		return err
	}
	c.watch(ctx)
	defer c.unwatch()
	return c.authenticate(ctx, sc)
}

// authenticate runs the SASL exchange of RFC 4954 section 4.
func (c *Client) authenticate(ctx context.Context, sc sasl.Client) error {
	mech, ir, err := sc.Start()
	if err != nil {
		return fmt.Errorf("smtp: AUTH: %w", err)
	}
	c.line = append(c.line[:0], "AUTH "...)
	c.line = append(c.line, mech...)
	traced := string(c.line)
	if ir != nil {
		c.line = append(c.line, ' ')
		c.line = appendBase64(c.line, ir)
		traced += " [redacted]"
	}
	if err := c.sendSecret(ctx, traced); err != nil {
		return err
	}
	var failure error // why the mechanism gave up, told by the server
	for step := 0; ; step++ {
		rep, err := c.readReply(ctx, "AUTH", true, c.timeout())
		if err != nil {
			return err
		}
		if rep.Code == 334 && step == maxAuthChallenges {
			return c.cancelAuth(ctx, mech, fmt.Errorf("the server sent more than %d challenges", maxAuthChallenges))
		}
		switch {
		case rep.Code == 235:
			if v, ok := sc.(interface{ verify() error }); ok {
				if err := v.verify(); err != nil {
					return fmt.Errorf("smtp: AUTH %s: %w", mech, err)
				}
			}
			return nil
		case rep.Code != 334 || failure != nil:
			return c.authRefused(mech, rep, failure)
		}
		challenge, err := base64.StdEncoding.DecodeString(rep.Message)
		var resp []byte
		if err == nil {
			resp, err = c.saslNext(ctx, sc, challenge)
			if c.err != nil {
				return err // the deadline passed while computing: the exchange is abandoned
			}
		}
		switch {
		case err == nil:
			c.line = base64.StdEncoding.AppendEncode(c.line[:0], resp) // empty: an empty line, not "="
		case isFailureChallenge(err):
			// OAUTHBEARER and XOAUTH2 report failure in a challenge; the
			// client answers with a dummy response to hear the final reply.
			failure = err
			c.line = base64.StdEncoding.AppendEncode(c.line[:0], dummyResponse(mech))
		default:
			return c.cancelAuth(ctx, mech, err)
		}
		if err := c.sendSecret(ctx, "[redacted]"); err != nil {
			return err
		}
	}
}

// saslNext computes the answer to a challenge. A mechanism whose answer
// costs real time (SCRAM's key derivation, whose cost the server names)
// computes it where the call's deadline can abandon it.
func (c *Client) saslNext(ctx context.Context, sc sasl.Client, challenge []byte) ([]byte, error) {
	if _, slow := sc.(interface{ expensive() }); !slow {
		return sc.Next(challenge)
	}
	type answer struct {
		resp []byte
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := sc.Next(challenge)
		done <- answer{resp, err}
	}()
	timer := time.NewTimer(c.timeout())
	defer timer.Stop()
	select {
	case a := <-done:
		return a.resp, a.err
	case <-ctx.Done():
		return nil, c.fail(ctx, "AUTH", ctx.Err())
	case <-timer.C:
		return nil, c.fail(ctx, "AUTH", os.ErrDeadlineExceeded)
	}
}

// maxAuthChallenges bounds an exchange: the mechanisms here need at most
// two challenges (SCRAM, LOGIN). A server that goes on would otherwise be
// answered forever, each answer (CRAM-MD5's HMAC of the password over a
// challenge the server chose) a sample for an offline attack.
const maxAuthChallenges = 8

// cancelAuth cancels the exchange (RFC 4954 section 4), hears the reply,
// and reports why.
func (c *Client) cancelAuth(ctx context.Context, mech string, why error) error {
	c.line = append(c.line[:0], '*')
	if err := c.sendSecret(ctx, "*"); err != nil {
		return err
	}
	if _, err := c.readReply(ctx, "AUTH", false, c.timeout()); err != nil {
		return err
	}
	return fmt.Errorf("smtp: AUTH %s cancelled: %w", mech, why)
}

// sendSecret sends c.line, traced as traced, and flushes.
func (c *Client) sendSecret(ctx context.Context, traced string) error {
	for _, b := range c.line {
		if b == '\r' || b == '\n' || b == 0 {
			return errInput("AUTH: the line holds CR, LF or NUL")
		}
	}
	c.bw.Write(c.line)
	c.bw.WriteString("\r\n")
	if c.trace != nil {
		c.lineSent(traced)
	}
	return c.flush(ctx, "AUTH")
}

// authRefused is the error of a failed exchange: the server's *Error, and
// the mechanism's own account of the failure when it gave one.
func (c *Client) authRefused(mech string, rep Reply, failure error) error {
	var e error
	if rep.Code >= 400 {
		e = c.replyError("AUTH", rep)
	} else {
		e = c.unexpected("AUTH", rep, 235)
	}
	if failure == nil {
		return e
	}
	return &authError{mech: mech, reply: e, failure: failure}
}

// authError is a refused AUTH with the mechanism's failure detail, such as
// the JSON status of OAUTHBEARER.
type authError struct {
	mech    string
	reply   error
	failure error
}

func (e *authError) Error() string {
	return fmt.Sprintf("%v (%s: %v)", e.reply, e.mech, e.failure)
}
func (e *authError) Unwrap() []error { return []error{e.reply, e.failure} }

// isFailureChallenge reports an error that a bearer-token mechanism made of
// the server's failure challenge.
func isFailureChallenge(err error) bool {
	var ob *sasl.OAuthBearerError
	var xo *xoauth2Error
	return errors.As(err, &ob) || errors.As(err, &xo)
}

// dummyResponse is what a bearer-token mechanism answers to a failure
// challenge: %x01 for OAUTHBEARER (RFC 7628 section 3.2.3), nothing for
// XOAUTH2.
func dummyResponse(mech string) []byte {
	if mech == sasl.OAuthBearer {
		return []byte{1}
	}
	return []byte{}
}

// appendBase64 appends the base64 of an initial response, or "=" for an
// empty one (RFC 4954 section 4). Only the initial response on the AUTH line
// uses "="; an empty answer to a challenge is an empty line (Dovecot refuses
// "=" there as invalid base64).
func appendBase64(b, p []byte) []byte {
	if len(p) == 0 {
		return append(b, '=')
	}
	return base64.StdEncoding.AppendEncode(b, p)
}

// loginClient is LOGIN on go-sasl's client, answering the user name to the
// first prompt and the password to the second whatever their wording
// ("VXNlcm5hbWU6", "Username:", or nothing), as servers differ.
type loginClient struct {
	inner    sasl.Client
	username []byte
	step     int
}

func newLoginClient(username, password string) sasl.Client {
	return &loginClient{inner: sasl.NewLoginClient(username, password), username: []byte(username)}
}

func (l *loginClient) Start() (string, []byte, error) {
	mech, _, err := l.inner.Start()
	return mech, nil, err
}

func (l *loginClient) Next(challenge []byte) ([]byte, error) {
	l.step++
	switch l.step {
	case 1:
		return l.username, nil
	case 2:
		return l.inner.Next([]byte("Password:"))
	}
	return nil, sasl.ErrUnexpectedServerChallenge
}

// cramMD5Client is CRAM-MD5 (RFC 2195): the user name and the keyed MD5 of
// the server's challenge, so the password itself never crosses the wire.
type cramMD5Client struct{ username, password string }

func (a *cramMD5Client) Start() (string, []byte, error) { return "CRAM-MD5", nil, nil }

func (a *cramMD5Client) Next(challenge []byte) ([]byte, error) {
	mac := hmac.New(md5.New, []byte(a.password))
	mac.Write(challenge)
	return fmt.Appendf(nil, "%s %s", a.username, hex.EncodeToString(mac.Sum(nil))), nil
}

// xoauth2Client is XOAUTH2, Google's and Microsoft's bearer-token
// mechanism: the user and token in the initial response; a JSON status in
// a challenge on failure.
type xoauth2Client struct{ username, token string }

func (a *xoauth2Client) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + a.username + "\x01auth=Bearer " + a.token + "\x01\x01"), nil
}

func (a *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	e := &xoauth2Error{raw: string(challenge)}
	json.Unmarshal(challenge, e)
	return nil, e
}

// xoauth2Error is the JSON status an XOAUTH2 server sends on failure.
type xoauth2Error struct {
	Status string `json:"status"`
	Scope  string `json:"scope"`
	raw    string
}

func (e *xoauth2Error) Error() string {
	if e.Status == "" {
		return "XOAUTH2 failure: " + e.raw
	}
	return "XOAUTH2 authentication error (" + e.Status + ")"
}

// scramClient is SCRAM (RFC 5802, RFC 7677) on github.com/xdg-go/scram. It
// proves the password without sending it, and checks that the server knows
// it too: a 235 before the server's proof is refused.
type scramClient struct {
	mech string
	conv *scram.ClientConversation
}

func newSCRAM(hash scram.HashGeneratorFcn, mech, username, password string, nonce func() string) (*scramClient, error) {
	client, err := hash.NewClient(username, password, "")
	if err != nil {
		return nil, fmt.Errorf("smtp: AUTH %s: %w", mech, err)
	}
	if nonce != nil {
		client = client.WithNonceGenerator(nonce)
	}
	return &scramClient{mech: mech, conv: client.NewConversation()}, nil
}

func (s *scramClient) Start() (string, []byte, error) {
	first, err := s.conv.Step("")
	return s.mech, []byte(first), err
}

// maxSCRAMIterations bounds the PBKDF2 iterations a server may ask for
// (RFC 7677 sets 4096 as the least and no most; servers use 4096 to a few
// hundred thousand): an absurd count would hold the caller for minutes.
const maxSCRAMIterations = 1 << 22

func (s *scramClient) Next(challenge []byte) ([]byte, error) {
	for _, attr := range strings.Split(string(challenge), ",") {
		if v, ok := strings.CutPrefix(attr, "i="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > maxSCRAMIterations {
				return nil, fmt.Errorf("the server asks for %d PBKDF2 iterations, more than the %d this client computes", n, maxSCRAMIterations)
			}
		}
	}
	resp, err := s.conv.Step(string(challenge))
	return []byte(resp), err
}

// expensive marks SCRAM's answers as costly to compute: see saslNext.
func (s *scramClient) expensive() {}

func (s *scramClient) verify() error {
	if !s.conv.Valid() {
		return errors.New("the server did not prove it knows the password (no valid SCRAM server signature)")
	}
	return nil
}
