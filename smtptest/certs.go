package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// certs is the throw-away PKI of one Server: a CA and a leaf it signed.
type certs struct {
	caDER  []byte
	ca     *x509.Certificate
	leaf   *x509.Certificate
	server *tls.Config
}

// newCerts makes an ECDSA P-256 CA and a leaf for "localhost", 127.0.0.1
// and ::1, both valid from an hour ago (to survive clock skew between
// processes) to a year from now.
func newCerts() (*certs, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "smtptest CA", Organization: []string{"mailwire smtptest"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}

	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return nil, err
	}
	return &certs{
		caDER: caDER,
		ca:    ca,
		leaf:  leaf,
		server: &tls.Config{
			Certificates: []tls.Certificate{{
				Certificate: [][]byte{leafDER, caDER},
				PrivateKey:  leafKey,
				Leaf:        leaf,
			}},
			MinVersion: tls.VersionTLS12,
		},
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("smtptest: serial number: %v", err))
	}
	return n.Add(n, big.NewInt(1))
}

// ClientTLSConfig returns a new TLS configuration for a client of s: it
// trusts only s's CA, names the server "localhost" (the leaf is also valid
// for 127.0.0.1 and ::1, for a client that sets ServerName to the address's
// host), and requires TLS 1.2 or later. Each call returns a fresh Config
// that the caller may change.
func (s *Server) ClientTLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(s.certs.ca)
	return &tls.Config{
		RootCAs:    pool,
		ServerName: "localhost",
		MinVersion: tls.VersionTLS12,
	}
}

// CACertPEM returns the CA certificate in PEM form, for code under test that
// loads its trust anchors from a file or a PEM string.
func (s *Server) CACertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.certs.caDER})
}

// Certificate returns the leaf certificate the server presents, for tests
// of certificate checks (expiry, names, fingerprints).
func (s *Server) Certificate() *x509.Certificate {
	return s.certs.leaf
}

// Pin returns the leaf's public key pin in curl's --pinnedpubkey form:
// "sha256//" followed by the standard base64 of the SHA-256 of the leaf's
// DER SubjectPublicKeyInfo, for testing a client's key pinning.
func (s *Server) Pin() string {
	sum := sha256.Sum256(s.certs.leaf.RawSubjectPublicKeyInfo)
	return "sha256//" + base64.StdEncoding.EncodeToString(sum[:])
}
