/* A negative control for the leak check: it leaks, on purpose, a string the
 * library returned. test-bindings.sh runs it under the same valgrind (or
 * ASan) settings as the tests and expects the leak to be reported; if it
 * is not, the suppressions hide real leaks and the check proves nothing. */
#include <stdio.h>
#include "mailwire.h"

int main(void) {
	mailwire_client c;
	char *err = NULL;
	/* An address without a port: refused at once, with an error string. */
	mailwire_open("no-port", NULL, NULL, NULL, 1000, &c, &err);
	printf("leaking \"%s\" on purpose\n", err ? err : "(null)");
	err = NULL; /* never passed to mailwire_free */
	return 0;
}
