package smtp

// OpenDKIM's opendkim-testmsg as a second, independent DKIM verifier. It
// finds the key in the DNS, as a receiver does: the test answers that one
// TXT query itself on 127.0.0.1:53, and runs opendkim-testmsg in a mount
// namespace of its own whose /etc/resolv.conf names 127.0.0.1. Root only
// (unshare, mount, port 53), as the README's test command runs.

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// opendkimVerify runs opendkim-testmsg on msg (LF line endings, as a
// maildir has it), the key's record served for name, and returns its exit
// error and its words.
func opendkimVerify(t *testing.T, msg []byte, name, record string) (string, error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("opendkim-testmsg needs root here (unshare, mount, port 53): run the README's test command")
	}
	if _, err := exec.LookPath("opendkim-testmsg"); err != nil {
		t.Fatal("opendkim-testmsg is missing: scripts/postfix/up.sh installs opendkim-tools")
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:53")
	if err != nil {
		t.Fatalf("the test's DNS answer on 127.0.0.1:53: %v", err)
	}
	defer pc.Close()
	go serveTXT(pc, name, record)
	dir := t.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	os.WriteFile(resolv, []byte("nameserver 127.0.0.1\n"), 0o644)
	cmd := exec.Command("unshare", "-m", "sh", "-c", `mount --bind "$1" /etc/resolv.conf && exec opendkim-testmsg`, "sh", resolv)
	cmd.Stdin = bytes.NewReader(msg)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// serveTXT answers DNS queries on pc: name's TXT record, NXDOMAIN for
// anything else. One UDP answer is enough for a DKIM key record.
func serveTXT(pc net.PacketConn, name, record string) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := txtAnswer(buf[:n], name, record); resp != nil {
			pc.WriteTo(resp, from)
		}
	}
}

// txtAnswer builds the answer to query q (RFC 1035 section 4.1).
func txtAnswer(q []byte, name, record string) []byte {
	if len(q) < 17 {
		return nil
	}
	var labels []string
	i := 12
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	question := q[12 : i+5]
	qtype := int(q[i+1])<<8 | int(q[i+2])
	resp := append([]byte{q[0], q[1], 0x81, 0x80, 0, 1}, 0, 0, 0, 0, 0, 0)
	resp = append(resp, question...)
	if qtype != 16 || !strings.EqualFold(strings.Join(labels, "."), name) {
		resp[3] = 0x83 // NXDOMAIN
		return resp
	}
	var rdata []byte
	for s := record; len(s) > 0; {
		k := min(255, len(s))
		rdata = append(append(rdata, byte(k)), s[:k]...)
		s = s[k:]
	}
	resp[7] = 1 // one answer
	resp = append(resp, 0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, byte(len(rdata)>>8), byte(len(rdata)))
	return append(resp, rdata...)
}
