/* A negative control for the leak check: it leaks, on purpose, a string the
 * library returned. test-bindings.sh runs it under the same valgrind (or
 * ASan) settings as the tests and expects the leak to be reported; if it
 * is not, the suppressions hide real leaks and the check proves nothing. */
#include <stdio.h>
#include "mailwire.h"

int main(void) {
	char *name = mailwire_event_name(MAILWIRE_EVENT_SENT);
	printf("leaking \"%s\" on purpose\n", name);
	name = NULL; /* never passed to mailwire_free */
	return 0;
}
