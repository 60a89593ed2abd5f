#!/usr/bin/env bash
# Runs every test of mailwire, as CI does (.ci/run): go.mod tidiness,
# formatting, vet, staticcheck and govulncheck, the race detector over every
# package with a real Postfix (and Dovecot for SASL and LMTP), real proxies (dante
# for SOCKS5, tinyproxy for HTTP CONNECT), a Redis and a validating resolver
# (Unbound, for DANE against true DNSSEC) started for the interoperability
# tests and stopped afterwards, even when tests fail; the
# examples module; the page of mailwire serve in headless chromium; the build and tests again with the oldest Go release
# go.mod allows; then the C and Python bindings. Works on a fresh Debian 12
# machine as root: it installs what is missing (Go through the module
# proxy, postfix, dovecot-core, dante-server, tinyproxy, redis-server, unbound
# and chromium with apt-get),
# and upgrades nothing that is installed.
#
# MAILWIRE_NO_POSTFIX=1 skips Postfix and the proxies (their tests then say
# they skipped).
#
# It stops at the first step that fails. The last lines list every step:
# what ran, with which Go, how long it took, and what was skipped and why.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/mailwire-test.XXXXXX")

# ---- steps and the summary ------------------------------------------------------
# Every step is announced with "== title" and recorded; the summary printed
# on exit (success or not) lists them all, so that a reader of the end of a
# CI log sees what ran. Steps after a failure show as "not run".
plan=(
  "Go toolchain"
  "go mod tidy -diff"
  "gofmt -l"
  "go vet"
  "staticcheck, govulncheck"
  "Postfix, proxies, Redis and Unbound up"
  "go test -race"
  "examples: go vet, go test -race"
  "smtpotel: go vet, go test -race"
  "browser: mailwire serve's page in chromium"
  "oldest Go: go build, go test"
  "Postfix, proxies, Redis and Unbound down"
  "bindings: C (ASan, valgrind where it can run Go), Python"
)
declare -A result detail
current="" current_t0=0

step() { # title [detail]: starts a step
  current=$1
  current_t0=$SECONDS
  detail[$current]=${2:-}
  echo "== $current${2:+ ($2)}"
}
status() { printf '%-7s %5s' "$1" "${2:+${2}s}"; } # status [seconds]: a column of the summary
step_done() { # [detail to add]: the current step passed
  result[$current]=$(status ok $((SECONDS - current_t0)))
  [ -z "${1:-}" ] || detail[$current]="${detail[$current]:+${detail[$current]}; }$1"
  current=""
}
step_skip() { # title reason: a step that does not run, and why
  result[$1]=$(status skipped)
  detail[$1]=$2
  echo "== $1: skipped: $2"
}

summary() {
  local t line
  echo
  echo "== summary of scripts/test.sh ($((SECONDS - started))s)"
  for t in "${plan[@]}"; do
    if [ -n "${result[$t]:-}" ]; then
      line="${result[$t]}  $t"
    elif [ "$t" = "$current" ]; then
      line="$(status FAILED $((SECONDS - current_t0)))  $t"
    else
      line="$(status "not run")  $t"
    fi
    echo "$line${detail[$t]:+: ${detail[$t]}}"
  done
}

statedir="" proxydir="" redisdir="" unbounddir=""
# service_up NAME VAR: starts scripts/NAME/up.sh in a new state directory,
# named in VAR before it starts so that on_exit stops it whatever happens.
# An instance a killed run left would hold the ports: those are stopped
# first (only ours: down.sh stops what its state directory started). What
# up.sh installed, if anything, is shown.
service_up() {
  local name=$1 var=$2 old dir
  for old in /tmp/mailwire-"$name"*/; do
    if [ -f "$old/env" ]; then
      bash "scripts/$name/down.sh" "$old" >/dev/null 2>&1 || true
    fi
  done
  dir=$(mktemp -d "/tmp/mailwire-$name.XXXXXX")
  printf -v "$var" %s "$dir"
  bash "scripts/$name/up.sh" "$dir" >"$dir.up.log" 2>&1 || {
    cat "$dir.up.log"
    return 1
  }
  grep -E 'apt-get|note:|installed|installing' "$dir.up.log" || true
}
on_exit() {
  local rc=$?
  # Postfix and the proxies must not outlive the run, whatever happened.
  if [ -n "$statedir" ]; then
    bash scripts/postfix/down.sh "$statedir" >/dev/null 2>&1 || true
  fi
  if [ -n "$proxydir" ]; then
    bash scripts/proxies/down.sh "$proxydir" >/dev/null 2>&1 || true
  fi
  if [ -n "$redisdir" ]; then
    bash scripts/redis/down.sh "$redisdir" >/dev/null 2>&1 || true
  fi
  if [ -n "$unbounddir" ]; then
    bash scripts/unbound/down.sh "$unbounddir" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  summary
  if [ "$rc" = 0 ]; then
    echo "test.sh: OK"
  else
    echo "test.sh: FAILED (${current:-?}, exit $rc)"
  fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---- Go ----------------------------------------------------------------------------
step "Go toolchain"
. scripts/go-env.sh
ensure_go
go_version=$(go version | awk '{print $3}')
toolchain=$(sed -n 's/^toolchain //p' go.mod)
# The oldest release the module supports is go.mod's go line (the go
# directives of the dependencies set its floor: go mod tidy raises it to
# theirs). As a toolchain name, "1.26" is "go1.26.0".
oldest=go$(go list -m -f '{{.GoVersion}}')
case "$oldest" in go*.*.*) ;; *) oldest=$oldest.0 ;; esac
step_done "$go_version (GOTOOLCHAIN=${GOTOOLCHAIN:-}; go.mod: go ${oldest#go}, toolchain ${toolchain:-none})"

# Every module of the tree: bench/, examples/, smtpotel/ and browsertest/
# have go.mod files of their own (they use the library through a replace
# directive).
modules=(.)
for m in bench examples smtpotel browsertest; do
  [ -f "$m/go.mod" ] && modules+=("$m")
done

step "go mod tidy -diff" "modules: ${modules[*]}"
# A go.mod that says a direct dependency is indirect, or a go.sum with
# stale lines, fails: run "go mod tidy" in that module.
untidy=()
for m in "${modules[@]}"; do
  (cd "$m" && go mod tidy -diff) || untidy+=("$m")
done
if [ ${#untidy[@]} -gt 0 ]; then
  echo "go.mod/go.sum not tidy in: ${untidy[*]} (the diff above; fix with go mod tidy there)"
  exit 1
fi
step_done

step "gofmt -l" "every module"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"
  echo "$unformatted"
  exit 1
fi
step_done

step "go vet" "./... of the root module, $go_version"
go vet ./...
step_done

step "staticcheck, govulncheck"
bash scripts/vulncheck.sh
step_done

# ---- Postfix, and the Go tests against it --------------------------------------------
if [ "${MAILWIRE_NO_POSTFIX:-}" != 1 ]; then
  step "Postfix, proxies, Redis and Unbound up"
  service_up postfix statedir
  service_up proxies proxydir
  service_up redis redisdir
  service_up unbound unbounddir # the validating resolver of the DANE tests (the tests serve its zone)
  set -a
  # shellcheck source=/dev/null
  . "$statedir/env"
  # shellcheck source=/dev/null
  . "$proxydir/env"
  # shellcheck source=/dev/null
  . "$redisdir/env"
  # shellcheck source=/dev/null
  . "$unbounddir/env"
  set +a
  step_done "submission $MAILWIRE_POSTFIX_SUBMISSION, smtps $MAILWIRE_POSTFIX_SMTPS, plain $MAILWIRE_POSTFIX_PLAIN; SOCKS5 $MAILWIRE_PROXY_SOCKS, HTTP $MAILWIRE_PROXY_HTTP_AUTH; Redis $MAILWIRE_REDIS_ADDR; Unbound $MAILWIRE_UNBOUND"
else
  step_skip "Postfix, proxies, Redis and Unbound up" "MAILWIRE_NO_POSTFIX=1 (the interoperability tests skip, saying so)"
fi

step "go test -race" "-count=1 ./... of the root module, $go_version"
go test -race -count=1 ./...
step_done

if [ -f examples/go.mod ]; then
  step "examples: go vet, go test -race" "-count=1 ./... in examples/, $go_version"
  (cd examples && go vet ./... && go test -race -count=1 ./...)
  step_done
else
  step_skip "examples: go vet, go test -race" "there is no examples/go.mod"
fi

if [ -f smtpotel/go.mod ]; then
  step "smtpotel: go vet, go test -race" "-count=1 ./... in smtpotel/, $go_version"
  (cd smtpotel && go vet ./... && go test -race -count=1 ./...)
  step_done
else
  step_skip "smtpotel: go vet, go test -race" "there is no smtpotel/go.mod"
fi

# The page of mailwire serve in a real headless browser: Debian's chromium
# (installed when it is missing, nothing upgraded), driven by chromedp.
if [ -f browsertest/go.mod ]; then
  step "browser: mailwire serve's page in chromium" "browsertest/, chromedp"
  if ! command -v chromium >/dev/null 2>&1; then
    . scripts/apt.sh
    apt_install_missing chromium
  fi
  chromium_version=$(chromium --version 2>/dev/null || echo "chromium: no version")
  (cd browsertest && go vet ./... && MAILWIRE_REQUIRE_BROWSER=1 MAILWIRE_CHROMIUM=$(command -v chromium) go test -count=1 ./...)
  step_done "$chromium_version"
else
  step_skip "browser: mailwire serve's page in chromium" "there is no browsertest/go.mod"
fi

# The oldest Go release go.mod allows, fetched as the golang.org/toolchain
# module through the module proxy and kept in the module cache, so that a
# go line set too low, or code that needs a newer standard library than it
# says, fails here rather than for a user. Without -race, which would about
# double the time for little more.
step "oldest Go: go build, go test" "GOTOOLCHAIN=$oldest: go build ./... and go test -count=1 ./... of the root module"
old_version=$(GOTOOLCHAIN=$oldest go version | awk '{print $3}')
if [ "$old_version" != "$oldest" ]; then
  echo "GOTOOLCHAIN=$oldest ran $old_version" >&2
  exit 1
fi
GOTOOLCHAIN=$oldest go build ./...
GOTOOLCHAIN=$oldest go test -count=1 ./...
step_done "ran $old_version"

if [ -n "$statedir" ]; then
  step "Postfix, proxies, Redis and Unbound down"
  bash scripts/postfix/down.sh "$statedir" >/dev/null 2>&1
  statedir=""
  bash scripts/proxies/down.sh "$proxydir" >/dev/null 2>&1
  proxydir=""
  bash scripts/redis/down.sh "$redisdir" >/dev/null 2>&1
  redisdir=""
  bash scripts/unbound/down.sh "$unbounddir" >/dev/null 2>&1
  unbounddir=""
  step_done
else
  step_skip "Postfix, proxies, Redis and Unbound down" "no Postfix was started"
fi

# ---- bindings ----------------------------------------------------------------------
step "bindings: C (ASan, valgrind where it can run Go), Python"
bash scripts/test-bindings.sh 2>&1 | tee "$work/bindings.log"
# Which leak checkers ran, and why (test-bindings.sh's own summary lines).
step_done "$(grep -E '^(valgrind|asan): (ran|skipped)' "$work/bindings.log" | tail -n 2 | paste -sd '|' | sed 's/|/; /')"
