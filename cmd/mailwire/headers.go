package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/emersion/go-message/mail"
)

// headerField is a --header "Name: value".
type headerField struct {
	name, value string
}

// parseHeaders reads the --header values. CR, LF and NUL are refused: a
// line break in a value would end the field and start another (a Bcc, a
// second Subject) that the user never meant to send.
func parseHeaders(values []string) ([]headerField, error) {
	var fields []headerField
	for _, v := range values {
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("--header %q: CR, LF or NUL in a header would end it and start another field; give one field per --header, on one line", v)
		}
		name, value, ok := strings.Cut(v, ":")
		if !ok || !validFieldName(name) {
			return nil, fmt.Errorf("--header %q: want \"Name: value\", the name in printable ASCII without spaces", v)
		}
		fields = append(fields, headerField{name: name, value: strings.TrimSpace(value)})
	}
	return fields, nil
}

// validFieldName reports whether name is a header field name (RFC 5322
// section 3.6.8: printable ASCII but for the colon).
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 33 || name[i] > 126 || name[i] == ':' {
			return false
		}
	}
	return true
}

// applyHeaders puts the fields in a header mailwire composed. As swaks'
// --header does, a field replaces those of the same name (Subject, From,
// Date...); several fields of one name are all kept, in the order given.
func applyHeaders(h *mail.Header, fields []headerField) {
	for _, f := range fields {
		h.Del(f.name)
	}
	// Add puts a field above the others: adding the last first keeps the
	// order of the command line.
	for i := len(fields) - 1; i >= 0; i-- {
		h.Add(fields[i].name, fields[i].value)
	}
}

// headerLines is the fields as lines to put before a message's own header.
func headerLines(fields []headerField) string {
	var b strings.Builder
	for _, f := range fields {
		fmt.Fprintf(&b, "%s: %s\r\n", f.name, f.value)
	}
	return b.String()
}

// withHeaderFile writes the fields and then the message in file to a
// temporary file, so that the message's size is still known before it is
// sent. The caller removes it.
func withHeaderFile(fields []headerField, file string) (*os.File, error) {
	in, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	out, err := os.CreateTemp("", "mailwire-*.eml")
	if err != nil {
		return nil, err
	}
	_, err = io.WriteString(out, headerLines(fields))
	if err == nil {
		_, err = io.Copy(out, in)
	}
	if err != nil {
		out.Close()
		os.Remove(out.Name())
		return nil, err
	}
	return out, nil
}
