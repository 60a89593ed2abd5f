/* Tests of libmailwire through its C API, against `mailwire serve`, the
 * project's test SMTP server (cmd/mailwire, SERVE_API.md), which this
 * program starts itself: STARTTLS, AUTH required for one user, the magic
 * recipients permfail@ (550 5.1.1) and tempfail@ (451 4.3.0), faults set
 * at runtime and the messages read back through its HTTP API.
 *
 *   usage: test_mailwire PATH/TO/mailwire
 *
 * Prints one line per failed check and, last, "c tests: N passed, M failed";
 * exits 1 when a check failed. Every string the library returns is freed
 * with mailwire_free, so that a leak checker (valgrind, ASan) run over this
 * program finds the library's leaks, not the test's.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mailwire.h"

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

/* ---- the test server: mailwire serve ----------------------------------- */

#define USER "alice"
#define PASSWORD "s3cret-Pa55word"

struct server {
	pid_t pid;
	int out;   /* its stdout, open until it stops */
	char tag[32];
	char addr[64]; /* SMTP: 127.0.0.1:PORT */
	int http_port; /* the HTTP API, on 127.0.0.1 */
	char pin[128];
	char *ca_pem; /* the CA certificate, read from ca_file */
	char ca_file[256], log_file[256];
	const char *user, *password;
	const char *rejected;      /* magic recipients: refused with 550 5.1.1, */
	const char *temp_rejected; /* and with 451 4.3.0 */
};

/* read_file returns the contents of path, malloc'd and NUL-terminated, or
 * NULL. */
static char *read_file(const char *path) {
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t n = 0, cap = 4096;
	char *buf = malloc(cap);
	for (size_t r; (r = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
		n += r;
		if (n + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* show_log copies the server's stderr (its log file) to ours. */
static void show_log(const struct server *s) {
	char *log = read_file(s->log_file);
	fprintf(stderr, "--- mailwire serve (%s) said on stderr:\n%s---\n", s->tag, str(log));
	free(log);
}

/* status_text describes a wait status: "exit N" or "signal N". */
static const char *status_text(int status, char *buf, size_t cap) {
	if (WIFEXITED(status))
		snprintf(buf, cap, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, cap, "signal %d", WTERMSIG(status));
	else
		snprintf(buf, cap, "wait status %d", status);
	return buf;
}

/* stop_process ends the server (SIGTERM, on which it exits 0) and returns
 * its wait status. */
static int stop_process(struct server *s) {
	int status = 0;
	kill(s->pid, SIGTERM);
	while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
		;
	close(s->out);
	return status;
}

/* start_server runs `mailwire serve` on free ports and reads where it
 * listens from the lines it prints: "smtp ADDR (TLS: starttls)",
 * "http ADDR", "pin sha256//..." and, last, "ca FILE". Should this program
 * die without stopping it, the server gets SIGTERM all the same
 * (PR_SET_PDEATHSIG). Its stderr goes to a file, shown when it fails. */
static int start_server(struct server *s, const char *bin, const char *tag) {
	memset(s, 0, sizeof *s);
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(s->tag, sizeof s->tag, "%s", tag);
	snprintf(s->ca_file, sizeof s->ca_file, "%s/mailwire-c-test-%s-%d-ca.pem", tmp, tag, (int)getpid());
	snprintf(s->log_file, sizeof s->log_file, "%s/mailwire-c-test-%s-%d.log", tmp, tag, (int)getpid());
	s->user = USER;
	s->password = PASSWORD;
	s->rejected = "permfail@example.net";
	s->temp_rejected = "tempfail@example.net";
	s->out = -1;

	int out[2];
	if (pipe2(out, O_CLOEXEC)) {
		perror("pipe2");
		return -1;
	}
	int log = open(s->log_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (log < 0) {
		perror(s->log_file);
		close(out[0]);
		close(out[1]);
		return -1;
	}
	char *argv[] = {(char *)bin, "serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--tls", "starttls",
	                "--user", USER ":" PASSWORD, "--ca-out", s->ca_file, NULL};
	pid_t parent = getpid();
	s->pid = fork();
	if (s->pid == 0) { /* only async-signal-safe calls until execv */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
			_exit(127);
		int null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(log, 2) < 0)
			_exit(127);
		execv(bin, argv);
		static const char msg[] = "test_mailwire: execv of the mailwire command failed\n";
		ssize_t ignored = write(2, msg, sizeof msg - 1);
		(void)ignored;
		_exit(127);
	}
	close(out[1]);
	close(log);
	if (s->pid < 0) {
		perror("fork");
		close(out[0]);
		return -1;
	}
	s->out = out[0];

	char buf[2048];
	size_t n = 0;
	int done = 0;
	while (!done && n + 1 < sizeof buf) {
		struct pollfd p = {.fd = s->out, .events = POLLIN};
		if (poll(&p, 1, 60000) <= 0)
			break;
		ssize_t r = read(s->out, buf + n, sizeof buf - n - 1);
		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = 0;
		const char *ca = strstr(buf, "\nca ");
		done = ca && strchr(ca + 1, '\n');
	}
	buf[n] = 0;
	for (const char *line = buf; *line;) {
		size_t len = strcspn(line, "\n");
		char l[256];
		snprintf(l, sizeof l, "%.*s", (int)len, line);
		const char *colon = strrchr(l, ':');
		if (strncmp(l, "smtp ", 5) == 0)
			sscanf(l + 5, "%63s", s->addr);
		else if (strncmp(l, "http ", 5) == 0 && colon)
			s->http_port = atoi(colon + 1);
		else if (strncmp(l, "pin ", 4) == 0)
			sscanf(l + 4, "%127s", s->pin);
		line += len + (line[len] == '\n');
	}
	s->ca_pem = done ? read_file(s->ca_file) : NULL;
	if (!s->addr[0] || s->http_port <= 0 || !s->pin[0] || !s->ca_pem || !strstr(s->ca_pem, "BEGIN CERTIFICATE")) {
		char st[32];
		int status = stop_process(s);
		fprintf(stderr, "%s serve (%s) did not start (%s); on stdout:\n%s\n", bin, tag, status_text(status, st, sizeof st), buf);
		show_log(s);
		free(s->ca_pem);
		unlink(s->ca_file);
		unlink(s->log_file);
		return -1;
	}
	return 0;
}

/* stop_server stops the server and checks that it exited 0. */
static void stop_server(struct server *s) {
	char st[32];
	int status = stop_process(s);
	int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	CHECK(ok, "mailwire serve (%s) stopped: %s", s->tag, status_text(status, st, sizeof st));
	if (!ok)
		show_log(s);
	free(s->ca_pem);
	unlink(s->ca_file);
	unlink(s->log_file);
}

/* ---- a client of its HTTP API -------------------------------------------- */

/* http sends METHOD PATH, with body (JSON; NULL: none), to the server's API
 * over HTTP/1.0, reads the answer to the end and returns its status code
 * (-1: no answer). *resp (if resp is not NULL) is the body, malloc'd and
 * NUL-terminated (NULL when there was no answer), *resp_len (if not NULL)
 * its length. */
static int http(const struct server *s, const char *method, const char *path, const char *body, char **resp, size_t *resp_len) {
	if (resp)
		*resp = NULL;
	if (resp_len)
		*resp_len = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("socket");
		return -1;
	}
	struct timeval tv = {.tv_sec = TIMEOUT_MS / 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)s->http_port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		fprintf(stderr, "%s %s: connect to 127.0.0.1:%d: %s\n", method, path, s->http_port, strerror(errno));
		close(fd);
		return -1;
	}
	if (!body)
		body = "";
	size_t blen = strlen(body);
	char head[512];
	int hlen = snprintf(head, sizeof head,
	                    "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
	                    method, path, blen);
	size_t len = (size_t)hlen + blen, n = 0, cap = len + 1 > 8192 ? len + 1 : 8192;
	char *buf = malloc(cap);
	memcpy(buf, head, (size_t)hlen);
	memcpy(buf + hlen, body, blen);
	for (size_t sent = 0; sent < len;) {
		ssize_t w = send(fd, buf + sent, len - sent, MSG_NOSIGNAL);
		if (w <= 0) {
			fprintf(stderr, "%s %s: send: %s\n", method, path, strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		sent += (size_t)w;
	}
	for (;;) { /* HTTP/1.0: the server closes the connection after the answer */
		if (n + 1 == cap)
			buf = realloc(buf, cap *= 2);
		ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fprintf(stderr, "%s %s: recv: %s\n", method, path, strerror(errno));
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = 0;
	close(fd);
	int status = -1;
	char *end = strstr(buf, "\r\n\r\n");
	if (!end || sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
		fprintf(stderr, "%s %s: not an HTTP answer: %s\n", method, path, buf);
		free(buf);
		return -1;
	}
	if (resp) {
		size_t bn = n - (size_t)(end + 4 - buf);
		*resp = malloc(bn + 1);
		memcpy(*resp, end + 4, bn);
		(*resp)[bn] = 0;
		if (resp_len)
			*resp_len = bn;
	}
	free(buf);
	return status;
}

/* set_fault sets a fault (SERVE_API.md) on the server: POST /api/faults.
 * Returns the status code, 204 when the server took it. */
static int set_fault(const struct server *s, const char *fault_json) {
	char *resp = NULL;
	int status = http(s, "POST", "/api/faults", fault_json, &resp, NULL);
	if (status != 204)
		fprintf(stderr, "POST /api/faults %s: %d %s\n", fault_json, status, str(resp));
	free(resp);
	return status;
}

/* messages returns the server's list of the messages it accepted (GET
 * /api/messages: compact JSON, as Go's encoder writes it), malloc'd, or
 * NULL. */
static char *messages(const struct server *s) {
	char *resp = NULL;
	int status = http(s, "GET", "/api/messages", NULL, &resp, NULL);
	if (status != 200) {
		fprintf(stderr, "GET /api/messages: %d %s\n", status, str(resp));
		free(resp);
		return NULL;
	}
	return resp;
}

/* count returns how many times needle occurs in hay (NULL: none). */
static int count(const char *hay, const char *needle) {
	int n = 0;
	for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* message_id copies into id the queue id of the first message of list
 * (GET /api/messages) whose subject is subject; returns 0, or -1 if there
 * is none. */
static int message_id(const char *list, const char *subject, char *id, size_t cap) {
	char want[256];
	snprintf(want, sizeof want, "\"subject\":\"%s\"", subject);
	for (const char *p = list; p && (p = strstr(p, "{\"id\":\""));) {
		p += strlen("{\"id\":\"");
		const char *next = strstr(p, "{\"id\":\""), *subj = strstr(p, want);
		if (subj && (!next || subj < next)) {
			size_t n = strcspn(p, "\"");
			if (n >= cap)
				return -1;
			memcpy(id, p, n);
			id[n] = 0;
			return 0;
		}
	}
	return -1;
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
	CHECK(strstr(r, "\"rejected\":[{\"address\":\"permfail@example.net\",\"code\":550,\"enhanced_code\":\"5.1.1\","
	                "\"message\":\"Mailbox unavailable, as asked (magic recipient)\"}]") != NULL,
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
	c = refused_send(s, s->temp_rejected, MAILWIRE_E_TEMPORARY, "\"code\":451", "\"enhanced_code\":\"4.3.0\"");
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
	if (start_server(&s, bin, "refused") != 0) {
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
	char *msgs = messages(&s);
	stop_server(&s);
	int n = count(msgs, "{\"id\":\"Q");
	CHECK(n <= 1, "%d messages recorded: %s", n, str(msgs));
	CHECK(n == 0 || strstr(msgs, "\"from\":\"\","), "the next message went out as from <alice@example.com>, not <>: %s", str(msgs));
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
	if (start_server(&s, bin, "drop") != 0) {
		CHECK(0, "start the dropping server");
		return;
	}
	/* The message is recorded, then the connection closed without a reply. */
	CHECK(set_fault(&s, "{\"step\":\"AFTERDATA\",\"drop\":true}") == 204, "set the fault that drops after data");
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
		mailwire_free(receipt); /* none, unless that check failed */
		mailwire_free(err);
		receipt = err = NULL;
		rc = mailwire_send(c, "alice@example.com", "[\"bob@example.net\"]", MSG, sizeof MSG - 1, TIMEOUT_MS, &receipt, &err);
		CHECK(rc != MAILWIRE_OK && rc != MAILWIRE_E_INVALID, "send on a broken client: %d %s", rc, str(err));
		mailwire_free(receipt);
		mailwire_free(err);
		err = NULL;
		rc = mailwire_close(c, TIMEOUT_MS, &err); /* releases the handle, whatever it says */
		mailwire_free(err);
		err = NULL;
		rc = mailwire_close(c, TIMEOUT_MS, &err);
		CHECK(rc == MAILWIRE_E_INVALID, "handle released after a failed close: %d", rc);
		mailwire_free(err);
	}
	char *msgs = messages(&s);
	stop_server(&s);
	/* The server did record it: "unknown" is the honest answer. */
	CHECK(msgs && strstr(msgs, "{\"id\":\"Q0001\""), "the dropping server recorded the message: %s", str(msgs));
	free(msgs);
}

static void test_timeout(const char *bin) {
	struct server s;
	if (start_server(&s, bin, "slow") != 0) {
		CHECK(0, "start the slow server");
		return;
	}
	/* A greeting 3 s late: both opens below give up waiting for it. */
	CHECK(set_fault(&s, "{\"step\":\"CONNECT\",\"delay\":\"3s\"}") == 204, "set the fault that delays the greeting");
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
	stop_server(&s);
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/TO/mailwire\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct server s;
	if (start_server(&s, argv[1], "main") != 0) {
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

	/* The messages as the server saw them, read through its API before it
	 * stops: the list, and the first message's transcript and raw text. */
	char *msgs = messages(&s), id[32] = "", path[128], *transcript = NULL, *raw = NULL;
	size_t raw_len = 0;
	int have_id = msgs && message_id(msgs, "mailwire C test", id, sizeof id) == 0;
	snprintf(path, sizeof path, "/api/messages/%s/transcript", id);
	int transcript_status = have_id ? http(&s, "GET", path, NULL, &transcript, NULL) : -1;
	snprintf(path, sizeof path, "/api/messages/%s/raw", id);
	int raw_status = have_id ? http(&s, "GET", path, NULL, &raw, &raw_len) : -1;
	stop_server(&s);

	int n = count(msgs, "{\"id\":\"Q");
	CHECK(n == sent_ok, "the server recorded %d messages, %d were sent", n, sent_ok);
	CHECK(msgs && count(msgs, "\"auth_user\":\"alice\"") == n && count(msgs, "\"tls\":true") == n && have_id &&
	          transcript_status == 200 && strstr(str(transcript), "\"C: EHLO c-test.example\""),
	      "messages as the server saw them (each over TLS as alice; %s, transcript %d): %s\n%s", id[0] ? id : "no message \"mailwire C test\"",
	      transcript_status, str(msgs), str(transcript));
	CHECK(raw_status == 200 && raw && strstr(raw, "\r\n.a line that needs dot-stuffing\r\n"), "dot-stuffed line arrived intact: %d %s",
	      raw_status, str(raw));
	free(msgs);
	free(transcript);
	free(raw);

	printf("c tests: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
