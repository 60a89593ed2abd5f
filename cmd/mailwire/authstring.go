package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
)

var authStringHelp = help{
	usage: "mailwire auth-string [flags] plain|login USER",
	about: `Prints what you would type after AUTH in a hand-made session (openssl
s_client, gnutls-cli), replacing gen-auth and "echo -n ... | base64":

  plain   one line, base64("\0USER\0PASSWORD"), to send as "AUTH PLAIN <line>"
  login   two lines, base64(USER) then base64(PASSWORD), to send one by one
          after "AUTH LOGIN" and its two 334 prompts

The password is read without echo from the terminal, or from --password-env
or --password-file; when standard input is not a terminal, its first line is
the password. Base64 is an encoding, not encryption: anyone who sees these
strings can read the password. Send them only over TLS, and keep them out of
logs and tickets. mailwire shell does AUTH for you without showing them.`,
	examples: `  mailwire auth-string plain alice@example.com
  MAILWIRE_PASSWORD=s3cret mailwire auth-string --password-env MAILWIRE_PASSWORD login alice
  mailwire auth-string --password-file ~/.smtp-password plain alice`,
}

func runAuthString(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("auth-string")
	passEnv := fs.String("password-env", "", "read the password from the environment variable `VAR`")
	passFile := fs.String("password-file", "", "read the password from the first line of `file`")
	authzid := fs.String("authzid", "", "PLAIN only: the `identity` to act as (empty: the user itself)")
	pos, code, ok := parseArgs(fs, authStringHelp, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 2 {
		return usageError(stderr, "auth-string", "want a mechanism (plain or login) and a user name")
	}
	mech, user := strings.ToLower(pos[0]), pos[1]
	if mech != "plain" && mech != "login" {
		return usageError(stderr, "auth-string", "unknown mechanism %q: want plain or login", pos[0])
	}
	pass, err := readSecret(*passEnv, *passFile, stdin, stderr, "Password for "+user+": ")
	if err != nil {
		fmt.Fprintln(stderr, "mailwire auth-string:", err)
		return exitNoInput
	}
	lines := authStrings(mech, *authzid, user, pass)
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return exitOK
}

// authStrings returns the base64 lines of AUTH PLAIN (RFC 4616) or LOGIN.
func authStrings(mech, authzid, user, pass string) []string {
	b64 := base64.StdEncoding.EncodeToString
	if mech == "plain" {
		return []string{b64([]byte(authzid + "\x00" + user + "\x00" + pass))}
	}
	return []string{b64([]byte(user)), b64([]byte(pass))}
}
