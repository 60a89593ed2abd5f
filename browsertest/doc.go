// Package browsertest tests the page of mailwire serve in a real headless
// browser (Debian's chromium, driven through the DevTools protocol by
// chromedp): the page loads, a message sent by SMTP shows without a
// reload, and its transcript opens, explained.
//
// It is a module of its own so that chromedp is never a dependency of the
// library. scripts/test.sh installs chromium when it is missing and runs
// it with MAILWIRE_REQUIRE_BROWSER=1, which makes a missing browser a
// failure rather than a skip.
package browsertest
