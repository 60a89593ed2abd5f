#!/usr/bin/env bash
# Runs every test of mailwire, as CI does: formatting, vet, the race
# detector over every package. Works on a fresh Debian machine as root: it
# installs what it needs.
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

echo "== go test -race"
go test -race -count=1 ./...
