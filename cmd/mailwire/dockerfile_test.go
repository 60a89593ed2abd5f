package main

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The Dockerfile at the root, checked without a Docker daemon: its Go
// image is at least the go line of go.mod; its build command, run here as
// written, gives a static binary (the distroless static image has no
// libc); and its entry point, with the ports moved to free ones as a
// `docker run` argument would, starts the server, whose API answers, and
// SIGTERM (docker stop) ends it with status 0.
func TestDockerfile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command: not in -short")
	}
	t.Parallel()
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(df)

	goLine := regexp.MustCompile(`(?m)^go 1\.(\d+)`).FindStringSubmatch(readFile(t, "../../go.mod"))
	image := regexp.MustCompile(`(?m)^FROM golang:1\.(\d+)`).FindStringSubmatch(text)
	if goLine == nil || image == nil {
		t.Fatalf("go.mod's go line %v, the build image %v: want both as 1.N", goLine, image)
	}
	if minor := func(s string) int { n, _ := strconv.Atoi(s); return n }; minor(image[1]) < minor(goLine[1]) {
		t.Errorf("the build image golang:1.%s is older than go.mod's go 1.%s", image[1], goLine[1])
	}

	build := regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0) go build (.*) -o /out/mailwire (\./cmd/mailwire)$`).FindStringSubmatch(text)
	if build == nil {
		t.Fatal("no `RUN CGO_ENABLED=0 go build ... -o /out/mailwire ./cmd/mailwire` line")
	}
	bin := filepath.Join(t.TempDir(), "mailwire")
	args := append(append([]string{"build"}, strings.Fields(build[2])...), "-o", bin, build[3])
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), build[1])
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary needs a dynamic loader; the static image has none")
		}
	}
	f.Close()

	m := regexp.MustCompile(`(?m)^ENTRYPOINT (\[.*\])$`).FindStringSubmatch(text)
	var entry []string
	if m == nil || json.Unmarshal([]byte(m[1]), &entry) != nil || len(entry) < 2 || entry[0] != "/mailwire" {
		t.Fatalf("ENTRYPOINT %v: want a JSON list that runs /mailwire", m)
	}
	if !strings.Contains(text, "EXPOSE 2525 8025") || !strings.Contains(m[1], `"0.0.0.0:2525"`) || !strings.Contains(m[1], `"0.0.0.0:8025"`) {
		t.Errorf("the ports exposed and the ports listened on differ")
	}
	run := exec.Command(bin, append(entry[1:], "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")...)
	stdout, _ := run.StdoutPipe()
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer run.Process.Kill()
	var api string
	for sc := bufio.NewScanner(stdout); sc.Scan() && api == ""; {
		if rest, ok := strings.CutPrefix(sc.Text(), "http "); ok {
			api = "http://" + rest
		}
	}
	var info struct{ SMTP string }
	getJSON(t, api+"/api/server", 200, &info)
	if !strings.HasPrefix(info.SMTP, "127.0.0.1:") {
		t.Errorf("the server listens on %q", info.SMTP)
	}
	run.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("still running 20s after SIGTERM")
	}
	if _, err := http.Get(api + "/api/server"); err == nil {
		t.Error("the API still answers after SIGTERM")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
