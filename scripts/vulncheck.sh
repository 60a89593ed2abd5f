#!/usr/bin/env bash
# Runs staticcheck and govulncheck over the module; either finding fails.
# Both are installed from the Go module proxy, pinned.
#
# govulncheck reads a vulnerability database that it normally downloads
# from its own server, which this project's machines cannot reach. The same
# reports are published as the golang.org/x/vulndb module (data/osv), so the
# database is built from that module with its own gendb command, once per
# version, and cached.
set -euo pipefail
cd "$(dirname "$0")/.."

staticcheck_version=v0.8.2 # 2026.2.2
govulncheck_version=v1.9.0
vulndb_version=v0.0.0-20261105234957-e22db6528018

gobin=$(go env GOPATH)/bin
echo "== staticcheck $staticcheck_version"
go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
"$gobin/staticcheck" ./...

echo "== govulncheck $govulncheck_version (database: golang.org/x/vulndb $vulndb_version)"
go install "golang.org/x/vuln/cmd/govulncheck@$govulncheck_version"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/mailwire-vulndb-$vulndb_version
if [ ! -f "$cache/index/db.json" ]; then
  work=$(mktemp -d)
  src=$(cd "$work" && go mod download -json "golang.org/x/vulndb@$vulndb_version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  # gendb reads a git checkout: make one of the module's data.
  mkdir -p "$work/repo" && cp -r "$src/data" "$work/repo/" && chmod -R u+w "$work/repo"
  git -C "$work/repo" init -q
  git -C "$work/repo" add -A
  git -C "$work/repo" -c user.name=mailwire -c user.email=ci@mailwire.invalid commit -qm "vulndb $vulndb_version"
  (cd "$work" && go run "golang.org/x/vulndb/cmd/gendb@$vulndb_version" -repo "$work/repo" -out "$work/db")
  mkdir -p "$(dirname "$cache")" && rm -rf "$cache" && mv "$work/db" "$cache"
  rm -rf "$work"
fi
"$gobin/govulncheck" -db "file://$cache" ./...
