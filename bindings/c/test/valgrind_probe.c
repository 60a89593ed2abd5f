/* The valgrind probe: can valgrind run the Go code of libmailwire.so on this
 * machine? test-bindings.sh runs it under valgrind before the C tests, and
 * runs those under valgrind only if it exits 0 and valgrind reports no
 * instruction it cannot translate; AddressSanitizer checks them either way.
 *
 * Why: Debian 12's valgrind 3.19 tells the program, through the CPUID it
 * emulates, that the CPU has RDTSCP, even on a CPU (or VM) that does not
 * advertise it, and then cannot translate the instruction ("vex amd64->IR:
 * unhandled instruction bytes: 0xF 0x1 0xF9"): the program dies of SIGILL,
 * exit 132. The Go runtime believes CPUID and uses RDTSCP in cputicks,
 * which it calls at unpredictable moments (a contended runtime lock, for
 * one), so a C test may or may not die. Hence step 1 below does what the
 * Go runtime does, every time: if CPUID says RDTSCP, and GODEBUG does not
 * turn it off (cpu.rdtscp=off, which test-bindings.sh sets under valgrind
 * so that valgrind can run Go code on such a CPU), execute it.
 *
 * Step 2 then runs some Go code: loading the library starts the Go
 * runtime, mailwire_event_name waits for it, and a refused connection runs
 * goroutines, timers and the network poller. Nothing leaks: memcheck's own
 * findings are for the C tests to judge, not this probe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mailwire.h"
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/* Whether GODEBUG turns the Go runtime's use of RDTSCP off: cpu.rdtscp=off
 * or cpu.all=off in its comma-separated list, the last of cpu.rdtscp and
 * cpu.all winning, as in internal/cpu. */
static int godebug_rdtscp_off(void) {
	const char *g = getenv("GODEBUG");
	int off = 0;
	while (g && *g) {
		size_t n = strcspn(g, ",");
		if ((n == 14 && strncmp(g, "cpu.rdtscp=off", n) == 0) || (n == 11 && strncmp(g, "cpu.all=off", n) == 0)) {
			off = 1;
		} else if ((n == 13 && strncmp(g, "cpu.rdtscp=on", n) == 0) || (n == 10 && strncmp(g, "cpu.all=on", n) == 0)) {
			off = 0;
		}
		g += n + (g[n] == ',');
	}
	return off;
}

/* Step 1: runtime.cputicks of the Go runtime (asm_amd64.s), in C. */
static const char *rdtscp_like_go(void) {
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d, lo, hi, aux;
	/* internal/cpu: HasRDTSCP is bit 27 of EDX of CPUID 0x80000001. */
	if (!__get_cpuid(0x80000001, &a, &b, &c, &d) || !(d & (1u << 27))) {
		return "CPUID does not offer RDTSCP; the Go runtime will not use it";
	}
	if (godebug_rdtscp_off()) {
		return "CPUID offers RDTSCP, GODEBUG turns it off; the Go runtime will not use it";
	}
	fprintf(stderr, "valgrind probe: CPUID offers RDTSCP, executing it as the Go runtime does\n");
	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	(void)lo, (void)hi, (void)aux;
	return "CPUID offers RDTSCP and it ran";
#else
	return "not x86";
#endif
}

int main(void) {
	const char *rdtscp = rdtscp_like_go();
	const char *name = mailwire_event_name(MAILWIRE_EVENT_SENT);
	char *err = NULL;
	mailwire_client c;
	/* Port 1 of the loopback: nothing listens, the connection is refused.
	 * Either outcome is fine; the probe only asks whether the code ran. */
	int rc = mailwire_open("127.0.0.1:1", NULL, NULL, NULL, 2000, &c, &err);
	if (rc == MAILWIRE_OK) {
		mailwire_close(c, 2000, NULL);
	}
	printf("valgrind probe: ok (%s; event name \"%s\"; open 127.0.0.1:1: %s)\n", rdtscp,
	       name ? name : "(null)", rc == MAILWIRE_OK ? "connected" : (err ? err : "failed"));
	mailwire_free(err);
	return 0;
}
