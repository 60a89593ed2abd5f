package main

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
)

// loadClientCert reads the client certificate of --cert and its key from
// --key, or from the --cert file itself when keyFile is "" (a PEM file may
// hold both, as curl's --cert takes it). Each failure names the file and
// what is wrong with it.
func loadClientCert(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("--cert: %v", err)
	}
	keyPEM, keyFlag := certPEM, "--cert"
	if keyFile != "" {
		if keyPEM, err = os.ReadFile(keyFile); err != nil {
			return tls.Certificate{}, fmt.Errorf("--key: %v", err)
		}
		keyFlag = "--key"
	} else {
		keyFile = certFile
	}
	if !hasPEM(certPEM, func(t string) bool { return t == "CERTIFICATE" }) {
		return tls.Certificate{}, fmt.Errorf("--cert %s: no PEM certificate in it (-----BEGIN CERTIFICATE-----)", certFile)
	}
	if !hasPEM(keyPEM, func(t string) bool { return strings.HasSuffix(t, "PRIVATE KEY") }) {
		if keyFlag == "--cert" {
			return tls.Certificate{}, fmt.Errorf("--cert %s holds no private key: give it with --key FILE", certFile)
		}
		return tls.Certificate{}, fmt.Errorf("--key %s: no PEM private key in it (-----BEGIN PRIVATE KEY-----)", keyFile)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("--cert %s with %s %s: %v", certFile, keyFlag, keyFile, strings.TrimPrefix(err.Error(), "tls: "))
	}
	return cert, nil
}

// hasPEM reports whether data holds a PEM block whose type is wanted.
func hasPEM(data []byte, wanted func(string) bool) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if wanted(b.Type) {
			return true
		}
	}
}
