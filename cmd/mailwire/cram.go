package main

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// cramMD5 is the answer to a CRAM-MD5 challenge (RFC 2195), in base64 as
// it is sent: the user name, a space, and the lower-case hex HMAC-MD5 of
// the challenge keyed with the password.
func cramMD5(user, pass string, challenge []byte) string {
	mac := hmac.New(md5.New, []byte(pass))
	mac.Write(challenge)
	return base64.StdEncoding.EncodeToString([]byte(user + " " + hex.EncodeToString(mac.Sum(nil))))
}

// readChallenge gets the CRAM-MD5 challenge: from s (--challenge or the
// third argument), or else a line of stdin, after a prompt on a terminal.
func readChallenge(s string, stdin io.Reader, stderr io.Writer) ([]byte, error) {
	if s == "" {
		if _, ok := terminalFd(stdin); ok {
			fmt.Fprint(stderr, "Challenge (the base64 after \"334 \"): ")
		}
		line, err := readLineRaw(stdin)
		if err != nil {
			return nil, errors.New("no challenge: give --challenge BASE64, the third argument, or a line on standard input")
		}
		s = line
	}
	return decodeChallenge(s)
}

// decodeChallenge reads a challenge as the server sent it: base64, with or
// without the "334 " before it; one already decoded ("<1896.697170952@
// postoffice.reston.mci.net>", with its angle brackets) is taken as is.
func decodeChallenge(s string) ([]byte, error) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "334 "))
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		return []byte(s), nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("challenge %q: not base64 (want the text after \"334 \" in the server's reply to AUTH CRAM-MD5)", s)
	}
	return b, nil
}
