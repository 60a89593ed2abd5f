package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// keygen writes a key only its owner reads and prints the record, named
// and split into strings of 255; record prints the same from the file;
// send --dkim-key signs with it, and go-msgauth verifies what arrived
// against that very record.
func TestDKIMCommandAndSigning(t *testing.T) {
	t.Parallel()
	for _, keyType := range []string{"rsa", "ed25519"} {
		key := filepath.Join(t.TempDir(), "k.pem")
		code, out, stderr := runCLI(t, "dkim", "keygen", "--type", keyType, "--out", key, "--domain", "example.com", "--selector", "mw")
		if code != exitOK || !strings.HasPrefix(out, `mw._domainkey.example.com. IN TXT "v=DKIM1; k=`+keyType+`; p=`) {
			t.Fatalf("keygen %s: exit %d, %q, %s", keyType, code, out, stderr)
		}
		if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key file: %v, %v", fi.Mode(), err)
		}
		if keyType == "rsa" && !strings.Contains(out, `" "`) {
			t.Errorf("an RSA record is not split into strings of 255: %s", out)
		}
		code, again, _ := runCLI(t, "dkim", "record", key, "--domain", "example.com", "--selector", "mw")
		if code != exitOK || again != out {
			t.Errorf("record: exit %d, %q, want %q", code, again, out)
		}
		if code, _, _ := runCLI(t, "dkim", "keygen", "--out", key); code != exitCantCreate {
			t.Errorf("keygen over an existing file: exit %d", code)
		}

		srv, base := sendServer(t, nil)
		code, _, stderr = runWith(t, runSend, "", append(slices.Clone(base), "--to", "bob@example.com", "--subject", "signed", "--body", "hi",
			"--dkim-key", key, "--dkim-domain", "example.com", "--dkim-selector", "mw")...)
		if code != exitOK {
			t.Fatalf("send --dkim-key: exit %d, %s", code, stderr)
		}
		record := strings.ReplaceAll(strings.TrimSuffix(strings.SplitN(out, " IN TXT ", 2)[1], "\n"), `" "`, "")
		record = strings.Trim(record, `"`)
		verifs, err := dkim.VerifyWithOptions(bytes.NewReader(srv.Messages()[0].Raw), &dkim.VerifyOptions{
			LookupTXT: func(string) ([]string, error) { return []string{record}, nil }})
		if err != nil || len(verifs) != 1 || verifs[0].Err != nil {
			t.Errorf("%s: the message does not verify: %v %v", keyType, err, verifs)
		}
	}
	if code, _, _ := runCLI(t, "dkim", "record", "/nonexistent.pem"); code != exitNoInput {
		t.Errorf("record of a missing file: exit %d", code)
	}
	if code, _, _ := runCLI(t, "dkim", "keygen", "--type", "dsa", "--out", filepath.Join(t.TempDir(), "x")); code != exitUsage {
		t.Errorf("keygen --type dsa: exit %d", code)
	}
}
