package main

import (
	"bufio"
	"errors"
	"io"
	"strings"

	"golang.org/x/term"
)

// console is where the shell reads lines and writes what happens: a
// terminal with line editing and history, or plain pipes.
type console interface {
	io.Writer
	// readLine reads a line after prompt (shown on a terminal only).
	readLine(prompt string) (string, error)
	// readPassword reads a line without echo.
	readPassword(prompt string) (string, error)
	// interactive reports a terminal.
	interactive() bool
	// suspend gives the terminal back to another program ($EDITOR);
	// the returned func takes it again.
	suspend() (resume func())
	close()
}

// termConsole is a terminal in raw mode under golang.org/x/term's line
// editor: arrows, Home/End, Ctrl-A/E/K/U/W, history with Up and Down.
type termConsole struct {
	t   *term.Terminal
	fd  int
	old *term.State
}

func newTermConsole(fd int, in io.Reader, out io.Writer) (*termConsole, error) {
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, err
	}
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{in, out}, "")
	if w, h, err := term.GetSize(fd); err == nil {
		t.SetSize(w, h)
	}
	return &termConsole{t: t, fd: fd, old: old}, nil
}

func (c *termConsole) Write(p []byte) (int, error) { return c.t.Write(p) }
func (c *termConsole) interactive() bool           { return true }
func (c *termConsole) close()                      { term.Restore(c.fd, c.old) }

func (c *termConsole) readLine(prompt string) (string, error) {
	c.t.SetPrompt(prompt)
	line, err := c.t.ReadLine()
	if errors.Is(err, term.ErrPasteIndicator) {
		err = nil // a pasted line is a line
	}
	return line, err
}

func (c *termConsole) readPassword(prompt string) (string, error) {
	return c.t.ReadPassword(prompt)
}

func (c *termConsole) suspend() func() {
	term.Restore(c.fd, c.old)
	return func() { term.MakeRaw(c.fd) }
}

// pipeConsole reads lines from a pipe or file: no prompts, no echo to
// suppress, and no editor.
type pipeConsole struct {
	r *bufio.Reader
	w io.Writer
}

func (c *pipeConsole) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *pipeConsole) interactive() bool           { return false }
func (c *pipeConsole) close()                      {}
func (c *pipeConsole) suspend() func()             { return func() {} }

func (c *pipeConsole) readLine(string) (string, error) {
	line, err := c.r.ReadString('\n')
	if err == io.EOF && line != "" {
		err = nil
	}
	return strings.TrimRight(line, "\r\n"), err
}

func (c *pipeConsole) readPassword(prompt string) (string, error) {
	return c.readLine(prompt)
}
