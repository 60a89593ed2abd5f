package smtp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// DANE for SMTP (RFC 7672): an MX host's TLSA records, trusted only when
// a validating resolver vouches for them (the AD bit), decide which
// certificate the host must present; with them, TLS is mandatory.

// ErrDANEMismatch is the error of a host whose certificate matches none of
// its usable TLSA records.
var ErrDANEMismatch = errors.New("smtp: the certificate matches none of the host's TLSA records (DANE)")

// TLSA certificate usages, selectors and matching types (RFC 6698, RFC
// 7218); SMTP uses only DANE-TA(2) and DANE-EE(3) (RFC 7672 section 3.1).
const (
	tlsaUsageDANETA = 2
	tlsaUsageDANEEE = 3
)

// tlsaRecord is one TLSA record's data.
type tlsaRecord struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte
}

func (r tlsaRecord) String() string {
	return fmt.Sprintf("%d %d %d %x", r.Usage, r.Selector, r.MatchingType, r.Data)
}

// usable says whether SMTP may use r: DANE-TA or DANE-EE, a known
// selector and matching type (RFC 7672 section 2.2).
func (r tlsaRecord) usable() bool {
	return (r.Usage == tlsaUsageDANETA || r.Usage == tlsaUsageDANEEE) && r.Selector <= 1 && r.MatchingType <= 2
}

// matches says whether cert is what r describes.
func (r tlsaRecord) matches(cert *x509.Certificate) bool {
	data := cert.Raw
	if r.Selector == 1 {
		data = cert.RawSubjectPublicKeyInfo
	}
	switch r.MatchingType {
	case 1:
		sum := sha256.Sum256(data)
		data = sum[:]
	case 2:
		sum := sha512.Sum512(data)
		data = sum[:]
	}
	return bytes.Equal(data, r.Data)
}

// tlsaLookup is the outcome of a host's TLSA lookup.
type tlsaLookup struct {
	Records []tlsaRecord // the usable ones, when Secure
	Found   int          // records in the answer, usable or not
	Secure  bool         // the resolver validated the answer (AD)
}

// lookupTLSA asks for _port._tcp.host's TLSA records. A failed lookup
// (SERVFAIL: a bogus answer, or no answer) is an error: the host cannot
// be trusted, nor known to have none (RFC 7672 section 2.2).
func (d *dnsClient) lookupTLSA(ctx context.Context, host, port string) (tlsaLookup, error) {
	name := "_" + port + "._tcp." + host
	r, err := d.query(ctx, name, dns.TypeTLSA)
	if err != nil {
		return tlsaLookup{}, err
	}
	switch r.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return tlsaLookup{}, fmt.Errorf("smtp: DNS TLSA %s: %s (a bogus DNSSEC answer, or none)", name, dns.RcodeToString[r.Rcode])
	}
	out := tlsaLookup{Secure: r.AuthenticatedData}
	for _, rr := range r.Answer {
		t, ok := rr.(*dns.TLSA)
		if !ok {
			continue
		}
		out.Found++
		data, err := hexBytes(t.Certificate)
		rec := tlsaRecord{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data}
		if err == nil && rec.usable() {
			out.Records = append(out.Records, rec)
		}
	}
	return out, nil
}

func hexBytes(s string) ([]byte, error) { return hex.DecodeString(s) }

// daneVerifier checks a server's chain against records, for host (the MX
// host name, the reference identifier of DANE-TA; DANE-EE checks no name
// and no dates, RFC 7672 section 3.1).
func daneVerifier(records []tlsaRecord, host string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		chain := cs.PeerCertificates
		if len(chain) == 0 {
			return fmt.Errorf("%w: no certificate", ErrDANEMismatch)
		}
		var taErr error
		for _, r := range records {
			switch r.Usage {
			case tlsaUsageDANEEE:
				if r.matches(chain[0]) {
					return nil
				}
			case tlsaUsageDANETA:
				for i, ta := range chain[1:] {
					if !r.matches(ta) {
						continue
					}
					if taErr = verifyToAnchor(chain[0], chain[1:i+1], ta, host); taErr == nil {
						return nil
					}
				}
			}
		}
		if taErr != nil {
			return fmt.Errorf("%w: %v", ErrDANEMismatch, taErr)
		}
		return ErrDANEMismatch
	}
}

// verifyToAnchor checks that leaf chains to the trust anchor ta, through
// intermediates, and names host.
func verifyToAnchor(leaf *x509.Certificate, intermediates []*x509.Certificate, ta *x509.Certificate, host string) error {
	roots := x509.NewCertPool()
	roots.AddCert(ta)
	inter := x509.NewCertPool()
	for _, c := range intermediates {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: strings.TrimSuffix(host, "."),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// daneTLSConfig is base for a DANE host: the chain checked by the TLSA
// records instead of the Web PKI, the server name the host's.
func daneTLSConfig(base *tls.Config, records []tlsaRecord, host string) *tls.Config {
	cfg := &tls.Config{}
	if base != nil {
		cfg = base.Clone()
	}
	cfg.ServerName = host
	cfg.InsecureSkipVerify = true // the Web PKI is not the authority here: the TLSA records are
	cfg.VerifyConnection = daneVerifier(records, host)
	return cfg
}
