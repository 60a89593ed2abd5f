/* Tests of libmailwire through its C API, against the smtptest helper
 * server (bindings/c/test/server), which this program starts itself.
 *
 *   usage: test_mailwire PATH/TO/server
 *
 * Prints one line per failed check and, last, "c tests: N passed, M failed";
 * exits 1 when a check failed. Every string the library returns is freed
 * with mailwire_free, so that a leak checker (valgrind, ASan) run over this
 * program finds the library's leaks, not the test's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mailwire.h"

extern char **environ;

#define TIMEOUT_MS 30000 /* generous: valgrind slows everything down */

static int passed, failed;

#define CHECK(cond, ...) check((cond), #cond, __FILE__, __LINE__, __VA_ARGS__)
static void check(int ok, const char *expr, const char *file, int line, const char *fmt, ...) {
	if (ok) {
		passed++;
		return;
	}
	failed++;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "FAIL %s:%d: %s: ", file, line, expr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static const char *str(const char *s) { return s ? s : "(null)"; }

/* ---- the helper server ---------------------------------------------- */

struct server {
	pid_t pid;
	int in;   /* its stdin: closing it stops the server */
	char *info; /* the JSON line it printed */
	char *addr, *ca_pem, *pin, *user, *password, *rejected, *temp_rejected;
	char messages[256];
};

/* json_string returns a malloc'd copy of the string value of "key" in a
 * flat JSON object, or NULL. It knows the escapes Go's encoder writes. */
static char *json_string(const char *json, const char *key) {
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	const char *p = strstr(json, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	char *out = malloc(strlen(p) + 1), *o = out;
	for (; *p && *p != '"'; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		switch (*++p) {
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			unsigned v = 0;
			sscanf(p + 1, "%4x", &v);
			*o++ = (char)v; /* ASCII only: <, >, & */
			p += 4;
			break;
		}
		default: *o++ = *p; /* " \ / */
		}
	}
	*o = 0;
	return out;
}

static int start_server(struct server *s, const char *bin, const char *tag, const char *extra_flag) {
	memset(s, 0, sizeof *s);
	snprintf(s->messages, sizeof s->messages, "%s/mailwire-c-test-%s-%d.json",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", tag, (int)getpid());
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
		perror("pipe2");
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	char *argv[] = {(char *)bin, "-messages", s->messages, (char *)extra_flag, NULL};
	int rc = posix_spawn(&s->pid, bin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (rc != 0) {
		fprintf(stderr, "spawn %s: %s\n", bin, strerror(rc));
		close(in[1]);
		close(out[0]);
		return -1;
	}
	s->in = in[1];
	size_t n = 0, cap = 4096;
	s->info = malloc(cap);
	for (;;) {
		ssize_t r = read(out[0], s->info + n, cap - n - 1);
		if (r <= 0)
			break;
		n += (size_t)r;
		s->info[n] = 0;
		if (strchr(s->info, '\n'))
			break;
		if (n + 1 == cap)
			s->info = realloc(s->info, cap *= 2);
	}
	s->info[n] = 0;
	close(out[0]);
	s->addr = json_string(s->info, "addr");
	s->ca_pem = json_string(s->info, "ca_pem");
	s->pin = json_string(s->info, "pin");
	s->user = json_string(s->info, "user");
	s->password = json_string(s->info, "password");
	s->rejected = json_string(s->info, "rejected");
	s->temp_rejected = json_string(s->info, "temp_rejected");
	if (!s->addr || !s->ca_pem || !s->pin || !s->user || !s->password) {
		fprintf(stderr, "server said: %s\n", s->info);
		return -1;
	}
	return 0;
}

/* stop_server closes the server's stdin, waits for it to exit and returns
 * the messages JSON it wrote (malloc'd), or NULL. */
static char *stop_server(struct server *s) {
	close(s->in);
	int status = 0;
	waitpid(s->pid, &status, 0);
	char *msgs = NULL;
	FILE *f = fopen(s->messages, "r");
	if (f) {
		fseek(f, 0, SEEK_END);
		long n = ftell(f);
		rewind(f);
		msgs = calloc(1, (size_t)n + 1);
		if (fread(msgs, 1, (size_t)n, f) != (size_t)n)
			msgs[0] = 0;
		fclose(f);
		unlink(s->messages);
	}
	free(s->info);
	free(s->addr);
	free(s->ca_pem);
	free(s->pin);
	free(s->user);
	free(s->password);
	free(s->rejected);
	free(s->temp_rejected);
	return msgs;
}

/* ---- JSON building ---------------------------------------------------- */

/* json_quote appends s to buf as a JSON string. */
static void json_quote(char *buf, size_t cap, const char *s) {
	size_t n = strlen(buf);
	buf[n++] = '"';
	for (; *s && n + 8 < cap; s++) {
		if (*s == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else if (*s == '"' || *s == '\\') {
			buf[n++] = '\\';
			buf[n++] = *s;
		} else {
			buf[n++] = *s;
		}
	}
	buf[n++] = '"';
	buf[n] = 0;
}

/* options builds the options JSON for s: STARTTLS, its CA, the given pin
 * (NULL: none) and credentials (password NULL: none). */
static void options(char *buf, size_t cap, struct server *s, const char *pin, const char *password) {
	snprintf(buf, cap, "{\"security\":\"starttls\",\"local_name\":\"c-test.example\",\"timeout_ms\":%d,\"ca_pem\":", TIMEOUT_MS);
	json_quote(buf, cap, s->ca_pem);
	if (pin) {
		strncat(buf, ",\"pins\":[", cap - strlen(buf) - 1);
		json_quote(buf, cap, pin);
		strncat(buf, "]", cap - strlen(buf) - 1);
	}
	if (password) {
		strncat(buf, ",\"user\":", cap - strlen(buf) - 1);
		json_quote(buf, cap, s->user);
		strncat(buf, ",\"password\":", cap - strlen(buf) - 1);
		json_quote(buf, cap, password);
	}
	strncat(buf, "}", cap - strlen(buf) - 1);
}

/* ---- the trace callback ------------------------------------------------- */

struct trace_log {
	pthread_mutex_t mu;
	char *text; /* "kind|line\n"... */
	size_t len, cap;
	int events;
	int bad_kind;
	int bad_conn;       /* events with a connection id below 1 */
	int64_t conns[64];  /* the distinct connection ids seen */
	int nconns;
};

static void trace_cb(void *user, int64_t conn, int kind, const char *line) {
	struct trace_log *t = user;
	pthread_mutex_lock(&t->mu);
	if (conn < 1)
		t->bad_conn++;
	int seen = 0;
	for (int i = 0; i < t->nconns; i++)
		seen |= t->conns[i] == conn;
	if (!seen && t->nconns < 64)
		t->conns[t->nconns++] = conn;
	size_t need = strlen(line) + 16;
	if (t->len + need >= t->cap) {
		t->cap = (t->cap + need) * 2;
		t->text = realloc(t->text, t->cap);
	}
	t->len += (size_t)sprintf(t->text + t->len, "%d|%s\n", kind, line);
	t->events++;
	if (kind < MAILWIRE_EVENT_CONNECT_START || kind > MAILWIRE_EVENT_CLOSED)
		t->bad_kind++;
	pthread_mutex_unlock(&t->mu);
}

static void trace_init(struct trace_log *t) {
	memset(t, 0, sizeof *t);
	pthread_mutex_init(&t->mu, NULL);
	t->cap = 4096;
	t->text = calloc(1, t->cap);
}

static void trace_free(struct trace_log *t) {
	free(t->text);
	pthread_mutex_destroy(&t->mu);
}

/* ---- tests ---------------------------------------------------------------- */

static const char MSG[] = "From: Alice <alice@example.com>\r\n"
                          "To: Bob <bob@example.net>\r\n"
                          "Subject: mailwire C test\r\n"
                          "\r\n"
                          "Hello from C.\r\n"
                          ".a line that needs dot-stuffing\r\n";

static int sent_ok; /* messages the main server should have recorded */

static void test_send_receipt_and_trace(struct server *s) {
	char opts[8192];
	options(opts, sizeof opts, s, s->pin, s->password);
	struct trace_log t;
	trace_init(&t);
	mailwire_client c = 0;
	char *err = NULL, *receipt = NULL;
	int rc = mailwire_open(s->addr, opts, trace_cb, &t, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_OK && c != 0 && err == NULL, "open: rc %d err %s", rc, str(err));
	mailwire_free(err);
	err = NULL;
	if (rc != MAILWIRE_OK) {
		trace_free(&t);
		return;
	}

	char rcpts[256];
	snprintf(rcpts, sizeof rcpts, "[\"bob@example.net\", \"%s\"]", s->rejected);
	rc = mailwire_send(c, "alice@example.com", rcpts, MSG, sizeof MSG - 1, TIMEOUT_MS, &receipt, &err);
	CHECK(rc == MAILWIRE_OK && receipt && !err, "send: rc %d err %s", rc, str(err));
	if (rc == MAILWIRE_OK)
		sent_ok++;
	const char *r = str(receipt);
	CHECK(strstr(r, "\"accepted\":[\"bob@example.net\"]") != NULL, "one accepted: %s", r);
	CHECK(strstr(r, "\"rejected\":[{\"address\":\"nobody@example.net\",\"code\":550,\"enhanced_code\":\"5.1.1\",\"message\":\"No such user\"}]") != NULL,
	      "one rejected with 550 5.1.1: %s", r);
	CHECK(strstr(r, "\"reply\":{\"code\":250,\"enhanced_code\":\"2.0.0\",\"message\":\"OK: queued as Q") != NULL, "reply 250: %s", r);
	CHECK(strstr(r, "\"queue_id\":\"Q0") != NULL, "queue id present: %s", r);
	mailwire_free(receipt);
	mailwire_free(err);
	receipt = err = NULL;

	rc = mailwire_send(c, "", "[\"carol@example.net\"]", "Subject: bounce\r\n\r\nx\r\n", 22, TIMEOUT_MS, NULL, NULL);
	CHECK(rc == MAILWIRE_OK, "send with null sender and NULL out-parameters: rc %d", rc);
	if (rc == MAILWIRE_OK)
		sent_ok++;

	/* Bad arguments: refused, the client still usable. */
	rc = mailwire_send(c, "alice@example.com", "not json", MSG, 3, TIMEOUT_MS, &receipt, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "recipients_json"), "bad recipients: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_send(c, "alice@example.com", "[]", MSG, 3, TIMEOUT_MS, &receipt, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "no recipient"), "no recipients: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_send(c, NULL, "[\"bob@example.net\"]", MSG, 3, TIMEOUT_MS, &receipt, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "from is NULL"), "NULL from: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_send(c, "alice@example.com", "[\"bob@exa\\r\\nmple.net\"]", MSG, 3, TIMEOUT_MS, &receipt, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "control character"), "CRLF in address: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_send(c, "alice@example.com", "[\"bob@example.net\"]", NULL, 5, TIMEOUT_MS, &receipt, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err, "NULL msg: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_send(c, "alice@example.com", "[\"bob@example.net\"]", MSG, 3, -1, &receipt, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "timeout_ms"), "negative timeout: %d %s", rc, str(err));
	mailwire_free(err);
	err = NULL;

	rc = mailwire_close(c, TIMEOUT_MS, &err);
	CHECK(rc == MAILWIRE_OK && !err, "close: rc %d err %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_send(c, "alice@example.com", "[\"bob@example.net\"]", MSG, 3, TIMEOUT_MS, &receipt, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "unknown or closed client handle"), "send after close: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_close(c, TIMEOUT_MS, &err);
	CHECK(rc == MAILWIRE_E_INVALID, "second close: %d %s", rc, str(err));
	mailwire_free(err);

	/* The trace: every line, the AUTH secret redacted, the password never. */
	int events = t.events;
	CHECK(strstr(t.text, "6|AUTH PLAIN [redacted]\n") != NULL, "trace has AUTH PLAIN [redacted]:\n%s", t.text);
	CHECK(strstr(t.text, s->password) == NULL, "the password reached the trace");
	CHECK(strstr(t.text, "6|STARTTLS\n") && strstr(t.text, "6|EHLO c-test.example\n"), "STARTTLS and EHLO traced");
	CHECK(strstr(t.text, "7|250 2.0.0 OK: queued as Q") != NULL, "reply traced");
	CHECK(strstr(t.text, "5|matched sha256//") != NULL, "pin check traced");
	CHECK(strstr(t.text, "4|TLS 1.") != NULL, "handshake traced");
	CHECK(strstr(t.text, "6|QUIT\n") && strstr(t.text, "12|closed\n"), "QUIT and close traced");
	CHECK(t.bad_kind == 0, "%d events of an unknown kind", t.bad_kind);
	CHECK(t.events == events, "callback after close");
	trace_free(&t);
}

/* refused_send opens a client on s, sends to rcpt alone (every recipient
 * refused), checks the error's category, code and enhanced code, and
 * returns the client (0 if it could not open). */
static mailwire_client refused_send(struct server *s, const char *rcpt, int want_rc, const char *want_code, const char *want_enhanced) {
	char opts[8192], rcpts[128], *err = NULL, *receipt = NULL;
	options(opts, sizeof opts, s, NULL, s->password);
	mailwire_client c = 0;
	int rc = mailwire_open(s->addr, opts, NULL, NULL, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_OK, "open: %d %s", rc, str(err));
	mailwire_free(err);
	err = NULL;
	if (rc != MAILWIRE_OK)
		return 0;
	snprintf(rcpts, sizeof rcpts, "[\"%s\"]", rcpt);
	rc = mailwire_send(c, "alice@example.com", rcpts, MSG, sizeof MSG - 1, TIMEOUT_MS, &receipt, &err);
	CHECK(rc == want_rc && receipt == NULL, "every recipient refused: rc %d, want %d: %s", rc, want_rc, str(err));
	CHECK(err && strstr(err, want_code) && strstr(err, want_enhanced) && strstr(err, "\"command\":\"RCPT TO\"") &&
	          strstr(err, "\"rejected\":[{\"address\":"),
	      "every recipient refused: %s", str(err));
	mailwire_free(err);
	return c;
}

/* Every recipient refused: an error of the reply's class, listing them. */
static void test_every_recipient_refused(struct server *s) {
	mailwire_client c = refused_send(s, s->rejected, MAILWIRE_E_PERMANENT, "\"code\":550", "\"enhanced_code\":\"5.1.1\"");
	if (c)
		mailwire_close(c, TIMEOUT_MS, NULL);
	c = refused_send(s, s->temp_rejected, MAILWIRE_E_TEMPORARY, "\"code\":450", "\"enhanced_code\":\"4.2.1\"");
	if (c)
		mailwire_close(c, TIMEOUT_MS, NULL);
}

/* After every recipient was refused, the client is ready for the next
 * message, on a server of its own so that the main server's count is not
 * disturbed. This found a library bug, now fixed: over CHUNKING no RSET
 * followed the refused BDAT transaction, so the next MAIL was "nested" and
 * its message delivered under the previous sender. */
static void test_send_after_every_recipient_refused(const char *bin) {
	struct server s;
	if (start_server(&s, bin, "refused", NULL) != 0) {
		CHECK(0, "start the server");
		return;
	}
	mailwire_client c = refused_send(&s, s.rejected, MAILWIRE_E_PERMANENT, "\"code\":550", "\"enhanced_code\":\"5.1.1\"");
	if (c) {
		char *err = NULL;
		int rc = mailwire_send(c, "", "[\"carol@example.net\"]", MSG, sizeof MSG - 1, TIMEOUT_MS, NULL, &err);
		CHECK(rc == MAILWIRE_OK, "the next send on the client: rc %d %s", rc, str(err));
		mailwire_free(err);
		mailwire_close(c, TIMEOUT_MS, NULL);
	}
	char *msgs = stop_server(&s);
	int n = 0;
	for (const char *p = msgs; p && (p = strstr(p, "\"id\": \"Q")); p++)
		n++;
	CHECK(n <= 1, "%d messages recorded", n);
	CHECK(n == 0 || strstr(msgs, "\"from\": \"\","), "the next message went out as from <alice@example.com>, not <>");
	free(msgs);
}

static void test_open_errors(struct server *s) {
	char opts[8192];
	mailwire_client c = 12345;
	char *err = NULL;

	int rc = mailwire_open(s->addr, "{bad json", NULL, NULL, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_E_INVALID && c == 0 && err && strstr(err, "\"category\":\"invalid_argument\"") && strstr(err, "options_json"),
	      "bad JSON: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_open(s->addr, "{\"securty\":\"starttls\"}", NULL, NULL, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "securty"), "unknown option: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_open(s->addr, "{\"security\":\"tls-please\"}", NULL, NULL, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "unknown security"), "bad security: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_open(s->addr, "[1]", NULL, NULL, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "JSON object"), "options not an object: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_open(s->addr, "{\"pins\":[\"sha256//short\"]}", NULL, NULL, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "pin"), "malformed pin: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_open(s->addr, "{\"ca_pem\":\"not a pem\"}", NULL, NULL, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "ca_pem"), "bad CA: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_open("no-port", NULL, NULL, NULL, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "addr"), "bad address: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_open(NULL, NULL, NULL, NULL, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "addr is NULL"), "NULL address: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_open(s->addr, NULL, NULL, NULL, TIMEOUT_MS, NULL, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "client is NULL"), "NULL out handle: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_open(s->addr, "{bad", NULL, NULL, TIMEOUT_MS, &c, NULL);
	CHECK(rc == MAILWIRE_E_INVALID, "NULL err pointer: %d", rc);

	/* A well-formed pin that does not match: a TLS error naming the pin. */
	struct trace_log t;
	trace_init(&t);
	options(opts, sizeof opts, s, "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", s->password);
	rc = mailwire_open(s->addr, opts, trace_cb, &t, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_E_TLS && c == 0 && err && strstr(err, "\"category\":\"tls\"") && strstr(err, "pin mismatch"),
	      "wrong pin: %d %s", rc, str(err));
	CHECK(strstr(t.text, "5|mismatch: ") != NULL && strstr(t.text, "AUTH") == NULL, "wrong pin trace:\n%s", t.text);
	mailwire_free(err);
	trace_free(&t);

	/* No CA: the certificate is not trusted. */
	rc = mailwire_open(s->addr, "{\"security\":\"starttls\"}", NULL, NULL, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_E_TLS && err && strstr(err, "unknown authority"), "untrusted: %d %s", rc, str(err));
	mailwire_free(err);

	/* A wrong password: the server's 535, command AUTH. */
	options(opts, sizeof opts, s, NULL, "wrong-password");
	rc = mailwire_open(s->addr, opts, NULL, NULL, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_E_AUTH && err && strstr(err, "\"category\":\"auth\"") && strstr(err, "\"command\":\"AUTH\"") && strstr(err, "\"code\":535"),
	      "wrong password: %d %s", rc, str(err));
	mailwire_free(err);

	/* PLAIN without TLS: refused before the password is sent. */
	rc = mailwire_open(s->addr, "{\"security\":\"plain\",\"user\":\"alice\",\"password\":\"x\"}", NULL, NULL, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_E_AUTH && err && strstr(err, "\"category\":\"auth\""), "insecure auth: %d %s", rc, str(err));
	mailwire_free(err);

	/* Nobody listening. */
	rc = mailwire_open("127.0.0.1:1", NULL, NULL, NULL, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_E_NETWORK && err && strstr(err, "connect"), "refused connection: %d %s", rc, str(err));
	mailwire_free(err);

	const char *name = mailwire_event_name(MAILWIRE_EVENT_SENT); /* a constant: not freed */
	CHECK(strcmp(name, "sent") == 0, "event name %s", name);
	CHECK(mailwire_event_name(MAILWIRE_EVENT_SENT) == name, "event names are the same constant each time");
	name = mailwire_event_name(99);
	CHECK(strcmp(name, "unknown") == 0, "event name %s", name);
	mailwire_free(NULL);
}

/* ---- the pool, from four threads ---------------------------------------- */

#define THREADS 4
#define PER_THREAD 5

struct worker {
	mailwire_pool pool;
	int id, ok;
	char first_error[512];
};

static void *work(void *arg) {
	struct worker *w = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		char msg[256], *receipt = NULL, *err = NULL;
		int n = snprintf(msg, sizeof msg, "Subject: pool thread %d message %d\r\n\r\nHi.\r\n", w->id, i);
		int rc = mailwire_pool_send(w->pool, "alice@example.com", "[\"bob@example.net\"]", msg, (size_t)n, TIMEOUT_MS, &receipt, &err);
		if (rc == MAILWIRE_OK && receipt && strstr(receipt, "\"queue_id\":\"Q"))
			w->ok++;
		else if (!w->first_error[0])
			snprintf(w->first_error, sizeof w->first_error, "rc %d: %s", rc, str(err));
		mailwire_free(receipt);
		mailwire_free(err);
	}
	return NULL;
}

static void test_pool(struct server *s) {
	char opts[8192];
	options(opts, sizeof opts, s, s->pin, s->password);
	struct trace_log t;
	trace_init(&t);
	mailwire_pool p = 0;
	char *err = NULL;

	int rc = mailwire_pool_open(s->addr, opts, "{\"max_conns\":2,\"max_messages_per_conn\":4}", trace_cb, &t, &p, &err);
	CHECK(rc == MAILWIRE_OK && p != 0 && !err, "pool open: %d %s", rc, str(err));
	mailwire_free(err);
	err = NULL;
	if (rc != MAILWIRE_OK) {
		trace_free(&t);
		return;
	}
	pthread_t th[THREADS];
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].pool = p;
		w[i].id = i;
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	int ok = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += w[i].ok;
		CHECK(w[i].ok == PER_THREAD, "thread %d: %d sent, first error %s", i, w[i].ok, w[i].first_error);
	}
	sent_ok += ok;

	/* A client handle is not a pool handle, and the other way round. */
	char *receipt = NULL;
	rc = mailwire_send((mailwire_client)p, "alice@example.com", "[\"bob@example.net\"]", MSG, 3, TIMEOUT_MS, &receipt, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "is a pool"), "pool used as client: %d %s", rc, str(err));
	mailwire_free(err);
	err = NULL;

	rc = mailwire_pool_close(p, TIMEOUT_MS, &err);
	CHECK(rc == MAILWIRE_OK && !err, "pool close: %d %s", rc, str(err));
	mailwire_free(err);
	int events = t.events;
	rc = mailwire_pool_send(p, "alice@example.com", "[\"bob@example.net\"]", MSG, 3, TIMEOUT_MS, &receipt, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "unknown or closed pool handle"), "send after pool close: %d %s", rc, str(err));
	mailwire_free(err);

	/* 20 messages, at most 4 per connection and 2 at a time: several
	 * connections, each authenticated, reused, and closed with QUIT; the
	 * trace tells them apart by their ids. */
	CHECK(t.bad_conn == 0 && t.nconns >= 5, "pool trace connection ids: %d bad, %d distinct (want >= 5)", t.bad_conn, t.nconns);
	CHECK(strstr(t.text, "6|AUTH PLAIN [redacted]\n") && !strstr(t.text, s->password), "pool trace redacted");
	CHECK(strstr(t.text, "10|reused\n") != NULL, "pool reused a connection");
	CHECK(strstr(t.text, "11|sent 4 messages") != NULL, "pool retired a connection after max_messages_per_conn:\n%s", t.text);
	CHECK(t.events == events, "callback after pool close");
	trace_free(&t);

	rc = mailwire_pool_open(s->addr, opts, "{\"max_conns\":-1}", NULL, NULL, &p, &err);
	CHECK(rc == MAILWIRE_E_INVALID && p == 0 && err && strstr(err, "pool_options_json"), "bad pool options: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_pool_open(s->addr, "{\"pins\":[\"nope\"]}", NULL, NULL, NULL, &p, &err);
	CHECK(rc == MAILWIRE_E_INVALID && err && strstr(err, "pin"), "pool with malformed pin: %d %s", rc, str(err));
	mailwire_free(err);
}

/* ---- delivery unknown and timeouts, on servers of their own ------------ */

static void test_delivery_unknown(const char *bin) {
	struct server s;
	if (start_server(&s, bin, "drop", "-drop-at=AFTERDATA") != 0) {
		CHECK(0, "start the dropping server");
		return;
	}
	char opts[8192], *err = NULL, *receipt = NULL;
	options(opts, sizeof opts, &s, NULL, s.password);
	mailwire_client c = 0;
	int rc = mailwire_open(s.addr, opts, NULL, NULL, TIMEOUT_MS, &c, &err);
	CHECK(rc == MAILWIRE_OK, "open: %d %s", rc, str(err));
	mailwire_free(err);
	err = NULL;
	if (rc == MAILWIRE_OK) {
		rc = mailwire_send(c, "alice@example.com", "[\"bob@example.net\"]", MSG, sizeof MSG - 1, TIMEOUT_MS, &receipt, &err);
		CHECK(rc == MAILWIRE_E_DELIVERY_UNKNOWN && !receipt && err && strstr(err, "\"category\":\"delivery_unknown\""),
		      "dropped after data: %d %s", rc, str(err));
		mailwire_free(err);
		err = NULL;
		rc = mailwire_send(c, "alice@example.com", "[\"bob@example.net\"]", MSG, sizeof MSG - 1, TIMEOUT_MS, &receipt, &err);
		CHECK(rc != MAILWIRE_OK && rc != MAILWIRE_E_INVALID, "send on a broken client: %d %s", rc, str(err));
		mailwire_free(err);
		err = NULL;
		rc = mailwire_close(c, TIMEOUT_MS, &err); /* releases the handle, whatever it says */
		mailwire_free(err);
		err = NULL;
		rc = mailwire_close(c, TIMEOUT_MS, &err);
		CHECK(rc == MAILWIRE_E_INVALID, "handle released after a failed close: %d", rc);
		mailwire_free(err);
	}
	char *msgs = stop_server(&s);
	/* The server did record it: "unknown" is the honest answer. */
	CHECK(msgs && strstr(msgs, "\"id\": \"Q0001\""), "the dropping server recorded the message: %s", str(msgs));
	free(msgs);
}

static void test_timeout(const char *bin) {
	struct server s;
	if (start_server(&s, bin, "slow", "-reply-delay=3s") != 0) {
		CHECK(0, "start the slow server");
		return;
	}
	mailwire_client c = 0;
	char *err = NULL;
	int rc = mailwire_open(s.addr, "{\"security\":\"plain\"}", NULL, NULL, 200, &c, &err);
	CHECK(rc == MAILWIRE_E_TIMEOUT && c == 0 && err && strstr(err, "\"category\":\"timeout\""), "timeout_ms: %d %s", rc, str(err));
	mailwire_free(err);
	rc = mailwire_open(s.addr, "{\"security\":\"plain\",\"timeout_ms\":200}", NULL, NULL, 0, &c, &err);
	/* The hint names this ABI's option keys, never the Go fields. */
	CHECK(rc == MAILWIRE_E_TIMEOUT && err && strstr(err, "\"remedy\":\"silent_port\"") && strstr(err, "greeting_timeout_ms") &&
	          !strstr(err, "Options."),
	      "options timeout_ms: %d %s", rc, str(err));
	mailwire_free(err);
	free(stop_server(&s));
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/TO/server\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct server s;
	if (start_server(&s, argv[1], "main", NULL) != 0) {
		fprintf(stderr, "cannot start the test server\n");
		return 1;
	}
	test_send_receipt_and_trace(&s);
	test_every_recipient_refused(&s);
	test_send_after_every_recipient_refused(argv[1]);
	test_open_errors(&s);
	test_pool(&s);
	test_delivery_unknown(argv[1]);
	test_timeout(argv[1]);

	char *msgs = stop_server(&s);
	int n = 0;
	for (const char *p = msgs; p && (p = strstr(p, "\"id\": \"Q")); p++)
		n++;
	CHECK(n == sent_ok, "the server recorded %d messages, %d were sent", n, sent_ok);
	CHECK(msgs && strstr(msgs, "\"auth_user\": \"alice\"") && strstr(msgs, "\"tls\": true") &&
	          strstr(msgs, "\"subject\": \"mailwire C test\"") && strstr(msgs, "\"helo\": \"c-test.example\""),
	      "messages as the server saw them");
	CHECK(msgs && strstr(msgs, "\\r\\n.a line that needs dot-stuffing\\r\\n"), "dot-stuffed line arrived intact");
	free(msgs);

	printf("c tests: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
