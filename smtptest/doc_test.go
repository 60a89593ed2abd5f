package smtptest_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// snippetImports are what the documented test may use; the test fails to
// compile, and says so, if the snippet needs more.
const snippetImports = `import (
	"context"
	"strings"
	"testing"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/smtptest"
)
`

// TestDocSnippet compiles and runs the smallest test of the package's doc
// comment and of the README, taken from their text, so that neither can
// drift from what works: each is written into a package of its own inside
// this module and run with go test.
func TestDocSnippet(t *testing.T) {
	if testing.Short() {
		t.Log("-short: the snippets are still extracted and checked, but not run")
	}
	snippets := map[string]string{
		"doc.go":       docSnippet(t, "doc.go"),
		"../README.md": readmeSnippet(t, "../README.md", "<!-- tested: smtptest snippet -->"),
	}
	for from, code := range snippets {
		if !strings.Contains(code, "smtptest.NewServer(nil)") || !strings.Contains(code, "func Test") {
			t.Fatalf("%s: the snippet is not the smallest test (no NewServer(nil) or no func Test):\n%s", from, code)
		}
	}
	if snippets["doc.go"] != snippets["../README.md"] {
		t.Errorf("the README's snippet differs from doc.go's:\n%s\n---\n%s", snippets["../README.md"], snippets["doc.go"])
	}
	if testing.Short() {
		return
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to run the snippet: %v", err)
	}
	for from, code := range snippets {
		dir, err := os.MkdirTemp(".", "docsnippet-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		src := "package docsnippet_test\n\n" + snippetImports + "\n" + code
		if err := os.WriteFile(filepath.Join(dir, "snippet_test.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(goTool, "test", "-count=1", "-run", "^TestWelcome$", "-v", "./"+filepath.Base(dir))
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestWelcome") {
			t.Errorf("%s: the snippet does not pass as written (%v):\n%s\n%s", from, err, src, out)
		}
	}
}

// docSnippet returns the first indented code block of a Go file's package
// comment, unindented.
func docSnippet(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "//\t"):
			in = true
			b.WriteString(strings.TrimPrefix(line, "//\t") + "\n")
		case in && line == "//":
			b.WriteString("\n")
		case in:
			return strings.TrimRight(b.String(), "\n") + "\n"
		}
	}
	t.Fatalf("%s has no indented code block", file)
	return ""
}

// readmeSnippet returns the fenced block that follows marker in a
// Markdown file.
func readmeSnippet(t *testing.T, file, marker string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(data), marker+"\n```go\n")
	if !ok {
		t.Fatalf("%s has no fenced Go block after %q", file, marker)
	}
	code, _, ok := strings.Cut(after, "```\n")
	if !ok {
		t.Fatalf("%s: the block after %q does not end", file, marker)
	}
	return code
}
