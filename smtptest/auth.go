package smtptest

import (
	"crypto/subtle"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// errEncryptionRequired is RFC 4954's answer to AUTH before TLS when the
// server will not take a password in clear.
var errEncryptionRequired = &gosmtp.SMTPError{
	Code:         538,
	EnhancedCode: gosmtp.EnhancedCode{5, 7, 11},
	Message:      "Encryption required for requested authentication mechanism",
}

// authAllowed tells whether AUTH may go on now: there are users, and TLS
// or Config.AllowInsecureAuth.
func (s *session) authAllowed() bool {
	cfg := s.srv.cfg
	return len(cfg.Users) > 0 && (cfg.AllowInsecureAuth || s.w.info().tls)
}

// AuthMechanisms lists the mechanisms the EHLO reply advertises; none
// means no AUTH line.
func (s *session) AuthMechanisms() []string {
	if !s.authAllowed() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth starts the server side of a mechanism. go-smtp sends an error
// returned here, or by the mechanism, as the reply to AUTH: 535 5.7.8 for
// bad credentials.
func (s *session) Auth(mech string) (sasl.Server, error) {
	switch {
	case len(s.srv.cfg.Users) == 0:
		return nil, gosmtp.ErrAuthUnsupported
	case !s.authAllowed():
		return nil, errEncryptionRequired
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return gosmtp.ErrAuthFailed // no authorizing as someone else
			}
			return s.login(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{login: s.login}, nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

// login checks a user's password and, if right, marks the connection as
// authenticated.
func (s *session) login(username, password string) error {
	want, ok := s.srv.cfg.Users[username]
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		s.w.logf("AUTH failed for %q", username)
		return gosmtp.ErrAuthFailed
	}
	s.w.setAuthUser(username)
	s.w.logf("authenticated as %q", username)
	return nil
}

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login), which go-sasl has only as a client: the
// challenges "Username:" and "Password:", the first skipped when the client
// gives the user name as an initial response.
type loginServer struct {
	login    func(username, password string) error
	step     int
	username string
}

func (a *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch a.step {
	case 0:
		if response == nil {
			a.step = 1
			return []byte("Username:"), false, nil
		}
		a.username, a.step = string(response), 2
		return []byte("Password:"), false, nil
	case 1:
		a.username, a.step = string(response), 2
		return []byte("Password:"), false, nil
	case 2:
		a.step = 3
		return nil, true, a.login(a.username, string(response))
	}
	return nil, true, sasl.ErrUnexpectedClientResponse
}
