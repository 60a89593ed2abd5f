package smtp

import "github.com/mailwire/smtp/internal/termsafe"

// Text from the server (reply lines, EHLO keywords, certificate names) is
// the server's to choose: a hostile one can send escape sequences that
// rewrite what an operator's terminal shows. Wherever a person reads such
// text (errors, and the logs of package smtplog) it goes through these first; the
// command line uses the same package.

// safeText escapes what a terminal could act on (see termsafe.String).
func safeText(s string) string { return termsafe.String(s) }

// quoteServer quotes a server's text for an error message, escaped and
// cut (see termsafe.Quote).
func quoteServer(s string) string { return termsafe.Quote(s) }
