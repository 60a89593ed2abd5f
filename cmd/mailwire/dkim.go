package main

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mailwire/smtp"
)

var dkimHelp = help{
	usage: "mailwire dkim keygen [--type rsa|ed25519] [--bits N] --out KEY.pem\n       mailwire dkim record KEY.pem [--domain D --selector S]",
	about: `keygen writes a new DKIM private key (PKCS#8 PEM, mode 0600) and prints
the DNS TXT record that publishes its public half; record prints that record
for an existing key (PKCS#1 or PKCS#8, RSA or Ed25519). With --domain and
--selector the record's name is printed too, as a zone file line:

  S._domainkey.D. IN TXT "v=DKIM1; k=rsa; p=MIIB..."

A record longer than 255 characters (RSA 2048) is split into quoted strings
of 255, as DNS TXT records must be. mailwire send --dkim-key KEY.pem
--dkim-domain D --dkim-selector S signs what it sends with it.`,
	examples: `  mailwire dkim keygen --out mail2026.pem --domain example.com --selector mail2026
  mailwire dkim keygen --type ed25519 --out ed.pem
  mailwire dkim record mail2026.pem --domain example.com --selector mail2026`,
}

func runDKIM(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("dkim")
	keyType := fs.String("type", "rsa", "the key `type`: rsa or ed25519 (keygen)")
	bits := fs.Int("bits", 2048, "the RSA key's size in `bits` (keygen)")
	out := fs.String("out", "", "write the new key to this `file` (keygen; it must not exist)")
	domain := fs.String("domain", "", "the signing `domain` (d=), for the record's name")
	selector := fs.String("selector", "", "the `selector` (s=), for the record's name")
	pos, code, ok := parseArgs(fs, dkimHelp, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return usageError(stderr, "dkim", "want keygen or record")
	}
	var key crypto.Signer
	switch pos[0] {
	case "keygen":
		if *out == "" || len(pos) != 1 {
			return usageError(stderr, "dkim", "keygen wants --out FILE and no other argument")
		}
		var err error
		if key, err = newDKIMKey(*keyType, *bits); err != nil {
			return usageError(stderr, "dkim", "%v", err)
		}
		if err := writeKey(*out, key); err != nil {
			fmt.Fprintln(stderr, "mailwire dkim:", err)
			return exitCantCreate
		}
		fmt.Fprintf(stderr, "mailwire dkim: wrote the private key to %s; publish this record:\n", *out)
	case "record":
		if len(pos) != 2 {
			return usageError(stderr, "dkim", "record wants the key file")
		}
		data, err := os.ReadFile(pos[1])
		if err != nil {
			fmt.Fprintln(stderr, "mailwire dkim:", err)
			return exitNoInput
		}
		if key, err = smtp.ParseDKIMKey(data); err != nil {
			fmt.Fprintln(stderr, "mailwire dkim:", err)
			return exitDataErr
		}
	default:
		return usageError(stderr, "dkim", "unknown %q: want keygen or record", pos[0])
	}
	record, err := smtp.DKIMRecord(key)
	if err != nil {
		fmt.Fprintln(stderr, "mailwire dkim:", err)
		return exitDataErr
	}
	fmt.Fprintln(stdout, zoneLine(*domain, *selector, record))
	return exitOK
}

// newDKIMKey makes a key of the type asked.
func newDKIMKey(keyType string, bits int) (crypto.Signer, error) {
	switch strings.ToLower(keyType) {
	case "rsa":
		if bits < 1024 || bits > 8192 {
			return nil, fmt.Errorf("--bits %d: want 1024 to 8192 (2048 is what receivers expect)", bits)
		}
		return rsa.GenerateKey(rand.Reader, bits)
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("--type %q: want rsa or ed25519", keyType)
}

// writeKey writes key as PKCS#8 PEM to a new file only its owner reads.
func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// zoneLine is the record as DNS wants it: strings of at most 255
// characters, and with a name when domain and selector are known.
func zoneLine(domain, selector, record string) string {
	var quoted []string
	for len(record) > 255 {
		quoted = append(quoted, `"`+record[:255]+`"`)
		record = record[255:]
	}
	quoted = append(quoted, `"`+record+`"`)
	value := strings.Join(quoted, " ")
	if domain == "" || selector == "" {
		return value
	}
	return fmt.Sprintf("%s._domainkey.%s. IN TXT %s", selector, strings.TrimSuffix(domain, "."), value)
}

// dkimFlags are send's signing flags.
type dkimFlags struct {
	key, domain, selector string
}

func (d *dkimFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.key, "dkim-key", "", "sign with DKIM with the private key in this PEM `file` (see mailwire dkim)")
	fs.StringVar(&d.domain, "dkim-domain", "", "the DKIM signing `domain` (d=)")
	fs.StringVar(&d.selector, "dkim-selector", "", "the DKIM `selector` (s=)")
}

// options reads the key: nil when no --dkim-key.
func (d *dkimFlags) options() (*smtp.DKIM, error) {
	if d.key == "" {
		if d.domain != "" || d.selector != "" {
			return nil, fmt.Errorf("--dkim-domain and --dkim-selector go with --dkim-key")
		}
		return nil, nil
	}
	if d.domain == "" || d.selector == "" {
		return nil, fmt.Errorf("--dkim-key wants --dkim-domain and --dkim-selector")
	}
	data, err := os.ReadFile(d.key)
	if err != nil {
		return nil, err
	}
	key, err := smtp.ParseDKIMKey(data)
	if err != nil {
		return nil, err
	}
	return &smtp.DKIM{Domain: d.domain, Selector: d.selector, Key: key}, nil
}
