// Package progtest builds the example programs and runs them, for the tests
// that keep every example working: each test builds its program with
// `go build`, as a user would, and runs it against an smtptest server.
package progtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailwire/smtp/smtptest"
)

// Build compiles the main package in dir ("." for the package of the
// calling test) into t.TempDir() and returns the executable's path. Under
// go test -race the program gets the race detector too.
func Build(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "prog")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, dir)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	return bin
}

// WriteCA writes srv's CA certificate, in PEM, to a file in t.TempDir()
// and returns its path: what a program's -cafile takes.
func WriteCA(t testing.TB, srv *smtptest.Server) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// Env is the environment of a program: the test's own without any SMTP_
// variable (so that the developer's settings do not leak into a test), and
// extra ("NAME=value") added.
func Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SMTP_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// Result is how a program ended.
type Result struct {
	Code           int // the exit code
	Stdout, Stderr string
}

func (r Result) String() string {
	return fmt.Sprintf("exit code %d\n--- stdout:\n%s--- stderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// Run runs bin with args in the environment Env(env...), waits for it to
// end (a minute at most), and returns its exit code and output.
func Run(t testing.TB, bin string, env []string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = Env(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) || ctx.Err() != nil {
		t.Fatalf("running %s %s: %v (%v)\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, ctx.Err(), stdout.String(), stderr.String())
	}
	return Result{Code: cmd.ProcessState.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String()}
}
