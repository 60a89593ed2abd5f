#include <stdio.h>
#include <stdlib.h>
#include "mailwire.h"

int main(void) {
	const char msg[] = "From: alice@example.com\r\nSubject: Hello\r\n\r\nHi Bob.\r\n";
	char *receipt = NULL, *err = NULL;
	mailwire_client c;
	int rc = mailwire_open(getenv("SMTP_ADDR"), getenv("SMTP_OPTIONS"), NULL, NULL, 30000, &c, &err);
	if (rc == MAILWIRE_OK) {
		rc = mailwire_send(c, "alice@example.com", "[\"bob@example.net\"]", msg, sizeof msg - 1, 30000, &receipt, &err);
		mailwire_close(c, 30000, NULL);
	}
	printf("%s\n", rc == MAILWIRE_OK ? receipt : err);
	mailwire_free(receipt);
	mailwire_free(err);
	return rc == MAILWIRE_OK ? 0 : 1;
}
