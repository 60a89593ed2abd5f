#!/usr/bin/env bash
# Runs every test of mailwire, as CI does: formatting, vet, the race
# detector over every package, with a real Postfix (and Dovecot for SASL)
# started for the interoperability tests and stopped afterwards, even when
# tests fail. Works on a fresh Debian machine as root: it installs what it
# needs (Go, postfix, dovecot-core).
#
# MAILWIRE_NO_POSTFIX=1 skips Postfix (its tests then say they skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/go-env.sh
ensure_go

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

bash scripts/vulncheck.sh

if [ "${MAILWIRE_NO_POSTFIX:-}" != 1 ]; then
  echo "== Postfix for the interoperability tests"
  # An instance left by an earlier run that was killed would hold the ports:
  # stop those (only ours: down.sh stops what its state directory started).
  for old in /tmp/mailwire-postfix*/; do
    [ -f "$old/env" ] && bash scripts/postfix/down.sh "$old" >/dev/null 2>&1 || true
  done
  statedir=$(mktemp -d /tmp/mailwire-postfix.XXXXXX)
  trap 'bash scripts/postfix/down.sh "$statedir" >/dev/null 2>&1 || true' EXIT
  bash scripts/postfix/up.sh "$statedir" > "$statedir.up.log" 2>&1 || { cat "$statedir.up.log"; exit 1; }
  set -a; . "$statedir/env"; set +a
  echo "Postfix is up: submission $MAILWIRE_POSTFIX_SUBMISSION, smtps $MAILWIRE_POSTFIX_SMTPS, plain $MAILWIRE_POSTFIX_PLAIN"
fi

echo "== go test -race"
go test -race -count=1 ./...

echo "== bindings: the C ABI under valgrind and ASan, and the Python package"
bash scripts/test-bindings.sh
