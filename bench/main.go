// Command bench compares mailwire with Go's net/smtp and
// github.com/emersion/go-smtp's client on the same scenarios, against
// go-smtp's server run as a sink in a child process, and writes the table
// to RESULTS.md. Run it with `go run .` from this directory; see README.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// watchdog ends a run that hangs (net/smtp has no timeouts of its own).
const watchdog = 5 * time.Minute

func main() {
	quick := flag.Bool("quick", false, "smaller runs, for a quick look (not for the record)")
	only := flag.String("only", "", "run only these scenarios, e.g. -only a,c")
	wire := flag.Bool("wire", false, "print what goes over the wire in (b) and (d)")
	serve := flag.Bool("serve", false, "") // internal: run as the sink
	flag.Usage = usage
	flag.Parse()

	if *serve {
		if err := serveSink(); err != nil {
			fmt.Fprintln(os.Stderr, "sink:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*quick, *only, *wire); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: go run . [-quick] [-only a,b,c,d,e,f,g,h,i,j] [-wire]\n")
	flag.VisitAll(func(f *flag.Flag) {
		if f.Name != "serve" {
			fmt.Fprintf(os.Stderr, "  -%s\t%s\n", f.Name, f.Usage)
		}
	})
}

// scenarios in table order.
var scenarios = []struct {
	key string
	run func(*bench) []*row
}{
	{"a", (*bench).loopback},
	{"b", (*bench).latency},
	{"c", (*bench).bigMessage},
	{"d", (*bench).handshake},
	{"e", (*bench).pool},
	{"f", (*bench).dataPath},
	{"g", (*bench).poolCPU},
	{"h", (*bench).traceCost},
	{"i", (*bench).volume},
	{"j", (*bench).serveIntake},
}

func run(quick bool, only string, wire bool) error {
	start := time.Now()
	time.AfterFunc(watchdog, func() {
		fmt.Fprintf(os.Stderr, "bench: still running after %v: giving up\n", watchdog)
		os.Exit(2)
	})
	selected := map[string]bool{}
	for _, k := range strings.Split(only, ",") {
		if k = strings.TrimSpace(strings.ToLower(k)); k != "" {
			selected[k] = true
		}
	}
	for k := range selected {
		if !strings.Contains("abcdefghij", k) || len(k) != 1 {
			return fmt.Errorf("-only: unknown scenario %q (want a, b, c, d, e, f, g, h, i or j)", k)
		}
	}

	load := loadAverage()
	if l, err := strconv.ParseFloat(load, 64); err == nil && l > 1 {
		fmt.Fprintf(os.Stderr, "bench: load average %s: other work is running, the timings will be noisy\n", load)
	}

	sink, err := startSink()
	if err != nil {
		return err
	}
	defer sink.stop()
	roots, err := sink.roots()
	if err != nil {
		return err
	}
	b := &bench{cfg: fullConfig, sink: sink.sinkInfo, sinkCPU: sink.cpuTime, opts: dialOptions{roots: roots}, wire: wire}
	if quick {
		b.cfg = quickConfig
	}

	var rows []*row
	for _, s := range scenarios {
		if len(selected) > 0 && !selected[s.key] {
			continue
		}
		t := time.Now()
		fmt.Fprintf(os.Stderr, "scenario (%s)…", s.key)
		rows = append(rows, s.run(b)...)
		fmt.Fprintf(os.Stderr, " %.1f s\n", time.Since(t).Seconds())
	}
	elapsed := time.Since(start)

	table := renderTable(rows)
	fmt.Println()
	fmt.Print(table)
	notes := append(standardNotes(), b.notes...)
	fmt.Println()
	for _, n := range notes {
		fmt.Println("- " + n)
	}
	fmt.Printf("\nrun time %.1f s (after the build)\n", elapsed.Seconds())

	var flags []string
	if quick {
		flags = append(flags, "-quick")
	}
	if only != "" {
		flags = append(flags, "-only "+only)
	}
	return writeResults("RESULTS.md", table, notes, flags, elapsed, load)
}

// standardNotes explain how the figures are made.
func standardNotes() []string {
	return []string{
		"ratio = mailwire ÷ best peer; the best peer is the one with the highest figure where higher is better (messages/s, MB/s), the lowest otherwise (CPU, allocations, round trips, heap).",
		"The sink is github.com/emersion/go-smtp v0.25.1's server (PIPELINING, 8BITMIME, SIZE, CHUNKING, STARTTLS, AUTH PLAIN) in a child process, so CPU time (getrusage RUSAGE_SELF, user + system) and allocations (runtime.MemStats) are the client process's alone: the library, the bench's adapter (which allocates nothing per message) and the Go runtime.",
		"(a), (c) and (e) use the sink as go-smtp ships it, which offers CHUNKING; net/smtp and go-smtp's client use neither PIPELINING nor CHUNKING. (a), (c) and (e) are the median of 3 rounds in which the clients take turns (the peak heap in (c) is the largest of the 3); (a) and (b) warm up before timing: 20 messages in (a), 1 in (b).",
		"\"Without CHUNKING\" is the same server with CHUNKING hidden from its EHLO replies by a filter on each connection, which also runs STARTTLS (see sink.go); go-smtp has no switch for it.",
		"(b) and (d) go through a proxy that delays every chunk by 10 ms each way (nominal round trip 20 ms), keeping their order. Round trips are wall time ÷ the link's measured round trip (the median of 21 NOOPs through the proxy: it includes the wake-ups of the proxy and of both ends, and is given below), not ÷ the nominal 20 ms: dividing by 20 ms would raise every figure by the same 1–3%. (b) times the messages only, over an open connection: wall time ÷ (messages × round trip).",
		"(d) counts from the start of the connection. Loopback makes the TCP handshake free, so the proxy holds a new connection for half a round trip: connect + greeting costs 1 round trip, as the targets count it. On a real network it costs 2 (the server accepts, and greets, only once the client's ACK reaches it): add 1 to every client's figure.",
		"The peers ignore CHUNKING: in (b) they run once, against the server with CHUNKING, and that figure is shown in both rows; in (d) they run against both. (d) is the median of 3 connections.",
		"(c) feeds every client the same generator (an io.Reader that never holds more than 64 KiB), through Send / io.Copy into net/smtp's Data writer / go-smtp's SendMail. Peak heap is the largest heap in use (runtime/metrics heap objects + unused span bytes, i.e. MemStats.HeapInuse, read every millisecond without stopping the world) during the send, after a GC; it includes the bench's own live heap.",
		"(e) mailwire uses its Pool (MaxConns 4); net/smtp and go-smtp have no pool, so the bench gives them the fairest reuse it can: 16 goroutines sharing 4 connections through a channel of clients. Connections are dialled on first use, within the timed period, for all three. Proxy delay 1 ms each way, without the spinning of (b) and (d), so Go's timers make the actual round trip longer (given below).",
		limitNote(),
		"(f) streams the generator of (c) (lines starting with '.' and lines of 998 characters) behind a wrapper that hides its size, so mailwire cannot size it ahead: with CHUNKING both clients send 256 KiB BDAT chunks, without it DATA. TLS is STARTTLS with AUTH PLAIN, as in (d). CPU is measured as in (c), from the start of the send to the reply to the end of the message, the connection already open; median of 5 rounds in which the two clients take turns.",
		"(g) goes straight to the sink with CHUNKING (no proxy: it would run in the client process and its CPU would count), 4 connections: mailwire's Pool (MaxConns 4), and 4 limit connections in a channel sending a transaction prepared once. The connections are opened by a warm-up of 4 messages per sender before timing. Median of 5 rounds in which the two clients take turns.",
		"(i) is a third server of the sink process (volume.go): LIMITS RCPTMAX=50, its own rate of 1500 messages/s (burst 50, MAIL refused with 451 4.7.1 above it), and a 421 4.3.0 to the MAIL after every 500th message, as providers retire connections. 16 senders, 4 connections, each message to 20 recipients with its own Message-ID; the server counts a second delivery of a Message-ID to a recipient as a duplicate. Every client is paced by one x/time/rate limiter of 1400/s (burst 1) shared by its senders: mailwire's Pool through PoolOptions.MessageRate (MaxThrottleRetries 3); the peers through the bench's pool of (e), which waits on the limiter and, on a failure, redials and sends the message again, up to 3 times.",
	}
}

// renderTable formats rows as a Markdown table.
func renderTable(rows []*row) string {
	header := []string{"Scenario", "Metric", "mailwire"}
	for _, p := range peers {
		header = append(header, p.name)
	}
	header = append(header, "best peer", "ratio", limitName, "÷ limit", "target", "met")
	lines := [][]string{header}
	prevScenario := ""
	for _, r := range rows {
		scenario := r.scenario
		if scenario == prevScenario {
			scenario = ""
		}
		prevScenario = r.scenario
		line := []string{scenario, r.metric, r.cell(mailwireName)}
		for _, p := range peers {
			line = append(line, r.cell(p.name))
		}
		bestCell, metCell := "–", ""
		best, bestName, ok := r.best()
		mw, mwOK := r.value(mailwireName)
		if ok {
			bestCell = formatNumber(best, r.prec) + " (" + bestName + ")"
		}
		ratio, ratioCell := ratioOf(mw, mwOK, best, ok)
		limit, limitOK := r.value(limitName)
		limitRatio, limitRatioCell := ratioOf(mw, mwOK, limit, limitOK)
		if r.met != nil && mwOK {
			judged := ratio
			if r.vsLimit {
				judged = limitRatio
			}
			metCell = "no"
			if r.met(mw, judged) {
				metCell = "yes"
			}
		}
		line = append(line, bestCell, ratioCell, r.cell(limitName), limitRatioCell, r.target, metCell)
		lines = append(lines, line)
	}

	widths := make([]int, len(header))
	for _, l := range lines {
		for i, c := range l {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	var sb strings.Builder
	for i, l := range lines {
		sb.WriteString("|")
		for j, c := range l {
			sb.WriteString(" " + c + strings.Repeat(" ", widths[j]-len([]rune(c))) + " |")
		}
		sb.WriteString("\n")
		if i == 0 {
			sb.WriteString("|")
			for j := range l {
				sb.WriteString(strings.Repeat("-", widths[j]+2) + "|")
			}
			sb.WriteString("\n")
		}
	}
	return sb.String()
}

// ratioOf is mw ÷ other and its cell, NaN and "–" when either is missing.
func ratioOf(mw float64, mwOK bool, other float64, otherOK bool) (float64, string) {
	if !mwOK || !otherOK || other == 0 {
		return math.NaN(), "–"
	}
	return mw / other, fmt.Sprintf("%.2f×", mw/other)
}

func (r *row) cell(lib string) string {
	if v, ok := r.value(lib); ok {
		return formatNumber(v, r.prec)
	}
	if why, ok := r.missing[lib]; ok {
		return why
	}
	return "–"
}

// formatNumber prints v with prec decimals and thousands separators.
func formatNumber(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	for i := len(intPart) - 3; i > 0; i -= 3 {
		intPart = intPart[:i] + "," + intPart[i:]
	}
	if neg {
		intPart = "-" + intPart
	}
	if frac != "" {
		return intPart + "." + frac
	}
	return intPart
}

// writeResults writes RESULTS.md: when, on what, and the table.
func writeResults(path, table string, notes, flags []string, elapsed time.Duration, load string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	cmd := "go run ."
	if len(flags) > 0 {
		cmd += " " + strings.Join(flags, " ")
	}
	w := io.Writer(f)
	fmt.Fprintf(w, "# mailwire benchmark results\n\n")
	fmt.Fprintf(w, "- Date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- CPU: %s (%d cores)\n", cpuModel(), runtime.NumCPU())
	fmt.Fprintf(w, "- Go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "- Load average (1 min) at the start: %s\n", load)
	if v := libraryVersion(); v != "" {
		fmt.Fprintf(w, "- mailwire: %s (the working tree in ../)\n", v)
	}
	fmt.Fprintf(w, "- Command: `%s` (in bench/); run time %.1f s after the build\n\n", cmd, elapsed.Seconds())
	fmt.Fprint(w, table)
	fmt.Fprintf(w, "\nNotes:\n\n")
	for _, n := range notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", path)
	return nil
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAverage is the 1-minute load average, from /proc/loadavg.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(data) + " unknown")[0]
}

// libraryVersion is the commit of ../, "+changes" when its work tree
// differs. GIT_OPTIONAL_LOCKS=0 keeps git from touching the index, which
// another process may be using.
func libraryVersion() string {
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", append([]string{"-C", ".."}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	commit, err := git("rev-parse", "--short", "HEAD")
	if err != nil {
		return ""
	}
	if status, err := git("status", "--porcelain", "--untracked-files=no", "--", "."); err == nil && status != "" {
		commit += "+changes"
	}
	return commit
}
