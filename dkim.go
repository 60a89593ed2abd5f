package smtp

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIM signs every message a Client sends (RFC 6376) with
// github.com/emersion/go-msgauth: RSA-SHA256, or Ed25519-SHA256 (RFC 8463),
// relaxed/relaxed. What is signed is what goes on the wire: the message
// after mailwire's own changes to it (line endings made CRLF, 8-bit text
// re-encoded for a server without 8BITMIME), so no change of ours can
// break the signature. The body is hashed in a first pass over the
// message, and the message sent in a second: a message that can be sought
// back (an io.Seeker) is read twice; any other is kept in memory up to
// SpoolThreshold and in a temporary file past it, never more in memory.
type DKIM struct {
	// Domain (d=) and Selector (s=): the key is published as a TXT record
	// at Selector._domainkey.Domain (DKIMRecord writes it).
	Domain, Selector string
	// Key signs: an *rsa.PrivateKey (2048 bits or more advised) or an
	// ed25519.PrivateKey. ParseDKIMKey reads one from PEM.
	Key crypto.Signer
	// HeaderKeys are the fields signed; nil: DefaultDKIMHeaders, with From
	// listed twice so that a From added on the way breaks the signature
	// (oversigning).
	HeaderKeys []string
	// SpoolThreshold is how much of a message that cannot be sought back
	// is kept in memory to be signed; past it, the message goes to a
	// temporary file in SpoolDir (removed once sent). 0: 1 MiB.
	SpoolThreshold int64
	// SpoolDir is where the temporary files go; "": os.TempDir().
	SpoolDir string
}

// DefaultDKIMHeaders are the fields signed when DKIM.HeaderKeys is nil
// (RFC 6376 section 5.4.1's advice); From twice, to oversign it.
var DefaultDKIMHeaders = []string{"From", "From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"}

// defaultSpoolThreshold is DKIM.SpoolThreshold's default.
const defaultSpoolThreshold = 1 << 20

func (d *DKIM) options() *dkim.SignOptions {
	keys := d.HeaderKeys
	if keys == nil {
		keys = DefaultDKIMHeaders
	}
	return &dkim.SignOptions{Domain: d.Domain, Selector: d.Selector, Signer: d.Key, Hash: crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed, HeaderKeys: keys}
}

// check refuses a DKIM configuration before anything is sent.
func (d *DKIM) check() error {
	if d.Domain == "" || d.Selector == "" || d.Key == nil {
		return errInput("Options.DKIM needs Domain, Selector and Key")
	}
	if _, err := dkim.NewSigner(d.options()); err != nil {
		return errInput("Options.DKIM: %v", err)
	}
	return nil
}

// signDKIM returns msg signed for this server, and a function that
// releases what signing kept (a spool file).
func (c *Client) signDKIM(msg io.Reader) (io.Reader, func(), error) {
	src, release, err := c.opts.DKIM.rereadable(msg)
	if err != nil {
		return nil, release, err
	}
	sig, eightBit, err := c.opts.DKIM.sign(src)
	if err != nil {
		return nil, release, err
	}
	if eightBit && !c.ext.has("8BITMIME") {
		// Re-encode first, as Send would, and sign what goes out.
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			return nil, release, err
		}
		converted, err := downgrade(src)
		if err != nil {
			return nil, release, err
		}
		body := converted.(*bytes.Buffer).Bytes()
		if sig, _, err = c.opts.DKIM.sign(bytes.NewReader(body)); err != nil {
			return nil, release, err
		}
		return bytes.NewReader(append([]byte(sig), body...)), release, nil
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return nil, release, err
	}
	if b, ok := src.(*bytes.Reader); ok { // in memory: one read-ahead, an exact size
		body := make([]byte, b.Len())
		b.Read(body)
		return bytes.NewReader(append([]byte(sig), body...)), release, nil
	}
	return &signedReader{Reader: io.MultiReader(bytes.NewReader([]byte(sig)), src), size: int64(len(sig)) + sizeOf(src)}, release, nil
}

// sizeOf is the size of a seekable source, from where it is now.
func sizeOf(s io.Seeker) int64 {
	pos, _ := s.Seek(0, io.SeekCurrent)
	end, _ := s.Seek(0, io.SeekEnd)
	s.Seek(pos, io.SeekStart)
	return end - pos
}

// signedReader is the signature field and the message, with the message's
// size for SIZE.
type signedReader struct {
	io.Reader
	size int64
}

func (r *signedReader) Size() int64 { return r.size }

// rereadable returns a source of msg that can be sought back to its
// start: msg itself when it can be (from where it is now), else a copy in
// memory or, past SpoolThreshold, in a temporary file.
func (d *DKIM) rereadable(msg io.Reader) (io.ReadSeeker, func(), error) {
	if st := startOf(msg); st.s != nil {
		return &sectionFrom{r: msg, s: st.s, start: st.pos}, func() {}, nil
	}
	limit := d.SpoolThreshold
	if limit <= 0 {
		limit = defaultSpoolThreshold
	}
	mem := make([]byte, limit+1) // one allocation of the threshold, not a doubling buffer
	n, err := io.ReadFull(msg, mem)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, func() {}, fmt.Errorf("smtp: reading the message to sign it: %w", err)
	}
	if int64(n) <= limit {
		return bytes.NewReader(mem[:n]), func() {}, nil
	}
	f, err := os.CreateTemp(d.SpoolDir, "mailwire-dkim-*.eml")
	if err != nil {
		return nil, func() {}, fmt.Errorf("smtp: a spool file for DKIM: %w", err)
	}
	release := func() { f.Close(); os.Remove(f.Name()) }
	if _, err := f.Write(mem[:n]); err != nil {
		return nil, release, err
	}
	if _, err := io.Copy(f, msg); err != nil {
		return nil, release, fmt.Errorf("smtp: spooling the message to sign it: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, release, err
	}
	return f, release, nil
}

// sectionFrom is a seekable message read from the position it had when
// Send got it: offset 0 is that position.
type sectionFrom struct {
	r     io.Reader
	s     io.Seeker
	start int64
}

func (x *sectionFrom) Read(p []byte) (int, error) { return x.r.Read(p) }

func (x *sectionFrom) Seek(off int64, whence int) (int64, error) {
	if whence == io.SeekStart {
		off += x.start
	}
	n, err := x.s.Seek(off, whence)
	return n - x.start, err
}

// sign hashes src as the wire will carry it (line endings made CRLF by the
// writer that sends it) and returns the DKIM-Signature field, and whether
// src holds 8-bit bytes.
func (d *DKIM) sign(src io.Reader) (sig string, eightBit bool, err error) {
	s, err := dkim.NewSigner(d.options())
	if err != nil {
		return "", false, errInput("Options.DKIM: %v", err)
	}
	bw := bufio.NewWriter(s)
	var dw dotWriter
	dw.resetChunk(bw) // the writer of BDAT content: CRLF line endings, no dot-stuffing
	buf := make([]byte, copyBufSize)
	for {
		n, rerr := src.Read(buf)
		eightBit = eightBit || has8bit(buf[:n])
		dw.Write(buf[:n])
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			s.Close()
			return "", false, fmt.Errorf("smtp: reading the message to sign it: %w", rerr)
		}
	}
	dw.close()
	if err := bw.Flush(); err != nil {
		return "", false, err
	}
	if err := s.Close(); err != nil {
		return "", false, fmt.Errorf("smtp: DKIM: %w", err)
	}
	return s.Signature(), eightBit, nil
}

// ParseDKIMKey reads a private key for DKIM from PEM: PKCS#1 ("RSA
// PRIVATE KEY") or PKCS#8 ("PRIVATE KEY", RSA or Ed25519).
func ParseDKIMKey(pemBytes []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errInput("no PEM block in the DKIM key")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errInput("the DKIM key: %v", err)
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errInput("the DKIM key: %v", err)
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		}
		return nil, errInput("the DKIM key is a %T: want RSA or Ed25519", k)
	}
	return nil, errInput("the DKIM key is a PEM %q block: want RSA PRIVATE KEY or PRIVATE KEY", block.Type)
}

// DKIMRecord is the TXT record that publishes key's public half, for
// Selector._domainkey.Domain: "v=DKIM1; k=rsa; p=MIIB..." (or k=ed25519).
func DKIMRecord(key crypto.Signer) (string, error) {
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", errInput("a DKIM key of type %T: want RSA or Ed25519", key.Public())
}
