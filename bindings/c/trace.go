//go:build cgo

package main

/*
#include <stdlib.h>

#include <stdint.h>

// call_trace calls the caller's trace callback, a
// void (*)(void *user, int64_t conn, int kind, const char *line).
static void call_trace(void *fn, void *user, int64_t conn, int kind, const char *line) {
	((void (*)(void *, int64_t, int, const char *))fn)(user, conn, kind, line);
}
*/
import "C"

import "unsafe"

// newCTrace makes the sink that hands events to a C callback; nil when fn
// is NULL. The line is a C copy, freed when the callback returns.
func newCTrace(fn, user unsafe.Pointer) *traceBridge {
	if fn == nil {
		return nil
	}
	return &traceBridge{fn: func(conn int64, kind int, line string) {
		cl := C.CString(line)
		defer C.free(unsafe.Pointer(cl))
		C.call_trace(fn, user, C.int64_t(conn), C.int(kind), cl)
	}}
}
