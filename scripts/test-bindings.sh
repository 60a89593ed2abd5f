#!/usr/bin/env bash
# Builds and tests the C and Python bindings (bindings/): the Go tests of the
# binding, the C tests under AddressSanitizer and (where it can run Go code)
# valgrind, a leak-check control for each, the README's examples, and the
# Python tests. Works on a fresh Debian machine as root: it installs what is
# missing, and upgrades nothing.
#
#   MAILWIRE_LEAK_CHECK="valgrind asan" the checkers wanted for the C tests
#                                       (default both: valgrind for leaks,
#                                       ASan for C-side memory errors too)
#   MAILWIRE_VALGRIND_PROBE=fail        make the valgrind probe fail as it
#                                       does on a CPU valgrind cannot handle
#                                       (to test the fallback to ASan)
#   MAILWIRE_VALGRIND_GODEBUG=settings  GODEBUG for what runs under valgrind
#                                       (default cpu.rdtscp=off, see below;
#                                       empty: none, as before)
#   MAILWIRE_BUILD_DIR=dir              build there, and keep it (default: a
#                                       temporary directory, removed)
#
# valgrind runs only where a probe shows that it can run the Go code of
# libmailwire.so. On x86-64 CPUs (and VMs) that do not advertise RDTSCP,
# Debian 12's valgrind 3.19 offers it in the CPUID it emulates but cannot
# translate it; the Go runtime believes CPUID, uses it (runtime.cputicks, on
# a contended lock for one) and the program dies at a random point: "vex
# amd64->IR: unhandled instruction bytes: 0xF 0x1 0xF9", SIGILL, exit 132.
# GODEBUG=cpu.rdtscp=off makes the Go runtime read the clock without RDTSCP,
# which lets valgrind run it there (the C side, which is what valgrind
# checks, is the same); hence the default of MAILWIRE_VALGRIND_GODEBUG.
# Where the probe fails all the same, the C tests run under ASan/LeakSanitizer
# alone (even if MAILWIRE_LEAK_CHECK=valgrind), and the output says so and
# why. Nothing is skipped without a line saying so.
#
# The last lines are a summary the CI can read:
#   valgrind: ran (why) | valgrind: skipped: why; leak checking by ASan/LeakSanitizer
#   asan: ran (...)
#   c tests: N passed, 0 failed (...)      one line per checker that ran
#   python tests: Ran N tests in Xs / OK
#   pytest: ==== N passed in Xs ====
#   bindings: OK (Ns)
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree
. scripts/go-env.sh
ensure_go

want_valgrind=0 want_asan=0
for checker in ${MAILWIRE_LEAK_CHECK:-valgrind asan}; do
  case "$checker" in
  valgrind) want_valgrind=1 ;;
  asan) want_asan=1 ;;
  *)
    echo "MAILWIRE_LEAK_CHECK lists valgrind and/or asan, not $checker" >&2
    exit 2
    ;;
  esac
done
case "${MAILWIRE_VALGRIND_PROBE:-}" in "" | fail) ;; *)
  echo "MAILWIRE_VALGRIND_PROBE is fail or unset, not $MAILWIRE_VALGRIND_PROBE" >&2
  exit 2
  ;;
esac
# The environment of everything run under valgrind (the probe, the C tests,
# the leak control): GODEBUG as given, plus MAILWIRE_VALGRIND_GODEBUG.
valgrind_godebug=${MAILWIRE_VALGRIND_GODEBUG-cpu.rdtscp=off}
valgrind_env=(env)
if [ -n "$valgrind_godebug" ]; then
  valgrind_env+=("GODEBUG=${GODEBUG:+$GODEBUG,}$valgrind_godebug")
fi

# ---- tools -----------------------------------------------------------------
# Only the packages of the programs that are absent, never an upgrade of
# one that is there (scripts/apt.sh).
need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# venv and its pip (ensurepip): Debian ships them apart from python3.
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  need+=(python3-venv)
fi
command -v timeout >/dev/null 2>&1 || need+=(coreutils)
command -v mypy >/dev/null 2>&1 || need+=(mypy) # Debian's: the type check of the Python package
# pytest: the package's pytest fixtures are tested as a user's suite uses
# them, with the python3 on PATH if it has pytest, else with Debian's
# python3 and Debian's pytest (on PATH may be another Python, a pyenv one).
pytest_python=python3
if ! python3 -c 'import pytest' 2>/dev/null; then
  pytest_python=/usr/bin/python3
  need+=(python3-pytest)
  if ! /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null; then
    need+=(python3-venv)
  fi
fi
if [ "$want_valgrind" = 1 ] && ! command -v valgrind >/dev/null 2>&1; then
  need+=(valgrind)
fi
if [ ${#need[@]} -gt 0 ]; then
  . scripts/apt.sh
  apt_install_missing "${need[@]}"
fi

# ---- build directory and clean-up --------------------------------------------
if [ -n "${MAILWIRE_BUILD_DIR:-}" ]; then
  B=$(mkdir -p "$MAILWIRE_BUILD_DIR" && cd "$MAILWIRE_BUILD_DIR" && pwd)
  keep_build=1
else
  B=$(mktemp -d "${TMPDIR:-/tmp}/mailwire-bindings.XXXXXX")
  keep_build=0
fi
server_pid=""
cleanup() {
  # The example server stops when its stdin (fd 3) closes; kill it if it
  # is still there. (The C and Python tests start servers of their own: the
  # Python tests' private server stops when the test process that holds its
  # stdin ends; the C tests' mailwire serve gets SIGTERM from the test, or
  # from the kernel when the test process dies, PR_SET_PDEATHSIG.)
  exec 3>&- 2>/dev/null || true
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$keep_build" = 0 ]; then rm -rf "$B"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- Go: format, vet, unit tests --------------------------------------------
echo "== gofmt, go vet, go test ./bindings/..."
unformatted=$(gofmt -l bindings)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"
  echo "$unformatted"
  exit 1
fi
go vet ./bindings/...
go test -count=1 ./bindings/...

# ---- build ------------------------------------------------------------------
echo "== building libmailwire.so, mailwire.h, the test server and mailwire in $B"
# Debian 12's valgrind (3.19) cannot read the DWARF 5 that Go writes since
# 1.25 ("unhandled DW_FORM"); GOEXPERIMENT=nodwarf5 writes DWARF 4. Should a
# later Go drop the experiment, build without it.
if ! GOEXPERIMENT=nodwarf5 go build -buildmode=c-shared -o "$B/libmailwire.so" ./bindings/c 2>/dev/null; then
  go build -buildmode=c-shared -o "$B/libmailwire.so" ./bindings/c
fi
mv "$B/libmailwire.h" "$B/mailwire.h"
for section in "THREAD SAFETY" "MEMORY OWNERSHIP" "RETURN CODES AND ERRORS" "int mailwire_send(mailwire_client client, const char \*from,"; do
  if ! grep -q "$section" "$B/mailwire.h"; then
    echo "mailwire.h lacks \"$section\": the cgo preamble did not reach the header" >&2
    exit 1
  fi
done
go build -o "$B/server" ./bindings/c/test/server # the examples' and the Python tests' server
go build -o "$B/mailwire" ./cmd/mailwire # mailwire serve: the C tests' server, and mailwire.testing's

cflags=(-std=c11 -Wall -Wextra -Werror -g -O1 -I"$B")
ldflags=(-L"$B" -lmailwire "-Wl,-rpath,$B" -pthread)
cc "${cflags[@]}" -o "$B/example" bindings/c/example/example.c "${ldflags[@]}"

# ---- which leak checkers run, and why ------------------------------------------
# The probe (bindings/c/test/valgrind_probe.c) executes RDTSCP if CPUID
# offers it and GODEBUG does not turn it off, as the Go runtime does (which
# fails only now and then), then loads libmailwire.so and runs some Go
# code, all under valgrind with the GODEBUG of the C tests. It fails when
# valgrind exits non-zero, or reports an instruction it cannot translate,
# or the program did not print that it finished. memcheck's findings do not
# fail it (no --error-exitcode): the C tests under valgrind report those.
valgrind_probe() { # sets probe_result; exit status 0 when valgrind can run Go code here
  local exe="$B/valgrind_probe" log="$B/valgrind-probe.log" out="$B/valgrind-probe.out" rc=0 why
  local runner=("${valgrind_env[@]}" valgrind) under="valgrind${valgrind_godebug:+ (GODEBUG=$valgrind_godebug)}"
  if [ "${MAILWIRE_VALGRIND_PROBE:-}" = fail ]; then
    under=valgrind
    # Stands in for valgrind, failing the way valgrind 3.19 does on a CPU
    # that does not advertise RDTSCP, so that the same checks below judge it.
    runner=(sh -c 'echo "vex amd64->IR: unhandled instruction bytes: 0xF 0x1 0xF9 0x48 (simulated: MAILWIRE_VALGRIND_PROBE=fail)" >&2; exit 132' sh)
  fi
  cc "${cflags[@]}" -o "$exe" bindings/c/test/valgrind_probe.c "${ldflags[@]}"
  # (In a subshell whose stderr is dropped: when the probe dies of SIGILL,
  # bash would print "Illegal instruction" besides the reason given below.)
  (timeout -k 10 300 "${runner[@]}" --leak-check=no --suppressions=bindings/c/test/valgrind-go.supp \
    "$exe" >"$out" 2>"$log") 2>/dev/null || rc=$?
  # The line that says why, best first; valgrind prefixes its own lines
  # with ==PID==, which is dropped.
  why=$(grep -m 1 'unhandled instruction' "$log" ||
    grep -m 1 -E 'Unrecognised instruction|SIGILL|impossible.? happened|[Ff]atal error' "$log" ||
    grep -v -E '^(==[0-9]+==)? *$' "$log" | tail -n 1 || true)
  why=$(printf '%s' "$why" | sed 's/^==[0-9]*== *//')
  cat "$out" # what the probe says it did, when it got that far
  if [ "$rc" = 0 ] && ! grep -q -E 'unhandled instruction|Unrecognised instruction' "$log" &&
    grep -q '^valgrind probe: ok' "$out"; then
    probe_result="the probe ran Go code under ${under/valgrind/$(valgrind --version 2>/dev/null || echo valgrind)} and exited 0"
    return 0
  fi
  case "$rc" in
  0) probe_result="the probe under $under exited 0 but did not finish cleanly: ${why:-no output}" ;;
  124 | 137) probe_result="the probe under $under did not finish within 300 s (exit $rc)" ;;
  *) probe_result="the probe under $under exited $rc: ${why:-no output}" ;;
  esac
  return 1
}

checkers=()
valgrind_line="" asan_why="runs everywhere"
if [ "$want_valgrind" = 1 ]; then
  echo "== valgrind probe: can valgrind run libmailwire.so's Go code here?"
  if valgrind_probe; then
    checkers+=(valgrind)
    valgrind_line="valgrind: ran: $probe_result"
  else
    valgrind_line="valgrind: skipped: $probe_result; leak checking by ASan/LeakSanitizer"
    # Some checker must find leaks: ASan, even if it was not asked for.
    [ "$want_asan" = 1 ] || asan_why="in valgrind's place"
    want_asan=1
  fi
else
  valgrind_line="valgrind: skipped: not in MAILWIRE_LEAK_CHECK=\"${MAILWIRE_LEAK_CHECK:-}\""
fi
echo "$valgrind_line"
if [ "$want_asan" = 1 ]; then
  checkers+=(asan)
  asan_line="asan: ran: AddressSanitizer with LeakSanitizer ($asan_why)"
else
  asan_line="asan: skipped: not in MAILWIRE_LEAK_CHECK=\"${MAILWIRE_LEAK_CHECK:-}\" (valgrind checks leaks)"
fi
echo "$asan_line"

# ---- C tests under the leak checkers ------------------------------------------
# valgrind: only "definitely lost" blocks count as errors (the Go runtime's
# threads leave "possibly lost" ones); valgrind-go.supp silences memcheck's
# reports inside Go code, where goroutine stack switches make it see
# invalid accesses everywhere. --undef-value-errors=no because those stack
# switches also make memcheck take Go's memory for uninitialised, and the
# taint follows every string the library copies into C memory, giving false
# reports in the caller's code (seen in about one run in ten). Invalid reads
# and writes, bad frees and leaks in C code are still reported.
# asan: the C program built with -fsanitize=address (the Go library is not
# instrumented), LeakSanitizer on: heap overflows, use after free and leaks
# on the C side.
# The test program starts the servers it needs itself, each a `mailwire
# serve` ($B/mailwire, built above) on free ports, and reads what they
# received through their HTTP API.
c_summary=()
run_c_tests() { # checker
  local checker=$1 exe="$B/test_mailwire-$1" probe="$B/leak_probe-$1" log="$B/$1-c-tests.log"
  local extra=() runner=() rc=0 line note
  echo "== C tests under $checker"
  case "$checker" in
  valgrind)
    runner=("${valgrind_env[@]}" valgrind --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite
      --undef-value-errors=no --error-exitcode=1 --suppressions=bindings/c/test/valgrind-go.supp
      --log-file="$log")
    ;;
  asan)
    extra=(-fsanitize=address -fno-omit-frame-pointer)
    runner=(env ASAN_OPTIONS=detect_leaks=1)
    ;;
  esac
  cc "${cflags[@]}" "${extra[@]}" -o "$exe" bindings/c/test/test_mailwire.c "${ldflags[@]}"
  cc "${cflags[@]}" "${extra[@]}" -o "$probe" bindings/c/test/leak_probe.c "${ldflags[@]}"
  if [ "$checker" = valgrind ]; then
    timeout -k 10 900 "${runner[@]}" "$exe" "$B/mailwire" | tee "$B/c-tests.out" || rc=$?
  else
    timeout -k 10 900 "${runner[@]}" "$exe" "$B/mailwire" 2>&1 >"$B/c-tests.out" | tee "$log" >&2 || rc=$?
    cat "$B/c-tests.out"
  fi
  line=$(grep '^c tests: ' "$B/c-tests.out" || echo "c tests: did not finish")
  if [ "$checker" = valgrind ]; then
    local lost errors
    lost=$(sed -n 's/^==[0-9]*== *\(definitely lost: .*\)$/\1/p' "$log" | tail -n 1)
    errors=$(sed -n 's/^==[0-9]*== ERROR SUMMARY: \(.*\)$/\1/p' "$log" | tail -n 1)
    note="valgrind: ${lost:-no leaks}; ${errors:-no error summary}"
  else
    note="asan: $(grep -c 'ERROR: ' "$log" || true) reports"
  fi
  if [ "$rc" != 0 ]; then
    echo "--- $checker log ($log) ---"
    cat "$log"
    echo "$line ($note)"
    echo "bindings: FAILED (C tests under $checker, exit $rc)"
    exit 1
  fi
  echo "$note"
  c_summary+=("$line ($note)")

  # The control: a program that leaks a string of the library's must fail
  # the same check, or the suppressions hide real leaks.
  local probe_log="$B/$checker-leak-probe.log" probe_rc=0 reported
  if [ "$checker" = valgrind ]; then
    "${runner[@]/#--log-file=*/--log-file=$probe_log}" "$probe" >/dev/null || probe_rc=$?
    reported=$(grep -c 'definitely lost in loss record' "$probe_log" || true)
  else
    "${runner[@]}" "$probe" >/dev/null 2>"$probe_log" || probe_rc=$?
    reported=$(grep -c 'Direct leak of' "$probe_log" || true)
  fi
  if [ "$probe_rc" = 0 ] || [ "$reported" = 0 ]; then
    cat "$probe_log"
    echo "bindings: FAILED (under $checker, the deliberate leak of leak_probe.c went unreported)"
    exit 1
  fi
  echo "leak check control: $checker reported the deliberate leak of leak_probe.c"
}
for checker in "${checkers[@]}"; do
  run_c_tests "$checker"
done

# ---- the README's examples, against a server of their own -----------------------
echo "== examples"
check_snippet() { # README file: the fenced block after the marker must equal the file
  local readme=$1 file=$2
  awk -v marker="<!-- tested: $file -->" '
    $0 == marker { found = 1; next }
    found == 1 && /^```/ { found = 2; next }
    found == 2 && /^```$/ { exit }
    found == 2 { print }
  ' "$readme" >"$B/snippet"
  if ! diff -u "$file" "$B/snippet"; then
    echo "$readme: the snippet of $file differs from the file (diff above)" >&2
    exit 1
  fi
}
for readme in bindings/README.md README.md; do
  check_snippet "$readme" bindings/c/example/example.c
  check_snippet "$readme" bindings/python/example.py
done

mkfifo "$B/server.in"
"$B/server" -messages "$B/example-messages.json" <"$B/server.in" >"$B/server.out" &
server_pid=$!
exec 3>"$B/server.in" # the server's stdin: closing fd 3 stops it
for _ in $(seq 300); do
  grep -q '}$' "$B/server.out" 2>/dev/null && break
  sleep 0.1
done
eval "$(python3 - "$B/server.out" <<'EOF'
import json, shlex, sys
i = json.load(open(sys.argv[1]))
opts = {"security": "starttls", "ca_pem": i["ca_pem"], "user": i["user"], "password": i["password"]}
for k, v in {"SMTP_ADDR": i["addr"], "SMTP_CA_PEM": i["ca_pem"], "SMTP_USER": i["user"],
             "SMTP_PASSWORD": i["password"], "SMTP_OPTIONS": json.dumps(opts)}.items():
    print(f"export {k}={shlex.quote(v)}")
EOF
)"
example_out=$("$B/example")
echo "c example: $example_out"
case "$example_out" in *'"queue_id":"Q'*) ;; *)
  echo "bindings: FAILED (the C example printed no receipt)"
  exit 1
  ;;
esac
PYTHONPATH=bindings/python MAILWIRE_LIB="$B/libmailwire.so" python3 bindings/python/example.py | tee "$B/py-example.out"
grep -q 'queue id: Q' "$B/py-example.out"
if grep -qF "$SMTP_PASSWORD" "$B/py-example.out"; then
  echo "bindings: FAILED (the password reached the Python example's trace)"
  exit 1
fi
exec 3>&-
wait "$server_pid"
server_pid=""
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$B/example-messages.json")
if [ "$n" != 2 ]; then
  echo "bindings: FAILED (the example server received $n messages, want 2)"
  exit 1
fi
echo "examples: both ran and were delivered; the README's snippets match the files"

# ---- Python ---------------------------------------------------------------------
# As a user gets it: pip builds a wheel from bindings/python (its in-tree
# backend compiles the Go library into the package; nothing comes from a
# package index), installs it in a fresh virtual environment, and the tests
# import that installed package, from outside the repository.
echo "== Python: pip wheel and install bindings/python in a fresh venv ($(python3 --version 2>&1))"
python3 -m venv "$B/venv"
"$B/venv/bin/pip" wheel --quiet --no-index --no-deps -w "$B/dist" bindings/python
wheel=$(ls "$B"/dist/mailwire-*.whl)
echo "built $(basename "$wheel")"
"$B/venv/bin/pip" install --quiet --no-index "$wheel"
echo "== mypy --strict: the example and the package it imports ($(mypy --version))"
MYPYPATH=bindings/python mypy --strict --no-incremental bindings/python/example.py bindings/python/mailwire bindings/python/pytest_tests
echo "== Python tests, against the installed package"
py_rc=0
repo=$(pwd)
(cd "$B" && env -u MAILWIRE_LIB -u PYTHONPATH MAILWIRE_TEST_INSTALLED=1 MAILWIRE_TEST_SERVER="$B/server" MAILWIRE_BIN="$B/mailwire" \
  timeout -k 10 600 "$B/venv/bin/python" -m unittest discover -s "$repo/bindings/python/tests" -v) 2>&1 | tee "$B/py-tests.out" || py_rc=$?
py_ran=$(grep '^Ran ' "$B/py-tests.out" | tail -n 1 || true)
py_result=$(grep -E '^(OK|FAILED)' "$B/py-tests.out" | tail -n 1 || true)
# The pytest fixtures, as a user's suite gets them: the wheel in a venv
# that sees the system's pytest, which loads the plugin through the
# package's entry point (pytest11); nothing imported by hand.
echo "== pytest: the package's fixtures, from the installed wheel ($("$pytest_python" -m pytest --version 2>&1), $("$pytest_python" --version 2>&1))"
"$pytest_python" -m venv --system-site-packages "$B/venv-pytest"
"$B/venv-pytest/bin/pip" install --quiet --no-index "$wheel"
pytest_rc=0
(cd "$B" && env -u MAILWIRE_LIB -u PYTHONPATH MAILWIRE_TEST_INSTALLED=1 MAILWIRE_BIN="$B/mailwire" \
  timeout -k 10 600 "$B/venv-pytest/bin/python" -m pytest -p no:cacheprovider -v "$repo/bindings/python/pytest_tests") 2>&1 | tee "$B/pytest.out" || pytest_rc=$?
pytest_result=$(grep -E '^=+ .*(passed|failed|error).* in ' "$B/pytest.out" | tail -n 1 || true)

echo "== summary"
echo "$valgrind_line"
echo "$asan_line"
printf '%s\n' "${c_summary[@]}"
echo "python tests: ${py_ran:-did not finish}"
echo "${py_result:-FAILED}"
echo "pytest: ${pytest_result:-did not finish}"
if [ "$py_rc" != 0 ] || [ "$pytest_rc" != 0 ]; then
  echo "bindings: FAILED (Python tests)"
  exit 1
fi
echo "bindings: OK ($(($(date +%s) - started))s)"
