# shellcheck shell=bash
# Sourced by the test scripts: puts a Go toolchain able to build this module
# (go.mod says which) on PATH, on a fresh Debian machine too.
#
# Order of preference: a go already on PATH (an older one that knows
# GOTOOLCHAIN fetches the right release itself, through the module proxy);
# /usr/local/go; else Debian's golang-go, used only to fetch the release
# named in go.mod as the golang.org/toolchain module through the module
# proxy, the one source of Go releases this machine reaches.

ensure_go() {
  if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    export PATH=/usr/local/go/bin:$PATH
  fi
  if command -v go >/dev/null 2>&1; then
    export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
    return 0
  fi
  echo "== installing Go (Debian's golang-go, then the release go.mod asks for)"
  # Only what is missing (ca-certificates usually is not, and must not be
  # upgraded as a side effect): see scripts/apt.sh.
  . scripts/apt.sh
  apt_install_missing golang-go ca-certificates
  local want arch dir
  want=$(sed -n 's/^toolchain go//p; s/^go \([0-9.]*\)$/\1/p' go.mod | tail -n 1)
  case "$want" in *.*.*) ;; *) want="$want.0" ;; esac
  arch=$(dpkg --print-architecture)
  dir=$(cd "$(mktemp -d)" && go mod init tmp >/dev/null 2>&1 &&
    go mod download -json "golang.org/toolchain@v0.0.1-go$want.linux-$arch" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  chmod -R u+x "$dir/bin" "$dir/pkg/tool" 2>/dev/null || true
  export PATH="$dir/bin:$PATH" GOTOOLCHAIN=local
  go version
}
