//go:build cgo

// Command mailwire (bindings/c) is the C binding of the mailwire SMTP client,
// built as a shared library:
//
//	go build -buildmode=c-shared -o libmailwire.so ./bindings/c
//	mv libmailwire.h mailwire.h
//
// The C API, with its documentation, is in the cgo preamble below, which the
// go tool copies into the generated header: the header is the reference.
// (Since Go 1.26, cgo no longer copies the Go doc comments of //export
// functions into the header, go.dev/issue/76697, so every comment meant for
// C users lives in the preamble, next to a prototype that the C compiler
// checks against the one cgo generates.)
package main

/*
#ifndef MAILWIRE_API_H
#define MAILWIRE_API_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

// ===========================================================================
// mailwire: an SMTP client (RFC 5321) for C. Generated from the cgo preamble
// of bindings/c/mailwire.go; do not edit.
//
// OVERVIEW
//   mailwire_open connects, says EHLO, secures the connection (STARTTLS or
//   implicit TLS) and authenticates; mailwire_send sends one message (MAIL,
//   RCPT for each recipient, DATA) and returns a receipt; mailwire_close says
//   QUIT. mailwire_pool_* do the same over a pool of reused connections for
//   many sending threads.
//
// HANDLES
//   A client or pool is an opaque integer handle (mailwire_client,
//   mailwire_pool); 0 is never a valid handle. No pointer into the library's
//   memory is ever handed out. A closed handle is invalid: using it returns
//   MAILWIRE_E_INVALID. Client and pool handles are never equal, so one
//   passed for the other is refused too.
//
// THREAD SAFETY
//   - Every function may be called from any thread.
//   - A client handle is for one thread at a time: do not call mailwire_send
//     or mailwire_close on the same client from two threads at once (the
//     library serializes such calls rather than corrupt state, but the
//     order is then undefined). Use a pool for concurrent sending.
//   - A pool handle may be used by any number of threads at once;
//     mailwire_pool_close waits for the sends in flight.
//
// MEMORY OWNERSHIP
//   - Every `const char *` and `const void *` argument stays the caller's;
//     the library copies what it keeps and does not hold on to it after the
//     call returns.
//   - Every `char *` the library returns through an out-parameter (the
//     receipt_json and err strings) is
//     allocated by the library and owned by the caller, who frees it with
//     mailwire_free -- not with free() of another C runtime. Each function
//     sets its out-parameters to NULL (handles to 0) first, so the caller
//     may call mailwire_free on them whatever the outcome; mailwire_free(NULL)
//     does nothing.
//   - A `const char *` the library returns (mailwire_event_name's) is a
//     constant of the library's: never free it.
//   - An out-parameter pointer `char **err` or `char **receipt_json` may be
//     NULL when the caller does not want that string.
//   - The `line` given to a trace callback is valid only during the call.
//
// RETURN CODES AND ERRORS
//   Every function that can fail returns MAILWIRE_OK (0) or a negative
//   mailwire_status, and on failure stores in *err a JSON object:
//     {"category": "permanent",            one of the names listed below
//      "error":    "smtp: RCPT TO: 550 5.1.1 No such user",   always set
//      "command":  "RCPT TO",              when the server refused a command
//      "code":     550,                    its reply code
//      "enhanced_code": "5.1.1",           its RFC 3463 code, or ""
//      "message":  "No such user",         its reply text
//      "rejected": [ ...as in a receipt... ] when every recipient was refused
//      "reason":   "message_too_large",     a refusal the category does not tell apart
//      "remedy":   "implicit_tls",          what would likely help, when known
//      "hint":     "set \"security\":\"implicit\""  the same in these options' keys}
//   "error" is a one-line English text fit for a log; the other fields are
//   present only when they apply.
//
// TIMEOUTS
//   Every call that waits on the network takes a timeout_ms bounding the
//   whole call; 0 means no bound but the per-reply options.timeout_ms
//   (default 5 minutes, 10 for the reply to the message content). A
//   negative timeout_ms is MAILWIRE_E_INVALID.
//
// OPTIONS (JSON object, given to mailwire_open and mailwire_pool_open; NULL
// or "" means all defaults; an unknown key is MAILWIRE_E_INVALID)
//   "security":   "auto" (default: implicit TLS on port 465, mandatory
//                 STARTTLS elsewhere) | "starttls" | "starttls-optional"
//                 (plaintext when the server does not offer STARTTLS: open
//                 to downgrade) | "implicit" | "plain" (never encrypt)
//   "pins":       ["sha256//BASE64", ...] accept the server only if a key of
//                 its verified chain has one of these pins (curl's
//                 --pinnedpubkey form)
//   "ca_pem":     a PEM string of CA certificates to trust instead of the
//                 system's roots
//   "ca_file":    the path of a PEM file of them, instead of "ca_pem"
//   "server_name": the name the certificate must carry; default: the host
//                 of the address
//   "user", "password": authenticate (AUTH) with the strongest mechanism the
//                 server offers (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, LOGIN,
//                 CRAM-MD5); PLAIN and LOGIN only over TLS unless
//                 "allow_insecure_auth" is true
//   "allow_insecure_auth": false by default
//   "timeout_ms": the wait for each server reply (see TIMEOUTS)
//   "greeting_timeout_ms": the wait for the greeting's first byte; default
//                 20000 (a silent port most often expects TLS first)
//   "local_name": the name sent with EHLO; default "localhost"
//   "lmtp":       true to speak LMTP (RFC 2033): LHLO, and a reply for each
//                 recipient after the message (refused ones in "rejected")
//   "proxy":      reach the server through a proxy: "socks5://HOST:PORT",
//                 "socks5h://..." (the proxy resolves the name), "http://..."
//                 or "https://..." (CONNECT), with USER:PASSWORD@ before HOST
//                 when it wants credentials (never shown in errors or traces)
//
// POOL OPTIONS (JSON object, given to mailwire_pool_open; NULL or "" means
// defaults)
//   "max_conns" (4), "max_idle" (max_conns), "idle_timeout_ms" (60000),
//   "max_messages_per_conn" (0: no limit), "max_lifetime_ms" (0: none),
//   "health_check_after_ms" (30000: NOOP before reusing a connection idle
//   longer than this)
//
// RECIPIENTS are a JSON array of addresses, e.g. ["bob@example.net"]: at
// least one. The sender `from` is a plain address; "" sends the null
// reverse-path <>. Addresses are given without angle brackets.
//
// RECEIPT (JSON object stored in *receipt_json when a send succeeds)
//   {"accepted": ["bob@example.net"],
//    "rejected": [{"address": "nobody@example.net", "code": 550,
//                  "enhanced_code": "5.1.1", "message": "No such user"}],
//    "reply":    {"code": 250, "enhanced_code": "2.0.0",
//                 "message": "OK: queued as Q0001"},
//    "queue_id": "Q0001",
//    "transactions": []}
//   "transactions" lists {"accepted", "reply", "queue_id"} for each
//   transaction when the server's recipient limit (LIMITS RCPTMAX, or 452
//   4.5.3) split the send into several on the connection; [] for one.
//   A send succeeds when at least one recipient was accepted and the server
//   accepted the message; recipients it refused are listed in "rejected".
//   "queue_id" is read, as a best effort, from the reply's text ("queued as
//   X", "id=X"); it is null when the text holds none.
//
// TRACE
//   A trace callback set at open receives every protocol line and
//   connection event: conn is the connection's id (unique in the process,
//   from 1: a pool's connections interleave, conn tells them apart); kind
//   is a mailwire_event_kind; line is the protocol
//   line for MAILWIRE_EVENT_SENT and MAILWIRE_EVENT_RECEIVED (without CRLF;
//   the client's AUTH responses read "[redacted]", secrets never reach the
//   callback) and a short text for the other kinds. For a client, the
//   callback runs on the calling thread, during mailwire_open, _send and
//   _close. For a pool it runs concurrently on the threads calling
//   mailwire_pool_send, and on a thread of the library's when idle
//   connections are retired between calls: it must be thread-safe. It
//   must not block for long, and must not call mailwire_send, _close or
//   the pool functions (on its own handle they would deadlock);
//   mailwire_event_name and mailwire_free are fine. It is never called
//   after mailwire_close or mailwire_pool_close has returned.
// ===========================================================================

// Status codes: 0 or a negative error category.
typedef enum mailwire_status {
	MAILWIRE_OK = 0,
	// "invalid_argument": a bad argument or option (malformed JSON, unknown
	// option, NULL where a value is needed, unknown or closed handle,
	// malformed pin or address), refused before anything was sent.
	MAILWIRE_E_INVALID = -1,
	// "temporary": the server refused with a 4xx reply; trying again later
	// may succeed.
	MAILWIRE_E_TEMPORARY = -2,
	// "permanent": the server refused with a 5xx reply (a refused recipient,
	// the message), or the message is larger than its SIZE; do not retry
	// as is.
	MAILWIRE_E_PERMANENT = -3,
	// "delivery_unknown": the connection broke, or the wait timed out, after
	// the message was sent and before the server answered: it may have been
	// delivered. Do not resend blindly.
	MAILWIRE_E_DELIVERY_UNKNOWN = -4,
	// "network": connecting failed, the connection broke, or the server
	// broke the protocol. The client handle is then unusable (close it).
	MAILWIRE_E_NETWORK = -5,
	// "tls": STARTTLS not offered or refused, the handshake failed, the
	// certificate was not trusted, or no pin matched.
	MAILWIRE_E_TLS = -6,
	// "timeout": timeout_ms or options.timeout_ms expired (before the
	// message was sent; afterwards it is MAILWIRE_E_DELIVERY_UNKNOWN).
	MAILWIRE_E_TIMEOUT = -7,
	// "auth": authentication failed: the server refused the credentials
	// (command "AUTH" and its reply in the error), or offers no AUTH
	// mechanism that may be used (none at all, or only ones that would
	// reveal the password without TLS).
	MAILWIRE_E_AUTH = -8,
	// "closed": the client or pool was closed, by the server (after a
	// failure) or by mailwire_pool_close while the call waited.
	MAILWIRE_E_CLOSED = -9,
	// "internal": a bug in mailwire; the error text says what.
	MAILWIRE_E_INTERNAL = -10
} mailwire_status;

// Trace event kinds, equal to the Go library's smtp.EventKind values.
typedef enum mailwire_event_kind {
	MAILWIRE_EVENT_CONNECT_START = 0, // "tcp 127.0.0.1:587"
	MAILWIRE_EVENT_CONNECT_DONE = 1,  // "connected to 127.0.0.1:587" or "failed: ..."
	MAILWIRE_EVENT_TLS_START = 2,     // "server name mail.example.com"
	MAILWIRE_EVENT_TLS_MESSAGE = 3,   // (not reported by this binding)
	MAILWIRE_EVENT_TLS_DONE = 4,      // "TLS 1.3 TLS_AES_128_GCM_SHA256" or "failed: ..."
	MAILWIRE_EVENT_PIN_CHECK = 5,     // "matched sha256//... at depth 0" or "mismatch: ..."
	MAILWIRE_EVENT_SENT = 6,          // a command line, e.g. "AUTH PLAIN [redacted]"
	MAILWIRE_EVENT_RECEIVED = 7,      // a reply line, e.g. "250 2.0.0 OK: queued as Q0001"
	MAILWIRE_EVENT_DATA_DONE = 8,     // "1234 bytes": the message content was sent
	MAILWIRE_EVENT_IDLE = 9,          // "idle": a transaction is over
	MAILWIRE_EVENT_REUSED = 10,       // "reused": a pooled connection taken up again
	MAILWIRE_EVENT_CLOSING = 11,      // why a pool retires a connection
	MAILWIRE_EVENT_CLOSED = 12,       // "closed" or "closed: <cause>"
	MAILWIRE_EVENT_THROTTLED = 13     // the server throttles: how long the pool waits, and why
} mailwire_event_kind;

// A client: one connection, for one thread at a time. 0 is never valid.
typedef uint64_t mailwire_client;
// A pool of connections, for any number of threads. 0 is never valid.
typedef uint64_t mailwire_pool;

// The trace callback; see TRACE. user is the pointer given at open, passed
// back untouched.
typedef void (*mailwire_trace_fn)(void *user, int64_t conn, int kind, const char *line);

// Internal: these let cgo emit const-correct prototypes below.
typedef const char mailwire_const_char;
typedef const void mailwire_const_void;

#ifdef __cplusplus
extern "C" {
#endif

// mailwire_open connects to addr ("host:port"), reads the greeting, says
// EHLO, secures the connection and authenticates as options_json says
// (see OPTIONS), all within timeout_ms. On success *client is the new
// handle, to be closed with mailwire_close. trace may be NULL; trace_user
// is passed to it untouched and must stay valid until mailwire_close
// returns.
int mailwire_open(const char *addr, const char *options_json,
                  mailwire_trace_fn trace, void *trace_user, int timeout_ms,
                  mailwire_client *client, char **err);

// mailwire_send sends one message: from is the envelope sender,
// recipients_json a JSON array of recipients (see RECIPIENTS), and
// msg/msg_len the message (header and body, with any line endings: they
// are sent as CRLF, and lines starting with '.' are dot-stuffed). msg may
// hold any bytes, NUL included. On success *receipt_json is the receipt
// (see RECEIPT). When every recipient was refused it fails with the
// server's category and err lists them in "rejected". After
// MAILWIRE_E_NETWORK, _TLS, _TIMEOUT, _DELIVERY_UNKNOWN or _CLOSED the
// connection is gone: close the handle and open another. After a refusal
// (_TEMPORARY, _PERMANENT) or _INVALID the client is ready for the next
// message.
int mailwire_send(mailwire_client client, const char *from,
                  const char *recipients_json, const void *msg, size_t msg_len,
                  int timeout_ms, char **receipt_json, char **err);

// mailwire_close says QUIT, waiting at most timeout_ms for the reply, and
// closes the connection. The handle is released whatever the outcome
// (an error here only reports a failed QUIT), so call it exactly once for
// each handle mailwire_open returned, after a failed send too.
int mailwire_close(mailwire_client client, int timeout_ms, char **err);

// mailwire_pool_open makes a pool of connections to addr, each opened as
// mailwire_open opens one with options_json; pool_options_json sets its
// limits (see POOL OPTIONS). No connection is made until the first send,
// so it does not block; options are checked at once. Close the pool with
// mailwire_pool_close. trace and trace_user as for mailwire_open.
int mailwire_pool_open(const char *addr, const char *options_json,
                       const char *pool_options_json, mailwire_trace_fn trace,
                       void *trace_user, mailwire_pool *pool, char **err);

// mailwire_pool_send sends one message over a pooled connection, as
// mailwire_send does, opening one when none is idle, or waiting for one
// when max_conns are busy (timeout_ms bounds the wait too). Safe from any
// number of threads at once. A connection that turns out dead before the
// message was sent is replaced, and the message sent once on a new one;
// never after, so no message goes twice.
int mailwire_pool_send(mailwire_pool pool, const char *from,
                       const char *recipients_json, const void *msg,
                       size_t msg_len, int timeout_ms, char **receipt_json,
                       char **err);

// mailwire_pool_close stops the pool: later sends fail with
// MAILWIRE_E_INVALID (unknown handle) or MAILWIRE_E_CLOSED, sends in flight
// finish, then idle connections are closed with QUIT. It waits at most
// timeout_ms (0: as long as it takes) and fails with MAILWIRE_E_TIMEOUT
// if the pool has not finished closing by then; closing goes on in the
// background, and the trace callback is not called any more either way.
// The handle is released whatever the outcome.
int mailwire_pool_close(mailwire_pool pool, int timeout_ms, char **err);

// mailwire_event_name returns the name of a trace event kind ("sent",
// "received", "tls-done", ...; "unknown" for a number that is not one): a
// constant string of the library's, valid for the life of the process,
// never to be freed.
const char *mailwire_event_name(int kind);

// mailwire_free frees a string the library returned. NULL is allowed.
void mailwire_free(void *p);

#ifdef __cplusplus
}
#endif
#endif // MAILWIRE_API_H
*/
import "C"

import (
	"fmt"
	"runtime/debug"
	"unsafe"

	smtp "github.com/mailwire/smtp"
)

func main() {}

// cStatus and cEventKinds tie the C enums to the Go constants (checked by
// TestCEnums).
var cStatus = map[int]int{
	int(C.MAILWIRE_OK):                 statusOK,
	int(C.MAILWIRE_E_INVALID):          statusInvalid,
	int(C.MAILWIRE_E_TEMPORARY):        statusTemporary,
	int(C.MAILWIRE_E_PERMANENT):        statusPermanent,
	int(C.MAILWIRE_E_DELIVERY_UNKNOWN): statusDeliveryUnknown,
	int(C.MAILWIRE_E_NETWORK):          statusNetwork,
	int(C.MAILWIRE_E_TLS):              statusTLS,
	int(C.MAILWIRE_E_TIMEOUT):          statusTimeout,
	int(C.MAILWIRE_E_AUTH):             statusAuth,
	int(C.MAILWIRE_E_CLOSED):           statusClosed,
	int(C.MAILWIRE_E_INTERNAL):         statusInternal,
}

var cEventKinds = map[int]smtp.EventKind{
	int(C.MAILWIRE_EVENT_CONNECT_START): smtp.EventConnectStart,
	int(C.MAILWIRE_EVENT_CONNECT_DONE):  smtp.EventConnectDone,
	int(C.MAILWIRE_EVENT_TLS_START):     smtp.EventTLSHandshakeStart,
	int(C.MAILWIRE_EVENT_TLS_MESSAGE):   smtp.EventTLSMessage,
	int(C.MAILWIRE_EVENT_TLS_DONE):      smtp.EventTLSHandshakeDone,
	int(C.MAILWIRE_EVENT_PIN_CHECK):     smtp.EventPinCheck,
	int(C.MAILWIRE_EVENT_SENT):          smtp.EventLineSent,
	int(C.MAILWIRE_EVENT_RECEIVED):      smtp.EventLineReceived,
	int(C.MAILWIRE_EVENT_DATA_DONE):     smtp.EventDataDone,
	int(C.MAILWIRE_EVENT_IDLE):          smtp.EventIdle,
	int(C.MAILWIRE_EVENT_REUSED):        smtp.EventReused,
	int(C.MAILWIRE_EVENT_CLOSING):       smtp.EventClosing,
	int(C.MAILWIRE_EVENT_CLOSED):        smtp.EventClosed,
	int(C.MAILWIRE_EVENT_THROTTLED):     smtp.EventThrottled,
}

// goString copies a C string; NULL gives "" and false.
func goString(p *C.mailwire_const_char) (string, bool) {
	if p == nil {
		return "", false
	}
	return C.GoString((*C.char)(unsafe.Pointer(p))), true
}

// setString stores a copy of s, allocated with malloc, in *out (if out is
// not NULL).
func setString(out **C.char, s string) {
	if out != nil {
		*out = C.CString(s)
	}
}

// setNull sets an out-parameter to NULL.
func setNull(out **C.char) {
	if out != nil {
		*out = nil
	}
}

// finish turns the outcome of a call into its return code, storing the
// error's JSON in *errOut.
func finish(e *apiError, errOut **C.char) C.int {
	if e == nil {
		return C.MAILWIRE_OK
	}
	setString(errOut, e.json())
	return C.int(e.status)
}

// recoverTo makes a panic in the library a MAILWIRE_E_INTERNAL instead of
// a crash of the caller's process.
func recoverTo(rc *C.int, errOut **C.char) {
	if r := recover(); r != nil {
		e := &apiError{status: statusInternal, Category: categoryOf(statusInternal),
			Error: fmt.Sprintf("mailwire: internal error: %v\n%s", r, debug.Stack())}
		if errOut != nil {
			if *errOut != nil {
				C.free(unsafe.Pointer(*errOut))
			}
			*errOut = C.CString(e.json())
		}
		*rc = C.int(statusInternal)
	}
}

// message gives the caller's bytes to Go without copying: the send is over
// when the call returns, and the library keeps no reference.
func message(msg *C.mailwire_const_void, n C.size_t) ([]byte, *apiError) {
	if msg == nil {
		if n != 0 {
			return nil, invalid("msg is NULL and msg_len is %d", n)
		}
		return []byte{}, nil
	}
	if uint64(n) > uint64(^uint(0)>>1) {
		return nil, invalid("msg_len %d is too large", n)
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(msg)), int(n)), nil
}

// requireString reads a C string argument that must not be NULL.
func requireString(p *C.mailwire_const_char, name string) (string, *apiError) {
	s, ok := goString(p)
	if !ok {
		return "", invalid("%s is NULL", name)
	}
	return s, nil
}

//export mailwire_open
func mailwire_open(addr, optionsJSON *C.mailwire_const_char, trace C.mailwire_trace_fn, traceUser unsafe.Pointer,
	timeoutMs C.int, client *C.mailwire_client, errOut **C.char) (rc C.int) {
	setNull(errOut)
	if client != nil {
		*client = 0
	}
	defer recoverTo(&rc, errOut)
	if client == nil {
		return finish(invalid("client is NULL"), errOut)
	}
	a, e := requireString(addr, "addr")
	if e != nil {
		return finish(e, errOut)
	}
	opts, _ := goString(optionsJSON)
	h, e := openClient(a, opts, newCTrace(unsafe.Pointer(trace), traceUser), int(timeoutMs))
	if e != nil {
		return finish(e, errOut)
	}
	*client = C.mailwire_client(h)
	return C.MAILWIRE_OK
}

//export mailwire_send
func mailwire_send(client C.mailwire_client, from, recipientsJSON *C.mailwire_const_char, msg *C.mailwire_const_void,
	msgLen C.size_t, timeoutMs C.int, receiptJSON **C.char, errOut **C.char) (rc C.int) {
	setNull(receiptJSON)
	setNull(errOut)
	defer recoverTo(&rc, errOut)
	return sendExport(from, recipientsJSON, msg, msgLen, receiptJSON, errOut, func(env envelope, body []byte) (string, *apiError) {
		return clientSend(uint64(client), env, body, int(timeoutMs))
	})
}

// sendExport is the body of mailwire_send and mailwire_pool_send: it reads
// the arguments, sends with sendFn, and hands the receipt or the error out.
func sendExport(from, recipientsJSON *C.mailwire_const_char, msg *C.mailwire_const_void, msgLen C.size_t,
	receiptJSON, errOut **C.char, sendFn func(envelope, []byte) (string, *apiError)) C.int {
	env, body, e := sendArgs(from, recipientsJSON, msg, msgLen)
	if e != nil {
		return finish(e, errOut)
	}
	receipt, e := sendFn(env, body)
	if e != nil {
		return finish(e, errOut)
	}
	setString(receiptJSON, receipt)
	return C.MAILWIRE_OK
}

//export mailwire_close
func mailwire_close(client C.mailwire_client, timeoutMs C.int, errOut **C.char) (rc C.int) {
	setNull(errOut)
	defer recoverTo(&rc, errOut)
	return finish(closeClient(uint64(client), int(timeoutMs)), errOut)
}

//export mailwire_pool_open
func mailwire_pool_open(addr, optionsJSON, poolOptionsJSON *C.mailwire_const_char, trace C.mailwire_trace_fn,
	traceUser unsafe.Pointer, pool *C.mailwire_pool, errOut **C.char) (rc C.int) {
	setNull(errOut)
	if pool != nil {
		*pool = 0
	}
	defer recoverTo(&rc, errOut)
	if pool == nil {
		return finish(invalid("pool is NULL"), errOut)
	}
	a, e := requireString(addr, "addr")
	if e != nil {
		return finish(e, errOut)
	}
	opts, _ := goString(optionsJSON)
	popts, _ := goString(poolOptionsJSON)
	h, e := openPool(a, opts, popts, newCTrace(unsafe.Pointer(trace), traceUser))
	if e != nil {
		return finish(e, errOut)
	}
	*pool = C.mailwire_pool(h)
	return C.MAILWIRE_OK
}

//export mailwire_pool_send
func mailwire_pool_send(pool C.mailwire_pool, from, recipientsJSON *C.mailwire_const_char, msg *C.mailwire_const_void,
	msgLen C.size_t, timeoutMs C.int, receiptJSON **C.char, errOut **C.char) (rc C.int) {
	setNull(receiptJSON)
	setNull(errOut)
	defer recoverTo(&rc, errOut)
	return sendExport(from, recipientsJSON, msg, msgLen, receiptJSON, errOut, func(env envelope, body []byte) (string, *apiError) {
		return poolSend(uint64(pool), env, body, int(timeoutMs))
	})
}

//export mailwire_pool_close
func mailwire_pool_close(pool C.mailwire_pool, timeoutMs C.int, errOut **C.char) (rc C.int) {
	setNull(errOut)
	defer recoverTo(&rc, errOut)
	return finish(closePool(uint64(pool), int(timeoutMs)), errOut)
}

// eventNamesC are the event names as C strings, made once and never
// freed: mailwire_event_name hands them out as constants. A fixed array
// (not a slice on the Go heap) in the library's data, so that a leak
// checker scanning it sees them as reachable.
var (
	eventNamesC [64]*C.char
	unknownC    = C.CString("unknown")
)

func init() {
	for k := range eventNamesC {
		if name := eventName(k); name != "unknown" {
			eventNamesC[k] = C.CString(name)
		}
	}
}

//export mailwire_event_name
func mailwire_event_name(kind C.int) *C.mailwire_const_char {
	if kind >= 0 && int(kind) < len(eventNamesC) && eventNamesC[kind] != nil {
		return (*C.mailwire_const_char)(unsafe.Pointer(eventNamesC[kind]))
	}
	return (*C.mailwire_const_char)(unsafe.Pointer(unknownC))
}

//export mailwire_free
func mailwire_free(p unsafe.Pointer) {
	C.free(p)
}

// sendArgs reads the arguments shared by mailwire_send and
// mailwire_pool_send.
func sendArgs(from, recipientsJSON *C.mailwire_const_char, msg *C.mailwire_const_void, msgLen C.size_t) (envelope, []byte, *apiError) {
	f, e := requireString(from, "from")
	if e != nil {
		return envelope{}, nil, e
	}
	r, e := requireString(recipientsJSON, "recipients_json")
	if e != nil {
		return envelope{}, nil, e
	}
	env, e := parseEnvelope(f, r)
	if e != nil {
		return envelope{}, nil, e
	}
	body, e := message(msg, msgLen)
	return env, body, e
}
