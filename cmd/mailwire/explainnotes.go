package main

import (
	"fmt"
	"io"
	"regexp"
)

// toolLines explain the lines a tool writes about the session: curl's
// "* " lines, mailwire's, openssl s_client's and gnutls-cli's.
var toolLines = []struct {
	re    *regexp.Regexp
	notes func(m []string) []string
}{
	{re(`^Trying (\S+?)\.*$`), say("The client opens a TCP connection to %s.")},
	{re(`^Connected to (\S+) \((\S+)\) port (\d+)`), connected},
	{re(`^CAfile: (.+)$`), say("curl trusts the CA certificates in %s (--cacert): any certificate they signed passes. That is not pinning, unless the file holds only the server's own certificate; --pinnedpubkey pins a key.")},
	{re(`^CApath: (.+)$`), func(m []string) []string {
		if m[1] == "none" {
			return nil
		}
		return []string{fmt.Sprintf("curl also trusts the CA certificates in the directory %s.", m[1])}
	}},
	{re(`^Server certificate:?$`), say("The certificate the server presented:")},
	{re(`^subject: `), say("Whom the certificate was issued to.")},
	{re(`^subjectAltName: .*matched`), say("The certificate is valid for the host name the client asked for.")},
	{re(`^issuer: `), say("The CA that signed the certificate.")},
	{re(`^public key pin: (\S+)$`), say("The hash of the certificate's key, %s, in the form mailwire --pin and curl --pinnedpubkey take.")},
	{re(`^TLS handshake, server name (\S+)$`), say("The TLS handshake starts; the certificate must name %s.")},
	{re(`^(\d+) bytes of message content sent`), say("The message itself, %s bytes, which the log does not show.")},
	{re(`^Connection #(\d+) to host (\S+) left intact$`), say("The client keeps connection #%s open for another message; it sent no QUIT, which servers accept.")},
	{re(`^Closing connection`), say("The client closes the connection.")},
	{re(`^RCPT failed: (\d+)$`), say("curl gives up on the message: a recipient was refused (%s). curl stops at the first refused recipient unless --mail-rcpt-allowfails (curl 7.69 and later) is given, and always when none is left.")},
	{re(`^curl: \((\d+)\) (.*)$`), curlError},
	{re(`^CONNECTED\(`), say("openssl s_client has a TCP connection.")},
	{re(`error:[0-9A-F]{8}:SSL routines:[^:]*:(.+?)(?::\.\./|$)`), say("OpenSSL's reason for the failed handshake: %s.")},
	{re(`^RENEGOTIATING`), say("openssl s_client renegotiates TLS when a typed line starts with R (as RCPT does): run it with -quiet or -ign_eof, or type rcpt in lower case. mailwire shell has no such trap.")},
	{re(`^- Handshake was completed`), say("gnutls-cli finished the TLS handshake.")},
	{re(`^- Peer has closed the GNUTLS connection`), say("The server closed the TLS connection.")},
}

func re(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// say makes a note of a format with the first submatch, if it takes one.
func say(format string) func([]string) []string {
	return func(m []string) []string {
		if len(m) > 1 {
			return []string{fmt.Sprintf(format, m[1])}
		}
		return []string{format}
	}
}

func toolNotes(t string) []string {
	for _, l := range toolLines {
		if m := l.re.FindStringSubmatch(t); m != nil {
			return l.notes(m)
		}
	}
	return nil
}

func connected(m []string) []string {
	notes := []string{fmt.Sprintf("The TCP connection to %s (%s), port %s, is open.", m[1], m[2], m[3])}
	switch m[3] {
	case "25":
		notes = append(notes, "Port 25 is for mail between servers; a program submitting mail should use 587 (STARTTLS) or 465 (implicit TLS), where it can log in.")
	case "587":
		notes = append(notes, "Port 587 is mail submission (RFC 6409): the client must switch to TLS with STARTTLS before it logs in.")
	case "465":
		notes = append(notes, "Port 465 is submission over implicit TLS (RFC 8314): TLS from the first byte, before the greeting.")
	}
	return notes
}

// curlErrors are curl's exit codes a mail session ends with.
var curlErrors = map[string]string{
	"6":  "the host name does not resolve",
	"7":  "nothing answered on that port, or a firewall is in the way",
	"28": "the server did not answer in time",
	"35": "the TLS handshake failed",
	"55": "sending failed; for SMTP curl also reports a refused command this way, such as a refused recipient",
	"56": "the connection broke while receiving",
	"60": "the server's certificate could not be verified (unknown CA, wrong name or out of date)",
	"64": "TLS was required (--ssl-reqd) and the server does not offer STARTTLS",
	"67": "the server refused the user name or password",
	"90": "the server's key does not match --pinnedpubkey: the connection was refused, as it would be behind an intercepting proxy",
}

func curlError(m []string) []string {
	if why, ok := curlErrors[m[1]]; ok {
		return []string{fmt.Sprintf("curl gave up with error %s: %s.", m[1], why)}
	}
	return []string{fmt.Sprintf("curl gave up with error %s: %s.", m[1], m[2])}
}

// summary is what the end of the output says, besides the phases.
type summary struct {
	login    string // "PLAIN as \"alice\""
	accepted int
	refused  []string
	failures []failure
	warnings []string
	replies  int // server replies read
}

// failure is a refused command outside the phases (a 421 to EHLO) or
// within them, and the line of the refusal.
type failure struct {
	text string
	line int
}

// write prints the lines, their notes and the summary.
func (x *logExplainer) write(w io.Writer) {
	for _, e := range x.entries {
		fmt.Fprintln(w, e.line)
		for _, n := range e.notes {
			fmt.Fprintf(w, "  # %s\n", n)
		}
	}
	x.writeSummary(w)
}
