package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

var authStringHelp = help{
	usage: "mailwire auth-string [flags] plain|login|cram-md5 USER [CHALLENGE]",
	about: `Prints what you would type after AUTH in a hand-made session (openssl
s_client, gnutls-cli), replacing gen-auth and "echo -n ... | base64":

  plain     one line, base64("\0USER\0PASSWORD"), to send as "AUTH PLAIN <line>"
  login     two lines, base64(USER) then base64(PASSWORD), to send one by one
            after "AUTH LOGIN" and its two 334 prompts
  cram-md5  one line, the answer to the challenge the server sent after
            "AUTH CRAM-MD5" (RFC 2195): base64("USER " + the hex HMAC-MD5 of
            the challenge, keyed with the password). Give the challenge as
            it came after "334 " (base64), with --challenge or as the third
            argument; without either it is read from standard input, before
            the password (on a pipe: the first line, the password the second)

The password is read without echo from the terminal, or from --password-env
or --password-file; when standard input is not a terminal, its first line is
the password. Base64 is an encoding, not encryption: anyone who sees these
strings can read the password (CRAM-MD5 hides it, but its answer can still
be replayed against that challenge and guessed at offline). Send them only
over TLS, and keep them out of logs and tickets. mailwire shell does AUTH for
you without showing them.`,
	examples: `  mailwire auth-string plain alice@example.com
  MAILWIRE_PASSWORD=s3cret mailwire auth-string --password-env MAILWIRE_PASSWORD login alice
  mailwire auth-string --password-file ~/.smtp-password plain alice
  mailwire auth-string cram-md5 alice --challenge PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+`,
}

func runAuthString(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("auth-string")
	passEnv := fs.String("password-env", "", "read the password from the environment variable `VAR`")
	passFile := fs.String("password-file", "", "read the password from the first line of `file`")
	authzid := fs.String("authzid", "", "PLAIN only: the `identity` to act as (empty: the user itself)")
	challenge := fs.String("challenge", "", "CRAM-MD5 only: the server's challenge, the `base64` text after \"334 \"")
	pos, code, ok := parseArgs(fs, authStringHelp, args, stdout, stderr)
	if !ok {
		return code
	}
	mech, user, err := authArgs(pos, challenge)
	if err != nil {
		return usageError(stderr, "auth-string", "%v", err)
	}
	var chal []byte
	if mech == "cram-md5" {
		if chal, err = readChallenge(*challenge, stdin, stderr); err != nil {
			return usageError(stderr, "auth-string", "%v", err)
		}
	}
	pass, err := readSecret(*passEnv, *passFile, stdin, stderr, "Password for "+user+": ")
	if err != nil {
		fmt.Fprintln(stderr, "mailwire auth-string:", err)
		return exitNoInput
	}
	lines := authStrings(mech, *authzid, user, pass)
	if mech == "cram-md5" {
		lines = []string{cramMD5(user, pass, chal)}
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return exitOK
}

// authArgs reads the mechanism and user, and CRAM-MD5's challenge when it
// is the third argument.
func authArgs(pos []string, challenge *string) (mech, user string, err error) {
	if len(pos) < 2 {
		return "", "", errors.New("want a mechanism (plain, login or cram-md5) and a user name")
	}
	mech, user = strings.ToLower(pos[0]), pos[1]
	switch {
	case mech != "plain" && mech != "login" && mech != "cram-md5":
		return "", "", fmt.Errorf("unknown mechanism %q: want plain, login or cram-md5", pos[0])
	case mech == "cram-md5" && len(pos) == 3 && *challenge == "":
		*challenge = pos[2]
	case len(pos) > 2:
		return "", "", fmt.Errorf("unexpected argument %q", pos[2])
	case mech != "cram-md5" && *challenge != "":
		return "", "", errors.New("--challenge goes with cram-md5 only")
	}
	return mech, user, nil
}

// authStrings returns the base64 lines of AUTH PLAIN (RFC 4616) or LOGIN.
func authStrings(mech, authzid, user, pass string) []string {
	b64 := base64.StdEncoding.EncodeToString
	if mech == "plain" {
		return []string{b64([]byte(authzid + "\x00" + user + "\x00" + pass))}
	}
	return []string{b64([]byte(user)), b64([]byte(pass))}
}
