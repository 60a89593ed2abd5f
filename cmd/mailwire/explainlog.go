package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailwire/smtp/internal/explain"
)

type lineKind int

const (
	kindSkip lineKind = iota
	kindSent
	kindReceived
	kindInfo // the tool's own words: curl's "* ", swaks's "=== ", openssl's output
)

// prefixes mark who said a line, in the formats explain reads; they are
// matched on the line without its leading blanks.
var prefixes = []struct {
	p    string
	kind lineKind
}{
	{"> ", kindSent}, {"< ", kindReceived}, {"* ", kindInfo},
	{"C: ", kindSent}, {"S: ", kindReceived},
	{"send> ", kindSent}, {"recv> ", kindReceived},
	{"-> ", kindSent}, {"~> ", kindSent}, {"<- ", kindReceived}, {"<~ ", kindReceived},
	{"<** ", kindReceived}, {"<~* ", kindReceived}, {"=== ", kindInfo}, {"*** ", kindInfo},
	{"--> ", kindSent}, {"<-- ", kindReceived}, // msmtp --debug
}

var connPrefix = regexp.MustCompile(`^#(\d+) `)

// splitConnPrefix takes off the "#1 " of a mailwire log's later connections.
func splitConnPrefix(line string) (id, rest string) {
	if m := connPrefix.FindStringSubmatch(line); m != nil {
		return m[1], line[len(m[0]):]
	}
	return "", line
}

// classify tells who said a line, and its text without the prefix.
func classify(line string, c *logConn) (lineKind, string) {
	t := strings.TrimLeft(line, " \t")
	if strings.HasPrefix(t, "{ [") || strings.HasPrefix(t, "} [") || strings.TrimSpace(t) == "" {
		return kindSkip, ""
	}
	for _, p := range prefixes {
		if strings.HasPrefix(t, p.p) {
			return p.kind, strings.TrimSpace(t[len(p.p):])
		}
		if t == strings.TrimSpace(p.p) { // "C:" alone: an empty line
			return p.kind, ""
		}
	}
	t = strings.TrimSpace(t)
	switch {
	case replyShaped(t):
		return kindReceived, t
	case c.data || c.authNext || isCommand(t):
		return kindSent, t
	}
	return kindInfo, t
}

// replyShaped: three digits, then a space, a hyphen or nothing.
func replyShaped(s string) bool {
	if len(s) < 3 || len(s) > 3 && s[3] != ' ' && s[3] != '-' {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s[0] >= '2' && s[0] <= '5'
}

var smtpVerbs = map[string]bool{"HELO": true, "EHLO": true, "LHLO": true, "MAIL": true, "RCPT": true, "DATA": true,
	"BDAT": true, "RSET": true, "NOOP": true, "QUIT": true, "VRFY": true, "EXPN": true, "HELP": true,
	"STARTTLS": true, "AUTH": true, "ETRN": true, "ATRN": true, "TURN": true}

func isCommand(s string) bool {
	verb, arg, _ := strings.Cut(s, " ")
	// "auth = PLAIN" is msmtp's account setting, not a command.
	return smtpVerbs[strings.ToUpper(verb)] && !strings.HasPrefix(arg, "=")
}

// pemBlock folds a PEM certificate (openssl s_client prints them) into one
// line; it reports whether the line was taken.
func (x *logExplainer) pemBlock(c *logConn, raw, t string) bool {
	switch {
	case c.pem < 0 && strings.HasPrefix(t, "-----BEGIN "):
		c.pem, c.pemLines = len(x.entries), 0
		x.add(raw, []string{"A certificate in PEM form (base64 of its DER bytes); mailwire probe shows the same certificate decoded."})
		return true
	case c.pem >= 0 && strings.HasPrefix(t, "-----END "):
		x.entries[c.pem].line += fmt.Sprintf(" [%d lines left out] %s", c.pemLines, t)
		c.pem = -1
		return true
	case c.pem >= 0:
		c.pemLines++
		return true
	}
	return false
}

// tlsFacts gathers what a log says of a handshake, over several lines,
// until the next SMTP line: then the explainer judges it.
type tlsFacts struct {
	entry      int // the line the verdict goes under
	version    uint16
	cipher     uint16
	cipherName string
	verified   int // 1 yes, -1 no, 0 the log does not say
	notAfter   time.Time
	pinEntry   int // the pin line, -1 if none
	pinDepth   int
	pinFailed  bool
}

func (c *logConn) facts() *tlsFacts {
	if c.tls == nil {
		c.tls = &tlsFacts{entry: -1, pinEntry: -1}
	}
	return c.tls
}

var (
	reCurlTLS   = regexp.MustCompile(`^(?:TLSv[\d.]+|SSLv\d) \((IN|OUT)\), TLS (?:handshake|change cipher|alert|header), (.+?) \(\d+\):?$`)
	reOwnTLS    = regexp.MustCompile(`^TLS \((IN|OUT)\), (.+)$`)
	reUsing     = regexp.MustCompile(`^(?:SSL connection using (.+?) / (\S+)|New, (TLSv[\d.]+|SSLv\d), Cipher is (\S+))$`)
	reGnuTLS    = regexp.MustCompile(`^- Description: \((TLS[\d.]+)[^)]*\)-.*-\(([^)]+)\)$`)
	reSwaksTLS  = regexp.MustCompile(`^TLS started with cipher (TLSv[\d.]+|SSLv\d):([^:]+)`) // swaks' "=== TLS started with cipher TLSv1.3:TLS_AES_256_GCM_SHA384:256"
	reMsmtpTLS  = regexp.MustCompile(`^\((TLS[\d.]+)\)-.*-\(([^)]+)\)$`)                     // msmtp's line under "TLS session parameters:"
	reExpire    = regexp.MustCompile(`(?:expire date|NotAfter): ([^;]+)`)
	reOwnPin    = regexp.MustCompile(`^public key pin (\S+) matched (?:chain certificate (\d+)|the server)`)
	reVerifyRet = regexp.MustCompile(`^Verify return code: (\d+) \((.*)\)$`)
)

// tlsMessages are curl's names of TLS messages, as the explainer knows
// them, or a note of our own.
var tlsMessages = map[string]string{
	"Client hello": "ClientHello", "Server hello": "ServerHello", "Certificate": "Certificate",
	"Finished": "Finished", "Newsession Ticket": "NewSessionTicket", "Change cipher spec": "ChangeCipherSpec",
	"Server key exchange": "ServerKeyExchange", "Server finished": "ServerHelloDone",
	"Client key exchange": "ClientKeyExchange", "Request CERT": "CertificateRequest",
	"CERT verify":          "=The server signs the handshake with its certificate's key: it proves it holds that key.",
	"Encrypted Extensions": "=The server's answers to the client's TLS extensions, already encrypted (TLS 1.3).",
	"close notify":         "=A TLS alert saying the connection is closing cleanly (close_notify).",
	"Certificate Status":   "=The certificate's revocation status (OCSP), stapled by the server.",
	// mailwire's names of the same messages
	"CertificateVerify":   "=The server signs the handshake with its certificate's key: it proves it holds that key.",
	"EncryptedExtensions": "=The server's answers to the client's TLS extensions, already encrypted (TLS 1.3).",
	"CertificateStatus":   "=The certificate's revocation status (OCSP), stapled by the server.",
}

// tlsNotes explains a TLS handshake or summary line, and keeps its facts.
func (x *logExplainer) tlsNotes(c *logConn, t string) ([]string, bool) {
	if m := reCurlTLS.FindStringSubmatch(t); m != nil {
		name := tlsMessages[m[2]]
		if m[1] == "OUT" && name == "ClientHello" {
			x.tlsBegun(c, "the client's ClientHello")
		}
		if n, ok := strings.CutPrefix(name, "="); ok {
			return []string{n}, true
		}
		return explain.TLSMessage(name, m[1] == "OUT"), true
	}
	if m := reOwnTLS.FindStringSubmatch(t); m != nil {
		if m[1] == "OUT" && m[2] == "ClientHello (1)" || m[2] == "ClientHello" {
			x.tlsBegun(c, "the client's ClientHello")
		}
		if n, ok := strings.CutPrefix(tlsMessages[m[2]], "="); ok {
			return []string{n}, true
		}
		return explain.TLSMessage(m[2], m[1] == "OUT"), true
	}
	var version, cipher string
	if m := reUsing.FindStringSubmatch(t); m != nil {
		version, cipher = m[1]+m[3], m[2]+m[4]
	} else if m := reGnuTLS.FindStringSubmatch(t); m != nil {
		version, cipher = m[1], m[2]
	} else if m := reSwaksTLS.FindStringSubmatch(t); m != nil {
		version, cipher = m[1], m[2]
	} else if m := reMsmtpTLS.FindStringSubmatch(t); m != nil {
		version, cipher = m[1], m[2]
	}
	if version != "" {
		x.tlsBegun(c, "the TLS handshake")
		f := c.facts()
		f.entry, f.version, f.cipherName = len(x.entries), parseTLSVersion(version), cipher
		f.cipher = cipherID(cipher)
		return nil, true
	}
	return nil, false
}

// infoNotes explains a line of the tool's own: curl's, openssl's, ours.
func (x *logExplainer) infoNotes(c *logConn, t string) []string {
	if notes, ok := x.tlsNotes(c, t); ok {
		return notes
	}
	if m := reExpire.FindStringSubmatch(t); m != nil {
		if at, ok := parseCertTime(m[1]); ok {
			if f := c.facts(); f.notAfter.IsZero() {
				f.notAfter = at
			}
			return []string{fmt.Sprintf("The certificate is valid until %s: %d days from the time of this explanation.", at.Format("2006-01-02"), int(at.Sub(x.now).Hours()/24))}
		}
	}
	if m := reOwnPin.FindStringSubmatch(t); m != nil {
		f := c.facts()
		f.pinEntry = len(x.entries)
		f.pinDepth, _ = strconv.Atoi(m[2])
		return nil
	}
	if m := reVerifyRet.FindStringSubmatch(t); m != nil {
		if m[1] == "0" && c.noPeerCert {
			return []string{"openssl says 0 (ok), but it kept no certificate of the server: nothing was verified."}
		}
		if m[1] == "0" {
			c.facts().verified = 1
			x.complete(phCertificate, "verified: openssl's verify return code is 0 (ok)")
			return []string{"openssl verified the certificate chain."}
		}
		c.facts().verified = -1
		x.fail(phCertificate, "NOT verified: "+m[2])
		c.verifyFailEntry = len(x.entries)
		return []string{fmt.Sprintf("WARNING: openssl could not verify the certificate (%s). A mail client stops here; so does s_client with -verify_return_error.", m[2])}
	}
	if t == "no peer certificate available" {
		c.noPeerCert = true
		return []string{"openssl kept no certificate of the server: the handshake failed before one was accepted, or none came."}
	}
	switch {
	case strings.HasPrefix(t, "SSL certificate verify ok"), strings.HasPrefix(t, "- Status: The certificate is trusted"):
		c.facts().verified = 1
		return []string{"The chain leads to a trusted CA, and the certificate is in date and names this host."}
	case strings.HasPrefix(t, "SSL certificate verify"), strings.HasPrefix(t, "- Status: The certificate is NOT trusted"):
		c.facts().verified = -1
		return nil
	case strings.HasPrefix(t, "public key hash: sha256//"):
		c.facts().pinEntry = len(x.entries)
		return nil
	case strings.HasPrefix(t, "SSL: public key does not match pinned public key"), strings.HasPrefix(t, "Pin check failed"):
		c.facts().pinFailed = true
		return c.sess.Pin(false, 0, nil)
	}
	return toolNotes(t)
}

// flushTLS judges a handshake once its lines are over.
func (x *logExplainer) flushTLS(c *logConn) {
	f := c.tls
	if f == nil {
		return
	}
	c.tls = nil
	if f.version == 0 && f.pinEntry < 0 {
		return
	}
	if f.pinEntry >= 0 && !f.pinFailed {
		notes := c.sess.Pin(true, 0, nil)
		if f.pinDepth > 0 {
			notes = []string{fmt.Sprintf("WARNING: the pin matched only through a CA certificate (%d up the chain): any certificate that CA issues passes.", f.pinDepth)}
		}
		x.entries[f.pinEntry].notes = append(x.entries[f.pinEntry].notes, notes...)
		x.noteWarnings(notes)
	}
	if f.version == 0 {
		return
	}
	c.tlsDesc = fmt.Sprintf("%s, %s", tls.VersionName(f.version), f.cipherName)
	cert := &x509.Certificate{NotAfter: f.notAfter}
	st := tls.ConnectionState{Version: f.version, CipherSuite: f.cipher}
	if !f.notAfter.IsZero() {
		st.PeerCertificates = []*x509.Certificate{cert}
	}
	if f.verified > 0 {
		st.VerifiedChains = [][]*x509.Certificate{{cert}}
	}
	var notes []string
	for _, n := range c.sess.TLS(st, x.now) {
		if f.cipher == 0 {
			n = strings.Replace(n, tls.CipherSuiteName(0), f.cipherName, 1)
		}
		switch {
		case f.verified == 0 && strings.Contains(n, "chain was"):
			n = "The log does not say whether the certificate was verified."
		case f.verified < 0 && strings.Contains(n, "chain was"):
			continue // the failed check has its own warning, above
		}
		notes = append(notes, n)
	}
	c.handshake = &handshakeNotes{f.entry, notes}
	switch x.state(phTLS) {
	case completed:
		x.noteHandshake(c, true)
	case failed:
		x.noteHandshake(c, false)
	}
}

// handshakeNotes are the notes of a handshake's line, held until a server
// reply proves the handshake done or the log ends.
type handshakeNotes struct {
	entry int
	notes []string
}

// noteHandshake writes a handshake's notes under its line: as they are
// when the server answered over TLS; else saying what the log leaves open.
// A server may still abort a TLS 1.3 handshake the client thinks done.
func (x *logExplainer) noteHandshake(c *logConn, proven bool) {
	h := c.handshake
	if h == nil {
		return
	}
	c.handshake = nil
	notes := h.notes
	switch {
	case !proven && x.state(phTLS) == failed:
		notes = []string{fmt.Sprintf("The tool prints the version and cipher it had agreed on (%s), but the handshake failed (line %d): nothing went over it.", c.tlsDesc, x.phases[phTLS].line)}
	case !proven:
		notes = slices.Clone(notes)
		for i, n := range notes {
			if strings.HasSuffix(n, nobodyOnThePath) {
				notes[i] = strings.TrimSuffix(n, nobodyOnThePath) + ": done on the client's side; the log shows no answer of the server over it, which alone proves the session encrypted."
			}
		}
	}
	x.entries[h.entry].notes = append(x.entries[h.entry].notes, notes...)
	x.noteWarnings(notes)
}

// nobodyOnThePath ends the note of a finished handshake.
const nobodyOnThePath = "; from here on nobody on the path can read or change it."

func parseTLSVersion(s string) uint16 {
	s = strings.NewReplacer("v", "", "V", "", " ", "").Replace(s)
	switch s {
	case "TLS1.3":
		return tls.VersionTLS13
	case "TLS1.2":
		return tls.VersionTLS12
	case "TLS1.1":
		return tls.VersionTLS11
	case "TLS1.0", "TLS1":
		return tls.VersionTLS10
	}
	//lint:ignore SA1019 old logs do say SSLv3, and it must be named to be warned about
	return tls.VersionSSL30
}

// openSSLCiphers are the OpenSSL names of common TLS 1.2 suites; TLS 1.3
// suites have the same names in OpenSSL and Go.
var openSSLCiphers = map[string]uint16{
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
}

func cipherID(name string) uint16 {
	if id, ok := openSSLCiphers[name]; ok {
		return id
	}
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, cs := range list {
			if cs.Name == name {
				return cs.ID
			}
		}
	}
	return 0
}

func parseCertTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"Jan _2 15:04:05 2006 GMT", "2006-01-02 15:04:05 GMT", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
