package smtp

import (
	"strconv"
	"strings"
)

// extensions is the service extension table of the last EHLO reply
// (RFC 5321 section 4.1.1.1): keyword, upper-cased on store, to its
// parameters as the server sent them.
type extensions map[string]string

// parseEHLO builds the table from an EHLO reply's message: the first line is
// the server's greeting, each later line a keyword and its parameters.
func parseEHLO(message string) extensions {
	ext := extensions{}
	lines := strings.Split(message, "\n")
	for _, line := range lines[1:] {
		keyword, params, _ := strings.Cut(strings.TrimSpace(line), " ")
		if keyword == "" {
			continue
		}
		ext[strings.ToUpper(keyword)] = strings.TrimSpace(params)
	}
	return ext
}

// has reports whether keyword (upper case) was offered.
func (e extensions) has(keyword string) bool {
	_, ok := e[keyword]
	return ok
}

// maxSize is the SIZE parameter (RFC 1870): the largest message the server
// takes, 0 when it announced no limit or no SIZE.
func (e extensions) maxSize() int64 {
	v := e["SIZE"]
	if v == "" { // no SIZE, or no figure: and no error to allocate
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Limits are what a server states with the LIMITS extension (RFC 9422);
// a zero field is a limit it did not state.
type Limits struct {
	// RcptMax is the most recipients one transaction may have (RCPTMAX).
	RcptMax int
	// MailMax is the most transactions one connection may carry (MAILMAX).
	MailMax int
	// RcptDomainMax is the most recipient domains one transaction may
	// have (RCPTDOMAINMAX).
	RcptDomainMax int
}

// limits reads LIMITS ("RCPTMAX=100 MAILMAX=1000"); a value that is not a
// positive number is no limit.
func (e extensions) limits() Limits {
	var l Limits
	for _, kv := range strings.Fields(e["LIMITS"]) {
		name, value, _ := strings.Cut(kv, "=")
		n, err := strconv.Atoi(value)
		if err != nil || n <= 0 {
			continue
		}
		switch strings.ToUpper(name) {
		case "RCPTMAX":
			l.RcptMax = n
		case "MAILMAX":
			l.MailMax = n
		case "RCPTDOMAINMAX":
			l.RcptDomainMax = n
		}
	}
	return l
}

// Limits returns the limits the server stated in its last EHLO reply with
// the LIMITS extension (RFC 9422). Send keeps to RcptMax and
// RcptDomainMax by itself; a Pool opens a new connection after MailMax
// transactions.
func (c *Client) Limits() Limits { return c.ext.limits() }

// Extension reports whether the server offered the service extension name
// in its last EHLO reply, and the parameters it gave (e.g. "PLAIN LOGIN" for
// AUTH). The name is matched case-insensitively. After STARTTLS only the
// extensions offered over TLS count.
func (c *Client) Extension(name string) (ok bool, params string) {
	params, ok = c.ext[strings.ToUpper(name)]
	return ok, params
}

// MaxMessageSize returns the largest message size in bytes the server
// accepts, from its SIZE extension (RFC 1870), or 0 when it gave none.
func (c *Client) MaxMessageSize() int64 { return c.ext.maxSize() }
