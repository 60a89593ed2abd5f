package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/mailwire/smtp/internal/explain"
)

// report writes the probe's findings for a person.
func (p *prober) report(w io.Writer) {
	r := &p.res
	via := ""
	if r.ConnectTo != "" {
		via = " via " + r.ConnectTo
	}
	fmt.Fprintf(w, "mailwire probe %s (%s)%s\n\n", r.Server, r.Security, via)
	if sw := r.Switched; sw != nil {
		fmt.Fprintf(w, "* %s failed: %s; trying %s on a new connection\n", sw.Tried, sw.Reason, sw.Flag)
	}
	p.writeLines(w)
	p.writeChain(w)
	fmt.Fprintln(w)
	p.writeSummary(w)
	p.writeWarnings(w)
	p.writeError(w)
}

// writeLines writes the session, each line with its notes.
func (p *prober) writeLines(w io.Writer) {
	r := &p.res
	for i, line := range r.lines {
		fmt.Fprintf(w, "%s\n", line)
		for _, n := range r.notes[i] {
			// The warnings of an EHLO reply are listed at the end.
			if !strings.HasPrefix(n, "WARNING:") && !strings.HasPrefix(n, "Note:") {
				fmt.Fprintf(w, "  # %s\n", n)
			}
		}
	}
}

// writeChain writes the certificate chain and the pin.
func (p *prober) writeChain(w io.Writer) {
	r := &p.res
	if len(r.Certificates) > 0 {
		fmt.Fprintln(w, "\nCertificate chain (the server's first):")
		if r.TLS == nil {
			fmt.Fprintln(w, "  NOT TRUSTED: the handshake failed on this chain")
		}
		for i, c := range r.Certificates {
			fmt.Fprintf(w, "  %d subject: %s\n", i, c.Subject)
			if names := append(append([]string{}, c.DNSNames...), c.IPAddresses...); len(names) > 0 {
				fmt.Fprintf(w, "    names:   %s\n", strings.Join(names, ", "))
			}
			fmt.Fprintf(w, "    issuer:  %s\n", c.Issuer)
			fmt.Fprintf(w, "    expires: %s (in %d days)\n", c.NotAfter.Format("2006-01-02"), c.ExpiresInDays)
			fmt.Fprintf(w, "    key pin: %s\n", c.Pin)
		}
		fmt.Fprintf(w, "\nPin of the server's key (for --pin, curl --pinnedpubkey, smtp.Options.Pins):\n  %s\n", r.Pin)
	}
}

// writeSummary writes the figures: security, TLS, AUTH, sizes.
func (p *prober) writeSummary(w io.Writer) {
	r := &p.res
	if sw := r.Switched; sw != nil && r.Error == "" {
		fmt.Fprintf(w, "Security:           %s (%s); use %s for send and shell\n", portSpeaks(r.Security), sw.Reason, sw.Flag)
	}
	if r.TLS != nil {
		verified := "certificate verified"
		if !r.TLS.Verified {
			verified = "certificate NOT verified"
		}
		fmt.Fprintf(w, "TLS:                %s, %s, %s\n", r.TLS.Version, r.TLS.CipherSuite, verified)
	} else {
		fmt.Fprintln(w, "TLS:                none")
	}
	auth := "none offered"
	if r.EHLO == nil {
		auth = "unknown: the session did not get past TLS"
	} else if len(r.AuthMechanisms) > 0 {
		auth = strings.Join(r.AuthMechanisms, " ")
	}
	fmt.Fprintf(w, "AUTH mechanisms:    %s\n", auth)
	if r.MaxMessageBytes > 0 {
		fmt.Fprintf(w, "Largest message:    %s (%d bytes, SIZE)\n", explain.Bytes(r.MaxMessageBytes), r.MaxMessageBytes)
		fmt.Fprintf(w, "Largest attachment: about %s (%d bytes): SIZE less %s for the header and text, x 76/78 for base64's line breaks, x 3/4 for base64\n",
			explain.Bytes(r.MaxAttachment), r.MaxAttachment, explain.Bytes(r.AttachmentReserve))
	} else {
		fmt.Fprintln(w, "Largest message:    not stated (no SIZE, or SIZE without a number)")
	}
}

// writeWarnings lists what is missing or unsafe. A probe that stopped
// early did not see everything, and says so rather than "nothing found".
func (p *prober) writeWarnings(w io.Writer) {
	r := &p.res
	switch {
	case len(r.Warnings) == 0 && r.Error != "":
		fmt.Fprintln(w, "\nMissing or unsafe:  not known: the probe stopped early (below), before it saw everything")
		return
	case len(r.Warnings) == 0:
		fmt.Fprintln(w, "\nMissing or unsafe:  nothing found")
		return
	}
	fmt.Fprintln(w, "\nMissing or unsafe:")
	for _, s := range r.Warnings {
		fmt.Fprintf(w, "  - %s\n", s)
	}
	if r.Error != "" {
		fmt.Fprintln(w, "  - and what comes after the point where the probe stopped (below) was not checked")
	}
}

// writeError says why the probe stopped early, once: with both attempts
// when the mode was switched.
func (p *prober) writeError(w io.Writer) {
	r := &p.res
	switch {
	case r.Error == "":
	case r.Switched != nil:
		fmt.Fprintf(w, "\nThe probe stopped early, in both modes:\n  with %s: %s\n  with %s: %s\n", r.Switched.Tried, r.Switched.Error, r.Security, r.Error)
	default:
		fmt.Fprintf(w, "\nThe probe stopped early: %s\n", r.Error)
	}
}
