//go:build cgo

package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	smtp "github.com/mailwire/smtp"
)

// optionsJSON is the JSON form of smtp.Options (see OPTIONS in the header).
type optionsJSON struct {
	Security          string   `json:"security"`
	Pins              []string `json:"pins"`
	CAPEM             string   `json:"ca_pem"`
	CAFile            string   `json:"ca_file"`
	ServerName        string   `json:"server_name"`
	User              string   `json:"user"`
	Password          string   `json:"password"`
	AllowInsecureAuth bool     `json:"allow_insecure_auth"`
	TimeoutMs         int64    `json:"timeout_ms"`
	GreetingTimeoutMs int64    `json:"greeting_timeout_ms"`
	LocalName         string   `json:"local_name"`
	Proxy             string   `json:"proxy"`
	LMTP              bool     `json:"lmtp"`
}

// poolOptionsJSON is the JSON form of smtp.PoolOptions.
type poolOptionsJSON struct {
	MaxConns           int   `json:"max_conns"`
	MaxIdle            int   `json:"max_idle"`
	IdleTimeoutMs      int64 `json:"idle_timeout_ms"`
	MaxMessagesPerConn int   `json:"max_messages_per_conn"`
	MaxLifetimeMs      int64 `json:"max_lifetime_ms"`
	HealthCheckAfterMs int64 `json:"health_check_after_ms"`
}

var securities = map[string]smtp.Security{
	"":                  smtp.SecurityAuto,
	"auto":              smtp.SecurityAuto,
	"starttls":          smtp.StartTLS,
	"starttls-optional": smtp.StartTLSOptional,
	"implicit":          smtp.ImplicitTLS,
	"plain":             smtp.Plaintext,
}

// maxMs is the largest duration in milliseconds that fits a time.Duration.
const maxMs = int64(1<<63-1) / int64(time.Millisecond)

// decodeStrict decodes one JSON object into v: unknown keys, trailing data
// and anything but an object (or null) are errors. "" means no options.
func decodeStrict(what, s string, v any) *apiError {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field == "" {
			return invalid("%s: want a JSON object, got %s", what, typeErr.Value)
		}
		return invalid("%s: %v", what, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("%s: data after the JSON object", what)
	}
	return nil
}

func durationMs(name string, ms int64) (time.Duration, *apiError) {
	if ms < 0 || ms > maxMs {
		return 0, invalid("%s %d out of range", name, ms)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// parseOptions turns options JSON into smtp.Options, refusing what Dial
// would refuse (and some it would only refuse late, at a pool's first
// send): an unknown security, a malformed pin, a CA PEM holding no
// certificate.
func parseOptions(s string) (*smtp.Options, *apiError) {
	var o optionsJSON
	if e := decodeStrict("options_json", s, &o); e != nil {
		return nil, e
	}
	sec, ok := securities[strings.ToLower(o.Security)]
	if !ok {
		return nil, invalid("options_json: unknown security %q: want auto, starttls, starttls-optional, implicit or plain", o.Security)
	}
	opts := &smtp.Options{
		Security:          sec,
		AllowInsecureAuth: o.AllowInsecureAuth,
		LocalName:         o.LocalName,
		Proxy:             o.Proxy,
		LMTP:              o.LMTP,
	}
	var e *apiError
	if opts.Timeout, e = durationMs("options_json: timeout_ms", o.TimeoutMs); e != nil {
		return nil, e
	}
	if opts.GreetingTimeout, e = durationMs("options_json: greeting_timeout_ms", o.GreetingTimeoutMs); e != nil {
		return nil, e
	}
	if len(o.Pins) > 0 {
		if _, err := smtp.PinVerifier(o.Pins...); err != nil {
			return nil, invalid("options_json: pins: %v", err)
		}
		opts.Pins = o.Pins
	}
	if o.CAFile != "" {
		if o.CAPEM != "" {
			return nil, invalid("options_json: give ca_pem or ca_file, not both")
		}
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, invalid("options_json: ca_file: %v", err)
		}
		o.CAPEM = string(pem)
	}
	if o.CAPEM != "" || o.ServerName != "" {
		cfg := &tls.Config{ServerName: o.ServerName}
		if o.CAPEM != "" {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(o.CAPEM)) {
				return nil, invalid("options_json: ca_pem holds no PEM certificate")
			}
			cfg.RootCAs = pool
		}
		opts.TLSConfig = cfg
	}
	switch {
	case o.User != "":
		opts.Auth = smtp.PasswordAuth(o.User, o.Password)
	case o.Password != "":
		return nil, invalid("options_json: password without user")
	}
	return opts, nil
}

func parsePoolOptions(s string) (*smtp.PoolOptions, *apiError) {
	var o poolOptionsJSON
	if e := decodeStrict("pool_options_json", s, &o); e != nil {
		return nil, e
	}
	if o.MaxConns < 0 || o.MaxIdle < 0 || o.MaxMessagesPerConn < 0 {
		return nil, invalid("pool_options_json: negative max_conns, max_idle or max_messages_per_conn")
	}
	p := &smtp.PoolOptions{MaxConns: o.MaxConns, MaxIdle: o.MaxIdle, MaxMessagesPerConn: o.MaxMessagesPerConn}
	var e *apiError
	if p.IdleTimeout, e = durationMs("pool_options_json: idle_timeout_ms", o.IdleTimeoutMs); e != nil {
		return nil, e
	}
	if p.MaxLifetime, e = durationMs("pool_options_json: max_lifetime_ms", o.MaxLifetimeMs); e != nil {
		return nil, e
	}
	if p.HealthCheckAfter, e = durationMs("pool_options_json: health_check_after_ms", o.HealthCheckAfterMs); e != nil {
		return nil, e
	}
	return p, nil
}

// checkAddr refuses an address that is not "host:port" (Dial would too,
// but NewPool only at the first send).
func checkAddr(addr string) *apiError {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return invalid("addr %q: %v", addr, err)
	}
	if host == "" || port == "" {
		return invalid("addr %q: want host:port", addr)
	}
	return nil
}

// envelope is a sender and its recipients, as given to a send.
type envelope struct {
	from string
	to   []string
}

// parseEnvelope reads the recipients' JSON array. The addresses themselves
// are checked by the library.
func parseEnvelope(from, recipientsJSON string) (envelope, *apiError) {
	var to []string
	dec := json.NewDecoder(bytes.NewReader([]byte(recipientsJSON)))
	if err := dec.Decode(&to); err != nil {
		return envelope{}, invalid("recipients_json: want a JSON array of strings: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return envelope{}, invalid("recipients_json: data after the JSON array")
	}
	if len(to) == 0 {
		return envelope{}, invalid("recipients_json: no recipient")
	}
	return envelope{from: from, to: to}, nil
}

// invalid makes a MAILWIRE_E_INVALID error.
func invalid(format string, args ...any) *apiError {
	return &apiError{status: statusInvalid, Category: categoryOf(statusInvalid),
		Error: "mailwire: " + fmt.Sprintf(format, args...)}
}
