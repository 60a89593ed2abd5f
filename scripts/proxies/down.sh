#!/usr/bin/env bash
# down.sh [STATEDIR] — stop the four proxies that up.sh started for this
# STATEDIR (default /tmp/mailwire-proxies), then make sure their ports
# (11080, 11081, 13128, 13129 on 127.0.0.1) are free. A pid from
# STATEDIR/NAME.pid is only signalled after checking that the process runs
# danted or tinyproxy. A port still taken afterwards is freed only if a
# danted or tinyproxy holds it (a leftover whose pid file is gone); any other
# program is reported, not killed, and down.sh exits 1.
# Idempotent: exits 0 when nothing is running. STATEDIR itself is kept
# (configs, logs); delete it by hand for a clean slate.
set -euo pipefail

STATEDIR=${1:-/tmp/mailwire-proxies}
case $STATEDIR in /*) ;; *) STATEDIR=$PWD/$STATEDIR ;; esac
STATEDIR=${STATEDIR%/}

INSTANCES="danted-11080 danted-11081 tinyproxy-13128 tinyproxy-13129"
DANTED=/usr/sbin/danted
TINYPROXY=/usr/bin/tinyproxy

log() { printf 'mailwire-proxies: %s\n' "$*" >&2; }

[[ $(id -u) -eq 0 ]] || { log "must run as root"; exit 1; }

# Alive = exists and is not a zombie waiting to be reaped.
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	local st
	st=$(sed 's/.*) //' 2>/dev/null <"/proc/$1/stat") || return 1
	[[ ${st:0:1} != Z ]]
}

# is_proxy PID: alive and running danted or tinyproxy.
is_proxy() {
	[[ -n $1 ]] && alive "$1" || return 1
	case $(readlink "/proc/$1/exe" 2>/dev/null) in
	"$DANTED" | "$TINYPROXY") return 0 ;;
	esac
	return 1
}

wait_gone() { # PID SECONDS
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		alive "$1" || return 0
		sleep 0.1
	done
	return 1
}

stop_pid() { # PID WHAT
	log "stopping $2 (pid $1)"
	# danted's main process takes its children (negotiate, request, io)
	# down with it; tinyproxy is one process.
	kill -TERM "$1" 2>/dev/null || true
	wait_gone "$1" 5 && return 0
	log "$2 (pid $1) still there after 5 s: SIGKILL"
	kill -KILL "$1" 2>/dev/null || true
	wait_gone "$1" 2 || true
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# 1. By pid file.
for i in $INSTANCES; do
	pidf=$STATEDIR/$i.pid
	[[ -e $pidf ]] || continue
	pid=$(sed -n '1{s/[^0-9]//g;p;}' "$pidf" 2>/dev/null || true)
	if is_proxy "$pid"; then
		stop_pid "$pid" "$i"
	fi
	rm -f "$pidf"
done
rm -f "$STATEDIR/env"

# 2. The ports must be free now (a listening socket can outlive its main
# process for a moment while its children exit).
rc=0
for i in $INSTANCES; do
	port=${i#*-}
	for _ in $(seq 30); do
		port_open "$port" || break
		sleep 0.1
	done
	port_open "$port" || continue
	# Still taken: by whom? (ss -p lists every process holding the socket.)
	holders=$(ss -H -ltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true)
	others=
	for pid in $holders; do
		if is_proxy "$pid"; then
			stop_pid "$pid" "leftover $(readlink "/proc/$pid/exe" 2>/dev/null) on port $port"
		else
			others+=" $pid"
		fi
	done
	for _ in $(seq 30); do
		port_open "$port" || break
		sleep 0.1
	done
	if port_open "$port"; then
		log "ERROR: 127.0.0.1:$port is still in use (pids:${others:- unknown}), not by a proxy of ours: left alone"
		rc=1
	fi
done
exit "$rc"
