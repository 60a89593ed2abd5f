#!/usr/bin/env bash
# up.sh [STATEDIR] — install (if needed) and start four private proxy servers
# for mailwire's integration tests: two SOCKS5 (Dante) and two HTTP CONNECT
# (tinyproxy), all on 127.0.0.1, fixed ports. Idempotent.
#
# Default STATEDIR: /tmp/mailwire-proxies. Everything this script creates lives
# under STATEDIR; /etc/danted.conf and /etc/tinyproxy are never used or changed,
# and no system service (danted, tinyproxy) is started.
#
# Instances (NAME: config NAME.conf, pid file NAME.pid, log NAME.log):
#   danted-11080     SOCKS5, method "none", CONNECT to 127.0.0.0/8 allowed
#                    (IP addresses and host names: "localhost" is resolved
#                    by the proxy, for socks5h)
#   danted-11081     SOCKS5, method "none" accepted, then every request is
#                    refused ("socks block": reply 0x02, not allowed by ruleset)
#   tinyproxy-13128  HTTP proxy, BasicAuth mailwire / proxy-s3cret (407
#                    without; a wrong password gets 401 from tinyproxy
#                    1.11.1), CONNECT to any port (no ConnectPort line)
#   tinyproxy-13129  HTTP proxy, no auth, CONNECT only to port 443
#                    (ConnectPort 443): CONNECT 127.0.0.1:2525 gets 403
#   STATEDIR/env                                        for the tests
#
# Each instance is checked end to end with curl through a throwaway HTTP
# server on 127.0.0.1 before STATEDIR/env is written. Stop with down.sh.
set -euo pipefail

STATEDIR=${1:-/tmp/mailwire-proxies}
case $STATEDIR in /*) ;; *) STATEDIR=$PWD/$STATEDIR ;; esac
STATEDIR=${STATEDIR%/}
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Fixed test parameters (the Go tests read them from STATEDIR/env).
SOCKS_PORT=11080
SOCKS_REFUSING_PORT=11081
HTTP_AUTH_PORT=13128
HTTP_REFUSING_PORT=13129
HTTP_USER=mailwire
HTTP_PASS=proxy-s3cret
INSTANCES="danted-$SOCKS_PORT danted-$SOCKS_REFUSING_PORT tinyproxy-$HTTP_AUTH_PORT tinyproxy-$HTTP_REFUSING_PORT"
DANTED=/usr/sbin/danted
TINYPROXY=/usr/bin/tinyproxy

log() { printf 'mailwire-proxies: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	local i
	for i in $INSTANCES; do
		if [[ -s $STATEDIR/$i.log ]]; then
			log "--- last lines of $STATEDIR/$i.log ---"
			tail -n 15 "$STATEDIR/$i.log" >&2
		fi
	done
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root (installs packages, runs the proxies as root/nobody)"
# The path goes into config files unquoted (danted.conf): keep it simple.
[[ $STATEDIR =~ ^/[A-Za-z0-9._/+-]+$ ]] || die "STATEDIR must be a simple absolute path: $STATEDIR"

# Things to undo on any exit: a policy-rc.d we created, the check server.
OWN_POLICY=0
CHECK_PID=
cleanup() {
	if ((OWN_POLICY)); then rm -f /usr/sbin/policy-rc.d; fi
	if [[ -n $CHECK_PID ]]; then kill "$CHECK_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# 1. Packages: dante-server, tinyproxy, curl, python3 — only those missing
# ---------------------------------------------------------------------------
# pids of running processes whose executable is $1.
pids_of_exe() {
	local d pid
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[[ $(readlink "$d/exe" 2>/dev/null) == "$1" ]] && echo "$pid"
	done
	return 0
}

install_packages() {
	# shellcheck source-path=SCRIPTDIR/.. source=apt.sh
	. "$SCRIPT_DIR/../apt.sh"
	local p missing=() new_progs=()
	for p in dante-server tinyproxy curl python3; do
		deb_installed "$p" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	deb_installed dante-server || new_progs+=("$DANTED")
	deb_installed tinyproxy || new_progs+=("$TINYPROXY")

	# The packages' postinst would start the system danted/tinyproxy
	# (invoke-rc.d, or deb-systemd-invoke under systemd; both ask
	# policy-rc.d). exit 101 = "action forbidden". Only if there is none,
	# and removed again after (and by the EXIT trap).
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\n# temporary, from mailwire scripts/proxies/up.sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		OWN_POLICY=1
	fi
	local t0=$SECONDS rc=0
	log "installing the missing ${missing[*]} (apt-get --no-upgrade; nothing installed is upgraded)"
	apt_install_missing "${missing[@]}" || rc=$?
	if ((OWN_POLICY)); then
		rm -f /usr/sbin/policy-rc.d
		OWN_POLICY=0
	fi
	((rc == 0)) || die "apt-get install ${missing[*]} failed (rc=$rc)"

	# Belt and braces: should the install have started a system instance
	# anyway (a pre-existing policy-rc.d that allows it, systemd), stop it:
	# only ours may run. Only programs that were not installed before, so
	# nothing that ran before the install is touched.
	local prog pid
	for prog in "${new_progs[@]}"; do
		for pid in $(pids_of_exe "$prog"); do
			log "stopping the system ${prog##*/} (pid $pid) started by the package install"
			if [[ -d /run/systemd/system ]]; then
				systemctl stop "${prog##*/}" >/dev/null 2>&1 || true
			fi
			kill -TERM "$pid" 2>/dev/null || true
		done
	done
	log "packages installed in $((SECONDS - t0))s"
}
install_packages

for f in "$DANTED" "$TINYPROXY"; do
	[[ -x $f ]] || die "$f missing although its package is installed; reinstall it (apt-get install --reinstall dante-server tinyproxy)"
done
command -v curl >/dev/null 2>&1 || die "curl missing"
command -v python3 >/dev/null 2>&1 || die "python3 missing"
getent passwd nobody >/dev/null || die "user 'nobody' missing"
getent group nogroup >/dev/null || die "group 'nogroup' missing"

# ---------------------------------------------------------------------------
# 2. Config files (rewritten only when their content changes)
# ---------------------------------------------------------------------------
install -d -m 0755 -o root -g root "$STATEDIR"

CHANGED=0
# write_config FILE TEXT: TEXT (plus a newline) -> FILE if different; then
# sets CHANGED=1. (Called directly, not in a pipeline, so CHANGED sticks.)
write_config() {
	local f=$1 tmp=$1.new
	printf '%s\n' "$2" >"$tmp"
	if cmp -s "$tmp" "$f"; then
		rm -f "$tmp"
	else
		mv -f "$tmp" "$f"
		CHANGED=1
	fi
}

# Dante 1.4 (danted.conf(5)). user.privileged root: it binds, reads this
# file and writes the pid file (in the root-owned STATEDIR) as root; it runs
# as nobody otherwise. Client rules decide who may talk to the server at all
# (TCP level), socks rules decide on each SOCKS request; first match wins.
# The external side is the loopback interface: the proxy can only reach
# this machine, over IPv4 or IPv6. A host name in a request ("localhost",
# socks5h) is resolved by danted: to 127.0.0.1 here, to ::1 as well on a
# machine whose /etc/hosts says so; the pass rule takes both.
danted_conf() { # PORT RULES
	cat <<EOF
# Generated by mailwire scripts/proxies/up.sh — do not edit, rerun up.sh.
logoutput: $STATEDIR/danted-$1.log
internal: 127.0.0.1 port = $1
external: lo
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
user.libwrap: nobody
timeout.negotiate: 30
timeout.io: 0

client pass {
	from: 127.0.0.0/8 to: 0/0
	log: error
}
client block {
	from: 0/0 to: 0/0
	log: connect error
}
$2
EOF
}

write_config "$STATEDIR/danted-$SOCKS_PORT.conf" "$(danted_conf "$SOCKS_PORT" "$(
	cat <<'EOF'
socks pass {
	from: 127.0.0.0/8 to: 127.0.0.0/8
	command: connect
	log: connect disconnect error
}
socks pass {
	from: 127.0.0.0/8 to: ::1/128
	command: connect
	log: connect disconnect error
}
socks block {
	from: 0/0 to: 0/0
	log: connect error
}
EOF
)")"

write_config "$STATEDIR/danted-$SOCKS_REFUSING_PORT.conf" "$(danted_conf "$SOCKS_REFUSING_PORT" "$(
	cat <<'EOF'
# Every request is refused: the method negotiation (none) succeeds, the
# CONNECT gets reply 0x02 "connection not allowed by ruleset".
socks block {
	from: 0/0 to: 0/0
	log: connect error
}
EOF
)")"

# tinyproxy 1.11 (tinyproxy.conf(5)). It binds and writes PidFile as root,
# then runs as nobody/nogroup and only then opens LogFile (see
# start_instance). CONNECT ports: with no ConnectPort line every port is
# allowed; ConnectPort lines restrict CONNECT to the ports listed
# (/etc/tinyproxy/tinyproxy.conf has "#ConnectPort 443" and
# "#ConnectPort 563", commented out; this file does not include it).
tinyproxy_conf() { # PORT EXTRA
	cat <<EOF
# Generated by mailwire scripts/proxies/up.sh — do not edit, rerun up.sh.
User nobody
Group nogroup
Listen 127.0.0.1
Port $1
Timeout 600
LogFile "$STATEDIR/tinyproxy-$1.log"
LogLevel Info
PidFile "$STATEDIR/tinyproxy-$1.pid"
MaxClients 100
Allow 127.0.0.1
$2
EOF
}

write_config "$STATEDIR/tinyproxy-$HTTP_AUTH_PORT.conf" "$(tinyproxy_conf "$HTTP_AUTH_PORT" \
	"# Credentials required (407 without); CONNECT to any port (no ConnectPort).
BasicAuth $HTTP_USER $HTTP_PASS")"

write_config "$STATEDIR/tinyproxy-$HTTP_REFUSING_PORT.conf" "$(tinyproxy_conf "$HTTP_REFUSING_PORT" \
	"# No credentials; CONNECT to any port but 443 gets 403.
ConnectPort 443")"

# ---------------------------------------------------------------------------
# 3. Start the instances (or keep them, if all run with an unchanged config)
# ---------------------------------------------------------------------------
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# instance_pid NAME: prints the pid in STATEDIR/NAME.pid if that process is
# alive and runs the instance's program (danted or tinyproxy).
instance_pid() {
	local pid prog=$DANTED
	[[ $1 == tinyproxy-* ]] && prog=$TINYPROXY
	pid=$(sed -n '1{s/[^0-9]//g;p;}' "$STATEDIR/$1.pid" 2>/dev/null) || return 1
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
	[[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$prog" ]] || return 1
	echo "$pid"
}
all_running() {
	local i
	for i in $INSTANCES; do
		instance_pid "$i" >/dev/null && port_open "${i#*-}" || return 1
	done
}

start_instance() { # NAME
	local name=$1 conf=$STATEDIR/$1.conf pidf=$STATEDIR/$1.pid err=$STATEDIR/$1.start.err
	rm -f "$pidf"
	# A new log per start, so that its tail shows this run.
	: >"$STATEDIR/$name.log"
	# The daemons must not inherit our stdin/stdout/stderr (a caller that
	# captures up.sh's output would wait for them to exit).
	case $name in
	danted-*)
		"$DANTED" -V -f "$conf" </dev/null >"$err" 2>&1 ||
			die "$conf is not valid: $(cat "$err")"
		# -D: detach; -p: pid of the main ("mother") process.
		"$DANTED" -D -f "$conf" -p "$pidf" </dev/null >"$err" 2>&1 ||
			die "danted ($name) failed to start: $(cat "$err")"
		;;
	tinyproxy-*)
		# tinyproxy opens LogFile only after it has become nobody (and
		# then runs without a log, saying so on stderr only): the file
		# must exist and belong to nobody, as STATEDIR is root's.
		chown nobody:nogroup "$STATEDIR/$name.log"
		# Daemonises itself and writes PidFile (as root, before the switch).
		"$TINYPROXY" -c "$conf" </dev/null >"$err" 2>&1 ||
			die "tinyproxy ($name) failed to start: $(cat "$err")"
		;;
	esac
	rm -f "$err"
}

if ((CHANGED == 0)) && all_running; then
	log "all four proxies already running, configuration unchanged"
else
	if [[ -e $STATEDIR/env ]] || ls "$STATEDIR"/*.pid >/dev/null 2>&1; then
		log "stopping the instances of an earlier up.sh"
	fi
	"$SCRIPT_DIR/down.sh" "$STATEDIR" || die "down.sh could not stop the old instances / free the ports"
	for i in $INSTANCES; do
		p=${i#*-}
		if port_open "$p"; then
			ss -H -ltnp "sport = :$p" 2>/dev/null >&2 || true
			die "127.0.0.1:$p is already in use by another program"
		fi
	done
	log "starting danted on $SOCKS_PORT, $SOCKS_REFUSING_PORT and tinyproxy on $HTTP_AUTH_PORT, $HTTP_REFUSING_PORT"
	for i in $INSTANCES; do
		start_instance "$i"
	done
fi

# Wait (15 s) until every port accepts connections and every pid file names
# a live process of the right program.
deadline=$((SECONDS + 15))
pending=$INSTANCES
while :; do
	left=
	for i in $pending; do
		{ instance_pid "$i" >/dev/null && port_open "${i#*-}"; } || left+=" $i"
	done
	pending=$left
	[[ -z $pending ]] && break
	((SECONDS < deadline)) || die "not listening (or no live pid in STATEDIR/NAME.pid) within 15 s:$pending"
	sleep 0.1
done

# ---------------------------------------------------------------------------
# 4. End-to-end checks with curl through a throwaway HTTP server
# ---------------------------------------------------------------------------
# No env file while unchecked: a test must not take a failing set for ready.
rm -f "$STATEDIR/env"
TOKEN="mailwire-proxy-check-$$"
PORTFILE=$STATEDIR/check-server.port
rm -f "$PORTFILE"
# (python3 reads the program from the here-document, its stdin.)
python3 - "$PORTFILE" "$TOKEN" >/dev/null 2>"$STATEDIR/check-server.err" <<'PY' &
import http.server, os, sys
portfile, token = sys.argv[1], (sys.argv[2] + "\n").encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(token)))
        self.end_headers()
        self.wfile.write(token)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
os.rename(portfile + ".tmp", portfile)
s.serve_forever()
PY
CHECK_PID=$!
for _ in $(seq 100); do
	[[ -s $PORTFILE ]] && break
	sleep 0.05
done
[[ -s $PORTFILE ]] || die "check HTTP server did not start: $(cat "$STATEDIR/check-server.err")"
TPORT=$(cat "$PORTFILE")

FAILED=0
pass() { log "ok: $*"; }
fail() {
	log "FAILED: $*"
	FAILED=1
}
# expect_body DESC CURL-ARGS...: curl succeeds and returns the token.
expect_body() {
	local desc=$1 out rc=0
	shift
	out=$(curl -sS --max-time 10 "$@" 2>&1) || rc=$?
	if ((rc == 0)) && [[ $out == "$TOKEN" ]]; then
		pass "$desc"
	else
		fail "$desc: curl exit $rc: $out"
	fi
}
# expect_connect_code DESC CODES CURL-ARGS...: the proxy answers CONNECT
# with one of CODES (a regex; curl's %{http_connect}) and curl fails.
expect_connect_code() {
	local desc=$1 want=$2 out rc=0
	shift 2
	out=$(curl -sS --max-time 10 -o /dev/null -w '%{http_connect}' "$@" 2>/dev/null) || rc=$?
	if ((rc != 0)) && [[ $out =~ ^($want)$ ]]; then
		pass "$desc (CONNECT answered $out, curl exit $rc)"
	else
		fail "$desc: wanted CONNECT answered $want and a failing curl, got '$out', curl exit $rc"
	fi
}

T=http://127.0.0.1:$TPORT/
expect_body "SOCKS5 $SOCKS_PORT, IP address" --socks5 "127.0.0.1:$SOCKS_PORT" "$T"
expect_body "SOCKS5 $SOCKS_PORT, host name 'localhost' resolved by the proxy" \
	--socks5-hostname "127.0.0.1:$SOCKS_PORT" "http://localhost:$TPORT/"
# The refusing SOCKS server: the handshake works, the CONNECT is refused.
# curl >= 7.73 exits 97 (CURLE_PROXY) for a SOCKS reply other than success
# and says "(2)" for reply code 2, "connection not allowed by ruleset";
# exit 7 would mean no SOCKS server at all.
out=$(curl -sS --max-time 10 --socks5 "127.0.0.1:$SOCKS_REFUSING_PORT" "$T" 2>&1) && rc=0 || rc=$?
if ((rc == 97)) && [[ $out == *"(2)"* ]]; then
	pass "SOCKS5 $SOCKS_REFUSING_PORT refuses CONNECT (curl exit 97: ${out##*curl: })"
else
	fail "SOCKS5 $SOCKS_REFUSING_PORT: wanted curl exit 97 with SOCKS reply 2, got exit $rc: $out"
fi
expect_body "HTTP CONNECT $HTTP_AUTH_PORT with credentials" \
	-p -x "http://$HTTP_USER:$HTTP_PASS@127.0.0.1:$HTTP_AUTH_PORT" "$T"
expect_connect_code "HTTP CONNECT $HTTP_AUTH_PORT without credentials" 407 \
	-p -x "http://127.0.0.1:$HTTP_AUTH_PORT" "$T"
# A wrong password: tinyproxy 1.11.1 (Debian 12) answers "401 Unauthorized"
# with WWW-Authenticate, not 407 (tinyproxy issue #532, fixed by PR #549
# in later releases); accept both.
expect_connect_code "HTTP CONNECT $HTTP_AUTH_PORT with a wrong password" '401|407' \
	-p -x "http://$HTTP_USER:wrong@127.0.0.1:$HTTP_AUTH_PORT" "$T"
expect_connect_code "HTTP CONNECT $HTTP_REFUSING_PORT to port $TPORT (not 443)" 403 \
	-p -x "http://127.0.0.1:$HTTP_REFUSING_PORT" "$T"

kill "$CHECK_PID" 2>/dev/null || true
wait "$CHECK_PID" 2>/dev/null || true
CHECK_PID=
rm -f "$PORTFILE" "$STATEDIR/check-server.err"
((FAILED == 0)) || die "proxy checks failed (the proxies keep running; stop them with down.sh)"

# ---------------------------------------------------------------------------
# 5. The environment for the tests
# ---------------------------------------------------------------------------
cat >"$STATEDIR/env.tmp" <<EOF
MAILWIRE_PROXIES=1
MAILWIRE_PROXY_SOCKS=127.0.0.1:$SOCKS_PORT
MAILWIRE_PROXY_SOCKS_REFUSING=127.0.0.1:$SOCKS_REFUSING_PORT
MAILWIRE_PROXY_HTTP_AUTH=127.0.0.1:$HTTP_AUTH_PORT
MAILWIRE_PROXY_HTTP_USER=$HTTP_USER
MAILWIRE_PROXY_HTTP_PASS=$HTTP_PASS
MAILWIRE_PROXY_HTTP_REFUSING=127.0.0.1:$HTTP_REFUSING_PORT
EOF
mv "$STATEDIR/env.tmp" "$STATEDIR/env"

pids=
for i in $INSTANCES; do pids+=" $i=$(instance_pid "$i")"; done
cat <<EOF
mailwire test proxies are up (pids:$pids)
  SOCKS5, no auth, CONNECT to 127.0.0.0/8        127.0.0.1:$SOCKS_PORT
  SOCKS5, refuses every request                  127.0.0.1:$SOCKS_REFUSING_PORT
  HTTP CONNECT, Basic $HTTP_USER / $HTTP_PASS   127.0.0.1:$HTTP_AUTH_PORT
  HTTP CONNECT, no auth, only to port 443        127.0.0.1:$HTTP_REFUSING_PORT
  configs, pid files, logs                       $STATEDIR/{danted,tinyproxy}-PORT.{conf,pid,log}
  environment for tests                          $STATEDIR/env
EOF
