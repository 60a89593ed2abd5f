package main

// Scenario (j): the intake of `mailwire serve`, the test server as a
// process (cmd/mailwire, built from the working tree): how many messages
// per second it accepts and stores, each client sending to it as in (e),
// and whether every message sent is there to read through its API.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// serveProcess is a running `mailwire serve`.
type serveProcess struct {
	cmd  *exec.Cmd
	smtp string // its SMTP address
	api  string // its HTTP API's base URL
	dir  string
}

// startServeProcess builds the mailwire command from the working tree and
// runs `mailwire serve` on free ports, plain SMTP.
func startServeProcess() (*serveProcess, error) {
	dir, err := os.MkdirTemp("", "mailwire-bench-serve")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "mailwire")
	build := exec.Command("go", "build", "-o", bin, "./cmd/mailwire")
	build.Dir = ".." // the library's module
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("go build mailwire: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--tls", "none")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p := &serveProcess{cmd: cmd, dir: dir}
	sc := bufio.NewScanner(out)
	for sc.Scan() && (p.smtp == "" || p.api == "") {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "smtp":
			p.smtp, _, _ = strings.Cut(rest, " ")
		case "http":
			p.api = "http://" + rest
		}
	}
	if p.smtp == "" || p.api == "" {
		p.stop()
		return nil, fmt.Errorf("mailwire serve printed no addresses")
	}
	return p, nil
}

func (p *serveProcess) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	p.cmd.Wait()
	os.RemoveAll(p.dir)
}

// stored is how many messages the server holds, by its API.
func (p *serveProcess) stored() (int, error) {
	resp, err := http.Get(p.api + "/api/messages")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var msgs []json.RawMessage
	err = json.NewDecoder(resp.Body).Decode(&msgs)
	return len(msgs), err
}

func (p *serveProcess) deleteAll() error {
	req, _ := http.NewRequest(http.MethodDelete, p.api+"/api/messages", nil)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

// serveIntake is scenario (j).
func (b *bench) serveIntake() []*row {
	n := b.cfg.volumeMsgs
	name := fmt.Sprintf("(j) mailwire serve, %d msgs of 2 KiB, 16 senders, 4 conns", n)
	rows := []*row{
		newRow(name, "messages accepted and stored/s", false, 0),
		newRow(name, "messages stored ÷ sent", false, 2),
	}
	srv, err := startServeProcess()
	if err != nil {
		for _, lib := range allLibraries() {
			rows[0].fail(lib.name, err)
		}
		return rows
	}
	defer srv.stop()
	o := b.opts
	o.addr = srv.smtp
	for _, lib := range allLibraries() {
		var pl pool
		switch {
		case lib.name != mailwireName:
			pl = newChanPool(lib, o, 4)
		case newMailwirePool != nil:
			pl = newMailwirePool(o, 4)
		default:
			rows[0].missing[lib.name] = "n/a (Pool not built)"
			continue
		}
		if err := srv.deleteAll(); err != nil {
			rows[0].fail(lib.name, err)
			continue
		}
		sent, elapsed, err := sendToServe(pl, 16, n)
		pl.Close()
		if err != nil {
			rows[0].fail(lib.name, err)
			continue
		}
		got, err := srv.stored()
		if err != nil {
			rows[0].fail(lib.name, err)
			continue
		}
		rows[0].set(lib.name, float64(got)/elapsed.Seconds())
		rows[1].set(lib.name, float64(got)/float64(sent))
	}
	b.note("(j) is `mailwire serve` (built from the working tree, plain SMTP, every message kept in memory and read back through GET /api/messages) in a process of its own: a message counts once the server has stored it. The figure to hold against it: the 200–300 messages/s mailpit publishes for its own intake.")
	return rows
}

// sendToServe sends n messages of one recipient from workers goroutines.
func sendToServe(pl pool, workers, n int) (int, time.Duration, error) {
	return sendEach(pl, workers, n, []string{"bob@example.com"}, func(i int64) string {
		return fmt.Sprintf("Subject: intake %d\r\n\r\n%s", i, message2K)
	})
}
