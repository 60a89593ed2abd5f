// Package certname says what names a certificate is valid for, for the
// library's errors and the logs of package smtplog alike.
package certname

import (
	"crypto/x509"
	"strings"
)

// Of lists the names cert is valid for: its DNS names and IP addresses,
// or its subject's common name when it has neither, or "no name".
func Of(cert *x509.Certificate) string {
	var names []string
	names = append(names, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && cert.Subject.CommonName != "" {
		names = append(names, "CN="+cert.Subject.CommonName)
	}
	if len(names) == 0 {
		return "no name"
	}
	return strings.Join(names, ", ")
}
